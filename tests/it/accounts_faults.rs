//! Bad input and faults for local accounts, against a real SQLite file: malformed, mistyped,
//! oversized and SQL-looking requests; concurrent registrations; a locked and a read-only
//! store; response timing for unknown users; and the brakes on password guessing.

use std::time::{Duration, Instant};

use crate::support::accounts::*;
use crate::support::{Jar, STRONG_SECRET, TestApp, temp_database};
use serde_json::json;

// ---------- malformed requests ----------

#[tokio::test]
async fn every_json_endpoint_refuses_the_wrong_content_type_with_415() {
    let app = spawn_accounts_app(&[]).await;
    let body = registration("ada_l").to_string();
    for path in ["/api/register", "/api/login", "/api/token/refresh"] {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonp"),
        ] {
            let (status, error) =
                status_json(app.post_raw(path, content_type, body.clone()).await).await;
            assert_api_error(status, &error, 415, "unsupported_media_type");
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("application/json")),
                "{path} {content_type:?}: {error}"
            );
        }
    }
    for content_type in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.api+json",
    ] {
        let (status, user) = status_json(
            app.post_raw("/api/register", Some(content_type), body.clone())
                .await,
        )
        .await;
        assert!(
            status == 201 || status == 409,
            "{content_type} is JSON: {status} {user}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_400_invalid_json_everywhere() {
    let app = spawn_accounts_app(&[]).await;
    for path in ["/api/register", "/api/login", "/api/token/refresh"] {
        for body in ["", "{", "{\"", "{,}", "not json at all", "[", "\u{feff}{}"] {
            let (status, error) =
                status_json(app.post_raw(path, Some("application/json"), body).await).await;
            assert_api_error(status, &error, 400, "invalid_json");
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not valid JSON")),
                "{path} {body:?}: {error}"
            );
        }
        let (status, error) = status_json(
            app.post_raw(path, Some("application/json"), vec![0xff, 0xfe, b'{'])
                .await,
        )
        .await;
        assert_api_error(status, &error, 400, "invalid_json");
    }
}

#[tokio::test]
async fn unknown_missing_and_mistyped_fields_are_400_naming_the_field() {
    let app = spawn_accounts_app(&[]).await;
    let mut with_extra = registration("ada_l");
    with_extra["roles"] = json!(["admin"]);
    let mut mistyped = registration("ada_l");
    mistyped["email"] = json!(["ada@example.com"]);
    let mut missing = registration("ada_l");
    missing.as_object_mut().expect("object").remove("name");
    let cases = [
        ("/api/register", with_extra, "roles"),
        ("/api/register", mistyped, "invalid type"),
        ("/api/register", missing, "name"),
        ("/api/register", json!([1, 2]), "invalid type"),
        ("/api/register", json!(null), "invalid type"),
        (
            "/api/login",
            json!({"username": "a", "password": "b", "remember": true}),
            "remember",
        ),
        ("/api/login", json!({"password": "b"}), "username"),
        (
            "/api/token/refresh",
            json!({"refresh_token": 7}),
            "invalid type",
        ),
        ("/api/token/refresh", json!({"refresh": "x"}), "refresh"),
    ];
    for (path, body, says) in cases {
        let (status, error) = status_json(app.post_json(path, &body).await).await;
        assert_api_error(status, &error, 400, "invalid_request");
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(says)),
            "{path} {body}: {error}"
        );
    }
    let (_, users) = status_json(app.login_as("ada_l", PASSWORD).await).await;
    assert_eq!(users["error"], "invalid_credentials", "no account was made");
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_with_a_json_message() {
    let app = spawn_accounts_app(&[]).await;
    let mut huge = registration("ada_l");
    huge["name"] = json!("x".repeat(70 * 1024));
    let huge = huge.to_string();
    for path in [
        "/api/register",
        "/api/login",
        "/api/token/refresh",
        "/api/logout",
    ] {
        let (status, error) = status_json(
            app.post_raw(path, Some("application/json"), huge.clone())
                .await,
        )
        .await;
        assert_eq!(status, 413, "{path}");
        assert_api_error(status, &error, 413, "payload_too_large");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("64 KiB")),
            "{path}: {error}"
        );
    }
    let response = app
        .client
        .post(app.url("/auth/password"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=ada_l&password={}", "x".repeat(70 * 1024)))
        .send()
        .await
        .expect("form");
    assert_eq!(response.status(), 413, "the form has the same limit");

    let mut long_name = registration("ada_l");
    long_name["name"] = json!("x".repeat(1000));
    let (status, error) = status_json(app.post_json("/api/register", &long_name).await).await;
    assert_api_error(status, &error, 400, "invalid_name");
}

#[tokio::test]
async fn sql_looking_strings_are_refused_or_stored_verbatim_never_executed() {
    let app = spawn_accounts_app(&[("ADMIN_EMAILS", "boss@example.com")]).await;
    let admin = app.admin_token("boss@example.com").await;

    let mut injection = registration("bobby");
    injection["username"] = json!("x' OR '1'='1");
    let (status, error) = status_json(app.post_json("/api/register", &injection).await).await;
    assert_api_error(status, &error, 400, "invalid_username");

    let name = "Robert'); DROP TABLE users;-- \"<script>alert(1)</script>";
    let email = "bob'--@example.com";
    let mut stored = registration("bobby");
    stored["name"] = json!(name);
    stored["email"] = json!(email);
    let (status, user) = status_json(app.post_json("/api/register", &stored).await).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["name"], name, "stored and returned verbatim");
    assert_eq!(user["email"], email);

    let (status, users) = status_json(app.get_bearer("/api/admin/users", &admin).await).await;
    assert_eq!(status, 200, "the users table is still there");
    assert_eq!(users.as_array().expect("list").len(), 2);
    let tokens = app.login("bobby").await;
    let (_, me) = status_json(app.get_bearer("/api/user", access_token(&tokens)).await).await;
    assert_eq!(me["name"], name);

    let mut page_jar = Jar::default();
    page_jar.0.insert("access_token".into(), admin.clone());
    let html = app
        .get("/admin", &page_jar)
        .await
        .text()
        .await
        .expect("html");
    assert!(
        !html.contains("<script>alert(1)"),
        "escaped in HTML: {html}"
    );
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );

    for username in [
        "' OR 1=1 --",
        "bobby' --",
        "bobby\"; --",
        "%' OR username LIKE '%",
    ] {
        let (status, error) = status_json(app.login_as(username, "' OR '1'='1").await).await;
        assert_api_error(status, &error, 401, "invalid_credentials");
    }
    let (status, error) = app.refresh("' OR '1'='1").await;
    assert_api_error(status, &error, 401, "invalid_grant");
    assert_eq!(
        app.refresh(refresh_token(&tokens)).await.0,
        200,
        "real tokens were not revoked by any of that"
    );
}

