//! The callback's own artefacts: a forged, stale, replayed or doubled state, code or flow
//! cookie is a 400 with no token request; a provider's error answer is a 403 only with a
//! valid state; the RFC 9207 `iss` parameter is required when advertised and checked when
//! present.

use axum::response::IntoResponse;
use axum_extra::extract::PrivateCookieJar;
use doorman::oidc::flow::{FlowState, flow_cookie, flow_cookie_key};

use super::assert_rejected;
use crate::support::test_provider::{Attempt, Faults, IssParam, arrive, begin, setup, sign_in};
use crate::support::{Jar, STRONG_SECRET};

/// A flow cookie that doorman itself would have made for `state`, `age_secs` ago.
fn authentic_flow_cookie(state: &str, age_secs: u64) -> (String, String) {
    let flow = FlowState {
        state: state.to_owned(),
        nonce: "nonce-of-a-stale-attempt".into(),
        pkce_verifier: "verifier-of-a-stale-attempt".into(),
        return_to: "/".into(),
        created_at: doorman::clock::system_now() - age_secs,
        provider: String::new(),
    };
    let jar = PrivateCookieJar::new(flow_cookie_key(STRONG_SECRET.as_bytes()))
        .add(flow_cookie(&flow, false).expect("flow cookie"));
    let response = jar.into_response();
    let header = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let pair = header.split(';').next().expect("name=value");
    let (name, value) = pair.split_once('=').expect("name=value");
    (name.to_owned(), value.to_owned())
}

type Forgery = fn(&Attempt, &Attempt) -> (reqwest::Url, Jar);

#[tokio::test]
async fn forged_or_stale_callbacks_are_400_and_no_token_request_is_made() {
    let rows: &[(&str, Forgery)] = &[
        ("state missing", |a, _| {
            (a.callback_with("state", None), a.jar.clone())
        }),
        ("state altered", |a, _| {
            (
                a.callback_with("state", Some("an-altered-state-value-xyz")),
                a.jar.clone(),
            )
        }),
        ("state of another attempt", |a, b| {
            (
                a.callback_with("state", b.param("state").as_deref()),
                a.jar.clone(),
            )
        }),
        ("state given twice", |a, _| {
            let mut url = a.callback.clone();
            url.query_pairs_mut().append_pair("state", "second");
            (url, a.jar.clone())
        }),
        ("code given twice", |a, _| {
            let mut url = a.callback.clone();
            url.query_pairs_mut().append_pair("code", "second");
            (url, a.jar.clone())
        }),
        ("code missing", |a, _| {
            (a.callback_with("code", None), a.jar.clone())
        }),
        ("code empty", |a, _| {
            (a.callback_with("code", Some("")), a.jar.clone())
        }),
        ("code absurdly long", |a, _| {
            (
                a.callback_with("code", Some(&"c".repeat(5000))),
                a.jar.clone(),
            )
        }),
        ("code with control characters", |a, _| {
            (
                a.callback_with("code", Some("abc\u{0}\r\ndef")),
                a.jar.clone(),
            )
        }),
        ("flow cookie missing", |a, _| {
            (a.callback.clone(), Jar::default())
        }),
        ("flow cookie of another attempt only", |a, b| {
            (a.callback.clone(), b.jar.clone())
        }),
        ("flow cookie tampered", |a, _| {
            let mut jar = a.jar.clone();
            for value in jar.0.values_mut() {
                let flipped = if value.ends_with('A') { 'B' } else { 'A' };
                value.pop();
                value.push(flipped);
            }
            (a.callback.clone(), jar)
        }),
        ("flow cookie expired (authentic, 11 minutes old)", |a, _| {
            let state = a.param("state").expect("state");
            let (name, value) = authentic_flow_cookie(&state, 660);
            let mut jar = Jar::default();
            jar.0.insert(name, value);
            (a.callback.clone(), jar)
        }),
        ("iss parameter names another issuer", |a, _| {
            (
                a.callback_with("iss", Some("https://evil.example")),
                a.jar.clone(),
            )
        }),
        ("error with a bad state", |a, _| {
            let mut url = a.callback_with("code", None);
            url.query_pairs_mut().append_pair("error", "access_denied");
            let url = Attempt {
                callback: url,
                jar: Jar::default(),
            }
            .callback_with("state", Some("not-the-state-we-sent"));
            (url, a.jar.clone())
        }),
    ];
    let (provider, app) = setup(Faults::default()).await;

    for (case, forge) in rows {
        let attempt = begin(&app, &provider, None).await;
        let other = begin(&app, &provider, None).await;
        let (url, jar) = forge(&attempt, &other);
        let forged = Attempt {
            callback: url.clone(),
            jar: jar.clone(),
        };
        let before = provider.calls();

        let response = arrive(&app, &url, &jar).await;

        assert_rejected(case, response, 400, &forged).await;
        assert_eq!(
            provider.calls().token,
            before.token,
            "{case}: no token call"
        );
    }
}

