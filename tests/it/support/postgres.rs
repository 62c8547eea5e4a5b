//! PostgreSQL for the multi-instance suite: a fresh database on the throwaway server that
//! `.ci/stores.sh` starts (`DOORMAN_TEST_DATABASE_URL`), or, for tests that stop and restart
//! the server, a private cluster of their own. Without a server the tests are skipped with a
//! notice, except under `CI=true`, where that is a failure.

use std::path::PathBuf;
use std::process::Command;

/// The admin URL of the shared test server, or `None` (after a notice) to skip.
fn server() -> Option<String> {
    match std::env::var("DOORMAN_TEST_DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but DOORMAN_TEST_DATABASE_URL is unset: the PostgreSQL tests must run \
                 in CI (source .ci/stores.sh && pg_up)"
            );
            skipped_notice("the multi-instance suite (tests/it/multi_instance.rs)");
            None
        }
    }
}

/// `url` naming database `name` instead of its own.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let query = path.find('?').map_or("", |i| &path[i..]);
    format!("{scheme}://{authority}/{name}{query}")
}

async fn create_database(admin: &str) -> String {
    let name = format!("doorman_it_{}", doorman::random::token_id());
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("the test server answers");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    with_database(admin, &name)
}

/// The URL of a fresh, empty database for one test, or `None` to skip.
pub(crate) async fn database() -> Option<String> {
    Some(create_database(&server()?).await)
}

/// The server's binaries (`initdb`, `pg_ctl`).
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("DOORMAN_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL cluster of this test's own, on a private Unix socket, that the test may stop
/// and start again. Removed when dropped.
pub(crate) struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    /// The admin URL.
    pub url: String,
}

impl PgServer {
    /// A new cluster, running; `None` (after a notice) to skip.
    pub(crate) async fn start() -> Option<Self> {
        server()?;
        let bin = bin_dir().expect("PostgreSQL server binaries (apt install postgresql)");
        let dir = std::env::temp_dir().join(format!("doorman-pg-{}", doorman::random::token_id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let server = Self {
            url: format!("postgresql://doorman@/postgres?host={}", dir.display()),
            dir,
            bin,
        };
        tokio::task::spawn_blocking({
            let (dir, bin) = (server.dir.clone(), server.bin.clone());
            move || {
                if is_root() {
                    run(Command::new("chown")
                        .args(["postgres:postgres", &dir.display().to_string()]));
                }
                run(as_postgres(&bin.join("initdb")).args([
                    "-D",
                    &dir.join("data").display().to_string(),
                    "-U",
                    "doorman",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]));
            }
        })
        .await
        .expect("initdb");
        server.up().await;
        Some(server)
    }

    /// Starts the (stopped) server again on the same socket and data.
    pub(crate) async fn up(&self) {
        let (dir, bin) = (self.dir.clone(), self.bin.clone());
        tokio::task::spawn_blocking(move || {
            let options = format!(
                "-c listen_addresses='' -k {} -c fsync=off -c full_page_writes=off",
                dir.display()
            );
            run(as_postgres(&bin.join("pg_ctl")).args([
                "-D",
                &dir.join("data").display().to_string(),
                "-l",
                &dir.join("server.log").display().to_string(),
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "start",
            ]));
            let _ = Command::new("chmod")
                .args(["755", &dir.display().to_string()])
                .status();
        })
        .await
        .expect("pg_ctl start");
    }

    /// Stops the server at once, as a crash would (`-m immediate`).
    pub(crate) async fn crash(&self) {
        let (dir, bin) = (self.dir.clone(), self.bin.clone());
        tokio::task::spawn_blocking(move || {
            run(as_postgres(&bin.join("pg_ctl")).args([
                "-D",
                &dir.join("data").display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ]));
        })
        .await
        .expect("pg_ctl stop");
    }

    /// A fresh database on this server.
    pub(crate) async fn database(&self) -> String {
        create_database(&self.url).await
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args([
                "-D",
                &self.dir.join("data").display().to_string(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn as_postgres(program: &std::path::Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Says once per test binary, on the real stderr (test output capture does not hide it),
/// which PostgreSQL tests were skipped and how to run them.
fn skipped_notice(what: &str) {
    use std::io::Write;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTE: skipped {what} against PostgreSQL: DOORMAN_TEST_DATABASE_URL is not set.\n      \
             Run them with: source .ci/stores.sh && pg_up && cargo test   (pg_down stops it)\n"
        );
    });
}
