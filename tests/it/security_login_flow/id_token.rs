//! The ID token: every invalid one (signature, algorithm, key, issuer, audience, times, nonce,
//! claims) is a 400 and userinfo is never called; borderline but valid ones are accepted.

use serde_json::{Value, json};

use super::assert_rejected;
use crate::support::test_provider::{
    self, CLIENT_ID, Faults, Signing, arrive, begin, patch, setup,
};

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
