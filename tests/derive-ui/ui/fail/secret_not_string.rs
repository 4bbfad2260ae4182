use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("x-token")]
    #[active_users(secret)]
    token: Option<u64>,
    #[from_header("x-session")]
    #[active_users(secret)]
    session: std::string::String,
}

fn main() {}
