//! WebSocket tunnels through the front door are bounded and end with their session, with a
//! real WebSocket upstream (`proxy::upstream`) and client: a tunnel keeps its connection's
//! `MAX_CONNECTIONS` slot (the next client waits), closes after `WEBSOCKET_IDLE_SECS` without
//! a byte, when its token expires, within a second of a sign-out, a role change or a deletion,
//! at shutdown once the grace period is over (`shutdown`), and when the upstream breaks
//! (`reset`); each closing is counted by reason.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::proxy::upstream;
use crate::support::accounts::{access_token, spawn_accounts_app};
use crate::support::{STRONG_SECRET, TestApp, spawn_app_with};

mod reset;
mod shutdown;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A `DOORMAN_CONFIG` file routing to `up`: `/app` for anybody signed in, `/open` for anybody.
pub(crate) fn routes_file(up: SocketAddr) -> String {
    let config = format!(
        r#"
[gateway.policy.open]
public = true

[[gateway.route]]
path_prefix = "/app"
upstream = "http://{up}/"
strip_prefix = true

[[gateway.route]]
path_prefix = "/open"
upstream = "http://{up}/"
strip_prefix = true
policy = "open"
"#
    );
    let path = std::path::PathBuf::from(crate::support::config_file("tunnels", &config));
    path.to_string_lossy().into_owned()
}

/// The front door to a fresh upstream, with `vars`.
async fn front(vars: &[(&str, &str)]) -> TestApp {
    front_to(upstream().await, vars).await
}

/// The front door to `up`, with `vars`.
async fn front_to(up: SocketAddr, vars: &[(&str, &str)]) -> TestApp {
    let routes = routes_file(up);
    let mut all = vec![
        ("DOORMAN_CONFIG", routes.as_str()),
        ("SESSION_SECRET", STRONG_SECRET),
    ];
    all.extend_from_slice(vars);
    spawn_app_with(&all).await
}

/// A WebSocket to `path` on `app` with `headers`, past the upstream's greeting.
pub(crate) async fn open(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Socket {
    let mut request = format!("ws://{}{path}", app.addr)
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgraded");
    assert_eq!(response.status(), 101);
    let hello = socket.next().await.expect("a greeting").expect("ok");
    assert!(hello.to_text().expect("text").starts_with("hello"));
    socket
}

/// The tunnel still carries messages both ways.
pub(crate) async fn echoes(socket: &mut Socket) {
    socket
        .send(Message::Text("ping".into()))
        .await
        .expect("send");
    let echo = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an answer in time")
        .expect("a message")
        .expect("ok");
    assert_eq!(echo.to_text().expect("text"), "echo ping");
}

/// How long until doorman ends `socket` (its stream ends or breaks); panics after `limit`.
pub(crate) async fn closed_within(socket: &mut Socket, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        match tokio::time::timeout_at((started + limit).into(), socket.next()).await {
            Err(_) => panic!("the tunnel is still open after {limit:?}"),
            Ok(None | Some(Err(_))) => return started.elapsed(),
            Ok(Some(Ok(message))) => {
                assert!(!message.is_text(), "no message is expected: {message:?}")
            }
        }
    }
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Waits (up to 5 s) until the metrics show `line`.
pub(crate) async fn counted(app: &TestApp, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = app.state.metrics.render();
        if metrics.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < deadline, "{line} not in {metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const OPEN_0: &str = "doorman_websocket_tunnels_open 0";

#[tokio::test]
async fn tunnels_keep_their_connection_slot_so_a_ninth_client_waits_under_a_cap_of_eight() {
    let app = front(&[("MAX_CONNECTIONS", "8")]).await;
    let token = app.session_for(Some(3), &[]);
    let auth = bearer(&token);
    let mut tunnels = Vec::new();
    for _ in 0..8 {
        tunnels.push(open(&app, "/app/ws", &[("authorization", &auth)]).await);
    }
    // A ninth connection asks for a tunnel too: it is not even read while eight are open.
    let mut ninth = TcpStream::connect(app.addr).await.expect("connect");
    let upgrade = format!(
        "GET /app/ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: {auth}\r\n\r\n",
        app.addr
    );
    ninth.write_all(upgrade.as_bytes()).await.expect("request");
    let mut answer = [0u8; 12];
    let waited = tokio::time::timeout(Duration::from_millis(800), ninth.read_exact(&mut answer));
    assert!(
        waited.await.is_err(),
        "no answer while eight tunnels hold the eight slots"
    );
    for tunnel in &mut tunnels {
        echoes(tunnel).await;
    }
    counted(&app, "doorman_websocket_tunnels_open 8").await;
    // One tunnel ends: its slot goes to the waiting client.
    let mut first = tunnels.remove(0);
    first.close(None).await.expect("close");
    while first.next().await.is_some() {}
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), ninth.read_exact(&mut answer))
        .await
        .expect("served once a slot is free")
        .expect("read");
    assert_eq!(&answer, b"HTTP/1.1 101");
    counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="client"} 1"#,
    )
    .await;
}

