use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("x-user")]
    user: String,
    service: Option<String>,
}

fn main() {}
