use active_users::{ActiveUserEntry, DefaultEntry};

#[derive(ActiveUserEntry)]
struct Entry {
    #[active_users(flatten)]
    base: Option<DefaultEntry>,
}

fn main() {}
