//! Security conformance, section A of `shared/security.md`: the login flow, against a test
//! provider that misbehaves on purpose.
//!
//! Every rejection is checked the same way: the expected status, no session cookie, the flow
//! cookie consumed, a generic page (no code, state, token or provider error body), and the
//! provider endpoints that must not have been reached after the bad artefact.

use std::time::{Duration, Instant};

use crate::support::test_provider::{
    self, Attempt, CLIENT_ID, Calls, EMAIL, Faults, IssParam, LEAK_MARKER, NAME, SUBJECT, Signing,
    TestProvider, TokenFault, arrive, begin, patch, setup, sign_in, spawn_app_for,
};
use crate::support::{Jar, STRONG_SECRET, TestApp, location, set_cookies};
use axum::response::IntoResponse;
use axum_extra::extract::PrivateCookieJar;
use doorman::oidc::flow::{FlowState, flow_cookie, flow_cookie_key};
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreProviderMetadata};
use serde_json::{Value, json};

/// What a rejected callback must look like; returns the page for further checks.
async fn assert_rejected(
    case: &str,
    response: reqwest::Response,
    status: u16,
    attempt: &Attempt,
) -> String {
    assert_eq!(response.status(), status, "{case}: status");
    let cookies = set_cookies(&response);
    assert!(
        !cookies
            .iter()
            .any(|c| c.starts_with("access_token=") || c.starts_with("__Host-access_token=")),
        "{case}: no session cookie, got {cookies:?}"
    );
    let carried_flow_cookie = attempt
        .param("state")
        .map(|s| doorman::oidc::flow::flow_cookie_name(&s, false))
        .filter(|name| attempt.jar.get(name).is_some());
    if let Some(name) = carried_flow_cookie {
        assert!(
            cookies
                .iter()
                .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")),
            "{case}: the flow cookie is consumed, got {cookies:?}"
        );
    }
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "{case}: cache-control"
    );
    let page = response.text().await.expect("page");
    assert!(
        !page.contains(LEAK_MARKER),
        "{case}: no provider error body"
    );
    assert!(!page.contains("eyJ"), "{case}: no JWT on the page");
    for name in ["code", "state"] {
        if let Some(value) = attempt.param(name).filter(|v| v.len() > 8) {
            assert!(!page.contains(&value), "{case}: the {name} is not echoed");
        }
    }
    page
}

#[tokio::test]
async fn the_authorization_request_has_code_pkce_s256_fresh_state_and_nonce_and_the_configured_redirect_uri()
 {
    let (provider, app) = setup(Faults::default()).await;

    // A forged Host or X-Forwarded-Host must not change the redirect URI.
    let response = app
        .client
        .get(app.url("/auth/login"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 303);
    let first = reqwest::Url::parse(&location(&response)).expect("provider URL");
    let (second, _) = app.start_login(None).await;

    let params = |url: &reqwest::Url| -> std::collections::HashMap<String, String> {
        url.query_pairs().into_owned().collect()
    };
    let (a, b) = (params(&first), params(&second));
    assert!(first.as_str().starts_with(&provider.url("/authorize?")));
    assert_eq!(a["response_type"], "code");
    assert_eq!(a["client_id"], CLIENT_ID);
    assert_eq!(a["redirect_uri"], app.url("/auth/callback"));
    assert_eq!(a["code_challenge_method"], "S256");
    assert_eq!(a["code_challenge"].len(), 43);
    let scopes: Vec<&str> = a["scope"].split(' ').collect();
    for scope in ["openid", "email", "profile"] {
        assert!(scopes.contains(&scope), "scope {scope}");
    }
    for name in ["state", "nonce"] {
        // 128 bits are 22 base64url characters.
        assert!(a[name].len() >= 22, "{name} has at least 128 bits");
        assert_ne!(a[name], b[name], "{name} is fresh per attempt");
    }
    assert_ne!(a["code_challenge"], b["code_challenge"]);
}

#[tokio::test]
async fn a_well_behaved_provider_signs_in_with_basic_auth_pkce_and_profile_claims_from_userinfo() {
    let (provider, app) = setup(Faults::default()).await;

    let jar = sign_in(&app, &provider).await;

    let record = provider.record();
    let basic = &record.token_authorization[0];
    assert!(basic.starts_with("Basic "), "client_secret_basic: {basic}");
    assert_eq!(
        record.userinfo_authorization,
        [format!("Bearer {}", record.access_tokens[0])],
        "userinfo is called with the Bearer header, once"
    );
    assert_eq!(
        provider.calls(),
        Calls {
            discovery: 1,
            jwks: 1,
            authorize: 1,
            token: 1,
            userinfo: 1,
            untrusted: 0
        }
    );
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["sub"], SUBJECT);
    assert_eq!(
        user["idp"], provider.issuer,
        "users are keyed by (iss, sub)"
    );
    assert_eq!(user["name"], NAME, "the name came from userinfo");
    assert_eq!(user["email"], EMAIL);
}

