//! The axum demo on actix-web 4: a server that records its visitors with the
//! `RecordActiveUsers` middleware and serves the active-users API and dashboard as an actix
//! scope.
//!
//! ```sh
//! cargo run --example actix-app --features frameworks -- --simulate 50 --public
//! curl http://127.0.0.1:3000/active-users/
//! # the dashboard: http://127.0.0.1:3000/active-users/dashboard
//! curl -H 'x-user-id: 7' -H 'x-service-id: billing' http://127.0.0.1:3000/
//! ```
//!
//! Flags and variables as for `axum-app`: `--port N` (default 3000), `--simulate N`,
//! `--public` (otherwise the API token is `ACTIVE_USERS_API_TOKEN`, default `demo-token`),
//! `REDIS_URL` or `REDIS_CLUSTER_NODES` for the store (in memory otherwise), `ACTIVE_USERS_*`
//! over the demo's settings (namespace `actix-demo`). It stops on Ctrl-C or SIGTERM and then
//! writes what is still buffered.

use active_users_examples::{DemoArgs, demo_tracker, print_addresses, shutdown_signal};
use std::error::Error;
use std::time::Duration;

fn main() -> Result<(), Box<dyn Error>> {
    let args = DemoArgs::from_env()?;
    // actix's own runtime (a tokio runtime per thread); the tracker's writer runs on this one.
    actix_web::rt::System::new().block_on(async move {
        let tracker = demo_tracker("actix-demo")?;
        let access = args.access();
        if args.simulate > 0 {
            actix_web::rt::spawn(active_users_examples::actix::simulate(
                tracker.clone(),
                args.simulate,
                Duration::from_millis(500),
                None,
            ));
        }
        let listener = std::net::TcpListener::bind(("127.0.0.1", args.port))?;
        let addr = listener.local_addr()?;
        let server =
            active_users_examples::actix::server(listener, tracker.clone(), access.clone(), 2)?;
        print_addresses(addr, &access);
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            shutdown_signal().await;
            handle.stop(true).await;
        });
        server.await?;
        // Writes what is still buffered before the process ends.
        tracker.shutdown().await?;
        println!("stopped; buffered entries written");
        Ok(())
    })
}
