//! Signing in a terminal with the device authorization grant (RFC 8628), in one process on a
//! fake clock: a terminal asks `POST /auth/device` for its codes and polls
//! `POST /auth/device/token`; a signed-in person types the short code at `/device`, sees who
//! is asking, and approves or denies it from this site only. The terminal's answers follow
//! RFC 8628 §3.5 (pending, slow down, denied, expired, used once) in RFC 6749's error shape;
//! an approval gives `/api/login`'s token pair for the approver (their sub, roles, groups and
//! provider) in a session of its own; guessing codes is throttled per person and per address
//! so that a code's 600 s lifetime allows a handful of guesses against 20^8 codes; the
//! requests live in the store (PostgreSQL across instances, and across a restart); and the
//! metrics count each outcome while no code ever reaches the log.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::accounts::{access_token, client_from, refresh_token, status_json};
use crate::support::instances::instances;
use crate::support::postgres::database;
use crate::support::process::{free_port, spawn_doorman};
use crate::support::test_provider::{Faults, TestProvider, patch, sign_in, spawn_app_for};
use crate::support::{
    Jar, STRONG_SECRET, TestApp, jwt_payload, location, spawn_app, spawn_app_with, temp_database,
    urlencode,
};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The program the terminal says it is (shown on the approval page).
const TERMINAL: &str = "doorman-cli/0.3.0 (linux; x86_64)";
/// The letters of a user code.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// What `POST /auth/device` answered a terminal.
struct Started {
    device_code: String,
    /// As shown: `XXXX-XXXX`.
    user_code: String,
    body: Value,
}

/// `XXXX-XXXX`, letters of the alphabet only.
fn is_user_code(code: &str) -> bool {
    let bytes = code.as_bytes();
    bytes.len() == 9
        && bytes[4] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || ALPHABET.contains(b))
}

/// A well-formed user code that is none of `taken` (the `n`th such, so guesses differ).
fn other_code(n: u64, taken: &[&str]) -> String {
    let mut n = n;
    loop {
        let mut v = n;
        let mut letters = String::new();
        for _ in 0..8 {
            letters.push(char::from(
                ALPHABET[usize::try_from(v % 20).expect("small")],
            ));
            v /= 20;
        }
        let shown = format!("{}-{}", &letters[..4], &letters[4..]);
        if !taken.contains(&shown.as_str()) {
            return shown;
        }
        n += 1_000_003;
    }
}

/// A terminal's `POST /auth/device` from `client`.
async fn start_from(app: &TestApp, client: &reqwest::Client) -> Started {
    let response = client
        .post(app.url("/auth/device"))
        .header("user-agent", TERMINAL)
        .form(&[("client_id", "doorman-cli")])
        .send()
        .await
        .expect("start");
    let (status, body) = status_json(response).await;
    assert_eq!(status, 200, "{body}");
    Started {
        device_code: body["device_code"]
            .as_str()
            .expect("a device_code")
            .to_owned(),
        user_code: body["user_code"].as_str().expect("a user_code").to_owned(),
        body,
    }
}

async fn start(app: &TestApp) -> Started {
    start_from(app, &app.client).await
}

async fn poll_response(app: &TestApp, device_code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/auth/device/token"))
        .form(&[("grant_type", GRANT_TYPE), ("device_code", device_code)])
        .send()
        .await
        .expect("poll")
}

/// The terminal's poll: status and JSON.
async fn poll(app: &TestApp, device_code: &str) -> (StatusCode, Value) {
    status_json(poll_response(app, device_code).await).await
}

/// The RFC 6749 §5.2 error of an answer: `error` and a non-empty `error_description`.
fn oauth_error(status: StatusCode, body: &Value, expected_status: u16) -> String {
    assert_eq!(status, expected_status, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "an error_description: {body}"
    );
    body["error"].as_str().expect("an error").to_owned()
}

/// The error a poll answered (always a 400).
async fn poll_error(app: &TestApp, device_code: &str) -> String {
    let (status, body) = poll(app, device_code).await;
    oauth_error(status, &body, 400)
}

/// `GET /device?code=…` from `client` with the session in `jar`.
async fn page_from(
    app: &TestApp,
    client: &reqwest::Client,
    jar: &Jar,
    code: &str,
) -> reqwest::Response {
    client
        .get(app.url(&format!("/device?code={}", urlencode(code))))
        .header("cookie", jar.header())
        .send()
        .await
        .expect("approval page")
}

async fn page(app: &TestApp, jar: &Jar, code: &str) -> reqwest::Response {
    page_from(app, &app.client, jar, code).await
}

/// The approval page's form posted from this site (`action`: approve or deny).
async fn decide(app: &TestApp, jar: &Jar, code: &str, action: &str) -> reqwest::Response {
    app.client
        .post(app.url("/device"))
        .header("cookie", jar.header())
        .header("origin", &app.public_url)
        .form(&[("code", code), ("action", action)])
        .send()
        .await
        .expect("decide")
}

async fn text(response: reqwest::Response) -> String {
    response.text().await.expect("body")
}

