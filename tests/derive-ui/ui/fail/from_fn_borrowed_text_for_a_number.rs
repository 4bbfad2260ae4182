use active_users::{ActiveUserEntry, RequestHead};

// Borrowed text is accepted for a `String` field only.
fn user<'a>(head: &RequestHead<'a>) -> Option<&'a str> {
    head.path().strip_prefix("/u/")
}

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_fn(user)]
    user: u64,
}

fn main() {}