// ---------- concurrency ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_registrations_of_one_username_give_exactly_one_201() {
    let app = std::sync::Arc::new(spawn_accounts_app(&[]).await);

    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut body = registration("racer");
                if i % 2 == 1 {
                    body["username"] = json!("RACER");
                }
                body["name"] = json!(format!("Racer {i}"));
                status_json(app.post_json("/api/register", &body).await).await
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut conflicts = 0;
    for attempt in attempts {
        let (status, body) = attempt.await.expect("task");
        match status.as_u16() {
            201 => created.push(body),
            409 => {
                assert_eq!(body["error"], "username_taken");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }

    assert_eq!(created.len(), 1, "exactly one winner");
    assert_eq!(conflicts, 19);
    let winner = &created[0];
    let tokens = app.login("racer").await;
    assert_eq!(
        crate::support::jwt_payload(access_token(&tokens))["uid"],
        winner["id"]
    );
}

// ---------- a locked and a read-only store ----------

/// Holds SQLite's write lock on `path` until dropped, as another process might.
struct ExclusiveLock(rusqlite::Connection);

impl ExclusiveLock {
    fn take(path: &str) -> Self {
        let conn = rusqlite::Connection::open(path).expect("open the same file");
        conn.execute_batch("BEGIN EXCLUSIVE")
            .expect("take the lock");
        Self(conn)
    }

    fn release(self) {
        self.0.execute_batch("COMMIT").expect("release the lock");
    }
}

#[tokio::test]
async fn a_locked_store_answers_503_within_seconds_and_loses_nothing() {
    let database = temp_database();
    let app = spawn_accounts_app(&[
        ("DATABASE_URL", &database),
        ("ADMIN_EMAILS", "boss@example.com"),
    ])
    .await;
    let admin = app.admin_token("boss@example.com").await;
    app.register("before").await;
    let tokens = app.login("before").await;

    let lock = ExclusiveLock::take(&database);

    let started = Instant::now();
    let (status, error) = status_json(
        app.post_json("/api/register", &registration("during"))
            .await,
    )
    .await;
    let waited = started.elapsed();
    assert_api_error(status, &error, 503, "store_unavailable");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10),
        "the busy timeout (2 s) applies: {waited:?}"
    );

    let (status, error) = app.refresh(refresh_token(&tokens)).await;
    assert_api_error(status, &error, 503, "store_unavailable");
    let (status, error) = status_json(app.login_as("before", PASSWORD).await).await;
    assert_api_error(status, &error, 503, "store_unavailable");
    let (status, users) = status_json(app.get_bearer("/api/admin/users", &admin).await).await;
    assert_eq!(
        status, 200,
        "reads go on during another writer's lock: {users}"
    );
    assert_eq!(
        app.get_bearer("/api/user", access_token(&tokens))
            .await
            .status(),
        200,
        "a valid token needs no store"
    );

    lock.release();

    let (status, _) = app.refresh(refresh_token(&tokens)).await;
    assert_eq!(status, 200, "the refused refresh spent nothing");
    app.login("before").await;
    let (status, user) = status_json(
        app.post_json("/api/register", &registration("during"))
            .await,
    )
    .await;
    assert_eq!(
        status, 201,
        "the refused registration left nothing behind: {user}"
    );
    let (_, users) = status_json(app.get_bearer("/api/admin/users", &admin).await).await;
    let names: Vec<_> = users
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["before", "during"]);
}