/// A terminal signed in as the person `jar` holds: started, approved, collected.
async fn signed_in_terminal(app: &TestApp, jar: &Jar) -> Value {
    let started = start(app).await;
    let approved = decide(app, jar, &started.user_code, "approve").await;
    assert_eq!(approved.status(), 200);
    let (status, tokens) = poll(app, &started.device_code).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

async fn user(app: &TestApp, bearer: &str) -> Value {
    let (status, body) = status_json(app.get_bearer("/api/user", bearer).await).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The session's uid, as `/api/user` tells it.
async fn uid(app: &TestApp, jar: &Jar) -> Value {
    let me: Value = app.get("/api/user", jar).await.json().await.expect("json");
    me["uid"].clone()
}

/// `doorman_device_grants_total{result}` is `count` on `app`.
fn assert_metric(app: &TestApp, result: &str, count: u64) {
    let text = app.state.metrics.render();
    let line = format!("doorman_device_grants_total{{result=\"{result}\"}} {count}");
    assert!(text.contains(&line), "{line} in:\n{text}");
}

// 1. The whole flow.

#[tokio::test]
async fn a_terminal_is_signed_in_as_the_person_who_approves_its_code_in_the_browser() {
    let app = spawn_app_with(&[("ADMIN_EMAILS", "ada@example.com")]).await;
    let terminal = client_from(23);
    let started = start_from(&app, &terminal).await;
    let body = &started.body;
    assert!(is_user_code(&started.user_code), "{body}");
    assert!(
        started.device_code.len() >= 43,
        "a device code of 256 bits: {body}"
    );
    assert_eq!(
        body["verification_uri"],
        format!("{}/device", app.public_url)
    );
    assert_eq!(
        body["verification_uri_complete"],
        format!("{}/device?code={}", app.public_url, started.user_code)
    );
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["interval"], 5);
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "authorization_pending"
    );

    // The person opens the link the terminal printed, signed in.
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let complete = body["verification_uri_complete"].as_str().expect("a URI");
    let path = complete
        .strip_prefix(&app.public_url)
        .expect("on this site");
    let confirm = app.get(path, &jar).await;
    assert_eq!(confirm.status(), 200);
    assert_eq!(confirm.headers()["cache-control"], "no-store");
    let html = text(confirm).await;
    assert!(html.contains(r#"id="device-confirm""#), "{html}");
    assert!(html.contains("Sign in a device as Ada Lovelace?"), "{html}");
    assert!(
        html.contains(&format!(
            r#"<code id="device-code">{}</code>"#,
            started.user_code
        )),
        "{html}"
    );
    assert!(
        html.contains(r#"<code id="device-address">127.0.0.23</code>"#),
        "the terminal's address: {html}"
    );
    assert!(
        html.contains(&format!(r#"<code id="device-agent">{TERMINAL}</code>"#)),
        "the program the terminal said it is: {html}"
    );
    assert!(html.contains("(0 min ago)"), "{html}");
    assert!(
        html.contains("Only approve a code you started yourself"),
        "{html}"
    );
    assert!(html.contains(r#"id="device-approve""#) && html.contains(r#"id="device-deny""#));

    // Typed by hand: lower case, no dash.
    let typed = started.user_code.replace('-', "").to_lowercase();
    let again = page(&app, &jar, &typed).await;
    assert_eq!(again.status(), 200);
    assert!(text(again).await.contains(&format!(
        r#"<code id="device-code">{}</code>"#,
        started.user_code
    )));

    let approved = decide(&app, &jar, &typed, "approve").await;
    assert_eq!(approved.status(), 200);
    let html = text(approved).await;
    assert!(
        html.contains(r#"id="device-approved""#) && html.contains("Device signed in"),
        "{html}"
    );

    app.clock.advance(5);
    let response = poll_response(&app, &started.device_code).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, tokens) = status_json(response).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600, "as /api/login's");
    assert!(!refresh_token(&tokens).is_empty());

    // The token is the approver's, in a session of its own.
    let device = user(&app, access_token(&tokens)).await;
    let browser: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    for field in [
        "sub",
        "idp",
        "provider",
        "email",
        "email_verified",
        "name",
        "uid",
        "roles",
        "groups",
        "iss",
    ] {
        assert_eq!(
            device[field], browser[field],
            "{field}: {device} vs {browser}"
        );
    }
    assert_eq!(device["email"], "ada@example.com");
    assert_eq!(device["roles"], json!(["admin"]));
    let cookie = jar.get("access_token").expect("signed in");
    assert_ne!(
        jwt_payload(access_token(&tokens))["sid"],
        jwt_payload(cookie)["sid"],
        "not the browser's session"
    );

    // A device code is used once; so is the user code.
    app.clock.advance(5);
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "invalid_grant"
    );
    let used = page(&app, &jar, &started.user_code).await;
    assert_eq!(used.status(), 400);
    assert!(text(used).await.contains("That code was already used"));
    let twice = decide(&app, &jar, &started.user_code, "approve").await;
    assert_eq!(twice.status(), 400);
    assert_metric(&app, "issued", 1);
    assert_metric(&app, "approved", 1);
    assert_metric(&app, "tokens", 1);
    assert_metric(&app, "invalid", 1);
}

#[tokio::test]
async fn an_empty_body_without_a_client_id_also_starts_a_request_and_each_gets_its_own_codes() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/auth/device"))
        .send()
        .await
        .expect("start");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, first) = status_json(response).await;
    assert_eq!(status, 200, "{first}");
    let second = start(&app).await;
    assert_ne!(first["device_code"], json!(second.device_code));
    assert_ne!(first["user_code"], json!(second.user_code));
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let html = text(page(&app, &jar, first["user_code"].as_str().expect("code")).await).await;
    assert!(
        html.contains(r#"<code id="device-agent">(none sent)</code>"#),
        "{html}"
    );
}

#[tokio::test]
async fn of_an_approval_and_a_denial_racing_one_decides() {
    let app = spawn_app().await;
    let started = start(&app).await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let (approve, deny) = tokio::join!(
        decide(&app, &jar, &started.user_code, "approve"),
        decide(&app, &jar, &started.user_code, "deny")
    );
    let (approve, deny) = (approve.status().as_u16(), deny.status().as_u16());
    let outcomes = [approve, deny];
    assert_eq!(
        outcomes.iter().filter(|s| **s == 200).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|s| [200, 400, 409].contains(s)),
        "the loser is told the request is no longer waiting: {outcomes:?}"
    );
    let (status, body) = poll(&app, &started.device_code).await;
    if approve == 200 {
        assert_eq!(status, 200, "{body}");
    } else {
        assert_eq!(oauth_error(status, &body, 400), "access_denied");
    }
}

// 2. Polling too often.

#[tokio::test]
async fn polling_before_the_interval_gets_slow_down_and_five_seconds_more_each_time() {
    let app = spawn_app().await;
    let started = start(&app).await;
    let code = started.device_code.as_str();
    assert_eq!(poll_error(&app, code).await, "authorization_pending");
    app.clock.advance(4);
    assert_eq!(poll_error(&app, code).await, "slow_down");
    // From that poll, 10 s now.
    app.clock.advance(10);
    assert_eq!(poll_error(&app, code).await, "authorization_pending");
    app.clock.advance(5);
    assert_eq!(
        poll_error(&app, code).await,
        "slow_down",
        "the longer interval stays"
    );
    app.clock.advance(10);
    // The second slow_down made it 15 s.
    assert_eq!(poll_error(&app, code).await, "slow_down");
    app.clock.advance(20);
    assert_eq!(poll_error(&app, code).await, "authorization_pending");

    // Another terminal: within 5 s, then 6 s later (too soon for 10 s), then 15 s later.
    let other = start(&app).await;
    let code = other.device_code.as_str();
    assert_eq!(poll_error(&app, code).await, "authorization_pending");
    app.clock.advance(1);
    assert_eq!(poll_error(&app, code).await, "slow_down");
    app.clock.advance(6);
    assert_eq!(poll_error(&app, code).await, "slow_down");
    app.clock.advance(15);
    assert_eq!(poll_error(&app, code).await, "authorization_pending");

    // Once approved, the tokens come on the next poll, however soon.
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    assert_eq!(
        decide(&app, &jar, &other.user_code, "approve")
            .await
            .status(),
        200
    );
    let (status, tokens) = poll(&app, code).await;
    assert_eq!(status, 200, "{tokens}");
}

// 3. Denied, expired, unknown, used.

#[tokio::test]
async fn a_denied_request_answers_access_denied_and_stays_denied() {
    let app = spawn_app().await;
    let started = start(&app).await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let denied = decide(&app, &jar, &started.user_code, "deny").await;
    assert_eq!(denied.status(), 200);
    let html = text(denied).await;
    assert!(
        html.contains(r#"id="device-denied""#) && html.contains("Request denied"),
        "{html}"
    );
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "access_denied"
    );
    app.clock.advance(5);
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "access_denied"
    );
    let approve_later = decide(&app, &jar, &started.user_code, "approve").await;
    assert_eq!(approve_later.status(), 400, "a decision is final");
    app.clock.advance(5);
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "access_denied"
    );
    assert_metric(&app, "denied", 1);
    assert_metric(&app, "denied_polled", 3);
}

#[tokio::test]
async fn a_request_not_approved_within_600_seconds_expires_for_the_terminal_and_the_page() {
    let app = spawn_app().await;
    let started = start(&app).await;
    let late = start(&app).await;
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "authorization_pending"
    );
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    // Approved in its last second, but not collected before it expired.
    app.clock.advance(599);
    assert_eq!(
        decide(&app, &jar, &late.user_code, "approve")
            .await
            .status(),
        200
    );
    app.clock.advance(2);
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "expired_token"
    );
    assert_eq!(poll_error(&app, &late.device_code).await, "expired_token");

    let expired = page(&app, &jar, &started.user_code).await;
    assert_eq!(expired.status(), 400);
    let html = text(expired).await;
    assert!(html.contains("That code has expired"), "{html}");
    assert!(
        html.contains(r#"id="device-enter""#),
        "the form to try another"
    );
    let approve = decide(&app, &jar, &started.user_code, "approve").await;
    assert_eq!(approve.status(), 400);
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "expired_token",
        "an approval after expiry changes nothing"
    );
    assert_metric(&app, "expired", 3);
}

