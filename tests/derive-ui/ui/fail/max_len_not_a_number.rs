use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("x-user")]
    #[active_users(max_len = "64")]
    user: String,
}

fn main() {}
