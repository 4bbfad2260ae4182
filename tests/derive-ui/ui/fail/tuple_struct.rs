use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry(#[from_header("x-user")] String);

fn main() {}