#[tokio::test]
async fn an_unknown_device_code_and_a_used_one_are_invalid_grant() {
    let app = spawn_app().await;
    assert_eq!(
        poll_error(&app, "not-a-device-code-doorman-gave").await,
        "invalid_grant"
    );
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let started = start(&app).await;
    assert_eq!(
        decide(&app, &jar, &started.user_code, "approve")
            .await
            .status(),
        200
    );
    let (status, _) = poll(&app, &started.device_code).await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        app.clock.advance(5);
        assert_eq!(
            poll_error(&app, &started.device_code).await,
            "invalid_grant"
        );
    }
    // The user code as a device code, or the other way round, is no key at all.
    let other = start(&app).await;
    assert_eq!(poll_error(&app, &other.user_code).await, "invalid_grant");
    let wrong = page(&app, &jar, &other.device_code).await;
    assert_eq!(wrong.status(), 400);
    assert!(
        text(wrong)
            .await
            .contains("That is not a code doorman gives")
    );
    let unknown = page(&app, &jar, &other_code(7, &[&other.user_code])).await;
    assert_eq!(unknown.status(), 400);
    assert!(text(unknown).await.contains("No request has that code"));
}

// 4. RFC 6749 §5.2 error shapes.

/// A malformed request: what it is, where it goes, its content type and body, and the status
/// and `error` it must get.
type Malformed<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);

