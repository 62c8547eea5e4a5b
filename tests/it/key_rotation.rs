//! Provider key rotation (section A of `shared/security.md`, issue 17 §1): when no cached key
//! verifies an ID token (an unknown `kid`, a new key under a known `kid`, no `kid`), doorman
//! fetches the provider's JWKS again at once, one fetch for every sign-in that needs it, at
//! most one per `kid` a minute and ten a minute in all, so the first sign-in after a rotation
//! works. Also the `Cache-Control: max-age` refresh.
//!
//! The test provider counts its JWKS requests, which is the proof; time is doorman's FakeClock,
//! moved by the tests, so "a minute" is never waited for.

use crate::support::TestApp;
use crate::support::test_provider::{
    Attempt, Faults, TestProvider, arrive, begin, key, patch, setup, sign_in, spawn_app_for,
};
use serde_json::json;

/// The provider publishes only key `next` and signs with it.
fn rotate_to(provider: &TestProvider, next: usize) {
    provider.set(|f| {
        f.published_keys = vec![next];
        f.signing_key = next;
    });
}

/// The provider's ID tokens carry no `kid`.
fn without_kid() -> Faults {
    Faults {
        header_patch: Some(patch(|h| {
            h.as_object_mut().map(|o| o.remove("kid"));
        })),
        ..Faults::default()
    }
}

/// doorman's count of JWKS fetches made for `reason`.
fn jwks_refreshes(app: &TestApp, reason: &str) -> f64 {
    let series = format!("doorman_jwks_refreshes_total{{provider=\"oidc\",reason=\"{reason}\"}} ");
    app.state
        .metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&series)?.parse().ok())
        .unwrap_or(0.0)
}

/// A callback that must be refused as an unverifiable ID token: 400, no session.
async fn assert_refused(case: &str, app: &TestApp, attempt: &Attempt) {
    let response = arrive(app, &attempt.callback, &attempt.jar).await;
    assert_eq!(response.status(), 400, "{case}");
    assert!(
        !crate::support::set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("access_token=")),
        "{case}: no session"
    );
}

/// Every ID token from now on names `kid`.
fn sign_with_kid(provider: &TestProvider, kid: String) {
    provider.set(move |f| f.header_patch = Some(patch(move |h| h["kid"] = json!(kid.clone()))));
}

#[tokio::test]
async fn a_provider_that_rotates_right_after_start_up_signs_the_first_person_in() {
    let (provider, app) = setup(Faults::default()).await;
    // `/auth/login` needs discovery, which brings the keys of the moment.
    let attempt = begin(&app, &provider, None).await;
    assert_eq!(provider.calls().jwks, 1, "the JWKS came with discovery");

    rotate_to(&provider, 1);
    let response = arrive(&app, &attempt.callback, &attempt.jar).await;

    assert_eq!(
        response.status(),
        303,
        "the first sign-in after the rotation"
    );
    assert_eq!(provider.calls().jwks, 2, "one fetch, at once");
    assert_eq!(jwks_refreshes(&app, "unverifiable_token"), 1.0);
}

#[tokio::test]
async fn a_provider_that_rotates_twice_within_a_minute_signs_in_after_each_rotation() {
    let (provider, app) = setup(Faults::default()).await;
    sign_in(&app, &provider).await;

    rotate_to(&provider, 1);
    sign_in(&app, &provider).await;
    app.clock.advance(20);
    rotate_to(&provider, 2);
    sign_in(&app, &provider).await;
    assert_eq!(provider.calls().jwks, 3, "one fetch per rotation");

    app.clock.advance(20);
    sign_in(&app, &provider).await;
    assert_eq!(provider.calls().jwks, 3, "the new key is cached");
}

#[tokio::test]
async fn a_provider_that_rotates_without_a_kid_signs_the_next_person_in() {
    let (provider, app) = setup(without_kid()).await;
    sign_in(&app, &provider).await;

    rotate_to(&provider, 1);
    sign_in(&app, &provider).await;

    assert_eq!(provider.calls().jwks, 2, "one fetch, at once");
}

