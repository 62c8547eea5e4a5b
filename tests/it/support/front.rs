//! For the front-door suites: an echo service that reports exactly what reached it (request
//! line, headers, body), doorman proxying to it from a `DOORMAN_CONFIG` written here, and a
//! raw HTTP/1.1 client, since reqwest would tidy up the very paths and headers under test.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{STRONG_SECRET, TestApp, spawn_app_with};

/// An echo service: answers every request with JSON `{tag, method, target, headers: [[name,
/// value]…], body}`, read with its own minimal HTTP/1.1 parser, so the test sees the request
/// line and every header line exactly as doorman sent them. `tag` tells echoes apart. Two
/// paths misbehave on purpose: `/set-cookies` answers with doorman's cookie names among
/// others, and `/cl-te` with both `Content-Length` and a chunked body.
pub(crate) async fn echo(tag: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_echo(stream, tag));
        }
    });
    addr
}

async fn serve_echo(mut stream: TcpStream, tag: &'static str) {
    loop {
        let Some((head, body)) = read_request(&mut stream).await else {
            return;
        };
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let headers: Vec<Value> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| json!([k.to_ascii_lowercase(), v.trim()]))
            .collect();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default();
        let target = parts.next().unwrap_or_default();
        let reply = json!({
            "tag": tag,
            "method": method,
            "target": target,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        })
        .to_string();
        let answer = match target {
            t if t.ends_with("/set-cookies") => format!(
                "HTTP/1.1 200 OK\r\nset-cookie: access_token=planted; Path=/\r\n\
                 set-cookie: theme=dark; Path=/\r\nset-cookie: __Host-access_token=x; Secure; Path=/\r\n\
                 set-cookie: doorman_flow_abc=x; Path=/\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{reply}",
                reply.len()
            ),
            t if t.ends_with("/cl-te") => {
                "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n\
                 a\r\n0123456789\r\n0\r\n\r\n"
                    .to_owned()
            }
            _ => format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                reply.len()
            ),
        };
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// One request from `stream`: its head, and its body by `Content-Length` or chunks.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut rest = buffer[head_end..].to_vec();
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    if lower.contains("transfer-encoding: chunked") {
        while !rest.ends_with(b"0\r\n\r\n") {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(length) = length {
        while rest.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
    }
    Some((head, rest))
}

/// The value of header `name` in an echo's report (the first, when repeated).
pub(crate) fn echoed<'a>(report: &'a Value, name: &str) -> Option<&'a str> {
    echoed_all(report, name).into_iter().next()
}

/// Every value of header `name` in an echo's report.
pub(crate) fn echoed_all<'a>(report: &'a Value, name: &str) -> Vec<&'a str> {
    report["headers"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|pair| pair[0] == name)
                .filter_map(|pair| pair[1].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// The claims of `assertion` (an `X-Doorman-Jwt-Assertion`), verified with the key doorman
/// publishes at `/.well-known/jwks.json` for its `kid`, under `validation` (ES256).
pub(crate) async fn verified_assertion(
    app: &TestApp,
    assertion: &str,
    validation: &jsonwebtoken::Validation,
) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json", &super::Jar::default())
        .await
        .json()
        .await
        .expect("jwks");
    let kid = jsonwebtoken::decode_header(assertion)
        .expect("header")
        .kid
        .expect("kid");
    let key = jwks.find(&kid).expect("published");
    jsonwebtoken::decode::<Value>(
        assertion,
        &jsonwebtoken::DecodingKey::from_jwk(key).expect("key"),
        validation,
    )
    .expect("verifies")
    .claims
}

/// doorman with `config` as its `DOORMAN_CONFIG` (and a strong secret, so sessions can be
/// minted for it), plus `vars`.
pub(crate) async fn front_door_with(config: &str, vars: &[(&str, &str)]) -> TestApp {
    let path = std::path::PathBuf::from(crate::support::config_file("front", config));
    let mut all = vec![
        ("DOORMAN_CONFIG", path.to_str().expect("utf8")),
        ("SESSION_SECRET", STRONG_SECRET),
    ];
    all.extend_from_slice(vars);
    spawn_app_with(&all).await
}

/// A response as read off the wire.
#[derive(Debug)]
pub(crate) struct Raw {
    pub status: u16,
    /// Header lines, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `request` (bytes exactly as given; it should say `Connection: close`) and reads the
/// answer to the end.
pub(crate) async fn raw(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes)).await;
    parse_response(&bytes)
}

/// `GET target` with `headers` (each a whole `Name: value` line), closing after.
pub(crate) async fn raw_get(addr: SocketAddr, target: &str, headers: &[&str]) -> Raw {
    let mut request = format!("GET {target} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    raw(addr, request.as_bytes()).await
}

fn parse_response(bytes: &[u8]) -> Raw {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[end..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Raw {
        status,
        headers,
        body,
    }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&bytes[..i]).trim(), 16).unwrap_or(0);
        if size == 0 || bytes.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&bytes[i + 2..i + 2 + size]);
        bytes = &bytes[(i + 4 + size).min(bytes.len())..];
    }
    out
}
