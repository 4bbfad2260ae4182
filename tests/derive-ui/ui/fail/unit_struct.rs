use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry;

fn main() {}
