//! Why the gateway decided what it decided, as types: each decision carries its reason, and
//! `as_str()` gives the stable label that metrics and logs use (`role_required`, …). Nothing
//! matches these labels as strings.

use crate::session::{SessionProblem, TokenError};

/// Why a request was let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// A valid session the policy admits.
    SignedIn,
    /// A `public` policy (with or without a session).
    Public,
    /// A CORS preflight under `cors_preflight`: no credentials, no identity.
    Preflight,
}

impl Allowed {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedIn => "signed_in",
            Self::Public => "public",
            Self::Preflight => "preflight",
        }
    }
}

/// Why nobody (valid) is signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoSession {
    Missing,
    Expired,
    Invalid,
    Revoked,
}

impl NoSession {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "no_session",
            Self::Expired => "token_expired",
            Self::Invalid => "token_invalid",
            Self::Revoked => "revoked",
        }
    }

    /// The session's problem, unless it is that revocations cannot be told (`None`: 503).
    pub fn of(problem: SessionProblem) -> Option<Self> {
        match problem {
            SessionProblem::Missing => Some(Self::Missing),
            SessionProblem::Token(TokenError::Expired) => Some(Self::Expired),
            SessionProblem::Token(TokenError::Invalid) => Some(Self::Invalid),
            SessionProblem::Revoked => Some(Self::Revoked),
            SessionProblem::Unavailable => None,
        }
    }
}

/// Why a signed-in caller is refused by a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// None of the policy's roles.
    RoleRequired,
    /// None of the policy's groups.
    GroupRequired,
    /// The verified email is not in the policy's emails or domains.
    EmailNotAllowed,
    /// The session comes from a provider the policy does not name.
    ProviderRequired,
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoleRequired => "role_required",
            Self::GroupRequired => "group_required",
            Self::EmailNotAllowed => "email_not_allowed",
            Self::ProviderRequired => "provider_required",
        }
    }

    /// What the caller reads: the policy `policy`, what it needs (`required`, any one of
    /// them), and so what the caller lacks. Never the caller's own roles or groups.
    pub fn message(self, policy: &str, required: &[String]) -> String {
        let needs = |kind: &str| {
            format!(
                "Your account may not use this service: the policy `{policy}` needs one of the \
                 {kind} {}",
                required.join(", ")
            )
        };
        match self {
            Self::RoleRequired => needs("roles"),
            Self::GroupRequired => needs("groups"),
            Self::ProviderRequired => format!(
                "Your account may not use this service: the policy `{policy}` admits only \
                 people signed in with {}; sign out, then sign in with one of those",
                required.join(", ")
            ),
            Self::EmailNotAllowed => format!(
                "Your account may not use this service: the policy `{policy}` admits only \
                 certain verified emails, and your account's is not one of them"
            ),
        }
    }
}

/// Why the proxy's request cannot be judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unjudgeable {
    /// The peer is not in `TRUSTED_PROXIES`, so its forwarding headers are not believed.
    UntrustedProxy,
    /// The proxy did not send (or sent malformed) forwarding headers.
    BadForwardRequest,
    /// The auth URL names a policy that is not configured.
    UnknownPolicy,
    /// The request itself is ambiguous (more than one `Authorization`).
    InvalidRequest,
}

impl Unjudgeable {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UntrustedProxy => "untrusted_proxy",
            Self::BadForwardRequest => "bad_forward_request",
            Self::UnknownPolicy => "unknown_policy",
            Self::InvalidRequest => "invalid_request",
        }
    }
}
