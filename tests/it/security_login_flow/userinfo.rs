//! The userinfo answer must name the ID token's subject, and a failing userinfo call is never
//! a session.

use serde_json::json;

use super::assert_rejected;
use crate::support::test_provider::{Faults, arrive, begin, patch, setup};

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
