use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry<T> {
    #[from_header("x-user")]
    user: T,
}

fn main() {}
