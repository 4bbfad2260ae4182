use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("x-user")]
    #[from_cookie("user")]
    user: String,
}

fn main() {}
