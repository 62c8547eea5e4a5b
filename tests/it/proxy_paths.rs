//! The front door puts every request path into one normal form before anything looks at it:
//! the shapes of the audit that reached an admins-only prefix through the public catch-all
//! now reach the admins route (and its 401), the service receives exactly that normal form,
//! ambiguous encodings are a 400, doorman's own paths cannot be proxied in any spelling, and
//! (a property) the route chosen and the path forwarded are those of the path's normal form.

use std::net::SocketAddr;

use proptest::prelude::*;

use crate::support::TestApp;
use crate::support::front::{Raw, echo, front_door_with, raw_get};

/// A public catch-all to `app`, an admins-only `/admin` to `admin`, and an admins-only,
/// case-insensitive `/loose` to `loose`.
async fn front_door() -> TestApp {
    let (app, admin, loose) = (echo("app").await, echo("admin").await, echo("loose").await);
    front_door_with(
        &format!(
            r#"
[gateway.policy.admins]
roles = ["admin"]
[gateway.policy.open]
public = true

[[gateway.route]]
name = "app"
upstream = "http://{app}"
policy = "open"

[[gateway.route]]
name = "admin"
path_prefix = "/admin"
upstream = "http://{admin}"
policy = "admins"

[[gateway.route]]
name = "loose"
path_prefix = "/loose"
ignore_case = true
upstream = "http://{loose}"
policy = "admins"
"#
        ),
        &[],
    )
    .await
}

async fn get(app: &TestApp, target: &str) -> Raw {
    raw_get(app.addr, target, &[]).await
}

#[tokio::test]
async fn every_shape_of_an_admin_path_is_judged_by_the_admin_route() {
    let app = front_door().await;
    let control = get(&app, "/anything/x").await;
    assert_eq!(control.status, 200, "the catch-all is public");
    assert_eq!(control.json()["tag"], "app");
    for shape in [
        "/admin/x",
        "/%61dmin/x",
        "//admin/x",
        "/x/../admin/x",
        "/x/%2e%2e/admin/x",
        "/./admin/x",
        "/%2e/admin/x",
        "/adm%69n/x",
        "/../admin/x",
    ] {
        let answer = get(&app, shape).await;
        assert_eq!(
            (answer.status, answer.json()["error"].as_str()),
            (401, Some("unauthenticated")),
            "{shape} must meet the admins policy, not the public catch-all"
        );
    }
}

#[tokio::test]
async fn encodings_that_servers_read_differently_are_refused_with_a_400() {
    let app = front_door().await;
    for (shape, reason) in [
        ("/admin%2fx", "encoded slash"),
        ("/admin%2Fx", "encoded slash"),
        ("/x/..%2fadmin/x", "encoded slash"),
        ("/admin%5cx", "encoded slash"),
        ("/admin\\x", "backslash"),
        ("/admin%00x", "NUL"),
        ("/admin;x/y", ";"),
        ("/x/..;/admin/x", ";"),
        ("/admin%zz", "invalid percent-encoding"),
    ] {
        let answer = get(&app, shape).await;
        assert_eq!(answer.status, 400, "{shape}");
        let body = answer.json();
        assert_eq!(body["error"], "invalid_path", "{shape}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(reason)),
            "{shape}: the message says why: {body}"
        );
    }
}

#[tokio::test]
async fn the_service_receives_the_normal_form_with_the_query_untouched() {
    let app = front_door().await;
    for (sent, received) in [
        (
            "/x/%2e%2e/pub/a%3fb?q=%2e%2e&x=1",
            "/pub/a%3Fb?q=%2e%2e&x=1",
        ),
        ("//pub///x/./y/", "/pub/x/y/"),
        ("/%7Euser/caf%c3%a9", "/~user/caf%C3%A9"),
        ("/a/b/..", "/a/"),
    ] {
        let answer = get(&app, sent).await;
        assert_eq!(answer.status, 200, "{sent}");
        assert_eq!(answer.json()["target"], received, "{sent}");
    }
}

#[tokio::test]
async fn doormans_own_paths_are_never_proxied_in_any_spelling() {
    let app = front_door().await;
    for shape in [
        "/x/../auth/login",
        "/%61uth/login",
        "//auth/login",
        "/./healthz",
    ] {
        let answer = get(&app, shape).await;
        assert!(
            answer.json().get("tag").is_none(),
            "{shape} reached the service: {:?}",
            answer.json()
        );
        assert!(
            matches!(answer.status, 200 | 303),
            "{shape} is doorman's own: {}",
            answer.status
        );
    }
}

#[tokio::test]
async fn a_case_insensitive_prefix_catches_every_case_of_its_path() {
    let app = front_door().await;
    for shape in ["/loose/x", "/LOOSE/x", "/LooSe", "/%4Coose/x"] {
        let answer = get(&app, shape).await;
        assert_eq!(answer.status, 401, "{shape} meets the admins policy");
    }
    // The default stays case-sensitive: `/ADMIN` is another path (for a case-sensitive
    // service), so it is the catch-all's.
    assert_eq!(get(&app, "/ADMIN/x").await.json()["tag"], "app");
}

/// Paths built from pieces that normalisation cares about.
fn paths() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/", "a", "admin", "loose", "LOOSE", ".", "..", "%2e", "%2E%2e", "%61", "%41", "%3f",
        "%2f", ";", "\\", "%", "x", "%25", "~", "%7e", "auth",
    ]);
    prop::collection::vec(piece, 1..10).prop_map(|pieces| format!("/{}", pieces.concat()))
}

/// Which service a path reaches, and with which target; or the status doorman answered.
fn outcome(answer: &Raw) -> Result<(String, String), u16> {
    let body = answer.json();
    match (body["tag"].as_str(), body["target"].as_str()) {
        (Some(tag), Some(target)) => Ok((tag.to_owned(), target.to_owned())),
        _ => Err(answer.status),
    }
}

#[test]
fn any_path_takes_the_route_of_its_normal_form_and_the_service_receives_that_form() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(front_door());
    let addr: SocketAddr = app.addr;
    let config = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(path in paths())| {
        let answer = runtime.block_on(raw_get(addr, &path, &[]));
        match doorman::uri::normalize(&path) {
            Err(_) => prop_assert_eq!(answer.status, 400, "{} is refused", path),
            Ok(normal) => {
                let direct = runtime.block_on(raw_get(addr, &normal, &[]));
                prop_assert_eq!(outcome(&answer), outcome(&direct), "{} as {}", path, normal);
                if let Ok((_, target)) = outcome(&answer) {
                    prop_assert_eq!(target, normal.into_owned());
                }
            }
        }
    });
}
