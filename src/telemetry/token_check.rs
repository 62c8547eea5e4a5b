//! The outcomes of a session token check, as `doorman_token_checks_total{result}` labels them.

/// Outcomes of a session token check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    Expired,
    Invalid,
    Revoked,
    Missing,
    /// The revocation set was never synced, or is older than strict mode allows.
    Unavailable,
}

impl TokenCheck {
    pub(super) const ALL: [TokenCheck; 6] = [
        Self::Valid,
        Self::Expired,
        Self::Invalid,
        Self::Revoked,
        Self::Missing,
        Self::Unavailable,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Expired => "expired",
            Self::Invalid => "invalid",
            Self::Revoked => "revoked",
            Self::Missing => "missing",
            Self::Unavailable => "unavailable",
        }
    }
}
