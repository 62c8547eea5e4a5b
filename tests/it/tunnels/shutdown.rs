//! A stop lets a tunnel carry on through the grace period, then closes it, and the server is
//! not held by it: the front door served here with a stop the test fires.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doorman::clock::FakeClock;
use doorman::config::Config;
use doorman::{App, AppState, Deps};

use super::{bearer, closed_within, counted, echoes, open, routes_file};
use crate::proxy::upstream;
use crate::support::{STRONG_SECRET, TestApp, client, temp_database};

/// The front door served until `stop` fires, with `grace` to finish at the stop.
struct Stoppable {
    app: TestApp,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn stoppable(grace: Duration) -> Stoppable {
    let listener = doorman::server::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let vars = HashMap::from([
        ("BIND_ADDR", addr.to_string()),
        ("PUBLIC_URL", base.clone()),
        ("DATABASE_URL", temp_database()),
        ("SESSION_SECRET", STRONG_SECRET.to_owned()),
        ("DOORMAN_CONFIG", routes_file(upstream().await)),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("config");
    let server = config.server.clone();
    let clock = FakeClock::new();
    let deps = Deps {
        clock: Arc::new(clock.clone()),
    };
    let state: AppState = App::new(config, deps).await.expect("app").into();
    state.0.spawn_background();
    let router = doorman::build_router(state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        doorman::server::serve_per_core(listener, router, &server, stopped, grace, 2).await
    });
    let app = TestApp {
        addr,
        public_url: base.clone(),
        base,
        client: client(),
        clock,
        state,
    };
    Stoppable { app, stop, served }
}

#[tokio::test]
async fn at_shutdown_a_tunnel_carries_on_through_the_grace_period_then_closes() {
    let grace = Duration::from_secs(2);
    let Stoppable { app, stop, served } = stoppable(grace).await;
    let token = app.session_for(Some(6), &[]);
    let mut socket = open(&app, "/app/ws", &[("authorization", &bearer(&token))]).await;
    let stopped_at = Instant::now();
    stop.send(()).expect("stop");
    echoes(&mut socket).await;
    closed_within(&mut socket, grace + Duration::from_secs(2)).await;
    let closed_after = stopped_at.elapsed();
    assert!(
        closed_after >= grace,
        "closed {closed_after:?} after the stop, before the grace period was over"
    );
    tokio::time::timeout(Duration::from_secs(3), served)
        .await
        .expect("the server stops soon after the grace period, not held by the tunnel")
        .expect("join")
        .expect("served");
    counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="shutdown"} 1"#,
    )
    .await;
}