#[tokio::test]
async fn an_anonymous_tunnel_on_a_public_route_closes_after_its_idle_time_and_not_before() {
    let app = front(&[("WEBSOCKET_IDLE_SECS", "60")]).await;
    let mut socket = open(&app, "/open/ws", &[]).await;
    // Traffic either way keeps it open: 59 s of quiet, a message, 59 s more, a message.
    app.clock.advance(59);
    echoes(&mut socket).await;
    app.clock.advance(59);
    echoes(&mut socket).await;
    app.clock.advance(60);
    closed_within(&mut socket, Duration::from_secs(1)).await;
    counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="idle"} 1"#,
    )
    .await;
    counted(&app, OPEN_0).await;
}

#[tokio::test]
async fn a_tunnel_closes_when_its_token_expires() {
    let app = front(&[("WEBSOCKET_IDLE_SECS", "86400")]).await;
    let token = app.session_for(Some(4), &[]);
    let mut socket = open(&app, "/app/ws", &[("authorization", &bearer(&token))]).await;
    // SESSION_TTL_MINUTES is 60: a second before the token expires, it still carries.
    app.clock.advance(3599);
    echoes(&mut socket).await;
    app.clock.advance(1);
    closed_within(&mut socket, Duration::from_secs(1)).await;
    counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="expired"} 1"#,
    )
    .await;
}

#[tokio::test]
async fn signing_out_closes_the_sessions_open_tunnel_within_a_second() {
    let app = front(&[]).await;
    let jar = app.sign_in("Ada", "ada@example.com").await;
    let cookie = jar.header();
    let mut socket = open(&app, "/app/ws", &[("cookie", &cookie)]).await;
    echoes(&mut socket).await;
    let out = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 303);
    let took = closed_within(&mut socket, Duration::from_secs(1)).await;
    eprintln!("sign-out closed the tunnel after {took:?}");
    counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="revoked"} 1"#,
    )
    .await;
}

#[tokio::test]
async fn a_role_change_or_a_deletion_by_an_admin_closes_the_users_tunnels_within_a_second() {
    let routes = routes_file(upstream().await);
    let app = spawn_accounts_app(&[
        ("ADMIN_EMAILS", "boss@example.com"),
        ("DOORMAN_CONFIG", &routes),
        ("SESSION_SECRET", STRONG_SECRET),
    ])
    .await;
    let admin = app.admin_token("boss@example.com").await;
    for (username, change) in [("ada_l", "roles"), ("grace_h", "delete")] {
        let user = app.register(username).await;
        let tokens = app.login(username).await;
        let auth = bearer(access_token(&tokens));
        let mut socket = open(&app, "/app/ws", &[("authorization", &auth)]).await;
        let url = app.url(&format!("/api/admin/users/{}", user["id"]));
        let request = match change {
            "roles" => app
                .client
                .put(format!("{url}/roles"))
                .json(&json!({ "roles": ["editor"] })),
            _ => app.client.delete(url),
        };
        let response = request.bearer_auth(&admin).send().await.expect("admin");
        assert!(response.status().is_success(), "{change}: {response:?}");
        closed_within(&mut socket, Duration::from_secs(1)).await;
    }
    counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="revoked"} 2"#,
    )
    .await;
}

#[tokio::test]
async fn who_ended_a_tunnel_is_counted_the_client_or_the_upstream() {
    let app = front(&[]).await;
    let token = app.session_for(Some(5), &[]);
    let auth = bearer(&token);
    let mut socket = open(&app, "/app/ws", &[("authorization", &auth)]).await;
    socket.close(None).await.expect("close");
    while socket.next().await.is_some() {}
    drop(socket);
    counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="client"} 1"#,
    )
    .await;

    let mut request = format!("ws://{}/app/bye", app.addr)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("authorization", auth.parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgraded");
    let bye = socket.next().await.expect("a message").expect("ok");
    assert_eq!(bye.to_text().expect("text"), "bye");
    // The upstream's Close is answered by the client library; then the connection ends.
    while socket.next().await.is_some() {}
    drop(socket);
    counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="upstream"} 1"#,
    )
    .await;
    counted(&app, OPEN_0).await;
}
