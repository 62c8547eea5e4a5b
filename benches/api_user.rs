//! The hot path, measured: `GET /api/user` with a Bearer token.
//!
//! `cargo bench --bench api_user` prints the cost of verifying a session token in-process and
//! the throughput and latency of the real endpoint over loopback, and checks them against the
//! targets below (exit status 1 when a target is missed). Numbers depend on the machine; the
//! targets are for the project's 2-core machine with the release profile.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use doorman::clock::system_now as now_secs;
use doorman::config::Config;
use doorman::identity::Identity;
use doorman::random::token_id as new_jti;
use doorman::session::SessionTokens;

const SECRET: &str = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";
/// Token verification (HMAC + JSON) in-process, per call.
const TARGET_VERIFY_MICROS: f64 = 20.0;
/// Requests per second through the whole stack, 16 concurrent clients over loopback.
const TARGET_REQUESTS_PER_SEC: f64 = 5_000.0;
/// 99th percentile latency under that load.
const TARGET_P99_MILLIS: f64 = 10.0;

fn config(addr: &str) -> Config {
    let db = std::env::temp_dir().join(format!("doorman-bench-{}.db", std::process::id()));
    let vars: HashMap<&str, String> = HashMap::from([
        ("BIND_ADDR", addr.to_owned()),
        ("PUBLIC_URL", format!("http://{addr}")),
        ("SESSION_SECRET", SECRET.to_owned()),
        ("DATABASE_URL", db.to_string_lossy().into_owned()),
    ]);
    Config::from_lookup(|name| vars.get(name).cloned()).expect("bench config")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ok = runtime.block_on(run());
    std::process::exit(if ok { 0 } else { 1 });
}

async fn run() -> bool {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let config = config(&addr);
    let tokens = SessionTokens::new(&config.session, config.public_url().origin());
    let identity = Identity {
        issuer: "https://accounts.google.com".into(),
        subject: "110169484474386276334".into(),
        email: Some("ada@example.com".into()),
        email_verified: true,
        name: Some("Ada Lovelace".into()),
        picture: Some("https://lh3.googleusercontent.com/a/ACg8ocJ=s96-c".into()),
        user_id: Some(1),
        roles: vec!["admin".into()],
    };
    let jwt = tokens
        .mint(&tokens.claims_for(&identity, now_secs(), new_jti(), None))
        .expect("mint");

    // 1. Verification alone.
    let rounds = 100_000u32;
    let now = now_secs();
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(
            tokens
                .verify(std::hint::black_box(&jwt), now)
                .expect("valid"),
        );
    }
    let verify_micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);

    // 2. The endpoint, through the whole stack.
    let server = config.server.clone();
    let state: doorman::AppState = doorman::App::new(config, doorman::Deps::default())
        .await
        .expect("app")
        .into();
    let router = doorman::build_router(state);
    tokio::spawn(async move {
        doorman::server::serve(
            listener,
            router,
            &server,
            std::future::pending(),
            Duration::ZERO,
        )
        .await
    });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/api/user");
    for _ in 0..200 {
        let warm = client.get(&url).bearer_auth(&jwt).send().await;
        if warm.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let clients = 16;
    let per_client = 1_000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, jwt) = (client.clone(), url.clone(), jwt.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let t = Instant::now();
                let response = client
                    .get(&url)
                    .bearer_auth(&jwt)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200);
                response.bytes().await.expect("body");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pick =
        |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
    let rps = latencies.len() as f64 / elapsed;
    let (p50, p99) = (pick(0.50), pick(0.99));

    println!(
        "token verify        {verify_micros:>9.2} µs/op   (target ≤ {TARGET_VERIFY_MICROS} µs)"
    );
    println!(
        "GET /api/user       {rps:>9.0} req/s   (target ≥ {TARGET_REQUESTS_PER_SEC}, {clients} clients)"
    );
    println!("  latency p50       {p50:>9.3} ms");
    println!("  latency p99       {p99:>9.3} ms      (target ≤ {TARGET_P99_MILLIS} ms)");
    let ok = verify_micros <= TARGET_VERIFY_MICROS
        && rps >= TARGET_REQUESTS_PER_SEC
        && p99 <= TARGET_P99_MILLIS;
    println!(
        "{}",
        if ok {
            "all targets met"
        } else {
            "TARGET MISSED"
        }
    );
    ok
}
