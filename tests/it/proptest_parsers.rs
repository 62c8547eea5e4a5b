//! Property tests for the parsers that see untrusted input: the session token extractor, the
//! return-to path and the callback query. Case counts stay modest so the suite stays fast.

use std::sync::Arc;

use crate::support::{STRONG_SECRET, spawn_app_with};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use doorman::clock::{Clock, SystemClock, system_now as now_secs};
use doorman::error::ApiError;
use doorman::oidc::callback::parse_callback_query;
use doorman::oidc::flow::ReturnTo;
use doorman::session::{
    Outbox, RevocationSet, SessionProblem, SessionTokens, Sessions, TokenError,
};
use doorman::store::Store;
use proptest::prelude::*;

const ORIGIN: &str = "http://127.0.0.1:8000";

/// `authenticate` at once: these tokens carry their groups, so it never waits.
fn authenticated(
    state: &Sessions,
    headers: &HeaderMap,
    accept_bearer: bool,
) -> Result<doorman::session::Caller, SessionProblem> {
    use futures_util::FutureExt;
    state
        .authenticate(headers, accept_bearer, now_secs())
        .now_or_never()
        .expect("no store read for a token that carries its groups")
}

fn session_state() -> Sessions {
    let config =
        crate::support::config(&[("PUBLIC_URL", ORIGIN), ("SESSION_SECRET", STRONG_SECRET)]);
    Sessions {
        tokens: Arc::new(SessionTokens::new(
            &config.session,
            config.public_url().origin(),
        )),
        revocations: {
            let set = RevocationSet::default();
            set.mark_synced(SystemClock.now());
            Arc::new(set)
        },
        cookie: doorman::session::CookieScope::Plain,
        clock: Arc::new(SystemClock),
        store: Store::open(":memory:", SystemClock.now()).expect("store"),
        outbox: Arc::new(Outbox::default()),
        metrics: doorman::telemetry::Metrics::new(),
        max_staleness: None,
        groups: Default::default(),
        sealer: doorman::session::Sealer::derived(
            STRONG_SECRET.as_bytes(),
            doorman::session::ID_TOKEN_HINT,
        ),
        max_age_secs: 12 * 3600,
        provider_ids: Default::default(),
        renewals: Default::default(),
        recheck: None,
        refresh_sealer: doorman::session::Sealer::derived(
            STRONG_SECRET.as_bytes(),
            doorman::session::PROVIDER_REFRESH_TOKEN,
        ),
        provider_check: Default::default(),
    }
}

/// A valid token for `state`, for the mutation properties.
fn valid_token(state: &Sessions, age: u64) -> String {
    let iat = now_secs() - age;
    let claims = serde_json::from_value(serde_json::json!({
        "iss": ORIGIN, "aud": ORIGIN, "sub": "user-1", "idp": "https://idp.example",
        "iat": iat, "exp": iat + 3600, "jti": "0123456789abcdef0123456789abcdef",
    }))
    .expect("claims");
    state.tokens.mint(&claims).expect("mint")
}

/// Strings made mostly of the characters that matter to the parsers under test.
fn tricky(max: usize) -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "/",
        "//",
        "\\",
        "%2F",
        "%2f",
        "%5C",
        "%25",
        "%",
        ".",
        "..",
        ":",
        "@",
        "?",
        "#",
        "&",
        "=",
        ";",
        "\"",
        " ",
        "\t",
        "\r\n",
        "\u{0}",
        "http:",
        "https://",
        "evil.example",
        "a",
        "Z",
        "0",
        "é",
        "😀",
        "Bearer",
        "bearer ",
        "access_token",
        "eyJ",
        "code",
        "state",
        "iss",
        "error",
        "+",
    ]);
    prop::collection::vec(pieces, 0..max).prop_map(|v| v.concat())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![tricky(24), any::<String>()]
}

/// What a browser would take for a path on this site: one leading slash, no backslash, no
/// control characters.
fn looks_local(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
}

