//! The gateway's decision, the same for every proxy protocol: trust, target, preflight,
//! credentials, policy. What to send back is the caller's job (`routes::gateway`).

use axum::http::HeaderMap;

use super::request::{self, Endpoint, Target};
use crate::config::Policy;
use crate::session::{
    Authorization, Caller, SessionProblem, Sessions, TokenError, has_several_authorizations,
    is_bearer,
};

/// What the gateway decided about one request.
#[derive(Debug)]
pub enum Decision {
    /// Let it through; `caller` is `None` for anonymous callers of a public policy and for
    /// preflights.
    Allow {
        caller: Option<Box<Caller>>,
        target: Target,
        reason: &'static str,
    },
    /// Nobody (valid) is signed in.
    Unauthenticated {
        target: Target,
        /// `no_session`, `token_expired`, `token_invalid`, `revoked`.
        reason: &'static str,
        /// The credential was a Bearer token: the client is a program, never redirected.
        bearer: bool,
        /// A browser navigation, to be sent to sign in.
        navigation: bool,
    },
    /// Signed in, but the policy does not admit them.
    Forbidden {
        /// `role_required` or `email_not_allowed`.
        reason: &'static str,
        required: Vec<String>,
        navigation: bool,
    },
    /// Whether the session was ended cannot be told yet (the store was never reached, or,
    /// in strict mode, not recently enough).
    Unavailable,
    /// The proxy's request cannot be judged.
    BadRequest {
        /// `untrusted_proxy`, `bad_forward_request`, `unknown_policy` or `invalid_request`.
        error: &'static str,
        message: String,
        missing: Vec<&'static str>,
    },
}

impl Decision {
    /// The metric's (decision, reason).
    pub fn labels(&self) -> (&'static str, &'static str) {
        match self {
            Self::Allow { reason, .. } => ("allow", reason),
            Self::Unauthenticated { reason, .. } => ("unauthenticated", reason),
            Self::Forbidden { reason, .. } => ("forbidden", reason),
            Self::Unavailable => ("unavailable", "store_unavailable"),
            Self::BadRequest { error, .. } => ("bad_request", error),
        }
    }
}

/// What a decision needs.
pub struct Ask<'a> {
    pub endpoint: Endpoint,
    pub policy_name: &'a str,
    pub policy: Option<&'a Policy>,
    /// Whether the TCP peer is one of `TRUSTED_PROXIES`.
    pub trusted_peer: bool,
    pub headers: &'a HeaderMap,
    pub now: u64,
}

pub fn decide(ask: &Ask<'_>, sessions: &Sessions) -> Decision {
    let Some(policy) = ask.policy else {
        return Decision::BadRequest {
            error: "unknown_policy",
            message: format!(
                "no policy `{}` is configured (DOORMAN_CONFIG); the proxy's auth URL names it",
                ask.policy_name
            ),
            missing: Vec::new(),
        };
    };
    if !ask.trusted_peer {
        return Decision::BadRequest {
            error: "untrusted_proxy",
            message: "this address is not in TRUSTED_PROXIES, so its forwarding headers are not \
                      believed; add the proxy's address to TRUSTED_PROXIES"
                .into(),
            missing: Vec::new(),
        };
    }
    let target = match request::target(ask.endpoint, ask.headers) {
        Ok(target) => target,
        Err(missing) => {
            return Decision::BadRequest {
                error: "bad_forward_request",
                message: format!("the proxy did not send {}", missing.join(", ")),
                missing,
            };
        }
    };
    decide_target(policy, target, ask.headers, sessions, ask.now)
}

/// The decision about a known `target` (from forward-auth headers, or, when doorman proxies
/// itself, the request as it came) under `policy`: preflight, credentials, policy.
pub fn decide_target(
    policy: &Policy,
    target: Target,
    headers: &HeaderMap,
    sessions: &Sessions,
    now: u64,
) -> Decision {
    let ask = Credentials { headers, now };
    if has_several_authorizations(ask.headers) {
        return Decision::BadRequest {
            error: "invalid_request",
            message: "more than one Authorization header: send one credential".into(),
            missing: Vec::new(),
        };
    }
    if policy.cors_preflight && request::is_preflight(&target, ask.headers) {
        return Decision::Allow {
            caller: None,
            target,
            reason: "preflight",
        };
    }
    let bearer = ask
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .is_some_and(|v| is_bearer(v.as_bytes()));
    match sessions.authenticate_with(
        ask.headers,
        Authorization::BearerOtherSchemesIgnored,
        ask.now,
    ) {
        Ok(caller) => judge(policy, caller, target, ask.headers),
        Err(SessionProblem::Unavailable) => Decision::Unavailable,
        Err(_) if policy.public && !bearer => Decision::Allow {
            caller: None,
            target,
            reason: "public",
        },
        Err(problem) => Decision::Unauthenticated {
            target,
            reason: match problem {
                SessionProblem::Missing => "no_session",
                SessionProblem::Token(TokenError::Expired) => "token_expired",
                SessionProblem::Token(TokenError::Invalid) => "token_invalid",
                SessionProblem::Revoked => "revoked",
                SessionProblem::Unavailable => "store_unavailable",
            },
            bearer,
            navigation: !bearer && !policy.api && request::is_navigation(ask.headers),
        },
    }
}

struct Credentials<'a> {
    headers: &'a HeaderMap,
    now: u64,
}

/// A signed-in caller against the policy.
fn judge(policy: &Policy, caller: Caller, target: Target, headers: &HeaderMap) -> Decision {
    let claims = &caller.claims;
    let navigation = || !policy.api && request::is_navigation(headers);
    if !policy.roles.is_empty() && !policy.roles.iter().any(|r| claims.has_role(r)) {
        return Decision::Forbidden {
            reason: "role_required",
            required: policy.roles.clone(),
            navigation: navigation(),
        };
    }
    if !policy.admits_email(claims.email(), claims.email_verified) {
        return Decision::Forbidden {
            reason: "email_not_allowed",
            required: Vec::new(),
            navigation: navigation(),
        };
    }
    Decision::Allow {
        caller: Some(Box::new(caller)),
        target,
        reason: if policy.public { "public" } else { "signed_in" },
    }
}
