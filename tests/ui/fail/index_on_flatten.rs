use active_users::{ActiveUserEntry, DefaultEntry};

#[derive(ActiveUserEntry)]
struct Entry {
    #[active_users(flatten, index)]
    base: DefaultEntry,
}

fn main() {}
