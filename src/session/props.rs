//! Property tests: the one-pass verifier (`jws` + `SessionTokens::verify`) accepts exactly
//! what the jsonwebtoken crate, pinned to HS256 with the same claim checks, accepts — for
//! tokens with doorman's header — and is never more lenient with any other header.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::claims::SessionClaims;
use super::token::SessionTokens;
use crate::config::Config;

const NOW: u64 = 1_800_000_000;
const ISSUER: &str = "http://localhost:8000";
const SECRET: &str = "property-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

fn tokens() -> SessionTokens {
    let cfg = Config::from_lookup(|name| (name == "SESSION_SECRET").then(|| SECRET.to_owned()))
        .expect("config");
    SessionTokens::new(&cfg.session, cfg.public_url().origin())
}

/// One claim: a few good values, wrong values, wrong types, or absent (`None`).
fn claim(good: Vec<Value>, bad: Vec<Value>) -> impl Strategy<Value = Option<Value>> {
    let choices: Vec<Option<Value>> = good
        .into_iter()
        .chain(bad)
        .map(Some)
        .chain(std::iter::once(None))
        .collect();
    proptest::sample::select(choices)
}

fn claims() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    let n = NOW as i64;
    (
        claim(
            vec![json!(ISSUER)],
            vec![json!("http://evil"), json!([ISSUER]), json!(7)],
        ),
        claim(
            vec![json!(ISSUER)],
            vec![json!([ISSUER]), json!("other"), json!(null)],
        ),
        claim(
            vec![json!("user-1")],
            vec![json!(""), json!("x".repeat(300)), json!(12)],
        ),
        claim(
            vec![json!("https://idp.example")],
            vec![json!(null), json!(3)],
        ),
        claim(
            vec![json!(n - 10), json!(n)],
            vec![json!(n + 600), json!("1"), json!(1.5), json!(-1)],
        ),
        claim(
            vec![json!(n + 3000), json!(n + 3650)],
            vec![
                json!(n - 5),
                json!(n + 90_000),
                json!("later"),
                json!(2.5e9),
            ],
        ),
        claim(vec![json!(n - 100)], vec![json!(n + 100), json!("x")]),
        claim(vec![json!("jti-1")], vec![json!(""), json!(5)]),
        claim(vec![json!("sid-1")], vec![json!(1)]),
        claim(vec![json!(["admin"])], vec![json!("admin"), json!([1])]),
    )
        .prop_map(|(iss, aud, sub, idp, iat, exp, nbf, jti, sid, roles)| {
            vec![
                ("iss", iss),
                ("aud", aud),
                ("sub", sub),
                ("idp", idp),
                ("iat", iat),
                ("exp", exp),
                ("nbf", nbf),
                ("jti", jti),
                ("sid", sid),
                ("roles", roles),
            ]
        })
}

/// The payload as raw JSON text, so duplicate keys and odd spacing can be expressed.
fn payload(fields: &[(&str, Option<Value>)], duplicate: bool, extra: bool) -> String {
    let mut parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("\"{k}\":{v}")))
        .collect();
    if duplicate {
        parts.push("\"sub\":\"someone-else\"".into());
    }
    if extra {
        parts.push("\"unknown\":{\"nested\":[1,2]}".into());
    }
    format!("{{{}}}", parts.join(","))
}

fn sign(header_json: &str, payload: &str, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(payload)
    );
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("key");
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn with_doormans_header_both_verifiers_agree_exactly(
        fields in claims(),
        duplicate in any::<bool>(),
        extra in any::<bool>(),
        typ_first in any::<bool>(),
        right_key in prop::bool::weighted(0.85),
        flip in prop::option::weighted(0.15, 0usize..400),
    ) {
        let t = tokens();
        let header = if typ_first { r#"{"typ":"JWT","alg":"HS256"}"# } else { r#"{"alg":"HS256","typ":"JWT"}"# };
        let key: &[u8] = if right_key { SECRET.as_bytes() } else { b"the wrong key, also long enough 0123456789" };
        let mut token = sign(header, &payload(&fields, duplicate, extra), key);
        if let Some(at) = flip {
            let at = at % token.len();
            let mut bytes = token.into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            token = String::from_utf8(bytes).expect("ascii");
        }
        prop_assert_eq!(
            t.verify(&token, NOW).map(|c| SessionClaims::from(&c)),
            t.verify_with_jsonwebtoken(&token, NOW, SECRET.as_bytes())
        );
    }

    #[test]
    fn with_any_other_header_the_one_pass_verifier_refuses(
        fields in claims(),
        header in proptest::sample::select(vec![
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#,
            r#"{"alg":"HS256", "typ":"JWT"}"#,
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS384","typ":"JWT"}"#,
        ]),
    ) {
        let t = tokens();
        let token = sign(header, &payload(&fields, false, false), SECRET.as_bytes());
        prop_assert!(t.verify(&token, NOW).is_err());
    }
}
