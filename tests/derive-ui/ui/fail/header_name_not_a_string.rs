use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_header(x_user)]
    user: String,
}

fn main() {}