#[tokio::test]
async fn malformed_polls_and_requests_get_rfc_6749_errors() {
    let app = spawn_app().await;
    let started = start(&app).await;
    let code = started.device_code.as_str();
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<Malformed<'_>> = vec![
        (
            "another grant type",
            "/auth/device/token",
            Some(form),
            format!("grant_type=authorization_code&device_code={code}"),
            400,
            "unsupported_grant_type",
        ),
        (
            "no grant type",
            "/auth/device/token",
            Some(form),
            format!("device_code={code}"),
            400,
            "invalid_request",
        ),
        (
            "no device code",
            "/auth/device/token",
            Some(form),
            format!("grant_type={}", urlencode(GRANT_TYPE)),
            400,
            "invalid_request",
        ),
        (
            "an empty device code",
            "/auth/device/token",
            Some(form),
            format!("grant_type={}&device_code=", urlencode(GRANT_TYPE)),
            400,
            "invalid_request",
        ),
        (
            "a repeated field",
            "/auth/device/token",
            Some(form),
            format!(
                "grant_type={}&device_code={code}&device_code={code}",
                urlencode(GRANT_TYPE)
            ),
            400,
            "invalid_request",
        ),
        (
            "JSON",
            "/auth/device/token",
            Some("application/json"),
            json!({"grant_type": GRANT_TYPE, "device_code": code}).to_string(),
            400,
            "invalid_request",
        ),
        (
            "no content type",
            "/auth/device/token",
            None,
            format!("grant_type={}&device_code={code}", urlencode(GRANT_TYPE)),
            400,
            "invalid_request",
        ),
        (
            "another client",
            "/auth/device/token",
            Some(form),
            format!(
                "grant_type={}&device_code={code}&client_id=someone-else",
                urlencode(GRANT_TYPE)
            ),
            401,
            "invalid_client",
        ),
        (
            "another client",
            "/auth/device",
            Some(form),
            "client_id=someone-else".to_owned(),
            401,
            "invalid_client",
        ),
        (
            "JSON",
            "/auth/device",
            Some("application/json"),
            json!({"client_id": "doorman-cli"}).to_string(),
            400,
            "invalid_request",
        ),
        (
            "a repeated field",
            "/auth/device",
            Some(form),
            "client_id=doorman-cli&client_id=doorman-cli".to_owned(),
            400,
            "invalid_request",
        ),
    ];
    for (case, path, content_type, body, status, error) in cases {
        let response = app.post_raw(path, content_type, body).await;
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("application/json"),
            "{case} at {path}"
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        let (got, answer) = status_json(response).await;
        assert_eq!(
            oauth_error(got, &answer, status),
            error,
            "{case} at {path}: {answer}"
        );
        assert!(
            !answer.to_string().contains(code),
            "no code in an answer: {answer}"
        );
    }
    // None of those was a poll: the request is pending, never polled.
    assert_eq!(poll_error(&app, code).await, "authorization_pending");
    let (status, answer) = status_json(
        app.client
            .get(app.url("/auth/device/token"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 405, "{answer}");
}

#[tokio::test]
async fn starting_requests_is_rate_limited_per_address() {
    let app = spawn_app_with(&[("RATE_LIMIT_SIGN_IN_PER_MINUTE", "2")]).await;
    start(&app).await;
    start(&app).await;
    let response = app
        .client
        .post(app.url("/auth/device"))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let (_, body) = status_json(response).await;
    assert!(body["error"].is_string(), "{body}");
    start_from(&app, &client_from(9)).await;
    app.clock.advance(60);
    start(&app).await;
}

// 5. Guessing codes.

#[tokio::test]
async fn wrong_codes_are_throttled_per_person_and_then_even_the_right_one_must_wait() {
    let app = spawn_app().await;
    let victim = start(&app).await;
    let real = victim.user_code.as_str();
    let mallory = app.sign_in("Mallory", "mallory@example.com").await;
    for n in 0..5 {
        let wrong = page(&app, &mallory, &other_code(n, &[real])).await;
        assert_eq!(wrong.status(), 400, "free attempt {n}");
        assert!(text(wrong).await.contains("No request has that code"));
    }
    let throttled = page(&app, &mallory, &other_code(5, &[real])).await;
    assert_eq!(throttled.status(), 429);
    let wait: u64 = throttled.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(wait >= 1);
    assert!(text(throttled).await.contains("Too many codes tried"));
    let right = page(&app, &mallory, real).await;
    assert_eq!(right.status(), 429, "the right code waits too");
    let approve = decide(&app, &mallory, real, "approve").await;
    assert_eq!(approve.status(), 429, "and so does approving it");
    assert_eq!(
        poll_error(&app, &victim.device_code).await,
        "authorization_pending"
    );

    // The owner of the code, elsewhere, is not locked out by the guesser.
    let ada = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let owner = page_from(&app, &client_from(42), &ada, real).await;
    assert_eq!(owner.status(), 200);

    app.clock.advance(wait);
    let found = page(&app, &mallory, real).await;
    assert_eq!(
        found.status(),
        200,
        "after the wait the right code is found"
    );
    assert_metric(&app, "throttled", 3);
}

/// Guesses at wrong codes by the person in `jar` for `secs` seconds of fake time, each from
/// the next of `clients`, as fast as the throttle lets them: how many got an answer (not 429).
async fn guesses_answered(
    app: &TestApp,
    jar: &Jar,
    clients: &[reqwest::Client],
    taken: &[&str],
    secs: u64,
) -> u64 {
    let end = app.now() + secs;
    let (mut answered, mut n) = (0, 0);
    while app.now() < end {
        let client = &clients[usize::try_from(n).expect("small") % clients.len()];
        let response = page_from(app, client, jar, &other_code(n, taken)).await;
        n += 1;
        match response.status().as_u16() {
            400 => answered += 1,
            429 => app.clock.advance(1),
            other => panic!("a wrong code answered {other}"),
        }
    }
    answered
}

#[tokio::test]
async fn one_person_gets_fewer_than_twenty_guesses_in_a_codes_lifetime_from_one_address_or_many() {
    let app = spawn_app().await;
    let victim = start(&app).await;
    let taken = [victim.user_code.as_str()];
    let mallory = app.sign_in("Mallory", "mallory@example.com").await;
    let one = guesses_answered(&app, &mallory, &[client_from(2)], &taken, 600).await;
    assert!(one < 20, "{one} guesses in 600 s from one address");

    // Another person, spreading the guesses over ten addresses.
    let eve = app.sign_in("Eve", "eve@example.com").await;
    let clients: Vec<reqwest::Client> = (10..20).map(client_from).collect();
    let many = guesses_answered(&app, &eve, &clients, &taken, 600).await;
    assert!(many < 20, "{many} guesses in 600 s from ten addresses");
    let chance = many as f64 / 20f64.powi(8);
    assert!(chance < 1e-9, "the chance of hitting one code: {chance}");
    eprintln!("guesses answered in a code's lifetime: {one} from one address, {many} from ten");
}

#[tokio::test]
async fn many_people_guessing_from_one_address_are_throttled_by_the_address() {
    let app = spawn_app().await;
    let victim = start(&app).await;
    let taken = [victim.user_code.as_str()];
    let from = client_from(77);
    let mut n = 0;
    // Four people, five free guesses each: the address's twenty.
    for i in 0..4 {
        let jar = app
            .sign_in(&format!("Guesser {i}"), &format!("guesser{i}@example.com"))
            .await;
        for _ in 0..5 {
            let response = page_from(&app, &from, &jar, &other_code(n, &taken)).await;
            n += 1;
            assert_eq!(response.status(), 400);
        }
    }
    let fifth = app.sign_in("Guesser 4", "guesser4@example.com").await;
    let response = page_from(&app, &from, &fifth, &other_code(n, &taken)).await;
    assert_eq!(
        response.status(),
        429,
        "a fresh person on a spent address waits"
    );
    let elsewhere = page_from(&app, &client_from(78), &fifth, &other_code(n, &taken)).await;
    assert_eq!(elsewhere.status(), 400, "the person is not throttled");
}

/// A guesser who is signed in can start a request of their own and look its code up between
/// guesses; that lookup must not give back the guesses counted against them, or the
/// per-person limit is gone and only the per-address one is left.
#[tokio::test]
async fn looking_up_a_code_of_ones_own_gives_a_guesser_no_fresh_guesses() {
    let app = spawn_app().await;
    let victim = start(&app).await;
    let own = start(&app).await;
    let taken = [victim.user_code.as_str(), own.user_code.as_str()];
    let mallory = app.sign_in("Mallory", "mallory@example.com").await;
    let clients: Vec<reqwest::Client> = (30..40).map(client_from).collect();
    let end = app.now() + 600;
    let (mut answered, mut n) = (0u64, 0u64);
    while app.now() < end {
        let client = &clients[usize::try_from(n).expect("small") % clients.len()];
        let response = page_from(&app, client, &mallory, &other_code(n, &taken)).await;
        n += 1;
        match response.status().as_u16() {
            400 => answered += 1,
            429 => app.clock.advance(1),
            other => panic!("a wrong code answered {other}"),
        }
        // Before the free guesses run out, a look at the code of a request of one's own.
        if answered % 4 == 0 {
            let _ = page_from(&app, client, &mallory, &own.user_code).await;
        }
    }
    assert!(
        answered < 20,
        "{answered} guesses in 600 s by one person who looked up their own code in between"
    );
}

// 6. From this site only, and signed in.

#[tokio::test]
async fn a_decision_from_another_site_is_refused_and_the_request_stays_pending() {
    let app = spawn_app().await;
    let started = start(&app).await;
    let code = started.user_code.as_str();
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("origin", "null"),
    ] {
        let response = app
            .client
            .post(app.url("/device"))
            .header("cookie", jar.header())
            .header(name, value)
            .form(&[("code", code), ("action", "approve")])
            .send()
            .await
            .expect("cross-site post");
        assert_eq!(response.status(), 403, "{name}: {value}");
        let html = text(response).await;
        assert!(html.contains("Refused: sent from another site"), "{html}");
    }
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "authorization_pending"
    );
    let still = page(&app, &jar, code).await;
    assert_eq!(still.status(), 200);
    assert!(text(still).await.contains(r#"id="device-confirm""#));

    // A browser's own POST says Sec-Fetch-Site: same-origin (with Origin: null, too).
    let same = app
        .client
        .post(app.url("/device"))
        .header("cookie", jar.header())
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&[("code", code), ("action", "deny")])
        .send()
        .await
        .expect("same-origin post");
    assert_eq!(same.status(), 200);
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "access_denied"
    );
}

