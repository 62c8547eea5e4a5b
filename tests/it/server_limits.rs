//! Slow or greedy clients cannot hold the server: a request head must arrive in time, a body
//! must keep flowing, and open connections are capped, while everybody else is served.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestApp, spawn_app_with};

/// Reads until the server closes the connection; `None` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

async fn healthz(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("healthz answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn half_a_request_head_is_cut_off_at_the_deadline_while_others_are_served() {
    let app = spawn_app_with(&[("HTTP_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut slow = TcpStream::connect(app.addr).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("half a head");

    assert_eq!(healthz(&app).await, 200, "others are served meanwhile");
    let answer = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "the half-sent head was cut off");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_same_deadline() {
    let app = spawn_app_with(&[("HTTP_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let answer = closed_within(&mut idle, Duration::from_secs(5))
        .await
        .expect("closed after idling");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "the request itself was answered"
    );
}

#[tokio::test]
async fn a_stalled_request_body_ends_the_request() {
    let app = spawn_app_with(&[("HTTP_BODY_TIMEOUT_SECS", "1")]).await;
    let mut stalled = TcpStream::connect(app.addr).await.expect("connect");
    stalled
        .write_all(
            b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"user",
        )
        .await
        .expect("a head and a little body");
    let answer = closed_within(&mut stalled, Duration::from_secs(5))
        .await
        .expect("the stalled request ends");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4"),
        "no 5xx, no hang: {text}"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(&[("MAX_CONNECTIONS", "1"), ("HTTP_HEADER_TIMEOUT_SECS", "2")]).await;
    let mut holder = TcpStream::connect(app.addr).await.expect("connect");
    holder
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut first = [0u8; 12];
    holder.read_exact(&mut first).await.expect("answered");
    assert_eq!(&first, b"HTTP/1.1 200");

    // The only slot is held by an idle keep-alive connection: a new client waits…
    let waiting = app
        .client
        .get(app.url("/healthz"))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(
        waiting.is_err(),
        "no second connection while the first is open"
    );
    // …and is served once the holder goes away.
    drop(holder);
    let mut next = TcpStream::connect(app.addr).await.expect("connect");
    next.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let answer = closed_within(&mut next, Duration::from_secs(5))
        .await
        .expect("served and closed");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
