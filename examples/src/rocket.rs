//! A small rocket 0.5 app: the fairing records its visitors, a request guard is the login,
//! and the API and dashboard are mounted at `/active-users`.

use crate::{ApiAccess, DemoEntry, demo_api};
use active_users::rocket::{RecordActiveUsers, api_routes};
use active_users::{Tracker, User};
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Build, Rocket, get, routes};

/// The login as a request guard: the `x-user-id` header (and `x-user-name`) is the user. It
/// caches the user as an `Option<User>`, where the fairing finds it.
#[derive(Debug)]
pub struct Visitor<'r>(pub Option<&'r User>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Visitor<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let user = request.local_cache(|| {
            let id = request.headers().get_one("x-user-id")?;
            let user = User::new(id);
            Some(match request.headers().get_one("x-user-name") {
                Some(name) => user.with_name(name),
                None => user,
            })
        });
        Outcome::Success(Visitor(user.as_ref()))
    }
}

#[get("/")]
fn hello(visitor: Visitor<'_>) -> String {
    match visitor.0 {
        Some(user) => format!("hello {}\n", user.name().unwrap_or(user.id())),
        None => "hello, anonymous visitor\n".to_owned(),
    }
}

/// Excluded from recording by the demo's settings, as in the axum demo.
#[get("/static/app.js")]
fn script(_visitor: Visitor<'_>) -> &'static str {
    "console.log('hi');\n"
}

#[get("/boom")]
fn boom(_visitor: Visitor<'_>) -> Status {
    Status::InternalServerError
}

/// The app on 127.0.0.1:`port`, quiet, without a Ctrl-C handler of rocket's own (the example
/// and the tests stop it through its shutdown handle).
pub fn app(tracker: Tracker<DemoEntry>, access: ApiAccess, port: u16) -> Rocket<Build> {
    let figment = rocket::Config::figment()
        .merge(("address", "127.0.0.1"))
        .merge(("port", port))
        .merge(("workers", 2))
        .merge(("log_level", "off"))
        .merge(("shutdown.ctrlc", false));
    rocket::custom(figment)
        .attach(RecordActiveUsers::new(tracker.clone()))
        .mount("/", routes![hello, script, boom])
        .mount("/active-users", api_routes(demo_api(tracker, access)))
}
