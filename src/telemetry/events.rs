//! The auth events that succeed, each one log line with a stable `event` name and one counter.
//! Failures (`login_failed`, `access_denied`) are logged where their error becomes a response
//! (`error::render`), so each is logged exactly once; their counters are moved by the caller.

use super::Metrics;

/// How someone signed in: through a provider (its id), or with a local account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginMethod {
    Oidc(&'static str),
    Password,
    Refresh,
    /// A terminal's device grant, approved in a browser (`doorman login`), for a person of
    /// this provider (its id; `local` for a local account).
    Device(&'static str),
}

impl LoginMethod {
    pub fn label(self) -> &'static str {
        match self {
            Self::Oidc(_) => "oidc",
            Self::Password => "password",
            Self::Refresh => "refresh",
            Self::Device(_) => "device",
        }
    }

    /// The provider's id; `local` for a local account.
    pub fn provider(self) -> &'static str {
        match self {
            Self::Oidc(id) | Self::Device(id) => id,
            Self::Password | Self::Refresh => "local",
        }
    }
}

/// A sign-in that worked: provider, password (either form) or a refresh token redeemed.
pub fn login_succeeded(metrics: &Metrics, method: LoginMethod, sub: &str) {
    metrics.login([method.label(), method.provider()], "success", "");
    if method == LoginMethod::Refresh {
        tracing::info!(event = "session_refreshed", user = sub, "session refreshed");
    } else {
        tracing::info!(
            event = "login_succeeded",
            method = method.label(),
            provider = method.provider(),
            user = sub,
            "signed in"
        );
    }
}

/// A sign-in attempt that failed, counted (its log line is the error's).
pub fn login_failed(metrics: &Metrics, method: LoginMethod, reason: &'static str) {
    metrics.login([method.label(), method.provider()], "failure", reason);
}

/// A sign-out: the session is over.
pub fn logout(metrics: &Metrics, sub: &str) {
    metrics.logout();
    metrics.sessions_revoked("logout", 1);
    tracing::info!(event = "logout", user = sub, "signed out");
}

/// A refresh token presented a second time: its whole session was revoked.
pub fn token_reuse_detected(metrics: &Metrics, session_count: usize) {
    metrics.sessions_revoked("refresh_token_reuse", session_count);
    tracing::warn!(
        event = "token_reuse_detected",
        "a spent refresh token was presented again; its session is revoked"
    );
}

/// A back-channel logout from the provider that ended `sessions` sessions (or, with `Err`, was
/// refused for `reason`: its log line is the error's, with the same event name).
pub fn backchannel_logout(metrics: &Metrics, outcome: Result<usize, &'static str>) {
    match outcome {
        Ok(sessions) => {
            metrics.provider().backchannel_logout("ended");
            metrics.sessions_revoked("backchannel_logout", sessions);
            tracing::info!(
                event = "backchannel_logout",
                result = "ended",
                sessions,
                "the provider ended its session; doorman's sessions of it are revoked"
            );
        }
        Err(result) => metrics.provider().backchannel_logout(result),
    }
}

/// A terminal asked to sign in (`doorman login`); never a code in the line.
pub fn device_code_issued(metrics: &Metrics, client: std::net::IpAddr) {
    metrics.device_grant("issued");
    tracing::info!(event = "device_code_issued", client = %client, "a terminal asked to sign in");
}

/// The person approved a terminal's request (or, `approved = false`, denied it).
pub fn device_decided(metrics: &Metrics, approved: bool, sub: &str) {
    if approved {
        metrics.device_grant("approved");
        tracing::info!(
            event = "device_approved",
            user = sub,
            "a terminal's sign-in was approved"
        );
    } else {
        metrics.device_grant("denied");
        tracing::info!(
            event = "device_denied",
            user = sub,
            "a terminal's sign-in was denied"
        );
    }
}
