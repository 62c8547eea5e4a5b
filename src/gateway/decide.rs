//! The gateway's decision, the same for every proxy protocol: trust, target, one credential,
//! preflight, credentials, policy. A pure function of the policy, the request's headers, the
//! sessions and the time; each outcome carries its reason as a type (`reason`). What to send
//! back is `answer`'s job.

use axum::http::HeaderMap;

use super::reason::{Allowed, DenyReason, NoSession, Unjudgeable};
use super::request::{self, Endpoint, Target};
use crate::config::Policy;
use crate::session::{Authorization, Caller, Sessions, has_several_authorizations, is_bearer};

/// What the gateway decided about one request.
#[derive(Debug)]
pub enum Decision {
    Allow(Allow),
    Refuse(Refusal),
}

/// Let it through.
#[derive(Debug)]
pub struct Allow {
    /// `None` for anonymous callers of a public policy and for preflights.
    pub caller: Option<Box<Caller>>,
    pub target: Target,
    pub reason: Allowed,
}

/// Do not let it through, and why.
#[derive(Debug)]
pub enum Refusal {
    /// Nobody (valid) is signed in.
    Unauthenticated {
        target: Target,
        reason: NoSession,
        /// The credential was a Bearer token: the client is a program, never redirected.
        bearer: bool,
        /// A browser navigation, to be sent to sign in.
        navigation: bool,
    },
    /// Signed in, but the policy does not admit them.
    Forbidden {
        reason: DenyReason,
        /// What the policy asks for (its roles or groups; empty for the email rule).
        required: Vec<String>,
        navigation: bool,
    },
    /// Whether the session was ended cannot be told yet (the store was never reached, or,
    /// in strict mode, not recently enough).
    Unavailable,
    /// The proxy's request cannot be judged.
    BadRequest {
        reason: Unjudgeable,
        message: String,
        missing: Vec<&'static str>,
    },
}

impl Decision {
    /// The metric's (decision, reason).
    pub fn labels(&self) -> (&'static str, &'static str) {
        match self {
            Self::Allow(allow) => ("allow", allow.reason.as_str()),
            Self::Refuse(Refusal::Unauthenticated { reason, .. }) => {
                ("unauthenticated", reason.as_str())
            }
            Self::Refuse(Refusal::Forbidden { reason, .. }) => ("forbidden", reason.as_str()),
            Self::Refuse(Refusal::Unavailable) => ("unavailable", "store_unavailable"),
            Self::Refuse(Refusal::BadRequest { reason, .. }) => ("bad_request", reason.as_str()),
        }
    }

    fn allow(caller: Option<Box<Caller>>, target: Target, reason: Allowed) -> Self {
        Self::Allow(Allow {
            caller,
            target,
            reason,
        })
    }

    fn bad_request(reason: Unjudgeable, message: String) -> Self {
        Self::Refuse(Refusal::BadRequest {
            reason,
            message,
            missing: Vec::new(),
        })
    }
}

/// What a forward-auth decision needs.
pub struct Ask<'a> {
    pub endpoint: Endpoint,
    pub policy_name: &'a str,
    pub policy: Option<&'a Policy>,
    /// Whether the TCP peer is one of `TRUSTED_PROXIES`.
    pub trusted_peer: bool,
    pub headers: &'a HeaderMap,
    pub now: u64,
}

/// A forward-auth decision: the policy named in the path, a trusted peer, the original
/// request rebuilt from the proxy's headers, then `decide_target`.
pub async fn decide(ask: &Ask<'_>, sessions: &Sessions) -> Decision {
    let Some(policy) = ask.policy else {
        return Decision::bad_request(
            Unjudgeable::UnknownPolicy,
            format!(
                "no policy `{}` is configured (DOORMAN_CONFIG); the proxy's auth URL names it",
                ask.policy_name
            ),
        );
    };
    if !ask.trusted_peer {
        return Decision::bad_request(
            Unjudgeable::UntrustedProxy,
            "this address is not in TRUSTED_PROXIES, so its forwarding headers are not \
             believed; add the proxy's address to TRUSTED_PROXIES"
                .into(),
        );
    }
    match request::target(ask.endpoint, ask.headers) {
        Ok(target) => decide_target(policy, target, ask.headers, sessions, ask.now).await,
        Err(missing) => Decision::Refuse(Refusal::BadRequest {
            reason: Unjudgeable::BadForwardRequest,
            message: format!("the proxy did not send {}", missing.join(", ")),
            missing,
        }),
    }
}

/// The decision about a known `target` (from forward-auth headers, or, when doorman proxies
/// itself, the request as it came) under `policy`: one credential, preflight, credentials,
/// policy.
pub async fn decide_target(
    policy: &Policy,
    target: Target,
    headers: &HeaderMap,
    sessions: &Sessions,
    now: u64,
) -> Decision {
    if has_several_authorizations(headers) {
        return Decision::bad_request(
            Unjudgeable::InvalidRequest,
            "more than one Authorization header: send one credential".into(),
        );
    }
    if policy.cors_preflight && request::is_preflight(&target, headers) {
        return Decision::allow(None, target, Allowed::Preflight);
    }
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .is_some_and(|v| is_bearer(v.as_bytes()));
    let caller = sessions
        .authenticate_with(headers, Authorization::BearerOtherSchemesIgnored, now)
        .await;
    match caller {
        Ok(caller) => judge(policy, caller, target, headers),
        Err(problem) => match NoSession::of(problem) {
            None => Decision::Refuse(Refusal::Unavailable),
            Some(_) if policy.public && !bearer => Decision::allow(None, target, Allowed::Public),
            Some(reason) => Decision::Refuse(Refusal::Unauthenticated {
                target,
                reason,
                bearer,
                navigation: !bearer && !policy.api && request::is_navigation(headers),
            }),
        },
    }
}

/// A signed-in caller against the policy.
fn judge(policy: &Policy, caller: Caller, target: Target, headers: &HeaderMap) -> Decision {
    let claims = &caller.claims;
    let navigation = || !policy.api && request::is_navigation(headers);
    if !policy.roles.is_empty() && !policy.roles.iter().any(|r| claims.has_role(r)) {
        return Decision::Refuse(Refusal::Forbidden {
            reason: DenyReason::RoleRequired,
            required: policy.roles.clone(),
            navigation: navigation(),
        });
    }
    if !policy.groups.is_empty() && !policy.groups.iter().any(|g| claims.in_group(g)) {
        return Decision::Refuse(Refusal::Forbidden {
            reason: DenyReason::GroupRequired,
            required: policy.groups.clone(),
            navigation: navigation(),
        });
    }
    if !policy.provider_issuers.is_empty()
        && !policy.provider_issuers.iter().any(|i| i == claims.idp())
    {
        return Decision::Refuse(Refusal::Forbidden {
            reason: DenyReason::ProviderRequired,
            required: policy.providers.clone(),
            navigation: navigation(),
        });
    }
    if !policy.admits_email(claims.email(), claims.email_verified) {
        return Decision::Refuse(Refusal::Forbidden {
            reason: DenyReason::EmailNotAllowed,
            required: Vec::new(),
            navigation: navigation(),
        });
    }
    let reason = if policy.public {
        Allowed::Public
    } else {
        Allowed::SignedIn
    };
    Decision::allow(Some(Box::new(caller)), target, reason)
}