/// One round of percent-decoding, as a server in front of a service might do it.
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn outcome_status(problem: SessionProblem) -> u16 {
    ApiError::from(problem).into_response().status().as_u16()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn return_to_is_always_a_same_site_path(raw in any_text()) {
        let parsed = ReturnTo::parse(Some(&raw));
        let path = parsed.as_str();
        prop_assert!(path.starts_with('/'), "{path:?}");
        prop_assert!(!path.starts_with("//"), "{path:?}");
        prop_assert!(!path.contains('\\'), "{path:?}");
        prop_assert!(!path.chars().any(char::is_control), "{path:?}");
        // Parsing is idempotent: what it keeps, it would keep again.
        let again = ReturnTo::parse(Some(path));
        prop_assert_eq!(again.as_str(), path);
        // However often a server downstream decodes what was kept, it stays local: it
        // reaches a fixed point within a few rounds, and every form on the way is local.
        let mut form = path.to_owned();
        let mut stable = false;
        for _ in 0..4 {
            prop_assert!(looks_local(&form), "{path:?} decodes to {form:?}");
            let decoded = percent_decode(&form);
            if decoded == form {
                stable = true;
                break;
            }
            form = decoded;
        }
        prop_assert!(stable, "{path:?} kept though it still decodes further");
    }

    #[test]
    fn a_way_off_the_site_is_refused_however_deeply_it_is_encoded(
        escape in prop::sample::select(vec!["//evil.example", "/\\evil.example", "/%5Cevil.example"]),
        depth in 0usize..10,
        tail in tricky(6),
    ) {
        // Percent-encode the slashes and backslashes once, then the `%` signs `depth` times.
        let mut raw = escape.replacen("//", "/%2F", 1).replace('\\', "%5C");
        for _ in 0..depth {
            raw = raw.replace('%', "%25");
        }
        let raw = format!("{raw}{tail}");
        let parsed = ReturnTo::parse(Some(&raw));
        prop_assert_eq!(parsed.as_str(), "/", "{:?}", raw);
    }

    #[test]
    fn the_callback_query_parser_never_panics_and_bounds_what_it_keeps(raw in any_text()) {
        if let Ok(params) = parse_callback_query(Some(&raw)) {
            for value in [&params.code, &params.state].into_iter().flatten() {
                prop_assert!(!value.is_empty() && value.len() <= 2048);
                prop_assert!(value.bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }

    #[test]
    fn any_authorization_or_cookie_header_is_a_401_never_a_panic(
        authorization in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        cookie in prop::option::of(any_text()),
        prefix_bearer in any::<bool>(),
    ) {
        let state = session_state();
        let mut headers = HeaderMap::new();
        if let Some(bytes) = authorization {
            let mut value = if prefix_bearer { b"Bearer ".to_vec() } else { Vec::new() };
            value.extend(bytes);
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                headers.insert(header::AUTHORIZATION, v);
            }
        }
        if let Some(text) = cookie
            && let Ok(v) = HeaderValue::from_str(&format!("access_token={text}"))
        {
            headers.insert(header::COOKIE, v);
        }
        for accept_bearer in [true, false] {
            match authenticated(&state, &headers, accept_bearer) {
                Ok(_) => prop_assert!(false, "random input authenticated"),
                Err(problem) => prop_assert_eq!(outcome_status(problem), 401),
            }
        }
    }

    #[test]
    fn a_mutated_token_is_invalid_and_never_expired(
        position in any::<prop::sample::Index>(),
        replacement in prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/".chars().collect::<Vec<_>>(),
        ),
        expired in any::<bool>(),
    ) {
        let state = session_state();
        let token = valid_token(&state, if expired { 7200 } else { 0 });
        let i = position.index(token.len());
        let mut mutated: Vec<char> = token.chars().collect();
        prop_assume!(mutated[i] != replacement);
        mutated[i] = replacement;
        let mutated: String = mutated.into_iter().collect();
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("authorization"),
            HeaderValue::from_str(&format!("Bearer {mutated}")).expect("ascii"),
        );
        let result = authenticated(&state, &headers, true);
        prop_assert!(
            matches!(result, Err(SessionProblem::Token(TokenError::Invalid))),
            "{:?}",
            result.map(|u| u.claims.jti().to_owned())
        );
    }
}

/// A few of the same random headers over real HTTP: 401 or 400, never 500.
#[tokio::test]
async fn random_credentials_over_http_get_401_or_400() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let app = spawn_app_with(&[("SESSION_SECRET", STRONG_SECRET)]).await;
    let mut runner = TestRunner::deterministic();
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..300),
        any_text(),
        any::<bool>(),
    );
    for _ in 0..48 {
        let (auth, cookie, bearer) = strategy.new_tree(&mut runner).expect("a value").current();
        let mut request = app.client.get(app.url("/api/user"));
        let mut value = if bearer {
            b"Bearer ".to_vec()
        } else {
            Vec::new()
        };
        value.extend(auth);
        if let Ok(v) = HeaderValue::from_bytes(&value) {
            request = request.header("authorization", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("access_token={cookie}")) {
            request = request.header("cookie", v);
        }
        let status = request.send().await.expect("request").status().as_u16();
        assert!(matches!(status, 400 | 401), "got {status}");
    }
}
