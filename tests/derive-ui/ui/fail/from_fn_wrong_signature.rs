use active_users::ActiveUserEntry;

fn user(request: &active_users::http::Request<()>) -> Option<String> {
    request.headers().get("x-user")?.to_str().ok().map(str::to_owned)
}

#[derive(ActiveUserEntry)]
struct Entry {
    #[from_fn(user)]
    user: String,
}

fn main() {}
