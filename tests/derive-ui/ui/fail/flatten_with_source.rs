use active_users::{ActiveUserEntry, DefaultEntry};

#[derive(ActiveUserEntry)]
struct Entry {
    #[active_users(flatten)]
    #[from_header("x-base")]
    base: DefaultEntry,
}

fn main() {}