#[tokio::test]
async fn an_issuer_with_a_trailing_slash_is_discovered_and_compared_exactly() {
    let provider = TestProvider::start_with_issuer(Faults::default(), "/").await;
    assert!(provider.issuer.ends_with('/'));
    let app = spawn_app_for(&provider, &[]).await;

    let jar = sign_in(&app, &provider).await;
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["idp"], provider.issuer, "kept exactly, slash included");

    // The same provider configured without the slash is another issuer: discovery refuses.
    let trimmed = provider.issuer.trim_end_matches('/').to_owned();
    let other = spawn_app_for(&provider, &[("OIDC_ISSUER_URL", trimmed.as_str())]).await;
    let response = other.get("/auth/login", &Jar::default()).await;
    assert_eq!(response.status(), 503, "discovery names another issuer");
}

#[tokio::test]
async fn profile_claims_in_the_id_token_need_no_userinfo_call() {
    let (provider, app) = setup(Faults {
        profile_in_id_token: true,
        ..Faults::default()
    })
    .await;

    let jar = sign_in(&app, &provider).await;

    assert_eq!(provider.calls().userinfo, 0);
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["name"], NAME);
}

#[tokio::test]
async fn two_attempts_at_once_both_succeed_in_any_order() {
    let (provider, app) = setup(Faults::default()).await;
    let first = begin(&app, &provider, Some("/first")).await;
    let second = begin(&app, &provider, Some("/second")).await;
    let mut both = first.jar.clone();
    both.0.extend(second.jar.0.clone());

    let second_done = arrive(&app, &second.callback, &both).await;
    let first_done = arrive(&app, &first.callback, &both).await;

    assert_eq!(second_done.status(), 303);
    assert_eq!(location(&second_done), "/second");
    assert_eq!(first_done.status(), 303);
    assert_eq!(location(&first_done), "/first");
}

