use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header("X Service: Id")]
    service: String,
}

fn main() {}
