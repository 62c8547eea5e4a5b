//! `GET /healthz`: liveness (no dependencies; also says whether the provider has been
//! discovered). `GET /readyz`: readiness, 200 only when the store answers, the revocation set
//! has been read from it (and, in strict mode, recently), the provider has been discovered
//! and its keys are loaded; otherwise 503 naming each failing check.
//!
//! Once ready, a provider outage does not make doorman unready: sessions are doorman's own
//! tokens and keep working, so taking every instance out of a load balancer would turn a
//! sign-in outage into a total one. Provider trouble shows in `doorman_provider_requests_total`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::oidc::provider::ProviderHandle;
use crate::session::Sessions;

pub(super) async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let provider = if state.sign_in.provider.is_ready() {
        "ready"
    } else {
        "discovering"
    };
    Json(json!({ "status": "ok", "provider": provider }))
}

/// A check's outcome: `Err` says what is wrong.
type Check = Result<(), String>;

pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let provider = &state.sign_in.provider;
    readiness([
        ("store", state.check_store().await),
        (
            "revocations",
            revocations(&state.sessions, state.clock.now()),
        ),
        ("provider_discovery", discovery(provider)),
        ("provider_keys", keys(provider)),
    ])
}

fn discovery(provider: &ProviderHandle) -> Check {
    if provider.is_ready() {
        Ok(())
    } else {
        Err(format!(
            "discovery of {} has not succeeded yet",
            provider.issuer()
        ))
    }
}

fn keys(provider: &ProviderHandle) -> Check {
    if provider.has_keys() {
        Ok(())
    } else {
        Err("the provider's signing keys are not loaded".to_owned())
    }
}

fn revocations(sessions: &Sessions, now: u64) -> Check {
    if !sessions.revocations.is_ready() {
        Err("the revocation set has not been read from the store yet".to_owned())
    } else if let Some(max) = sessions.max_staleness
        && sessions.revocations.age(now) > max
    {
        Err(format!(
            "the revocation set was last read from the store {} s ago (REVOCATION_MAX_STALENESS_SECS={max})",
            sessions.revocations.age(now)
        ))
    } else {
        Ok(())
    }
}

/// 200 `ready` when every check passes; otherwise 503 `not_ready`, naming the failing ones.
fn readiness(outcomes: [(&'static str, Check); 4]) -> (StatusCode, Json<Value>) {
    let mut checks = Map::new();
    let mut failing = Vec::new();
    for (name, outcome) in outcomes {
        match outcome {
            Ok(()) => {
                checks.insert(name.into(), json!({ "ok": true }));
            }
            Err(message) => {
                checks.insert(name.into(), json!({ "ok": false, "message": message }));
                failing.push(name);
            }
        }
    }
    if failing.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": checks })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "failing": failing, "checks": checks })),
        )
    }
}
