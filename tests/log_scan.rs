//! Logs never contain secrets (`shared/security.md` C): with every crate logging at TRACE into
//! memory, sign-ins that succeed and fail, API calls and a sign-out leave no JWT, code, PKCE
//! verifier, client or session secret, Cookie, Authorization or Set-Cookie value in the log.
//!
//! One test in its own binary, because it installs the process-wide subscriber.

#[path = "it/support/mod.rs"]
#[expect(
    dead_code,
    reason = "this binary borrows the sign-in helpers of tests/it's harness, not the rest"
)]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::json;
use support::test_provider::{
    CLIENT_SECRET, Faults, Signing, TokenFault, arrive, begin, patch, setup, sign_in,
};
use support::{Jar, STRONG_SECRET, set_cookies, spawn_app_with};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_even_at_trace_level() {
    use tracing_subscriber::layer::SubscriberExt;
    let log = Captured::default();
    // doorman's own JSON lines, every crate at TRACE.
    let (layer, guard) = doorman::telemetry::logs::LogLayer::new(
        doorman::telemetry::logs::Style::Json,
        Box::new(log.clone()),
    );
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::TRACE)
            .with(layer),
    )
    .expect("the only subscriber in this binary");

    let mut secrets: Vec<String> = vec![CLIENT_SECRET.into(), STRONG_SECRET.into()];
    let mut cookies: Vec<String> = Vec::new();

    // A sign-in that works, API calls with the cookie and a Bearer token, and a sign-out.
    let (provider, app) = setup(Faults::default()).await;
    let attempt = begin(&app, &provider, Some("/profile")).await;
    cookies.extend(attempt.jar.0.values().cloned());
    let mut jar = attempt.jar.clone();
    let response = arrive(&app, &attempt.callback, &attempt.jar).await;
    assert_eq!(response.status(), 303);
    cookies.extend(set_cookies(&response));
    jar.absorb(response.headers());
    let session = jar.get("access_token").expect("session").to_owned();
    assert_eq!(app.get("/api/user", &jar).await.status(), 200);
    assert_eq!(app.get("/profile", &jar).await.status(), 200);
    let bearer = app
        .client
        .get(app.url("/api/protected"))
        .bearer_auth(&session)
        .send()
        .await
        .expect("bearer");
    assert_eq!(bearer.status(), 200);
    let logout = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .header("origin", &app.public_url)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 303);
    cookies.extend(set_cookies(&logout));
    assert_eq!(app.get("/api/user", &jar).await.status(), 401);
    secrets.push(session.clone());

    // Failures: a replayed callback, a forged session, bad ID tokens, a failing token endpoint.
    assert_eq!(
        arrive(&app, &attempt.callback, &attempt.jar).await.status(),
        400
    );
    let mut forged = session.clone();
    forged.push('x');
    let mut forged_jar = Jar::default();
    forged_jar.0.insert("access_token".into(), forged.clone());
    assert_eq!(app.get("/api/user", &forged_jar).await.status(), 401);
    secrets.push(forged);
    let records = vec![provider.record()];
    let mut providers = vec![provider];
    for faults in [
        Faults {
            signing: Signing::BadSignature,
            ..Faults::default()
        },
        Faults {
            claims_patch: Some(patch(|c| c["nonce"] = json!("wrong"))),
            ..Faults::default()
        },
        Faults {
            token: TokenFault::OAuthError("invalid_grant"),
            ..Faults::default()
        },
        Faults {
            token: TokenFault::Status(500),
            ..Faults::default()
        },
    ] {
        let (provider, app) = setup(faults).await;
        let attempt = begin(&app, &provider, None).await;
        cookies.extend(attempt.jar.0.values().cloned());
        let response = arrive(&app, &attempt.callback, &attempt.jar).await;
        assert!(response.status().is_client_error() || response.status().is_server_error());
        providers.push(provider);
    }
    let (ok_provider, ok_app) = setup(Faults::default()).await;
    let ok_jar = sign_in(&ok_app, &ok_provider).await;
    secrets.extend(ok_jar.0.values().cloned());
    providers.push(ok_provider);

    // The development provider's sign-in too.
    let dev = spawn_app_with(&[("SESSION_SECRET", STRONG_SECRET)]).await;
    let dev_jar = dev.sign_in("Ada Lovelace", "ada@example.com").await;
    secrets.extend(dev_jar.0.values().cloned());

    // A password sign-in that fails, as JSON and as HTTP Basic.
    const TYPED_PASSWORD: &str = "a-Password-that-must-never-be-logged";
    for request in [
        dev.client
            .post(dev.url("/api/login"))
            .json(&json!({"username": "ada", "password": TYPED_PASSWORD})),
        dev.client
            .post(dev.url("/api/login"))
            .basic_auth("ada", Some(TYPED_PASSWORD)),
    ] {
        assert_eq!(request.send().await.expect("login").status(), 401);
    }
    secrets.push(TYPED_PASSWORD.to_owned());

    for record in records
        .into_iter()
        .chain(providers.iter().map(|p| p.record()))
    {
        secrets.extend(record.codes);
        secrets.extend(record.id_tokens);
        secrets.extend(record.access_tokens);
        secrets.extend(record.pkce_verifiers);
        for value in record
            .token_authorization
            .into_iter()
            .chain(record.userinfo_authorization)
        {
            if let Some((_, credential)) = value.split_once(' ') {
                secrets.push(credential.to_owned());
            }
        }
    }
    for cookie in cookies {
        let value = cookie.split(';').next().unwrap_or("");
        if let Some((_, v)) = value.split_once('=')
            && v.len() >= 16
        {
            secrets.push(v.to_owned());
        }
    }
    secrets.push(base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        support::test_provider::CLIENT_ID,
        support::urlencode(CLIENT_SECRET)
    )));

    guard.flush();
    let text = log.text();
    assert!(
        text.contains("login_succeeded") && text.contains("login_failed"),
        "the log captured the run ({} bytes)",
        text.len()
    );
    assert!(secrets.len() > 30, "enough secrets were collected");
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the log contains a secret: {}…",
            &secret[..secret.len().min(12)]
        );
    }
    assert!(!text.contains("eyJ"), "no JWT of any kind in the log");
}