#[tokio::test]
async fn a_second_rotation_without_a_kid_within_the_minute_waits_for_the_minute() {
    let (provider, app) = setup(without_kid()).await;
    sign_in(&app, &provider).await;
    rotate_to(&provider, 1);
    sign_in(&app, &provider).await;
    assert_eq!(provider.calls().jwks, 2);

    // "No kid" is one kid: it has had its fetch this minute.
    app.clock.advance(30);
    rotate_to(&provider, 2);
    let attempt = begin(&app, &provider, None).await;
    assert_refused("the minute is not over", &app, &attempt).await;
    assert_eq!(provider.calls().jwks, 2, "no fetch");

    app.clock.advance(30);
    sign_in(&app, &provider).await;
    assert_eq!(provider.calls().jwks, 3, "fetched once the minute is over");
}

#[tokio::test]
async fn fifty_parallel_sign_ins_right_after_a_rotation_make_one_jwks_request() {
    const PEOPLE: usize = 50;
    let provider = TestProvider::start(Faults::default()).await;
    // Everyone waits for the one JWKS answer, which waits for everyone: give it time. And
    // all fifty come from one address, which may start and finish 60 sign-ins a minute.
    let app = spawn_app_for(
        &provider,
        &[
            ("OIDC_HTTP_TIMEOUT_SECS", "20"),
            ("RATE_LIMIT_SIGN_IN_PER_MINUTE", "1000"),
        ],
    )
    .await;
    let mut attempts = Vec::new();
    for _ in 0..PEOPLE {
        attempts.push(begin(&app, &provider, None).await);
    }
    assert_eq!(provider.calls().jwks, 1, "the JWKS came with discovery");

    rotate_to(&provider, 1);
    // The JWKS answer comes only once all fifty hold an ID token with the new key, so
    // they all need it while the one fetch is under way.
    provider.set(|f| f.jwks_held_until_id_tokens = Some(PEOPLE));
    let callbacks = attempts
        .iter()
        .map(|attempt| arrive(&app, &attempt.callback, &attempt.jar));
    let responses = futures_util::future::join_all(callbacks).await;

    for (i, response) in responses.iter().enumerate() {
        assert_eq!(response.status(), 303, "sign-in {i}");
    }
    assert_eq!(provider.calls().token, PEOPLE);
    assert_eq!(provider.calls().jwks, 2, "one fetch for all fifty");
    assert_eq!(jwks_refreshes(&app, "unverifiable_token"), 1.0);
}

#[tokio::test]
async fn unknown_kids_fetch_the_jwks_once_per_kid_and_at_most_ten_times_a_minute() {
    let (provider, app) = setup(Faults::default()).await;
    sign_in(&app, &provider).await;
    assert_eq!(provider.calls().jwks, 1, "the JWKS came with discovery");

    sign_with_kid(&provider, "bogus".into());
    for _ in 0..3 {
        let attempt = begin(&app, &provider, None).await;
        assert_refused("the same unknown kid", &app, &attempt).await;
    }
    assert_eq!(provider.calls().jwks, 2, "one fetch for that kid");

    for i in 0..12 {
        sign_with_kid(&provider, format!("random-kid-{i}"));
        let attempt = begin(&app, &provider, None).await;
        assert_refused("a new unknown kid", &app, &attempt).await;
    }
    assert_eq!(
        provider.calls().jwks,
        11,
        "ten fetches in the minute in all, the first for `bogus`"
    );
    assert_eq!(jwks_refreshes(&app, "unverifiable_token"), 10.0);

    app.clock.advance(60);
    let attempt = begin(&app, &provider, None).await;
    assert_refused("a minute later", &app, &attempt).await;
    assert_eq!(provider.calls().jwks, 12, "a minute later, fetches again");
}

#[tokio::test]
async fn a_genuine_rotation_right_after_bad_kids_signs_in_at_once() {
    let (provider, app) = setup(Faults::default()).await;
    sign_in(&app, &provider).await;
    for i in 0..3 {
        sign_with_kid(&provider, format!("bogus-{i}"));
        let attempt = begin(&app, &provider, None).await;
        assert_refused("an unknown kid", &app, &attempt).await;
    }

    provider.set(|f| f.header_patch = None);
    rotate_to(&provider, 1);
    sign_in(&app, &provider).await;
    assert_eq!(
        provider.calls().jwks,
        5,
        "three bad kids, then the rotation"
    );
}

