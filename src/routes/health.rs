//! `GET /healthz`: liveness (no dependencies; also says whether the provider has been
//! discovered). `GET /readyz`: readiness, 200 only when the store answers, the revocation set
//! has been read from it (and, in strict mode, recently), and every required provider (the
//! environment's one; `[[provider]]`s marked `required = true`, or, when none is, at least one
//! of them) has been discovered and its keys are loaded; otherwise 503 naming each failing
//! check. The other providers are listed with their state, and never make doorman unready:
//! one provider being down must not take sign-in with the others out of the load balancer.
//!
//! Once ready, a provider outage does not make doorman unready: sessions are doorman's own
//! tokens and keep working, so taking every instance out of a load balancer would turn a
//! sign-in outage into a total one. Provider trouble shows in `doorman_provider_requests_total`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::oidc::SignInService;
use crate::oidc::provider::ProviderHandle;
use crate::session::Sessions;

pub(super) async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let status = |p: &SignInService| {
        if p.provider.is_ready() {
            "ready"
        } else {
            "discovering"
        }
    };
    let mut body = json!({ "status": "ok", "provider": status(state.sign_in.first()) });
    if state.sign_in.only().is_none() {
        let each: Map<String, Value> = state
            .sign_in
            .all()
            .iter()
            .map(|p| (p.id.to_owned(), json!(status(p))))
            .collect();
        body["providers"] = Value::Object(each);
    }
    Json(body)
}

/// A check's outcome: `Err` says what is wrong.
type Check = Result<(), String>;

pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut outcomes = vec![
        ("store".to_owned(), true, state.check_store().await),
        (
            "revocations".to_owned(),
            true,
            revocations(&state.sessions, state.clock.now()),
        ),
    ];
    match state.sign_in.only() {
        Some(only) => {
            outcomes.push(("provider_discovery".into(), true, discovery(&only.provider)));
            outcomes.push(("provider_keys".into(), true, keys(&only.provider)));
        }
        None => {
            // Unless some are marked required, one provider that can sign people in will do.
            let all = state.sign_in.all();
            if !all.iter().any(|p| p.required) {
                let any = if all
                    .iter()
                    .any(|p| p.provider.is_ready() && p.provider.has_keys())
                {
                    Ok(())
                } else {
                    Err("no provider has been discovered with its keys yet".to_owned())
                };
                outcomes.push(("providers".into(), true, any));
            }
            for p in all {
                let id = p.id;
                outcomes.push((
                    format!("provider_{id}_discovery"),
                    p.required,
                    discovery(&p.provider),
                ));
                outcomes.push((format!("provider_{id}_keys"), p.required, keys(&p.provider)));
            }
        }
    }
    readiness(outcomes)
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

/// 200 `ready` when every required check (name, required, outcome) passes; otherwise 503
/// `not_ready`, naming the failing ones. A check that is not required shows, with
/// `"required": false`, and never fails readiness.
fn readiness(outcomes: Vec<(String, bool, Check)>) -> (StatusCode, Json<Value>) {
    let mut checks = Map::new();
    let mut failing = Vec::new();
    for (name, required, outcome) in outcomes {
        let mut entry = match outcome {
            Ok(()) => json!({ "ok": true }),
            Err(message) => {
                if required {
                    failing.push(name.clone());
                }
                json!({ "ok": false, "message": message })
            }
        };
        if !required {
            entry["required"] = json!(false);
        }
        checks.insert(name, entry);
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
