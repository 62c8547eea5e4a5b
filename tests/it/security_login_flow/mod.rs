//! Security conformance, section A of `shared/security.md`: the login flow, against a test
//! provider that misbehaves on purpose, one module per part of the flow: the well-behaved
//! path, the callback's state and cookies, the token endpoint, the ID token, userinfo, and
//! discovery.
//!
//! Every rejection is checked the same way ([`assert_rejected`]): the expected status, no
//! session cookie, the flow cookie consumed, a generic page (no code, state, token or provider
//! error body), and the provider endpoints that must not have been reached after the bad
//! artefact.

mod callback;
mod discovery;
mod id_token;
mod token_endpoint;
mod userinfo;
mod well_behaved;

use crate::support::set_cookies;
use crate::support::test_provider::{Attempt, LEAK_MARKER};

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
