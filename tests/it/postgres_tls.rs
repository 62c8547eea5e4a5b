//! PostgreSQL never falls back to plaintext. A fake server that answers the SSLRequest with
//! `N` (as a machine in the middle does) receives nothing more: no StartupMessage, no
//! password. `sslmode=prefer`/`allow`, and `disable` towards another machine, stop doorman at
//! start (exit 2, naming DATABASE_URL); `disable` on loopback starts with a warning; `doorman
//! check` prints the effective mode. The Unix-socket case runs against the suite's PostgreSQL.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::support::postgres::database;
use crate::support::process::{command, free_port, spawn_doorman};
use crate::support::{Jar, spawn_app_with};

const PASSWORD: &str = "s3cret-db-pass";

/// What one connection to the fake server carried.
#[derive(Debug, Default)]
struct Connection {
    /// The client's first message was an SSLRequest (answered `N`).
    ssl_request: bool,
    /// Every byte after that (or from the start, without an SSLRequest).
    after: Vec<u8>,
}

/// A PostgreSQL "server" that does not do TLS: it answers an SSLRequest with `N`, then, to a
/// StartupMessage, asks for the password in cleartext, as the audit's attacker did.
struct NoTlsServer {
    port: u16,
    done: mpsc::UnboundedReceiver<Connection>,
}

impl NoTlsServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, done) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(serve(socket).await);
                });
            }
        });
        Self { port, done }
    }

    /// The next connection, once the client has hung up (or gone quiet for two seconds).
    async fn next(&mut self) -> Connection {
        tokio::time::timeout(Duration::from_secs(20), self.done.recv())
            .await
            .expect("doorman connected to the fake server")
            .expect("the server runs")
    }
}

async fn serve(mut socket: tokio::net::TcpStream) -> Connection {
    let mut record = Connection::default();
    let mut first = [0u8; 8];
    if socket.read_exact(&mut first).await.is_err() {
        return record;
    }
    // An SSLRequest: length 8, code 80877103.
    if first == [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f] {
        record.ssl_request = true;
        let _ = socket.write_all(b"N").await;
    } else {
        record.after.extend_from_slice(&first);
    }
    let mut buf = [0u8; 4096];
    let mut asked = false;
    loop {
        let read = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut buf)).await;
        let Ok(Ok(n)) = read else { break };
        if n == 0 {
            break;
        }
        record.after.extend_from_slice(&buf[..n]);
        if !asked && record.after.len() >= 8 {
            // AuthenticationCleartextPassword: the password comes next, in the clear.
            asked = true;
            let _ = socket.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await;
        }
    }
    record
}

fn fake_url(port: u16, query: &str) -> String {
    format!("postgres://doorman:{PASSWORD}@127.0.0.1:{port}/doorman{query}")
}

fn assert_nothing_sent(connection: &Connection) {
    assert!(connection.ssl_request, "doorman asked for TLS first");
    let text = String::from_utf8_lossy(&connection.after);
    assert!(
        connection.after.is_empty(),
        "after \"no TLS\" doorman sent {} bytes in plaintext: {text:?}",
        connection.after.len()
    );
}

#[tokio::test]
async fn a_server_answering_no_tls_receives_no_startup_message_and_no_password() {
    let mut server = NoTlsServer::start().await;
    let app = spawn_app_with(&[("DATABASE_URL", &fake_url(server.port, ""))]).await;
    let ready = app.get("/readyz", &Jar::default()).await;
    // The readiness ping and the background sync each connected: neither said anything more.
    for _ in 0..2 {
        assert_nothing_sent(&server.next().await);
    }
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    let error = body["checks"]["store"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("server does not support TLS"),
        "the reason is named: {body}"
    );
}

/// `doorman ARGS` with `vars`: exit code, stdout, stderr. Killed (and the test failed) if it
/// is still running after 20 s, as a `serve` that accepted its configuration would be.
async fn run(
    args: &'static [&'static str],
    vars: Vec<(&'static str, String)>,
) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let mut command = command(args);
        for (k, v) in vars {
            command.env(k, v);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("doorman runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("output");
        let code = output.status.code().unwrap_or(-1);
        assert!(code != -1, "doorman {args:?} was still running after 20 s");
        (
            code,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .expect("join")
}

fn line<'a>(out: &'a str, prefix: &str, check: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix) && l.contains(check))
        .unwrap_or_else(|| panic!("no `{prefix} {check}` line in:\n{out}"))
}

#[tokio::test]
async fn doorman_check_prints_the_effective_mode_and_sends_nothing_to_a_server_without_tls() {
    let mut server = NoTlsServer::start().await;
    let (code, out, _) = run(
        &["check"],
        vec![("DATABASE_URL", fake_url(server.port, ""))],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(line(&out, "ok", "database TLS").contains("TLS required"));
    assert!(
        line(&out, "FAIL", "store").contains("server does not support TLS"),
        "{out}"
    );
    assert!(!out.contains(PASSWORD), "{out}");
    assert_nothing_sent(&server.next().await);

    // On loopback, sslmode=disable is accepted and said so.
    let (_, out, _) = run(
        &["check"],
        vec![("DATABASE_URL", fake_url(free_port(), "?sslmode=disable"))],
    )
    .await;
    assert!(line(&out, "ok", "database TLS").contains("no TLS: sslmode=disable"));
}

#[tokio::test]
async fn doorman_check_says_a_unix_socket_needs_no_tls() {
    let Some(url) = database().await else { return };
    let (code, out, _) = run(&["check"], vec![("DATABASE_URL", url)]).await;
    assert_eq!(code, 0, "{out}");
    assert!(line(&out, "ok", "database TLS").contains("no TLS: a Unix socket"));
    line(&out, "ok", "store");
}

#[tokio::test]
async fn a_fallback_to_plaintext_is_a_configuration_error_at_start() {
    for (query, reason) in [
        ("?sslmode=prefer", "sslmode=prefer is refused"),
        ("?sslmode=allow", "sslmode=allow is refused"),
    ] {
        let (code, _, err) = run(&[], vec![("DATABASE_URL", fake_url(free_port(), query))]).await;
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("DATABASE_URL") && err.contains(reason),
            "{err}"
        );
        assert!(!err.contains(PASSWORD), "{err}");
    }
    let remote = format!("postgres://doorman:{PASSWORD}@db.internal/doorman?sslmode=disable");
    for args in [&[][..], &["check"][..]] {
        let (code, out, err) = run(args, vec![("DATABASE_URL", remote.clone())]).await;
        assert_eq!(code, 2, "{out}{err}");
        let said = format!("{out}{err}");
        assert!(
            said.contains("DATABASE_URL") && said.contains("db.internal"),
            "{said}"
        );
        assert!(!said.contains(PASSWORD), "{said}");
    }
}

#[tokio::test]
async fn sslmode_disable_on_loopback_starts_with_a_warning() {
    let url = fake_url(free_port(), "?sslmode=disable");
    let doorman = spawn_doorman(&[("DATABASE_URL", &url), ("LOG_FORMAT", "json")]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = doorman.output();
        if output
            .lines()
            .any(|l| l.contains("\"WARN\"") && l.contains("sslmode=disable"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no warning in:\n{output}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!doorman.output().contains(PASSWORD));
}
