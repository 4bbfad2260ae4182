use active_users::ActiveUserEntry;

struct NotAnEntry {
    user: String,
}

#[derive(ActiveUserEntry)]
struct Entry {
    #[active_users(flatten)]
    base: NotAnEntry,
}

fn main() {}
