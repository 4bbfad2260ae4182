use active_users::ActiveUserEntry;

// Every field is wrong in its own way; all three errors are reported at once.
#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("")]
    user: String,
    #[active_users(unknown)]
    #[from_cookie("c")]
    cookie: Option<String>,
    missing_source: Option<String>,
}

fn main() {}
