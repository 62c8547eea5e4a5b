//! `GET /healthz`: liveness (no dependencies), and whether the provider has been discovered.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::AppState;

pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let provider = if state.oidc.provider.is_ready() {
        "ready"
    } else {
        "discovering"
    };
    Json(json!({ "status": "ok", "provider": provider }))
}