#[tokio::test]
async fn a_read_only_store_refuses_writes_and_password_checks_with_503_and_keeps_serving_reads() {
    let database = temp_database();
    let writer = spawn_accounts_app(&[
        ("DATABASE_URL", &database),
        ("ADMIN_EMAILS", "boss@example.com"),
    ])
    .await;
    writer.register("ada_l").await;
    let tokens = writer.login("ada_l").await;
    let boss = writer.admin_token("boss@example.com").await;
    let boss_id = crate::support::jwt_payload(&boss)["uid"]
        .as_i64()
        .expect("uid");

    let read_only_url = format!("file:{database}?mode=ro");
    let app = spawn_accounts_app(&[
        ("DATABASE_URL", &read_only_url),
        ("SESSION_SECRET", STRONG_SECRET),
    ])
    .await;

    // Writes: registration, and sign-in and refresh, which must store a refresh token.
    let (status, error) =
        status_json(app.post_json("/api/register", &registration("grace")).await).await;
    assert_api_error(status, &error, 503, "store_unavailable");
    let (status, error) = status_json(app.login_as("ada_l", PASSWORD).await).await;
    assert_api_error(status, &error, 503, "store_unavailable");
    let (status, error) = app.refresh(refresh_token(&tokens)).await;
    assert_api_error(status, &error, 503, "store_unavailable");

    // A password check must count the attempt first (the throttle lives in the store), so
    // it fails closed rather than letting guesses through uncounted.
    let (status, error) = status_json(app.login_as("ada_l", "not-the-password-1").await).await;
    assert_api_error(status, &error, 503, "store_unavailable");

    // Reads: listing users, the home page, a valid session.
    let admin = app.session_for(Some(boss_id), &["admin"]);
    let (status, users) = status_json(app.get_bearer("/api/admin/users", &admin).await).await;
    assert_eq!(status, 200, "reads work: {users}");
    assert_eq!(users[0]["username"], "ada_l");
    let html = app
        .get("/", &Jar::default())
        .await
        .text()
        .await
        .expect("html");
    assert!(
        html.contains(r#"action="/auth/password""#),
        "the home page still knows local accounts exist"
    );
    let (status, error) = status_json(
        app.client
            .put(app.url(&format!("/api/admin/users/{}/roles", users[0]["id"])))
            .bearer_auth(&admin)
            .json(&json!({ "roles": ["admin"] }))
            .send()
            .await
            .expect("set roles"),
    )
    .await;
    assert_api_error(status, &error, 503, "store_unavailable");

    let (status, _) = writer.refresh(refresh_token(&tokens)).await;
    assert_eq!(status, 200, "the refused refresh spent nothing");
    let (_, after) = status_json(app.get_bearer("/api/admin/users", &admin).await).await;
    assert_eq!(
        after[0]["roles"],
        json!([]),
        "the refused role change left nothing"
    );
    writer.register("grace").await;
}

// ---------- cost and throttling ----------

/// Not timed (timings belong in a benchmark): counted. An unknown username runs the same
/// argon2id verification (against a dummy hash with the same parameters) as a wrong password.
#[tokio::test]
async fn an_unknown_user_costs_one_argon2_verification_exactly_like_a_wrong_password() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let hasher = &app.state.hasher;
    let unknown = client_from(3);
    let wrong = client_from(4);
    for i in 0..3 {
        let before = hasher.computed();
        let response = app
            .login_from(&unknown, &format!("nobody_{i}"), PASSWORD)
            .await;
        assert_eq!(response.status(), 401);
        assert_eq!(
            hasher.computed(),
            before + 1,
            "an unknown user is verified too"
        );

        let before = hasher.computed();
        let response = app.login_from(&wrong, "ada_l", "not-the-password-1").await;
        assert_eq!(response.status(), 401);
        assert_eq!(hasher.computed(), before + 1);
    }
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds")
}

/// Fails `times` times (each answered 401), the way a guesser does.
async fn fail(client: &reqwest::Client, app: &TestApp, usernames: &[&str], times: usize) {
    for i in 0..times {
        let username = usernames[i % usernames.len()];
        let response = app.login_from(client, username, "not-the-password-1").await;
        assert_eq!(response.status(), 401, "failure {} is free", i + 1);
    }
}

