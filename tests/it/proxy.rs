//! doorman as the front door, with a real upstream started here (HTTP, SSE and WebSocket):
//! sign-in through the proxy and back, API 401s, the identity and a verifiable assertion
//! upstream, cookie and spoofed-header stripping, 50 MiB streamed each way with memory flat,
//! server-sent events one by one, a WebSocket echo, 502 and 504, prefix stripping and host
//! routing, connections to the service kept alive, and a signed-out session refused at its
//! next request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Query, Request};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Value, json};

use crate::support::front::verified_assertion;
use crate::support::{Jar, STRONG_SECRET, TestApp, location, spawn_app_with};

const MIB: usize = 1024 * 1024;

/// The service behind doorman; `/ws` greets and echoes, `/bye` says bye and closes first.
pub(crate) async fn upstream() -> SocketAddr {
    async fn echo(
        axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
        request: Request,
    ) -> axum::Json<Value> {
        let headers: serde_json::Map<String, Value> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or("?"))))
            .collect();
        axum::Json(json!({
            "method": request.method().as_str(),
            "path": request.uri().path(),
            "query": request.uri().query(),
            "headers": headers,
            "peer": peer.to_string(),
        }))
    }
    async fn download(Query(q): Query<std::collections::HashMap<String, usize>>) -> Response {
        let total = q.get("bytes").copied().unwrap_or(0);
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = total.div_ceil(chunk.len());
        let stream = futures_util::stream::iter((0..chunks).map(move |i| {
            let len = (total - i * chunk.len()).min(chunk.len());
            Ok::<_, std::io::Error>(chunk.slice(..len))
        }));
        Body::from_stream(stream).into_response()
    }
    async fn upload(body: Body) -> axum::Json<Value> {
        let mut stream = body.into_data_stream();
        let mut bytes = 0usize;
        while let Some(chunk) = stream.next().await {
            bytes += chunk.expect("chunk").len();
        }
        axum::Json(json!({ "bytes": bytes }))
    }
    async fn sse() -> Response {
        let stream = futures_util::stream::unfold(0u32, |n| async move {
            if n == 3 {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            Some((
                Ok::<_, std::io::Error>(Bytes::from(format!("data: event {n}\n\n"))),
                n + 1,
            ))
        });
        (
            [("content-type", "text/event-stream")],
            Body::from_stream(stream),
        )
            .into_response()
    }
    // An event every 100 ms for a minute: a stream that only doorman ends early.
    async fn sse_forever() -> Response {
        let stream = futures_util::stream::unfold(0u32, |n| async move {
            if n == 600 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((
                Ok::<_, std::io::Error>(Bytes::from(format!("data: tick {n}\n\n"))),
                n + 1,
            ))
        });
        (
            [("content-type", "text/event-stream")],
            Body::from_stream(stream),
        )
            .into_response()
    }
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(3)).await;
        "late"
    }
    async fn ws(upgrade: WebSocketUpgrade, headers: HeaderMap) -> Response {
        let user = headers
            .get("x-doorman-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        upgrade.on_upgrade(move |mut socket| async move {
            let _ = socket
                .send(Message::Text(format!("hello {user}").into()))
                .await;
            while let Some(Ok(message)) = socket.recv().await {
                if let Message::Text(text) = message
                    && socket
                        .send(Message::Text(format!("echo {text}").into()))
                        .await
                        .is_err()
                {
                    return;
                }
            }
        })
    }
    async fn bye(upgrade: WebSocketUpgrade) -> Response {
        upgrade.on_upgrade(|mut socket| async move {
            let _ = socket.send(Message::Text("bye".into())).await;
            let _ = socket.send(Message::Close(None)).await;
            // Until the client answers the close and goes.
            while let Some(Ok(_)) = socket.recv().await {}
        })
    }
    let app = Router::new()
        .route("/download", get(download))
        .route("/upload", post(upload))
        .route("/events", get(sse))
        .route("/events/forever", get(sse_forever))
        .route("/slow", get(slow))
        .route("/ws", get(ws))
        .route("/bye", get(bye))
        .fallback(any(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("upstream")
    });
    addr
}

