//! The front door reads the request's authority with one parser: a `Host` that is not a host
//! (`app.local@secret.local`, `secret.local?`, `secret.local#x`), two `Host` headers, or an
//! absolute-form target naming another host is a 400; and the assertion's audience is the
//! route's (its host, or its `audience`), never whatever the request said.

use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::support::TestApp;
use crate::support::front::{echo, echoed, front_door_with, raw, raw_get, verified_assertion};

/// `app` (no host, signed in) and `secret` (host `secret.local`, admins) to echoes; `tagged`
/// (host `api.local`) with an `audience` of its own; `tenants` for `*.tenants.local`.
async fn front_door() -> TestApp {
    let (app, secret) = (echo("app").await, echo("secret").await);
    front_door_with(
        &format!(
            r#"
[gateway.policy.admins]
roles = ["admin"]

[[gateway.route]]
name = "app"
upstream = "http://{app}"

[[gateway.route]]
name = "secret"
host = "secret.local"
upstream = "http://{secret}"
policy = "admins"

[[gateway.route]]
name = "tagged"
host = "api.local"
upstream = "http://{app}"
audience = "https://api.example.com"

[[gateway.route]]
name = "tenants"
host = "*.tenants.local"
upstream = "http://{app}"
"#
        ),
        &[],
    )
    .await
}

fn cookie(token: &str) -> String {
    format!("Cookie: access_token={token}")
}

/// The `aud` of the assertion the service received, verified with doorman's published keys.
async fn audience_of(app: &TestApp, report: &Value) -> String {
    let assertion = echoed(report, "x-doorman-jwt-assertion").expect("an assertion");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_aud = false;
    let claims = verified_assertion(app, assertion, &validation).await;
    claims["aud"].as_str().expect("aud").to_owned()
}

#[tokio::test]
async fn a_host_that_is_not_a_host_is_refused_before_any_route_is_chosen() {
    let app = front_door().await;
    let eve = cookie(&app.session_for(Some(7), &[]));
    for host in [
        "app.local@secret.local",
        "secret.local?",
        "secret.local#x",
        "secret.local\\@app.local",
        "user:pw@secret.local",
        "secret.local:http",
        "",
    ] {
        let answer = raw_get(app.addr, "/page", &[&format!("Host: {host}"), &eve]).await;
        assert_eq!(answer.status, 400, "Host {host:?}");
        assert_eq!(answer.json()["error"], "invalid_host", "Host {host:?}");
        assert!(answer.json().get("tag").is_none(), "never forwarded");
    }
}

#[tokio::test]
async fn two_hosts_or_an_absolute_target_naming_another_host_are_refused() {
    let app = front_door().await;
    let eve = cookie(&app.session_for(Some(7), &[]));
    let two = raw_get(
        app.addr,
        "/page",
        &["Host: app.local", "Host: secret.local", &eve],
    )
    .await;
    assert_eq!(
        (two.status, two.json()["error"].as_str()),
        (400, Some("invalid_host"))
    );
    let mismatched = raw_get(
        app.addr,
        "http://secret.local/page",
        &["Host: app.local", &eve],
    )
    .await;
    assert_eq!(mismatched.status, 400);
    // The same host both ways is an ordinary request.
    let agreeing = raw_get(
        app.addr,
        "http://app.local/page",
        &["Host: APP.local", &eve],
    )
    .await;
    assert_eq!(agreeing.status, 200);
    assert_eq!(agreeing.json()["target"], "/page");
}

#[tokio::test]
async fn the_assertion_names_the_route_that_admitted_the_caller() {
    let app = front_door().await;
    let port = app.addr.port();
    let eve = cookie(&app.session_for(Some(7), &[]));
    let admin = cookie(&app.session_for(Some(1), &["admin"]));

    let plain = raw_get(app.addr, "/page", &[&eve]).await;
    assert_eq!(audience_of(&app, &plain.json()).await, app.public_url);

    let secret = raw_get(app.addr, "/page", &["Host: SECRET.local.:8080", &admin]).await;
    assert_eq!(secret.json()["tag"], "secret");
    assert_eq!(
        audience_of(&app, &secret.json()).await,
        format!("http://secret.local:{port}"),
        "the route's host on doorman's public scheme and port, whatever the Host said"
    );
    assert_eq!(
        raw_get(app.addr, "/page", &["Host: secret.local", &eve])
            .await
            .status,
        403,
        "a plain user is not admitted to the secret route"
    );

    let tagged = raw_get(app.addr, "/page", &["Host: api.local", &eve]).await;
    assert_eq!(
        audience_of(&app, &tagged.json()).await,
        "https://api.example.com"
    );

    let tenant = raw_get(app.addr, "/page", &["Host: Acme.tenants.local", &eve]).await;
    assert_eq!(
        audience_of(&app, &tenant.json()).await,
        format!("http://acme.tenants.local:{port}")
    );

    // An unknown host falls to the host-less route, whose audience is doorman's own origin.
    let other = raw_get(app.addr, "/page", &["Host: elsewhere.local", &eve]).await;
    assert_eq!(other.json()["tag"], "app");
    assert_eq!(audience_of(&app, &other.json()).await, app.public_url);
}

#[tokio::test]
async fn a_request_without_host_is_judged_under_doormans_own_origin() {
    let app = front_door().await;
    let eve = cookie(&app.session_for(Some(7), &[]));
    let answer = raw(
        app.addr,
        format!("GET /page HTTP/1.0\r\n{eve}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(audience_of(&app, &answer.json()).await, app.public_url);
}