async fn login_via_proxy(app: &TestApp, client_ip: &str, username: &str, password: &str) -> u16 {
    app.client
        .post(app.url("/api/login"))
        .header("x-forwarded-for", format!("198.18.0.1, {client_ip}"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_guesser_on_one_address_cannot_lock_the_owner_out_from_another() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let guesser = client_from(10);

    fail(&guesser, &app, &["ada_l", "ADA_L"], 5).await;
    let throttled = app
        .login_from(&guesser, "ada_l", "not-the-password-1")
        .await;
    assert_eq!(retry_after(&throttled), 1);
    let (status, error) = status_json(throttled).await;
    assert_api_error(status, &error, 429, "too_many_attempts");
    let response = app.login_from(&guesser, "ada_l", PASSWORD).await;
    assert_eq!(
        response.status(),
        429,
        "the guesser's address waits, password or not"
    );

    let owner = client_from(11);
    let response = app.login_from(&owner, "ada_l", PASSWORD).await;
    assert_eq!(response.status(), 200, "the owner signs in from elsewhere");
}

#[tokio::test]
async fn spraying_many_accounts_from_one_address_is_stopped_for_that_address() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let attacker = client_from(30);
    let names: Vec<String> = (0..20).map(|i| format!("nobody_{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();

    fail(&attacker, &app, &names, 20).await;
    let response = app
        .login_from(&attacker, "someone_else", "not-the-password-1")
        .await;
    let (status, error) = status_json(response).await;
    assert_api_error(status, &error, 429, "too_many_attempts");
    let response = app.login_from(&attacker, "ada_l", PASSWORD).await;
    assert_eq!(response.status(), 429, "this address must wait");

    let response = app
        .client
        .post(app.url("/auth/password"))
        .form(&[("username", "ada_l"), ("password", PASSWORD)])
        .send()
        .await
        .expect("form");
    assert_eq!(response.status(), 303, "another address signs in");
}

#[tokio::test]
async fn each_throttled_failure_doubles_the_wait() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    let client = client_from(40);

    fail(&client, &app, &["ada_l"], 5).await;
    let mut waits = Vec::new();
    for _ in 0..4 {
        let response = app.login_from(&client, "ada_l", "not-the-password-1").await;
        assert_eq!(response.status(), 429);
        let wait = retry_after(&response);
        waits.push(wait);
        app.clock.advance(wait);
        let response = app.login_from(&client, "ada_l", "not-the-password-1").await;
        assert_eq!(response.status(), 401, "the wait is over: one more try");
    }
    assert_eq!(waits, [1, 2, 4, 8], "exponential");
    let response = app.login_from(&client, "ada_l", PASSWORD).await;
    let (status, error) = status_json(response).await;
    assert_api_error(status, &error, 429, "too_many_attempts");
    app.clock.advance(15 * 60);
    let response = app.login_from(&client, "ada_l", PASSWORD).await;
    assert_eq!(
        response.status(),
        200,
        "failures are forgotten after the window"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_accounts_app(&[("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    app.register("ada_l").await;
    for _ in 0..5 {
        assert_eq!(
            login_via_proxy(&app, "203.0.113.9", "ada_l", "not-the-password-1").await,
            401
        );
    }
    assert_eq!(
        login_via_proxy(&app, "203.0.113.9", "ada_l", PASSWORD).await,
        429,
        "the guesser behind the proxy is throttled"
    );
    assert_eq!(
        login_via_proxy(&app, "198.51.100.7", "ada_l", PASSWORD).await,
        200,
        "everybody else behind the same proxy is not"
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_accounts_app(&[]).await;
    app.register("ada_l").await;
    for _ in 0..5 {
        login_via_proxy(&app, "203.0.113.9", "ada_l", "not-the-password-1").await;
    }
    assert_eq!(
        login_via_proxy(&app, "198.51.100.7", "ada_l", PASSWORD).await,
        429,
        "a client cannot pick the address it is throttled by"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_parallel_guesses_gets_no_more_than_the_free_failures() {
    let app = std::sync::Arc::new(spawn_accounts_app(&[]).await);
    app.register("ada_l").await;

    let guesses: Vec<_> = (0..20u8)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let client = client_from(50);
                app.login_from(&client, "ada_l", &format!("guess-number-{i}"))
                    .await
                    .status()
            })
        })
        .collect();
    let mut checked = 0;
    let mut throttled = 0;
    for guess in guesses {
        match guess.await.expect("task").as_u16() {
            401 => checked += 1,
            429 => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }

    // Five are free; doorman's clock stands still, so not one more gets through.
    assert_eq!(
        checked, 5,
        "{checked} guesses were checked, {throttled} throttled"
    );
    assert_eq!(checked + throttled, 20);
}