#[tokio::test]
async fn signed_out_the_approval_page_sends_the_person_to_sign_in_and_back() {
    let app = spawn_app().await;
    let started = start(&app).await;
    let code = started.user_code.as_str();
    let anonymous = page(&app, &Jar::default(), code).await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        location(&anonymous),
        format!("/auth/login?next=%2Fdevice%3Fcode%3D{code}")
    );
    let entry = app.get("/device", &Jar::default()).await;
    assert_eq!(entry.status(), 303);
    assert_eq!(location(&entry), "/auth/login?next=%2Fdevice");
    let post = app
        .client
        .post(app.url("/device"))
        .header("origin", &app.public_url)
        .form(&[("code", code), ("action", "approve")])
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 303, "signed out, nothing is decided");
    app.clock.advance(5);
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "authorization_pending"
    );

    // Signed in, without a code: the form to type one.
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let form = app.get("/device", &jar).await;
    assert_eq!(form.status(), 200);
    let html = text(form).await;
    assert!(
        html.contains(r#"id="device-enter""#)
            && html.contains(r#"<form class="stack" method="get" action="/device">"#)
            && html.contains(r#"name="code""#),
        "{html}"
    );
    assert!(!html.contains(r#"id="device-problem""#));
    // An action that is neither approve nor deny decides nothing.
    let odd = app
        .client
        .post(app.url("/device"))
        .header("cookie", jar.header())
        .header("origin", &app.public_url)
        .form(&[("code", code), ("action", "maybe")])
        .send()
        .await
        .expect("post");
    assert_eq!(odd.status(), 400);
    app.clock.advance(5);
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "authorization_pending"
    );
}

// 7. A session of its own.

#[tokio::test]
async fn the_terminals_session_outlives_the_browsers_sign_out_and_ends_with_its_own_logout() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let tokens = signed_in_terminal(&app, &jar).await;
    let access = access_token(&tokens);

    let signed_out = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .header("origin", &app.public_url)
        .send()
        .await
        .expect("logout");
    assert_eq!(signed_out.status(), 303);
    assert_eq!(app.get("/api/user", &jar).await.status(), 401);
    assert_eq!(
        app.get_bearer("/api/user", access).await.status(),
        200,
        "the browser's sign-out is not the terminal's"
    );

    // `doorman logout` in the terminal: its refresh token ends its session.
    let logout = app
        .post_json(
            "/api/logout",
            &json!({"refresh_token": refresh_token(&tokens)}),
        )
        .await;
    assert_eq!(logout.status(), 204);
    assert_eq!(app.get_bearer("/api/user", access).await.status(), 401);
    assert_eq!(app.refresh(refresh_token(&tokens)).await.0, 401);
}

#[tokio::test]
async fn the_terminals_access_token_signs_it_out_too() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let tokens = signed_in_terminal(&app, &jar).await;
    assert_eq!(app.api_logout(access_token(&tokens)).await, 204);
    assert_eq!(
        app.get_bearer("/api/user", access_token(&tokens))
            .await
            .status(),
        401
    );
    assert_eq!(
        app.refresh(refresh_token(&tokens)).await.0,
        401,
        "its refresh tokens died with it"
    );
    assert_eq!(
        app.get("/api/user", &jar).await.status(),
        200,
        "the browser stays signed in"
    );
}

/// `POST /auth/device/token` with `grant_type=refresh_token`: status and JSON.
async fn refresh_at_auth(app: &TestApp, refresh: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/auth/device/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "doorman-cli"),
        ])
        .send()
        .await
        .expect("refresh");
    status_json(response).await
}

