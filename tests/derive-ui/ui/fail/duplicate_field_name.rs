use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("x-user")]
    user: String,
    #[from_cookie("user")]
    #[active_users(rename = "user")]
    cookie_user: Option<String>,
}

fn main() {}
