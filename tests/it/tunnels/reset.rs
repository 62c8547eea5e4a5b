//! An upstream that breaks its connection in the middle of a tunnel (a TCP reset, no Close
//! frame): the tunnel closes, the client sees it end, and it is counted as an error.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::{bearer, closed_within, counted, front_to};

/// A WebSocket server by hand: it switches protocols, waits for the client's first frame,
/// then resets the connection.
async fn resetting_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(switch_then_reset(stream));
        }
    });
    addr
}

async fn switch_then_reset(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read_exact(&mut byte).await.is_err() {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let Some(key) = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim())
    }) else {
        return;
    };
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    if stream.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    let mut frame = [0u8; 64];
    let _ = stream.read(&mut frame).await;
    let _ = stream.set_zero_linger();
}

#[tokio::test]
async fn an_upstream_that_resets_mid_tunnel_closes_it_counted_as_an_error() {
    let app = front_to(resetting_upstream().await, &[]).await;
    let token = app.session_for(Some(7), &[]);
    let mut request = format!("ws://{}/app/ws", app.addr)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("authorization", bearer(&token).parse().expect("header"));
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgraded");
    assert_eq!(response.status(), 101);
    socket
        .send(Message::Text("ping".into()))
        .await
        .expect("send");
    closed_within(&mut socket, Duration::from_secs(2)).await;
    counted(
        &app,
        r#"doorman_websocket_tunnels_closed_total{reason="error"} 1"#,
    )
    .await;
    counted(&app, super::OPEN_0).await;
}
