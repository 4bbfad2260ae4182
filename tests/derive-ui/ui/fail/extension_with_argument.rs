use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_extension(String)]
    user: String,
}

fn main() {}
