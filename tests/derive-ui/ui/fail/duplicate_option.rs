use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("x-user")]
    #[active_users(index, index)]
    user: String,
}

fn main() {}