/// A port nobody listens on.
fn closed_port() -> u16 {
    crate::support::process::free_port()
}

/// doorman proxying to `up`: `/app` (stripped) on any host, everything on `app.localhost`,
/// `/admin` for admins, `/slow` with a 1 s timeout, `/gone` to a closed port.
async fn front_door(up: SocketAddr) -> TestApp {
    let config = format!(
        r#"
[gateway.policy.admins]
roles = ["admin"]

[[gateway.route]]
path_prefix = "/app"
upstream = "http://{up}/"
strip_prefix = true

[[gateway.route]]
name = "app-host"
host = "app.localhost"
upstream = "http://{up}"

[[gateway.route]]
path_prefix = "/admin"
upstream = "http://{up}"
policy = "admins"

[[gateway.route]]
path_prefix = "/slow"
upstream = "http://{up}"
timeout = "1s"

[[gateway.route]]
path_prefix = "/gone"
upstream = "http://127.0.0.1:{gone}"
"#,
        gone = closed_port()
    );
    let path = std::path::PathBuf::from(crate::support::config_file("routes", &config));
    spawn_app_with(&[
        ("DOORMAN_CONFIG", path.to_str().expect("utf8")),
        ("SESSION_SECRET", STRONG_SECRET),
    ])
    .await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn get_json(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app.client.get(app.url(path));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_browser_signs_in_through_the_proxy_and_comes_back_to_the_service() {
    let app = front_door(upstream().await).await;
    let start = app
        .client
        .get(app.url("/app/reports?q=1"))
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .expect("navigate");
    assert_eq!(start.status(), 302);
    let login = location(&start);
    assert!(login.contains("/auth/login?rd="), "{login}");
    // Follow the gateway's own sign-in link, as the browser would.
    let response = app.client.get(&login).send().await.expect("login");
    assert_eq!(response.status(), 303);
    let mut jar = Jar::default();
    jar.absorb(response.headers());
    let authorize = reqwest::Url::parse(&location(&response)).expect("url");
    let callback = app
        .dev_provider_approves(&authorize, "Ada Lovelace", "ada@example.com")
        .await;
    let done = app
        .client
        .get(&callback)
        .header("cookie", jar.header())
        .send()
        .await
        .expect("callback");
    assert_eq!(done.status(), 303);
    assert_eq!(
        location(&done),
        app.url("/app/reports?q=1"),
        "back where the browser was going"
    );
    jar.absorb(done.headers());
    let (status, echo) = get_json(&app, "/app/reports?q=1", &[("cookie", &jar.header())]).await;
    assert_eq!(status, 200);
    assert_eq!(echo["path"], "/reports", "the prefix is stripped");
    assert_eq!(echo["query"], "q=1");
    assert_eq!(echo["headers"]["x-doorman-email"], "ada@example.com");
    assert_eq!(echo["headers"]["x-forwarded-prefix"], "/app");
}

#[tokio::test]
async fn programs_get_a_401_json_and_never_a_redirect() {
    let app = front_door(upstream().await).await;
    let (status, body) = get_json(&app, "/app/api/items", &[("accept", "*/*")]).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthenticated");
    assert!(
        body["login_url"]
            .as_str()
            .is_some_and(|u| u.contains("rd="))
    );
}

#[tokio::test]
async fn the_service_gets_the_identity_and_an_assertion_but_never_doormans_secrets_or_spoofs() {
    let app = front_door(upstream().await).await;
    let jar = app.sign_in("Grace Hopper", "grace@example.com").await;
    let token = jar.get("access_token").expect("session").to_owned();
    let (status, echo) = get_json(
        &app,
        "/app/whoami",
        &[
            (
                "cookie",
                &format!("theme=dark; access_token={token}; lang=en"),
            ),
            ("x-doorman-user", "mallory"),
            ("x_doorman_roles", "admin"),
            ("remote-user", "mallory"),
            ("x-forwarded-for", "6.6.6.6"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{echo}");
    let h = &echo["headers"];
    let sub = crate::support::jwt_payload(&token)["sub"].clone();
    assert_eq!(h["x-doorman-user"], sub);
    assert!(
        h.get("x_doorman_roles").is_none() && h.get("remote-user").is_none(),
        "{h}"
    );
    assert_eq!(
        h["cookie"], "theme=dark; lang=en",
        "doorman's cookie never reaches the service"
    );
    assert_eq!(
        h["x-forwarded-for"], "127.0.0.1",
        "an untrusted client's chain is replaced"
    );
    assert!(
        !echo.to_string().contains(&token),
        "the session token never reaches the service"
    );

    let assertion = h["x-doorman-jwt-assertion"].as_str().expect("assertion");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[app.public_url.as_str()]);
    validation.set_issuer(&[app.public_url.as_str()]);
    let claims = verified_assertion(&app, assertion, &validation).await;
    assert_eq!(claims["email"], "grace@example.com");

    // A Bearer token is doorman's: it authenticates, and the service never sees it.
    let (status, echo) = get_json(&app, "/app/x", &[("authorization", &bearer(&token))]).await;
    assert_eq!(status, 200);
    assert!(echo["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn fifty_mebibytes_stream_each_way_with_memory_flat() {
    let app = front_door(upstream().await).await;
    let token = app.session_for(Some(1), &[]);
    let before = peak_rss_kib();
    let mut response = app
        .client
        .get(app.url(&format!("/app/download?bytes={}", 50 * MIB)))
        .header("authorization", bearer(&token))
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 200);
    let mut received = 0;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        received += chunk.len();
    }
    assert_eq!(received, 50 * MIB);
    let chunk = Bytes::from(vec![b'y'; 256 * 1024]);
    let upload = http_body_util::StreamBody::new(futures_util::stream::iter(
        (0..200).map(move |_| Ok::<_, std::io::Error>(hyper::body::Frame::data(chunk.clone()))),
    ));
    let (status, body) = {
        let response = app
            .client
            .post(app.url("/app/upload"))
            .header("authorization", bearer(&token))
            .body(reqwest::Body::wrap(upload))
            .send()
            .await
            .expect("upload");
        (
            response.status().as_u16(),
            response.json::<Value>().await.expect("json"),
        )
    };
    assert_eq!(status, 200);
    assert_eq!(body["bytes"], 50 * MIB);
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(
        grown < 24 * 1024,
        "peak memory grew by {grown} KiB moving 100 MiB: something buffered"
    );
}

/// The process's peak resident memory (VmHWM), KiB.
fn peak_rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn server_sent_events_arrive_one_by_one() {
    let app = front_door(upstream().await).await;
    let token = app.session_for(Some(1), &[]);
    let started = Instant::now();
    let mut response = app
        .client
        .get(app.url("/app/events"))
        .header("authorization", bearer(&token))
        .send()
        .await
        .expect("events");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut arrivals = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        arrivals.push((
            started.elapsed(),
            String::from_utf8_lossy(&chunk).into_owned(),
        ));
    }
    let text: String = arrivals.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n");
    let first = arrivals.first().expect("an event").0;
    assert!(
        first < Duration::from_millis(400),
        "the first event came at once ({first:?})"
    );
    assert!(
        arrivals.len() >= 3,
        "events were not held back and sent together: {arrivals:?}"
    );
}

#[tokio::test]
async fn a_websocket_is_authorised_on_its_upgrade_and_then_echoes() {
    let up = upstream().await;
    let app = front_door(up).await;
    let token = app.session_for(Some(9), &[]);
    let url = format!("ws://{}/app/ws", app.addr);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            url.as_str(),
        )
        .expect("request");
    request
        .headers_mut()
        .insert("authorization", bearer(&token).parse().expect("header"));
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgraded");
    assert_eq!(response.status(), 101);
    let hello = socket.next().await.expect("a message").expect("ok");
    assert_eq!(
        hello.to_text().expect("text"),
        "hello 9",
        "the upstream saw who connected"
    );
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text("ping".into()))
        .await
        .expect("send");
    let echo = socket.next().await.expect("a message").expect("ok");
    assert_eq!(echo.to_text().expect("text"), "echo ping");
    socket.close(None).await.expect("close");
    // Without a session the upgrade itself is refused.
    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(refused.is_err(), "an anonymous upgrade is refused");
}

#[tokio::test]
async fn an_unreachable_upstream_is_502_and_a_slow_one_504_as_json_or_a_page() {
    let app = front_door(upstream().await).await;
    let token = app.session_for(Some(1), &[]);
    let (status, body) = get_json(&app, "/gone/x", &[("authorization", &bearer(&token))]).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "upstream_unreachable");
    let page = app
        .client
        .get(app.url("/gone/x"))
        .header("cookie", format!("access_token={token}"))
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 502);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("Service unreachable")
    );
    let started = Instant::now();
    let (status, body) = get_json(&app, "/slow", &[("authorization", &bearer(&token))]).await;
    assert_eq!(status, 504);
    assert_eq!(body["error"], "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "answered at the route's timeout"
    );
    let metrics = app.state.metrics.render();
    assert!(
        metrics.contains("doorman_upstream_errors_total{route=\"/gone\",kind=\"unreachable\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn routes_go_by_host_and_longest_prefix_and_doormans_paths_stay_doormans() {
    let app = front_door(upstream().await).await;
    let admin = app.session_for(Some(1), &["admin"]);
    let viewer = app.session_for(Some(2), &["viewer"]);
    // Host routing: everything on app.localhost goes to the service, unstripped.
    let (status, echo) = get_json(
        &app,
        "/reports",
        &[
            ("host", "app.localhost"),
            ("authorization", &bearer(&viewer)),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(echo["path"], "/reports");
    assert_eq!(
        echo["headers"]["host"], "app.localhost",
        "the Host is preserved"
    );
    // Without the host, / is doorman's own page.
    let home = app.get("/", &Jar::default()).await;
    assert!(home.text().await.expect("html").contains("Sign in"));
    // doorman's own paths are never proxied, even on a proxied host.
    let health = app
        .client
        .get(app.url("/healthz"))
        .header("host", "app.localhost")
        .send()
        .await
        .expect("health");
    assert_eq!(health.json::<Value>().await.expect("json")["status"], "ok");
    // The admins route applies its policy.
    assert_eq!(
        get_json(&app, "/admin/x", &[("authorization", &bearer(&viewer))])
            .await
            .0,
        403
    );
    assert_eq!(
        get_json(&app, "/admin/x", &[("authorization", &bearer(&admin))])
            .await
            .0,
        200
    );
    // Prefixes match on segment boundaries: /applications is not /app.
    let other = app.get("/applications", &Jar::default()).await;
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn a_signed_out_session_is_refused_at_its_next_request() {
    let app = front_door(upstream().await).await;
    let jar = app.sign_in("Ada", "ada@example.com").await;
    let token = jar.get("access_token").expect("session").to_owned();
    let mut stream = app
        .client
        .get(app.url("/app/events"))
        .header("authorization", bearer(&token))
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.expect("chunk");
    assert!(first.is_some());
    let out = app
        .client
        .post(app.url("/api/logout"))
        .header("authorization", bearer(&token))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 204);
    let (status, _) = get_json(&app, "/app/x", &[("authorization", &bearer(&token))]).await;
    assert_eq!(status, 401, "the next request is refused");
}

#[tokio::test]
async fn connections_to_the_service_are_kept_alive_across_requests_and_clients() {
    let up = upstream().await;
    let app = front_door(up).await;
    let token = app.session_for(None, &[]);
    let mut peers = std::collections::HashSet::new();
    for _ in 0..20 {
        // A new client each time: a new connection to doorman, on whichever thread takes it.
        let client = reqwest::Client::new();
        let response = client
            .get(app.url("/app/x"))
            .header("authorization", bearer(&token))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        peers.insert(body["peer"].as_str().expect("peer").to_owned());
    }
    // One pooled connection per serving thread (the test app serves on two), not one per
    // request.
    assert!(
        peers.len() <= 2,
        "the service saw {} connections for 20 requests",
        peers.len()
    );
}