/// A flow cookie that doorman itself would have made for `state`, `age_secs` ago.
fn authentic_flow_cookie(state: &str, age_secs: u64) -> (String, String) {
    let flow = FlowState {
        state: state.to_owned(),
        nonce: "nonce-of-a-stale-attempt".into(),
        pkce_verifier: "verifier-of-a-stale-attempt".into(),
        return_to: "/".into(),
        created_at: doorman::clock::system_now() - age_secs,
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
            let mut url = a.callback_with("code", None).clone();
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

#[tokio::test]
async fn token_endpoint_failures_map_to_400_502_and_no_session() {
    let rows: Vec<(&str, TokenFault, u16)> = vec![
        ("500", TokenFault::Status(500), 502),
        ("503", TokenFault::Status(503), 502),
        ("HTML body", TokenFault::Html, 502),
        ("redirect", TokenFault::Redirect, 502),
        (
            "oversized, Content-Length declared",
            TokenFault::OversizedDeclared,
            502,
        ),
        ("oversized, chunked", TokenFault::OversizedStreamed, 502),
        (
            "invalid_grant (replayed or injected code)",
            TokenFault::OAuthError("invalid_grant"),
            400,
        ),
        (
            "another OAuth error",
            TokenFault::OAuthError("invalid_request"),
            502,
        ),
        ("no id_token", TokenFault::NoIdToken, 502),
        ("token_type mac", TokenFault::TokenType("mac"), 502),
    ];

    for (case, fault, status) in rows {
        let (provider, app) = setup(Faults {
            token: fault,
            ..Faults::default()
        })
        .await;
        let attempt = begin(&app, &provider, None).await;

        let response = arrive(&app, &attempt.callback, &attempt.jar).await;

        assert_rejected(case, response, status, &attempt).await;
        let calls = provider.calls();
        assert_eq!(calls.token, 1, "{case}");
        assert_eq!(calls.userinfo, 0, "{case}: no userinfo call");
        assert_eq!(calls.untrusted, 0, "{case}: no redirect followed");
    }
}

#[tokio::test]
async fn token_type_is_compared_case_insensitively() {
    let (provider, app) = setup(Faults {
        token: TokenFault::TokenType("bearer"),
        ..Faults::default()
    })
    .await;
    sign_in(&app, &provider).await;

    provider.set(|f| f.token = TokenFault::TokenType("BEARER"));
    sign_in(&app, &provider).await;
}

#[tokio::test]
async fn a_hanging_token_endpoint_is_504_within_the_timeout_while_other_requests_are_served() {
    let (provider, app) = setup(Faults {
        token: TokenFault::Hang(Duration::from_secs(5)),
        ..Faults::default()
    })
    .await;
    let attempt = begin(&app, &provider, None).await;
    let started = Instant::now();
    let callback = {
        let client = app.client.clone();
        let url = app.url(&format!(
            "/auth/callback?{}",
            attempt.callback.query().expect("query")
        ));
        let cookie = attempt.jar.header();
        tokio::spawn(async move { client.get(url).header("cookie", cookie).send().await })
    };

    tokio::time::sleep(Duration::from_millis(200)).await;
    let health_started = Instant::now();
    let health = app.get("/healthz", &Jar::default()).await;
    let health_took = health_started.elapsed();
    assert_eq!(health.status(), 200);
    assert!(
        health_took < Duration::from_millis(500),
        "healthz answered in {health_took:?} while the token call hangs"
    );
    assert!(!callback.is_finished(), "the callback is still waiting");

    let response = callback.await.expect("task").expect("callback");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "a 1 s timeout answers in {took:?}"
    );
    let page = assert_rejected("hang", response, 504, &attempt).await;
    assert!(page.contains("timed out"));
}

fn id_token_rows() -> Vec<(&'static str, Faults)> {
    use test_provider::now;
    let claims = |f: fn(&mut Value)| Faults {
        claims_patch: Some(patch(f)),
        ..Faults::default()
    };
    let header = |f: fn(&mut Value)| Faults {
        header_patch: Some(patch(f)),
        ..Faults::default()
    };
    let signing = |s: Signing| Faults {
        signing: s,
        ..Faults::default()
    };
    vec![
        ("bad signature", signing(Signing::BadSignature)),
        ("alg none", signing(Signing::AlgNone)),
        (
            "HS256 MACed with the client secret",
            signing(Signing::Hs256WithClientSecret),
        ),
        (
            "HS256 MACed with the public key",
            signing(Signing::Hs256WithPublicKey),
        ),
        (
            "signed by a key not in the JWKS, claiming a published kid",
            Faults {
                signing_key: 1,
                header_patch: Some(patch(|h| h["kid"] = json!("test-key-1"))),
                ..Faults::default()
            },
        ),
        (
            "signed by a key not in the JWKS, with its own kid",
            Faults {
                signing_key: 1,
                ..Faults::default()
            },
        ),
        (
            "jku header (pointing at the attacker's keys)",
            Faults {
                signing_key: 1,
                header_patch: Some(patch(|h| h["jku"] = json!("http://127.0.0.1:1/untrusted"))),
                ..Faults::default()
            },
        ),
        (
            "x5u header",
            header(|h| h["x5u"] = json!("http://127.0.0.1:1/untrusted")),
        ),
        (
            "embedded jwk header (the attacker's key)",
            Faults {
                signing_key: 1,
                header_patch: Some(patch(|h| {
                    h["jwk"] = test_provider::key(1).public_jwk().clone();
                })),
                ..Faults::default()
            },
        ),
        ("crit header", header(|h| h["crit"] = json!(["exp"]))),
        (
            "wrong iss",
            claims(|c| c["iss"] = json!("https://evil.example")),
        ),
        (
            "iss with a trailing slash",
            claims(|c| {
                let iss = format!("{}/", c["iss"].as_str().expect("iss"));
                c["iss"] = json!(iss);
            }),
        ),
        (
            "legacy Google issuer from a provider that is not Google",
            claims(|c| c["iss"] = json!("accounts.google.com")),
        ),
        ("wrong aud", claims(|c| c["aud"] = json!("someone-else"))),
        (
            "an extra, untrusted aud",
            claims(|c| c["aud"] = json!([CLIENT_ID, "someone-else"])),
        ),
        (
            "azp names another client",
            claims(|c| c["azp"] = json!("someone-else")),
        ),
        (
            "wrong nonce",
            claims(|c| c["nonce"] = json!("not-our-nonce")),
        ),
        (
            "no nonce",
            claims(|c| {
                c.as_object_mut().expect("object").remove("nonce");
            }),
        ),
        (
            "expired beyond the leeway",
            claims(|c| c["exp"] = json!(now() - 120)),
        ),
        (
            "no iat",
            claims(|c| {
                c.as_object_mut().expect("object").remove("iat");
            }),
        ),
        (
            "iat two hours ago",
            claims(|c| c["iat"] = json!(now() - 7200)),
        ),
        (
            "iat an hour ahead",
            claims(|c| c["iat"] = json!(now() + 3600)),
        ),
        (
            "nbf an hour ahead",
            claims(|c| c["nbf"] = json!(now() + 3600)),
        ),
        ("empty sub", claims(|c| c["sub"] = json!(""))),
        (
            "no sub",
            claims(|c| {
                c.as_object_mut().expect("object").remove("sub");
            }),
        ),
        (
            "sub over 255 characters",
            claims(|c| c["sub"] = json!("s".repeat(256))),
        ),
    ]
}

#[tokio::test]
async fn invalid_id_tokens_are_400_and_userinfo_is_never_called() {
    for (case, faults) in id_token_rows() {
        let (provider, app) = setup(faults).await;
        let attempt = begin(&app, &provider, None).await;

        let response = arrive(&app, &attempt.callback, &attempt.jar).await;

        assert_rejected(case, response, 400, &attempt).await;
        let calls = provider.calls();
        assert_eq!(calls.token, 1, "{case}");
        assert_eq!(calls.userinfo, 0, "{case}: no userinfo call");
        assert_eq!(calls.untrusted, 0, "{case}: jku/x5u never fetched");
    }
}

#[tokio::test]
async fn borderline_but_valid_id_tokens_are_accepted() {
    let now = test_provider::now;
    let rows: Vec<(&str, Faults)> = vec![
        (
            "no kid, one key in the JWKS",
            Faults {
                header_patch: Some(patch(|h| {
                    h.as_object_mut().expect("object").remove("kid");
                })),
                ..Faults::default()
            },
        ),
        (
            "expired 30 s ago, inside the 60 s leeway",
            Faults {
                claims_patch: Some(patch(move |c| c["exp"] = json!(now() - 30))),
                ..Faults::default()
            },
        ),
        (
            "azp equal to the client id",
            Faults {
                claims_patch: Some(patch(|c| c["azp"] = json!(CLIENT_ID))),
                ..Faults::default()
            },
        ),
        (
            "aud as a one-element array",
            Faults {
                claims_patch: Some(patch(|c| c["aud"] = json!([CLIENT_ID]))),
                ..Faults::default()
            },
        ),
        (
            "nbf in the past",
            Faults {
                claims_patch: Some(patch(move |c| c["nbf"] = json!(now() - 10))),
                ..Faults::default()
            },
        ),
    ];
    for (case, faults) in rows {
        let (provider, app) = setup(faults).await;
        let attempt = begin(&app, &provider, None).await;
        let response = arrive(&app, &attempt.callback, &attempt.jar).await;
        assert_eq!(response.status(), 303, "{case}");
    }
}

#[tokio::test]
async fn userinfo_must_name_the_same_subject_and_failures_are_not_sessions() {
    let rows: Vec<(&str, Faults, u16)> = vec![
        (
            "userinfo names another sub",
            Faults {
                userinfo_patch: Some(patch(|u| u["sub"] = json!("someone-else"))),
                ..Faults::default()
            },
            400,
        ),
        (
            "userinfo 500",
            Faults {
                userinfo_status: Some(500),
                ..Faults::default()
            },
            502,
        ),
    ];
    for (case, faults, status) in rows {
        let (provider, app) = setup(faults).await;
        let attempt = begin(&app, &provider, None).await;
        let response = arrive(&app, &attempt.callback, &attempt.jar).await;
        assert_rejected(case, response, status, &attempt).await;
        assert_eq!(provider.calls().userinfo, 1, "{case}");
    }
}

#[tokio::test]
async fn a_provider_down_at_start_up_gives_503_until_discovery_succeeds() {
    let (provider, app) = setup(Faults {
        discovery_down: true,
        ..Faults::default()
    })
    .await;

    let health: Value = app
        .get("/healthz", &Jar::default())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(health["provider"], "discovering", "the service started");
    let response = app.get("/auth/login", &Jar::default()).await;
    assert_eq!(response.status(), 503);
    assert!(set_cookies(&response).is_empty(), "no flow cookie");
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("Sign-in is unavailable")
    );

    provider.set(|f| f.discovery_down = false);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = app.get("/auth/login", &Jar::default()).await;
        if response.status() == 303 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(Instant::now() < deadline, "discovery is retried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sign_in(&app, &provider).await;
}

#[tokio::test]
async fn unusable_discovery_documents_keep_sign_in_unavailable() {
    let rows: Vec<(&str, Faults)> = vec![
        (
            "issuer mismatch",
            Faults {
                discovery_patch: Some(patch(|d| d["issuer"] = json!("https://evil.example"))),
                ..Faults::default()
            },
        ),
        (
            "token endpoint over plain http, not loopback",
            Faults {
                discovery_patch: Some(patch(|d| {
                    d["token_endpoint"] = json!("http://idp.example.com/token");
                })),
                ..Faults::default()
            },
        ),
        (
            "jwks over plain http, not loopback",
            Faults {
                discovery_patch: Some(patch(|d| {
                    d["jwks_uri"] = json!("http://idp.example.com/jwks");
                })),
                ..Faults::default()
            },
        ),
    ];
    for (case, faults) in rows {
        let (provider, app) = setup(faults).await;

        let response = app.get("/auth/login", &Jar::default()).await;

        assert_eq!(response.status(), 503, "{case}");
        assert!(set_cookies(&response).is_empty(), "{case}: no flow cookie");
        assert_eq!(provider.calls().authorize, 0, "{case}");
        assert_eq!(provider.calls().token, 0, "{case}");
    }
}

const GOOGLE_FIXTURE: &str = include_str!("fixtures/google-openid-configuration.json");

#[test]
fn googles_published_discovery_document_parses_and_gets_rs256_only() {
    let metadata: CoreProviderMetadata =
        serde_json::from_str(GOOGLE_FIXTURE).expect("Google's metadata parses");

    assert_eq!(metadata.issuer().as_str(), "https://accounts.google.com");
    assert_eq!(
        doorman::oidc::metadata::allowed_algs(&metadata),
        [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
    );
    assert!(metadata.token_endpoint().is_some());
    assert!(metadata.userinfo_endpoint().is_some());
}

#[test]
fn an_es256_provider_gets_es256_and_nobody_gets_a_mac_or_none() {
    let mut document: Value = serde_json::from_str(GOOGLE_FIXTURE).expect("json");
    document["id_token_signing_alg_values_supported"] = json!(["ES256", "HS256", "none"]);
    let metadata: CoreProviderMetadata = serde_json::from_value(document).expect("parses");

    assert_eq!(
        doorman::oidc::metadata::allowed_algs(&metadata),
        [CoreJwsSigningAlgorithm::EcdsaP256Sha256]
    );
}

#[test]
fn the_legacy_google_issuer_is_accepted_only_when_the_issuer_is_google() {
    use doorman::config::Issuer;
    use doorman::oidc::issuer_matches;
    let google = Issuer::parse("https://accounts.google.com").expect("valid");
    let other = Issuer::parse("https://idp.example.com").expect("valid");
    assert!(issuer_matches(&google, "https://accounts.google.com"));
    assert!(issuer_matches(&google, "accounts.google.com"));
    assert!(!issuer_matches(
        &google,
        "https://accounts.google.com.evil.example"
    ));
    assert!(!issuer_matches(&other, "accounts.google.com"));
    assert!(!issuer_matches(&other, "idp.example.com"));
}

#[tokio::test]
async fn googles_document_shape_served_locally_signs_in_with_s256_despite_plain_being_offered() {
    let provider = TestProvider::start(Faults::default()).await;
    let rewritten = GOOGLE_FIXTURE
        .replace(
            "https://accounts.google.com/o/oauth2/v2/auth",
            &provider.url("/authorize"),
        )
        .replace(
            "https://oauth2.googleapis.com/token",
            &provider.url("/token"),
        )
        .replace(
            "https://openidconnect.googleapis.com/v1/userinfo",
            &provider.url("/userinfo"),
        )
        .replace(
            "https://www.googleapis.com/oauth2/v3/certs",
            &provider.url("/jwks"),
        )
        .replace("https://accounts.google.com", &provider.issuer);
    provider.set(|f| {
        f.discovery_document = Some(serde_json::from_str(&rewritten).expect("json"));
    });
    let app: TestApp = spawn_app_for(&provider, &[]).await;

    sign_in(&app, &provider).await;

    let authorize = &provider.record().authorize_requests[0];
    assert_eq!(authorize["code_challenge_method"], "S256");
}
