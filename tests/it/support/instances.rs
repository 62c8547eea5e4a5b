//! Several doorman instances on one PostgreSQL database, as behind one load balancer, and the
//! waits the multi-instance suites share: until an instance is ready, until a token is
//! refused (how long a revocation took to arrive).

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{Jar, STRONG_SECRET, TestApp, spawn_app_with};

/// `n` instances on the database `url`, sharing the session secret and the public URL (as
/// instances behind one load balancer do), or joining `existing`'s.
pub(crate) async fn instances(url: &str, n: usize, extra: &[(&str, &str)]) -> Vec<TestApp> {
    instances_joining(None, url, n, extra).await
}

pub(crate) async fn instances_joining(
    existing: Option<&TestApp>,
    url: &str,
    n: usize,
    extra: &[(&str, &str)],
) -> Vec<TestApp> {
    let mut apps: Vec<TestApp> = Vec::new();
    for _ in 0..n {
        let public = existing.or(apps.first()).map(|a| a.public_url.clone());
        let mut vars = vec![
            ("DATABASE_URL", url),
            ("SESSION_SECRET", STRONG_SECRET),
            ("ALLOW_REGISTRATION", "true"),
            ("RATE_LIMIT_REGISTER_PER_HOUR", "10000"),
            ("RATE_LIMIT_LOGIN_PER_MINUTE", "10000"),
            ("REVOCATION_POLL_SECS", "1"),
        ];
        if let Some(public) = &public {
            vars.push(("PUBLIC_URL", public));
        }
        vars.extend_from_slice(extra);
        apps.push(spawn_app_with(&vars).await);
    }
    // Instances keep time with NTP: their (test) clocks agree.
    let now = existing
        .or(apps.first())
        .map(TestApp::now)
        .unwrap_or_default();
    for app in &apps {
        app.clock.set(now);
        until_ready(app, Duration::from_secs(20)).await;
    }
    apps
}

pub(crate) async fn readyz(app: &TestApp) -> StatusCode {
    app.get("/readyz", &Jar::default()).await.status()
}

pub(crate) async fn until_ready(app: &TestApp, limit: Duration) {
    let deadline = Instant::now() + limit;
    while readyz(app).await != 200 {
        if Instant::now() >= deadline {
            let body = app.get("/readyz", &Jar::default()).await.text().await;
            panic!("{} never became ready: {body:?}", app.base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long until `token` is refused on `app`, polling every 10 ms for up to `limit`.
pub(crate) async fn refused_after(app: &TestApp, token: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let status = app.get_bearer("/api/user", token).await.status();
        if status == 401 {
            return started.elapsed();
        }
        assert_eq!(status, 200, "until refused, the token works");
        assert!(started.elapsed() < limit, "still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