#[tokio::test]
async fn a_genuine_rotation_after_a_flood_waits_at_most_a_minute() {
    let (provider, app) = setup(Faults::default()).await;
    sign_in(&app, &provider).await;
    for i in 0..10 {
        sign_with_kid(&provider, format!("flood-{i}"));
        let attempt = begin(&app, &provider, None).await;
        assert_refused("the flood", &app, &attempt).await;
    }
    assert_eq!(
        provider.calls().jwks,
        11,
        "the flood spent the minute's ten"
    );

    provider.set(|f| f.header_patch = None);
    rotate_to(&provider, 1);
    app.clock.advance(59);
    let attempt = begin(&app, &provider, None).await;
    assert_refused("the same minute as the flood", &app, &attempt).await;
    assert_eq!(provider.calls().jwks, 11, "no fetch inside the minute");

    app.clock.advance(1);
    sign_in(&app, &provider).await;
    assert_eq!(
        provider.calls().jwks,
        12,
        "one fetch once the minute is over"
    );
}

#[tokio::test]
async fn a_failed_re_fetch_is_a_502_and_is_not_retried_for_that_key_within_the_minute() {
    let (provider, app) = setup(Faults::default()).await;
    sign_in(&app, &provider).await;
    rotate_to(&provider, 1);
    provider.set(|f| f.jwks_down = true);

    for case in ["the fetch fails", "the same key, the same minute"] {
        let attempt = begin(&app, &provider, None).await;
        let response = arrive(&app, &attempt.callback, &attempt.jar).await;
        assert_eq!(response.status(), 502, "{case}");
    }
    assert_eq!(provider.calls().jwks, 2, "one failed fetch, not retried");

    provider.set(|f| f.jwks_down = false);
    app.clock.advance(60);
    sign_in(&app, &provider).await;
    assert_eq!(provider.calls().jwks, 3);
}

#[tokio::test]
async fn a_new_key_with_a_new_kid_is_fetched_and_used_without_a_restart() {
    let (provider, app) = setup(Faults::default()).await;
    sign_in(&app, &provider).await;

    provider.set(|f| {
        f.published_keys = vec![1, 0];
        f.signing_key = 1;
    });
    sign_in(&app, &provider).await;
    provider.set(|f| f.published_keys = vec![1]);
    sign_in(&app, &provider).await;

    assert_eq!(provider.calls().jwks, 2, "one re-fetch for the new kid");
}

#[tokio::test]
async fn a_new_key_under_the_same_kid_is_fetched_and_used() {
    let (provider, app) = setup(Faults::default()).await;
    sign_in(&app, &provider).await;

    // The provider replaces key 0 by key 1 and keeps the kid.
    let old_kid = key(0).public_jwk()["kid"].clone();
    provider.set(move |f| {
        f.signing_key = 1;
        f.published_keys = vec![1];
        let kid = old_kid.clone();
        f.jwks_patch = Some(patch(move |d| d["keys"][0]["kid"] = kid.clone()));
        let kid = old_kid;
        f.header_patch = Some(patch(move |h| h["kid"] = kid.clone()));
    });
    sign_in(&app, &provider).await;
    assert_eq!(
        provider.calls().jwks,
        2,
        "one re-fetch when the known kid failed"
    );
}

#[tokio::test]
async fn id_tokens_without_a_kid_are_verified_against_every_published_key() {
    let (provider, app) = setup(without_kid()).await;
    sign_in(&app, &provider).await;

    // A rotation publishes the next key beside the current one and signs with it.
    provider.set(|f| {
        f.published_keys = vec![0, 1];
        f.signing_key = 1;
    });
    sign_in(&app, &provider).await;
    assert_eq!(
        provider.calls().jwks,
        2,
        "a key-less token nobody verifies re-fetches once"
    );

    provider.set(|f| f.signing_key = 0);
    sign_in(&app, &provider).await;
    provider.set(|f| f.signing_key = 1);
    sign_in(&app, &provider).await;
    assert_eq!(
        provider.calls().jwks,
        2,
        "with both keys known, either verifies"
    );
}

#[tokio::test]
async fn keys_are_fetched_again_when_the_jwks_max_age_runs_out() {
    let (provider, app) = setup(Faults {
        jwks_cache_control: Some("public, max-age=120"),
        ..Faults::default()
    })
    .await;
    sign_in(&app, &provider).await;
    app.clock.advance(100);
    sign_in(&app, &provider).await;
    assert_eq!(provider.calls().jwks, 1, "still fresh");
    app.clock.advance(21);
    sign_in(&app, &provider).await;
    assert_eq!(
        provider.calls().jwks,
        2,
        "stale after max-age: fetched before verifying"
    );
}