/// `POST /auth/revoke` with form `token`: status and JSON.
async fn revoke(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/auth/revoke"))
        .form(&[("token", token), ("client_id", "doorman-cli")])
        .send()
        .await
        .expect("revoke");
    status_json(response).await
}

#[tokio::test]
async fn the_token_endpoint_rotates_a_refresh_token_and_refuses_it_reused_with_invalid_grant() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let tokens = signed_in_terminal(&app, &jar).await;
    let (status, renewed) = refresh_at_auth(&app, refresh_token(&tokens)).await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["token_type"], "Bearer", "{renewed}");
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"], "rotated");
    let me = user(&app, access_token(&renewed)).await;
    assert_eq!(me["email"], "ada@example.com", "{me}");

    // The old one again is a reuse: invalid_grant, and the session it belonged to ends.
    let (status, body) = refresh_at_auth(&app, refresh_token(&tokens)).await;
    assert_eq!(oauth_error(status, &body, 400), "invalid_grant");
    let (status, body) = refresh_at_auth(&app, refresh_token(&renewed)).await;
    assert_eq!(
        oauth_error(status, &body, 400),
        "invalid_grant",
        "reuse ended it"
    );
    let (status, body) = refresh_at_auth(&app, "not-a-token").await;
    assert_eq!(oauth_error(status, &body, 400), "invalid_grant");

    let response = app
        .client
        .post(app.url("/auth/device/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "doorman-cli"),
        ])
        .send()
        .await
        .expect("refresh");
    let (status, body) = status_json(response).await;
    assert_eq!(oauth_error(status, &body, 400), "invalid_request");
    let response = app
        .client
        .post(app.url("/auth/device/token"))
        .form(&[("grant_type", "password"), ("client_id", "doorman-cli")])
        .send()
        .await
        .expect("password grant");
    let (status, body) = status_json(response).await;
    assert_eq!(oauth_error(status, &body, 400), "unsupported_grant_type");
}

#[tokio::test]
async fn revoking_the_refresh_token_ends_the_terminals_session_and_the_browser_stays_signed_in() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let tokens = signed_in_terminal(&app, &jar).await;
    let (status, body) = revoke(&app, refresh_token(&tokens)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"revoked": true}));
    assert_eq!(
        app.get_bearer("/api/user", access_token(&tokens))
            .await
            .status(),
        401,
        "its access token ended with it"
    );
    let (status, body) = refresh_at_auth(&app, refresh_token(&tokens)).await;
    assert_eq!(oauth_error(status, &body, 400), "invalid_grant");
    assert_eq!(app.get("/api/user", &jar).await.status(), 200);
}

#[tokio::test]
async fn revoking_the_access_token_ends_the_session_and_unknown_tokens_are_answered_alike() {
    let app = spawn_app().await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let tokens = signed_in_terminal(&app, &jar).await;
    let (status, body) = revoke(&app, access_token(&tokens)).await;
    assert_eq!((status.as_u16(), &body), (200, &json!({"revoked": true})));
    assert_eq!(
        app.get_bearer("/api/user", access_token(&tokens))
            .await
            .status(),
        401
    );
    let (status, body) = refresh_at_auth(&app, refresh_token(&tokens)).await;
    assert_eq!(oauth_error(status, &body, 400), "invalid_grant");

    // RFC 7009 §2.2: an unknown, already revoked or odd token gets the same answer.
    for token in [refresh_token(&tokens), "never-issued", &"x".repeat(5000)] {
        let (status, body) = revoke(&app, token).await;
        assert_eq!((status.as_u16(), &body), (200, &json!({"revoked": true})));
    }
    let response = app
        .client
        .post(app.url("/auth/revoke"))
        .form(&[("client_id", "doorman-cli")])
        .send()
        .await
        .expect("revoke");
    let (status, body) = status_json(response).await;
    assert_eq!(oauth_error(status, &body, 400), "invalid_request");
    let response = app
        .client
        .post(app.url("/auth/revoke"))
        .form(&[("token", "x"), ("client_id", "someone-else")])
        .send()
        .await
        .expect("revoke");
    let (status, body) = status_json(response).await;
    assert_eq!(oauth_error(status, &body, 401), "invalid_client");
}

