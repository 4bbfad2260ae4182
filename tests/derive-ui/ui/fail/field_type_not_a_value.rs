use active_users::ActiveUserEntry;

#[derive(Clone)]
struct Account {
    id: u64,
}

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_extension]
    account: Account,
}

fn main() {}
