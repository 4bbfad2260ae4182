use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_cookie("session id")]
    session: String,
}

fn main() {}