#[tokio::test]
async fn a_role_change_ends_the_terminals_session_and_a_deleted_persons_approval_is_invalid() {
    let app = spawn_app_with(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let admin = app.admin_token("boss@example.com").await;
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let id = uid(&app, &jar).await;
    let tokens = signed_in_terminal(&app, &jar).await;
    assert_eq!(user(&app, access_token(&tokens)).await["roles"], json!([]));

    let (status, body) = app.put_roles(&admin, &id, json!(["editor"])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.get_bearer("/api/user", access_token(&tokens))
            .await
            .status(),
        401,
        "every session of the person ended, the terminal's too"
    );
    assert_eq!(app.refresh(refresh_token(&tokens)).await.0, 401);

    // Signed in again, a new terminal gets the roles held now.
    let jar = app.sign_in("Ada Lovelace", "ada@example.com").await;
    let tokens = signed_in_terminal(&app, &jar).await;
    assert_eq!(
        user(&app, access_token(&tokens)).await["roles"],
        json!(["editor"])
    );

    // Approved, then the person is deleted before the terminal collects.
    let started = start(&app).await;
    assert_eq!(
        decide(&app, &jar, &started.user_code, "approve")
            .await
            .status(),
        200
    );
    let (status, body) = app.delete_user(&admin, &id).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        poll_error(&app, &started.device_code).await,
        "invalid_grant"
    );
    assert_eq!(
        app.get_bearer("/api/user", access_token(&tokens))
            .await
            .status(),
        401
    );
}

// 8. Groups, through a refresh.

/// A provider whose ID tokens carry `groups`, and doorman for it with `extra`.
async fn provider_with_groups(groups: Value, extra: &[(&str, &str)]) -> (TestProvider, TestApp) {
    let provider = TestProvider::start(Faults {
        profile_in_id_token: true,
        claims_patch: Some(patch(move |c| c["groups"] = groups.clone())),
        ..Faults::default()
    })
    .await;
    let app = spawn_app_for(&provider, extra).await;
    (provider, app)
}

#[tokio::test]
async fn the_approvers_groups_and_provider_come_with_the_terminals_tokens_and_survive_refresh() {
    let groups = json!(["sre", "Platform, Admins", "équipe"]);
    let (provider, app) = provider_with_groups(groups.clone(), &[]).await;
    let jar = sign_in(&app, &provider).await;
    let browser: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(browser["groups"], groups);
    let tokens = signed_in_terminal(&app, &jar).await;
    let device = user(&app, access_token(&tokens)).await;
    for field in ["sub", "idp", "provider", "email", "uid", "groups"] {
        assert_eq!(
            device[field], browser[field],
            "{field}: {device} vs {browser}"
        );
    }
    assert_eq!(device["idp"], json!(provider.issuer));

    let mut refresh = refresh_token(&tokens).to_owned();
    for round in 0..2 {
        app.clock.advance(60);
        let (status, renewed) = app.refresh(&refresh).await;
        assert_eq!(status, 200, "refresh {round}: {renewed}");
        let after = user(&app, access_token(&renewed)).await;
        assert_eq!(after["groups"], groups, "refresh {round}");
        assert_eq!(after["sub"], browser["sub"]);
        assert_eq!(after["idp"], browser["idp"]);
        assert_eq!(
            jwt_payload(access_token(&renewed))["sid"],
            jwt_payload(access_token(&tokens))["sid"],
            "the same session"
        );
        refresh = refresh_token(&renewed).to_owned();
    }
}

#[tokio::test]
async fn five_hundred_long_groups_reach_the_terminal_and_survive_refresh() {
    let groups: Vec<String> = (0..500).map(|i| format!("team-{i:0>251}")).collect();
    let (provider, app) = provider_with_groups(json!(groups), &[]).await;
    let jar = sign_in(&app, &provider).await;
    let tokens = signed_in_terminal(&app, &jar).await;
    let device = user(&app, access_token(&tokens)).await;
    assert_eq!(device["groups"], json!(groups));
    let (status, renewed) = app.refresh(refresh_token(&tokens)).await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(
        user(&app, access_token(&renewed)).await["groups"],
        json!(groups)
    );
}

