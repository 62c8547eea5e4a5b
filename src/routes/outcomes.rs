//! Sign-in outcomes, recorded alike by every handler that signs someone in: the counter, the
//! log line's `event`, and for a success the `login_succeeded` line.

use crate::app::AppState;
use crate::error::AsAppError;
use crate::telemetry::events::{self, LoginMethod};

/// Counts a failed sign-in (reason: the error's code) and marks its log line `login_failed`.
pub(super) fn login_failed<E: AsAppError>(state: &AppState, method: LoginMethod, err: E) -> E {
    login_failed_because(state, method, None, err)
}

/// As [`login_failed`], with a reason more precise than the error's code.
pub(super) fn login_failed_because<E: AsAppError>(
    state: &AppState,
    method: LoginMethod,
    reason: Option<&'static str>,
    mut err: E,
) -> E {
    let app = err.app_error();
    app.event = Some(("login_failed", method.label()));
    if let LoginMethod::Oidc(provider) = method {
        app.provider = Some(provider);
    }
    if app.code == "too_many_attempts" {
        state.metrics.throttle_rejection("password_failures");
    }
    events::login_failed(&state.metrics, method, reason.unwrap_or(app.code));
    err
}

/// Counts a sign-in that worked and writes its `login_succeeded` (or `session_refreshed`) line.
pub(super) fn login_succeeded(state: &AppState, method: LoginMethod, sub: &str) {
    events::login_succeeded(&state.metrics, method, sub);
}
