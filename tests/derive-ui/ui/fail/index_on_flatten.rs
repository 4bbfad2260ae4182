use active_users::{ActiveUserEntry, DefaultEntry};

#[derive(ActiveUserEntry)]
struct Entry {
    #[active_users(flatten, index, secret)]
    base: DefaultEntry,
}

fn main() {}
