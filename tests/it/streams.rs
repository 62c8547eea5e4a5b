//! Streaming answers through the front door end with their session: a server-sent event
//! stream open for a session is cut within a second of its sign-out, while another session's
//! keeps flowing; and, on two instances sharing PostgreSQL, a provider's back-channel logout
//! landing on one cuts the event stream and closes the WebSocket tunnel open on the other.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::TestApp;
use crate::support::accounts::access_token;
use crate::support::postgres::database;
use crate::support::provider_sessions::{
    logout_claims, post_logout_token, signed_logout, two_instances,
};
use crate::support::test_provider::{Faults, TestProvider, patch, sign_in};
use crate::tunnels::{closed_within, echoes, open, routes_file};

/// `GET path` on `app` with `headers`, once its first event has arrived.
pub(crate) async fn events(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send().await.expect("events");
    assert_eq!(response.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), response.chunk())
        .await
        .expect("a first event in time")
        .expect("read")
        .expect("an event");
    assert!(first.starts_with(b"data: tick"), "{first:?}");
    response
}

/// How long until the stream ends (cut, or finished); panics if it still flows after `limit`.
pub(crate) async fn ends_within(response: &mut reqwest::Response, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        match tokio::time::timeout_at((started + limit).into(), response.chunk()).await {
            Err(_) => panic!("the stream still flows after {limit:?}"),
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None) | Err(_)) => return started.elapsed(),
        }
    }
}

#[tokio::test]
async fn an_event_stream_is_cut_within_a_second_of_its_sign_out_and_another_flows_on() {
    let up = crate::proxy::upstream().await;
    let routes = routes_file(up);
    let app = crate::support::spawn_app_with(&[
        ("DOORMAN_CONFIG", &routes),
        ("SESSION_SECRET", crate::support::STRONG_SECRET),
        ("ALLOW_REGISTRATION", "true"),
    ])
    .await;
    app.register("ada").await;
    app.register("grace").await;
    let ada = access_token(&app.login("ada").await).to_owned();
    let grace = access_token(&app.login("grace").await).to_owned();
    let auth = |t: &str| format!("Bearer {t}");
    let mut ada_events = events(
        &app,
        "/app/events/forever",
        &[("authorization", &auth(&ada))],
    )
    .await;
    let mut grace_events = events(
        &app,
        "/app/events/forever",
        &[("authorization", &auth(&grace))],
    )
    .await;

    assert_eq!(app.api_logout(&ada).await, 204);
    let took = ends_within(&mut ada_events, Duration::from_secs(1)).await;
    eprintln!("the sign-out cut the event stream after {took:?}");
    let more = tokio::time::timeout(Duration::from_secs(2), grace_events.chunk())
        .await
        .expect("grace's stream flows on")
        .expect("read")
        .expect("an event");
    assert!(more.starts_with(b"data: tick"));
    crate::tunnels::counted(&app, "doorman_streams_cut_total 1").await;
}

#[tokio::test]
async fn a_backchannel_logout_on_one_instance_cuts_streams_and_tunnels_open_on_the_other() {
    let Some(url) = database().await else { return };
    let up = crate::proxy::upstream().await;
    let routes = routes_file(up);
    let provider = TestProvider::start(Faults {
        claims_patch: Some(patch(|c| c["sid"] = json!("op-streams"))),
        ..Faults::default()
    })
    .await;
    let (a, b) = two_instances(&provider, &url, &[("DOORMAN_CONFIG", &routes)]).await;
    let jar = sign_in(&a, &provider).await;
    let cookie = format!(
        "access_token={}",
        jar.get("access_token").expect("signed in")
    );
    let mut stream = events(&a, "/app/events/forever", &[("cookie", &cookie)]).await;
    let mut tunnel = open(&a, "/app/ws", &[("cookie", &cookie)]).await;
    echoes(&mut tunnel).await;

    let logout = signed_logout(&logout_claims(&provider, b.now(), "op-streams"));
    let answer = post_logout_token(&b, &logout).await;
    assert_eq!(answer.status(), 200);
    let cut = ends_within(&mut stream, Duration::from_secs(1)).await;
    let closed = closed_within(&mut tunnel, Duration::from_secs(1)).await;
    eprintln!(
        "a back-channel logout on B cut A's event stream after {cut:?} and closed its tunnel after {closed:?}"
    );
}