#[tokio::test]
async fn an_error_answer_with_a_bad_state_is_400_and_with_a_valid_state_is_a_403_cancelled_page() {
    let (provider, app) = setup(Faults {
        authorize_error: Some("access_denied".into()),
        ..Faults::default()
    })
    .await;

    let attempt = begin(&app, &provider, None).await;
    assert_eq!(attempt.param("error").as_deref(), Some("access_denied"));
    let forged = Attempt {
        callback: attempt.callback_with("state", Some("not-the-state-we-sent")),
        jar: attempt.jar.clone(),
    };
    let bad_state = arrive(&app, &forged.callback, &forged.jar).await;
    assert_rejected("error, bad state", bad_state, 400, &forged).await;

    let valid = arrive(&app, &attempt.callback, &attempt.jar).await;
    let page = assert_rejected("error, valid state", valid, 403, &attempt).await;
    assert!(page.contains("Sign-in cancelled"), "{page}");
    assert_eq!(provider.calls().token, 0);
}

#[tokio::test]
async fn a_replayed_callback_is_refused_even_with_the_flow_cookie_copied() {
    let (provider, app) = setup(Faults::default()).await;
    let attempt = begin(&app, &provider, None).await;
    let first = arrive(&app, &attempt.callback, &attempt.jar).await;
    assert_eq!(first.status(), 303);

    let replay = arrive(&app, &attempt.callback, &attempt.jar).await;

    assert_rejected("replayed state", replay, 400, &attempt).await;
    assert_eq!(provider.calls().token, 1, "the replay made no token call");
}

#[tokio::test]
async fn a_callback_without_iss_is_refused_when_the_provider_advertises_it() {
    // The test provider's discovery document says
    // `authorization_response_iss_parameter_supported: true` unless told otherwise.
    let (provider, app) = setup(Faults::default()).await;
    sign_in(&app, &provider).await;

    let attempt = begin(&app, &provider, None).await;
    let stripped = attempt.callback_with("iss", None);
    let response = arrive(&app, &stripped, &attempt.jar).await;
    assert_rejected("iss stripped", response, 400, &attempt).await;

    let attempt = begin(&app, &provider, None).await;
    let elsewhere = attempt.callback_with("iss", Some("https://other-idp.example"));
    let response = arrive(&app, &elsewhere, &attempt.jar).await;
    assert_rejected("iss of another provider", response, 400, &attempt).await;

    provider.set(|f| f.iss_param = IssParam::Omitted);
    let attempt = begin(&app, &provider, None).await;
    let response = arrive(&app, &attempt.callback, &attempt.jar).await;
    assert_rejected("the provider forgot iss", response, 400, &attempt).await;

    provider.set(|f| {
        f.iss_param = IssParam::Omitted;
        f.authorize_error = Some("access_denied".into());
    });
    let attempt = begin(&app, &provider, None).await;
    let response = arrive(&app, &attempt.callback, &attempt.jar).await;
    assert_rejected("a decline without iss", response, 400, &attempt).await;

    assert_eq!(
        provider.calls().token,
        1,
        "only the first sign-in reached the token endpoint"
    );
}

#[tokio::test]
async fn the_iss_parameter_is_checked_when_present_but_not_required_when_not_advertised() {
    let (provider, app) = setup(Faults {
        advertises_iss_parameter: false,
        iss_param: IssParam::Omitted,
        ..Faults::default()
    })
    .await;
    sign_in(&app, &provider).await;

    provider.set(|f| f.iss_param = IssParam::Value(format!("{}/", provider.issuer)));
    let attempt = begin(&app, &provider, None).await;
    let response = arrive(&app, &attempt.callback, &attempt.jar).await;
    assert_rejected("iss with a trailing slash", response, 400, &attempt).await;

    provider.set(|f| f.iss_param = IssParam::Correct);
    sign_in(&app, &provider).await;
    assert_eq!(
        provider.calls().token,
        2,
        "the refused callback made no token call"
    );
}
