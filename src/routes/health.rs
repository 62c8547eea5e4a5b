//! `GET /healthz`: liveness (no dependencies; also says whether the provider has been
//! discovered). `GET /readyz`: readiness, 200 only when the store answers, the revocation set
//! has been read from it (and, in strict mode, recently), the provider has been discovered
//! and its keys are loaded; otherwise 503 naming each failing check.
//!
//! Once ready, a provider outage does not make doorman unready: sessions are doorman's own
//! tokens and keep working, so taking every instance out of a load balancer would turn a
//! sign-in outage into a total one. Provider trouble shows in `doorman_provider_requests_total`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::app::AppState;

/// A store that takes longer than this to answer `SELECT 1` counts as failing.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let provider = if state.oidc.provider.is_ready() {
        "ready"
    } else {
        "discovering"
    };
    Json(json!({ "status": "ok", "provider": provider }))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = match tokio::time::timeout(STORE_CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("the store does not answer: {err}")),
        Err(_) => Err(format!(
            "the store did not answer within {} s",
            STORE_CHECK_TIMEOUT.as_secs()
        )),
    };
    let provider = &state.oidc.provider;
    let discovery = if provider.is_ready() {
        Ok(())
    } else {
        Err(format!(
            "discovery of {} has not succeeded yet",
            provider.issuer()
        ))
    };
    let keys = if provider.has_keys() {
        Ok(())
    } else {
        Err("the provider's signing keys are not loaded".to_owned())
    };
    let sessions = &state.sessions;
    let now = state.clock.now();
    let revocations = if !sessions.revocations.is_ready() {
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
    };
    let mut checks = Map::new();
    let mut failing = Vec::new();
    for (name, outcome) in [
        ("store", store),
        ("revocations", revocations),
        ("provider_discovery", discovery),
        ("provider_keys", keys),
    ] {
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