#[tokio::test]
async fn roles_the_approvers_groups_grant_are_the_terminals_too() {
    let (provider, app) = provider_with_groups(
        json!(["sre"]),
        &[
            ("ROLE_FROM_GROUPS", "ops=sre"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let jar = sign_in(&app, &provider).await;
    let browser: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(browser["roles"], json!(["ops"]));
    let tokens = signed_in_terminal(&app, &jar).await;
    let device = user(&app, access_token(&tokens)).await;
    assert_eq!(device["roles"], browser["roles"], "{device}");
    let (status, renewed) = app.refresh(refresh_token(&tokens)).await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(
        user(&app, access_token(&renewed)).await["roles"],
        browser["roles"]
    );
}

// 9. In the store: across instances and restarts.

#[tokio::test]
async fn a_request_started_on_one_instance_is_approved_on_another_and_collected_on_the_first() {
    let Some(url) = database().await else { return };
    let apps = instances(&url, 2, &[]).await;
    let (a, b) = (&apps[0], &apps[1]);
    let advance = |secs: u64| {
        a.clock.advance(secs);
        b.clock.advance(secs);
    };
    let started = start(a).await;
    assert_eq!(
        poll_error(a, &started.device_code).await,
        "authorization_pending"
    );
    advance(2);
    assert_eq!(
        poll_error(b, &started.device_code).await,
        "slow_down",
        "the last poll is kept in the store, whichever instance was asked"
    );

    let jar = a.sign_in("Ada Lovelace", "ada@example.com").await;
    let confirm = page(b, &jar, &started.user_code).await;
    assert_eq!(confirm.status(), 200);
    assert!(text(confirm).await.contains(&started.user_code));
    assert_eq!(
        decide(b, &jar, &started.user_code, "approve")
            .await
            .status(),
        200
    );
    advance(10);
    let (status, tokens) = poll(a, &started.device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let browser: Value = a.get("/api/user", &jar).await.json().await.expect("json");
    let device = user(b, access_token(&tokens)).await;
    assert_eq!(device["sub"], browser["sub"]);
    assert_eq!(device["uid"], browser["uid"]);
    advance(5);
    assert_eq!(
        poll_error(b, &started.device_code).await,
        "invalid_grant",
        "handed out once across instances"
    );
    let (status, _) = b.refresh(refresh_token(&tokens)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn on_postgresql_a_request_survives_a_restart_between_start_and_approval() {
    let Some(url) = database().await else { return };
    let first = instances(&url, 1, &[]).await.remove(0);
    let started = start(&first).await;
    let then = first.now();
    drop(first);
    let second = instances(&url, 1, &[]).await.remove(0);
    second.clock.set(then + 30);
    let jar = second.sign_in("Ada Lovelace", "ada@example.com").await;
    assert_eq!(page(&second, &jar, &started.user_code).await.status(), 200);
    assert_eq!(
        decide(&second, &jar, &started.user_code, "approve")
            .await
            .status(),
        200
    );
    let (status, tokens) = poll(&second, &started.device_code).await;
    assert_eq!(status, 200, "{tokens}");
    user(&second, access_token(&tokens)).await;
}

#[tokio::test]
async fn on_sqlite_a_request_survives_a_restart_between_start_and_approval() {
    let database = temp_database();
    let vars = [
        ("DATABASE_URL", database.as_str()),
        ("SESSION_SECRET", STRONG_SECRET),
    ];
    let first = spawn_app_with(&vars).await;
    let started = start(&first).await;
    assert_eq!(
        poll_error(&first, &started.device_code).await,
        "authorization_pending"
    );
    let then = first.now();
    drop(first);
    let second = spawn_app_with(&vars).await;
    second.clock.set(then + 2);
    assert_eq!(
        poll_error(&second, &started.device_code).await,
        "slow_down",
        "the last poll was kept"
    );
    second.clock.advance(60);
    let jar = second.sign_in("Ada Lovelace", "ada@example.com").await;
    let confirm = text(page(&second, &jar, &started.user_code).await).await;
    assert!(confirm.contains("(1 min ago)"), "{confirm}");
    assert_eq!(
        decide(&second, &jar, &started.user_code, "approve")
            .await
            .status(),
        200
    );
    let (status, tokens) = poll(&second, &started.device_code).await;
    assert_eq!(status, 200, "{tokens}");
    user(&second, access_token(&tokens)).await;
}

// 10. What operators see.

/// The value of the series `name` with the label `result` (0 when absent).
fn series(text: &str, name: &str, result: &str) -> u64 {
    let wanted = format!("{name}{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&wanted))
        .map_or(0, |v| v.trim().parse().expect("a count"))
}

#[tokio::test]
async fn the_metrics_count_each_outcome_and_no_code_reaches_the_log() {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let doorman = spawn_doorman(&[("LOG_FORMAT", "json"), ("METRICS_ADDR", &metrics_addr)]).await;
    let client = &doorman.client;
    let mut started = Vec::new();
    for _ in 0..2 {
        let body: Value = client
            .post(doorman.url("/auth/device"))
            .header("user-agent", TERMINAL)
            .send()
            .await
            .expect("start")
            .json()
            .await
            .expect("json");
        started.push(body);
    }
    let code = |i: usize, key: &str| started[i][key].as_str().expect("a code").to_owned();
    let jar = doorman.sign_in("Ada Lovelace", "ada@example.com").await;
    let sub = jwt_payload(jar.get("access_token").expect("signed in"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let wrong = other_code(3, &[&code(0, "user_code"), &code(1, "user_code")]);
    for shown in [code(0, "user_code"), wrong.clone()] {
        client
            .get(doorman.url(&format!("/device?code={shown}")))
            .header("cookie", jar.header())
            .send()
            .await
            .expect("page");
    }
    for (i, action) in [(0, "approve"), (1, "deny")] {
        let response = client
            .post(doorman.url("/device"))
            .header("cookie", jar.header())
            .header("origin", &doorman.base)
            .form(&[("code", code(i, "user_code").as_str()), ("action", action)])
            .send()
            .await
            .expect("decide");
        assert_eq!(response.status(), 200);
    }
    let mut polled = Vec::new();
    for device_code in [
        code(0, "device_code"),
        code(1, "device_code"),
        "not-a-device-code".to_owned(),
    ] {
        let response = client
            .post(doorman.url("/auth/device/token"))
            .form(&[("grant_type", GRANT_TYPE), ("device_code", &device_code)])
            .send()
            .await
            .expect("poll");
        polled.push(response.status().as_u16());
    }
    assert_eq!(polled, [200, 400, 400]);

    let scrape = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let name = "doorman_device_grants_total";
    for (result, count) in [
        ("issued", 2),
        ("approved", 1),
        ("denied", 1),
        ("tokens", 1),
        ("denied_polled", 1),
        ("invalid", 1),
        ("expired", 0),
        ("throttled", 0),
    ] {
        assert_eq!(series(&scrape, name, result), count, "{result}:\n{scrape}");
    }

    // Everything logged so far is written once this request's line is.
    client
        .get(doorman.url("/device-log-probe-end"))
        .send()
        .await
        .expect("probe");
    let lines = doorman
        .lines_until(|line| line.contains("/device-log-probe-end"))
        .await;
    let events: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["event"].as_str().is_some())
        .collect();
    let count = |event: &str| events.iter().filter(|r| r["event"] == event).count();
    assert_eq!(count("device_code_issued"), 2, "{events:?}");
    assert_eq!(count("device_approved"), 1, "{events:?}");
    assert_eq!(count("device_denied"), 1, "{events:?}");
    for record in events
        .iter()
        .filter(|r| r["event"] == "device_approved" || r["event"] == "device_denied")
    {
        assert_eq!(record["user"], json!(sub), "{record}");
    }
    let output = lines.join("\n");
    for i in 0..2 {
        let shown = code(i, "user_code");
        for secret in [
            code(i, "device_code"),
            shown.clone(),
            shown.replace('-', ""),
            shown.to_lowercase(),
        ] {
            assert!(!output.contains(&secret), "{secret} was logged:\n{output}");
        }
    }
    assert!(!output.contains(&wrong) && !output.contains(&wrong.replace('-', "")));
}
