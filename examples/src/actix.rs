//! The demo application on actix-web 4, route for route the axum app of this crate: the same
//! login, the recording middleware inside it, the API at `/active-users/` beside the app's
//! routes (so reading it is not a visit), and the same pages.

use crate::{ApiAccess, DemoEntry, Visit, demo_api, demo_user, simulate_visits};
use active_users::actix::{RecordActiveUsers, api_scope};
use active_users::{RequestHead, Tracker, User};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, Service, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use std::time::Duration;

/// Reads the logged-in user ([`demo_user`]) from actix's request head into its extensions.
async fn login(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let user = {
        let http_request = request.request();
        let extensions = http_request.extensions();
        demo_user(&RequestHead::from_actix(http_request, &extensions))
    };
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    next.call(request).await
}

async fn hello(request: HttpRequest) -> String {
    match request.extensions().get::<User>() {
        Some(user) => format!("hello {}\n", user.name().unwrap_or(user.id())),
        None => "hello, anonymous visitor\n".to_owned(),
    }
}

async fn boom() -> HttpResponse {
    HttpResponse::InternalServerError().body("something broke\n")
}

/// Registers the whole application on an actix `App` (`App::new().configure(...)`).
pub fn configure(
    tracker: Tracker<DemoEntry>,
    access: ApiAccess,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |config: &mut web::ServiceConfig| {
        // The API first: the app's scope below matches every path.
        config.service(api_scope(
            "/active-users",
            demo_api(tracker.clone(), access.clone()),
        ));
        config.service(
            web::scope("")
                .wrap(RecordActiveUsers::new(tracker.clone()))
                // Registered last, so it runs first: the user is in place when the entry is
                // extracted.
                .wrap(from_fn(login))
                .route("/", web::get().to(hello))
                .route(
                    "/static/app.js",
                    web::get().to(|| async { "console.log('hi');\n" }),
                )
                .route("/boom", web::get().to(boom)),
        );
    }
}

/// The app served on `listener` by one actix worker per core (at most `workers`). Run the
/// returned server inside an actix system (`actix_web::rt::System`).
///
/// # Errors
/// When actix cannot take the listener.
pub fn server(
    listener: std::net::TcpListener,
    tracker: Tracker<DemoEntry>,
    access: ApiAccess,
    workers: usize,
) -> std::io::Result<Server> {
    let routes = configure(tracker, access);
    Ok(
        HttpServer::new(move || App::new().configure(routes.clone()))
            .workers(workers.max(1))
            .disable_signals()
            .listen(listener)?
            .run(),
    )
}

/// [`simulate_visits`] through the actix app, in process: each visit is an actix test request
/// with the visitor's peer address, passed through the app's middleware.
pub async fn simulate(
    tracker: Tracker<DemoEntry>,
    users: u32,
    tick: Duration,
    rounds: Option<u64>,
) {
    let app =
        actix_web::test::init_service(App::new().configure(configure(tracker, ApiAccess::Public)))
            .await;
    simulate_visits(users, tick, rounds, |visit: Visit| {
        let mut request = actix_web::test::TestRequest::get()
            .uri(visit.path)
            .peer_addr(visit.peer);
        for (name, value) in visit.headers {
            request = request.insert_header((name, value));
        }
        let request = request.to_request();
        // Called directly: `test::call_service` would panic on an error.
        let answer = app.call(request);
        async move {
            let _ = answer.await;
        }
    })
    .await;
}
