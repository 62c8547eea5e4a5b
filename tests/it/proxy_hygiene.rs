//! What a service behind the front door receives and what it may send back: trust headers of
//! other proxies never pass from a client, `X-Real-IP` is doorman's, a doorman Bearer token
//! never arrives whatever its spelling (and two `Authorization` lines are a 400), a preflight
//! is only what a browser sends and carries no credentials, a client's broken body is the
//! client's 400 (not the service's 502), the service cannot set doorman's cookies, and a
//! chunked answer that also names a length arrives whole.

use crate::support::TestApp;
use crate::support::front::{echo, echoed, echoed_all, front_door_with, raw, raw_get};

/// A public route `/pub`, a signed-in catch-all, and an API route `/capi` that lets CORS
/// preflights through; `/strip` drops `X-Internal-Token` on the way.
async fn front_door() -> TestApp {
    let up = echo("app").await;
    front_door_with(
        &format!(
            r#"
[gateway.policy.open]
public = true
[gateway.policy.api]
api = true
cors_preflight = true

[[gateway.route]]
name = "pub"
path_prefix = "/pub"
upstream = "http://{up}"
policy = "open"

[[gateway.route]]
name = "capi"
path_prefix = "/capi"
upstream = "http://{up}"
policy = "api"

[[gateway.route]]
name = "strip"
path_prefix = "/strip"
upstream = "http://{up}"
policy = "open"
strip_headers = ["X-Internal-Token"]

[[gateway.route]]
name = "app"
upstream = "http://{up}"
"#
        ),
        &[],
    )
    .await
}

#[tokio::test]
async fn other_proxies_trust_headers_never_reach_the_service_from_a_client() {
    let app = front_door().await;
    let spoofs = [
        "X-Forwarded-User: root",
        "X-Forwarded-Email: root@example.com",
        "X-Forwarded-Groups: admin",
        "X-Forwarded-Preferred-Username: root",
        "X-Forwarded-Access-Token: t",
        "X_Forwarded_User: root",
        "X-Remote-User: root",
        "X-WEBAUTH-USER: root",
        "X.Webauth.Role: Admin",
        "X-Original-URL: /admin/secret",
        "X-Rewrite-URL: /admin/secret",
        "X-Real-IP: 10.0.0.1",
        "X-Forwarded-Port: 443",
        "X-Forwarded-Server: evil",
        "X-Forwarded-Ssl: on",
        "X-Internal-Token: from-a-client",
    ];
    let answer = raw_get(app.addr, "/strip/x", &spoofs).await;
    assert_eq!(answer.status, 200);
    let report = answer.json();
    for name in [
        "x-forwarded-user",
        "x_forwarded_user",
        "x-forwarded-email",
        "x-forwarded-groups",
        "x-forwarded-preferred-username",
        "x-forwarded-access-token",
        "x-remote-user",
        "x-webauth-user",
        "x.webauth.role",
        "x-original-url",
        "x-rewrite-url",
        "x-forwarded-port",
        "x-forwarded-server",
        "x-forwarded-ssl",
        "x-internal-token",
    ] {
        assert_eq!(echoed(&report, name), None, "{name} passed: {report}");
    }
    assert_eq!(
        echoed_all(&report, "x-real-ip"),
        ["127.0.0.1"],
        "doorman's, not the client's"
    );
}

#[tokio::test]
async fn a_doorman_bearer_token_never_reaches_the_service_whatever_its_spelling() {
    let app = front_door().await;
    let token = app.session_for(Some(7), &[]);
    for spelling in [
        format!("Authorization: Bearer {token}"),
        format!("Authorization: Bearer\t{token}"),
        format!("Authorization: bEaReR  {token} "),
    ] {
        for path in ["/pub/x", "/app/x"] {
            let answer = raw_get(app.addr, path, &[&spelling]).await;
            assert_eq!(answer.status, 200, "{path} {spelling:?}");
            let report = answer.json();
            assert_eq!(
                echoed(&report, "authorization"),
                None,
                "{path} {spelling:?}"
            );
            assert_eq!(
                echoed(&report, "x-doorman-user"),
                Some("7"),
                "authenticated by it"
            );
        }
    }
    // Another scheme is the service's own credential, and passes.
    let basic = raw_get(app.addr, "/pub/x", &["Authorization: Basic eDp5"]).await;
    assert_eq!(echoed(&basic.json(), "authorization"), Some("Basic eDp5"));
}

