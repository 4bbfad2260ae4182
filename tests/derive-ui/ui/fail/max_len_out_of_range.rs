use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("x-user")]
    #[active_users(max_len = 8)]
    user: String,
    #[from_header("x-name")]
    #[active_users(max_len = 100000)]
    name: Option<String>,
}

fn main() {}
