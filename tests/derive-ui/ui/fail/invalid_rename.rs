use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("x-user")]
    #[active_users(rename = "user:id")]
    user: String,
}

fn main() {}