#[tokio::test]
async fn two_authorization_lines_are_a_400_and_a_broken_bearer_is_never_anonymous() {
    let app = front_door().await;
    let token = app.session_for(Some(7), &[]);
    let two = raw_get(
        app.addr,
        "/pub/x",
        &[
            "Authorization: Basic eDp5",
            &format!("Authorization: Bearer {token}"),
        ],
    )
    .await;
    assert_eq!(two.status, 400);
    assert_eq!(two.json()["error"], "invalid_request");
    assert!(two.json().get("tag").is_none(), "never forwarded");
    let broken = raw_get(
        app.addr,
        "/app/x",
        &[
            &format!("Cookie: access_token={token}"),
            &format!("Authorization: Bearer\t{token} extra"),
        ],
    )
    .await;
    assert_eq!(
        broken.status, 401,
        "a malformed Bearer is not replaced by the cookie"
    );
    let public = raw_get(app.addr, "/pub/x", &["Authorization: Bearer\tnot-a-token"]).await;
    assert_eq!(public.status, 401, "not anonymous on a public route either");
}

#[tokio::test]
async fn a_preflight_is_only_what_a_browser_sends_and_it_carries_no_credentials() {
    let app = front_door().await;
    let token = app.session_for(Some(7), &[]);
    let preflight = format!(
        "OPTIONS /capi/items HTTP/1.1\r\nHost: {}\r\nOrigin: https://web.example.com\r\n\
         Access-Control-Request-Method: DELETE\r\nAuthorization: Bearer {token}\r\n\
         Cookie: access_token={token}; theme=dark\r\nConnection: close\r\n\r\n",
        app.addr
    );
    let answer = raw(app.addr, preflight.as_bytes()).await;
    assert_eq!(answer.status, 200);
    let report = answer.json();
    assert_eq!(report["method"], "OPTIONS");
    assert_eq!(echoed(&report, "authorization"), None);
    assert_eq!(echoed(&report, "cookie"), None);
    assert_eq!(echoed(&report, "x-doorman-user"), Some(""), "anonymous");

    for (what, extra) in [
        ("a body", "Content-Length: 4\r\n\r\nbody"),
        (
            "a chunked body",
            "Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
        ),
        (
            "an upgrade",
            "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        ),
        ("no Origin", "\r\n"),
    ] {
        let origin = if what == "no Origin" {
            ""
        } else {
            "Origin: https://web.example.com\r\n"
        };
        let request = format!(
            "OPTIONS /capi/items HTTP/1.1\r\nHost: {}\r\n{origin}Connection: close\r\n\
             Access-Control-Request-Method: DELETE\r\n{extra}",
            app.addr
        );
        let answer = raw(app.addr, request.as_bytes()).await;
        assert_eq!(answer.status, 401, "an OPTIONS with {what} is no preflight");
    }
}

#[tokio::test]
async fn a_clients_malformed_body_is_its_400_and_not_the_services_failure() {
    let app = front_door().await;
    let request = format!(
        "POST /pub/upload HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n5\nhello\n0\n\n",
        app.addr
    );
    let answer = raw(app.addr, request.as_bytes()).await;
    assert_eq!(
        answer.status,
        400,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["error"], "bad_request_body");
    let metrics = app.state.metrics.render();
    assert!(
        !metrics.contains("doorman_upstream_errors_total{"),
        "not counted as the service failing: {metrics}"
    );
}

#[tokio::test]
async fn a_service_cannot_set_doormans_cookies_and_is_counted_trying() {
    let app = front_door().await;
    let answer = raw_get(app.addr, "/pub/set-cookies", &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers_named("set-cookie"), ["theme=dark; Path=/"]);
    let metrics = app.state.metrics.render();
    assert!(
        metrics.contains(r#"doorman_upstream_cookies_dropped_total{route="pub"} 3"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_chunked_answer_that_also_names_a_length_arrives_whole() {
    let app = front_door().await;
    let answer = raw_get(app.addr, "/pub/cl-te", &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"0123456789");
    assert_eq!(answer.header("content-length"), None);
}
