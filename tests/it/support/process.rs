//! doorman as operators run it: the real binary (`CARGO_BIN_EXE_doorman`) in a process of its
//! own, configured only by environment variables, its stdout captured line by line (a pipe,
//! not a terminal), stopped with a real SIGTERM.
//!
//! From another process doorman can only be observed over HTTP and through its log, so the
//! waits here are of two kinds: each captured line is signalled (a test waits for the line it
//! needs), and what only HTTP shows (up, ready, no longer accepting) is polled with a deadline.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::Jar;

/// A port nobody listens on right now (bound, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `doorman` process.
pub(crate) struct Doorman {
    child: Child,
    pub base: String,
    /// The metrics listener's base URL, when `METRICS_ADDR` was set.
    pub metrics: Option<String>,
    /// Its stdout so far, one entry per line; the reader thread signals each new one.
    lines: tokio::sync::watch::Receiver<Vec<String>>,
    pub client: reqwest::Client,
}

/// The binary with `vars` only (no inherited configuration), in an empty working directory
/// (so no developer's `.env` is read). Returns once `/healthz` answers.
pub(crate) async fn spawn_doorman(vars: &[(&str, &str)]) -> Doorman {
    spawn_doorman_args(&[], vars).await
}

/// As [`spawn_doorman`], with command-line arguments.
pub(crate) async fn spawn_doorman_args(args: &[&str], vars: &[(&str, &str)]) -> Doorman {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut command = command(args);
    command
        .env("BIND_ADDR", &bind)
        .env("PUBLIC_URL", format!("http://{bind}"))
        .env("DATABASE_URL", super::temp_database());
    let mut metrics = None;
    for (k, v) in vars {
        command.env(k, v);
        if *k == "METRICS_ADDR" {
            metrics = Some(format!("http://{v}"));
        }
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the doorman binary starts");
    let (sink, lines) = tokio::sync::watch::channel(Vec::new());
    let stdout = child.stdout.take().expect("stdout is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.send_modify(|lines| lines.push(line));
        }
    });
    let doorman = Doorman {
        child,
        base: format!("http://{bind}"),
        metrics,
        lines,
        client: super::client(),
    };
    doorman.wait_until_up().await;
    doorman
}

/// `doorman ARGS` with `vars` only, in an empty directory; not started.
pub(crate) fn command(args: &[&str]) -> Command {
    let dir = std::env::temp_dir().join(format!("doorman-cwd-{}", doorman::random::token_id()));
    std::fs::create_dir_all(&dir).expect("working directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_doorman"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir);
    command
}

impl Doorman {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = self.client.get(self.url("/healthz")).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "doorman did not answer /healthz; its output:\n{}",
            self.output()
        );
    }

    /// `/readyz`'s first 200 (the providers are discovered over HTTP, just after start),
    /// polled for up to 20 s.
    pub(crate) async fn ready(&self) -> reqwest::Response {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let response = self
                .client
                .get(self.url("/readyz"))
                .send()
                .await
                .expect("ready");
            if response.status() == 200 {
                return response;
            }
            assert!(
                Instant::now() < deadline,
                "doorman never became ready; its output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether a new connection to its public port is refused within `limit` (polled: from
    /// outside, a closed listener shows only as a refused connection).
    pub(crate) async fn refuses_connections_within(&self, limit: Duration) -> bool {
        let addr = self.base.trim_start_matches("http://");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Everything it has written to stdout so far.
    pub(crate) fn output(&self) -> String {
        self.lines.borrow().join("\n")
    }

    /// Its stdout lines so far, once one of them is `wanted` (the log writer flushes every
    /// 100 ms, in the order lines were logged). Fails after 10 s, or if stdout closes first.
    pub(crate) async fn lines_until(&self, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = self.lines.clone();
        let found = lines.wait_for(|lines| lines.iter().any(|line| wanted(line)));
        match tokio::time::timeout(Duration::from_secs(10), found).await {
            Ok(Ok(lines)) => lines.clone(),
            _ => panic!(
                "the line awaited never came; its output:\n{}",
                self.output()
            ),
        }
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM was delivered");
    }

    /// Waits up to `limit` for the process to exit.
    pub(crate) async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "doorman did not exit within {limit:?}; its output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A whole sign-in through the built-in development provider.
    pub(crate) async fn sign_in(&self, name: &str, email: &str) -> Jar {
        super::dev_sign_in(&self.client, &self.base, name, email).await
    }
}

impl Drop for Doorman {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
