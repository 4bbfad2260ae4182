use active_users::ActiveUserEntry;

#[derive(ActiveUserEntry)]
enum Entry {
    User { id: String },
}

fn main() {}
