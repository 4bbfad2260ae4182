use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("x-user")]
    user: String,
    #[from_client_ip]
    ip: Option<u32>,
}

fn main() {}
