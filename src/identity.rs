//! Who a person is, as every room sees them: the provider (or doorman itself, for local
//! accounts) that vouches for them, their subject there, their profile and their roles.
//! Bottom floor: built by `oidc` and `accounts`, turned into a session by `session`.

/// A signed-in person.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// Who vouches for the person: the provider's issuer, or doorman's `PUBLIC_URL` for local
    /// accounts.
    pub issuer: String,
    /// Their identifier at `issuer`; unique together with it.
    pub subject: String,
    pub email: Option<String>,
    /// Only a provider can verify an email; a self-typed one never is.
    pub email_verified: bool,
    pub name: Option<String>,
    pub picture: Option<String>,
    /// doorman's own user id, when the accounts store knows the person.
    pub user_id: Option<i64>,
    pub roles: Vec<String>,
    /// The provider's groups (`OIDC_GROUPS_CLAIM`), as it names them; none for local accounts.
    pub groups: Vec<String>,
}

/// Role names: short, lower-case, `[a-z0-9_-]`, so they are safe in a comma-joined header.
pub fn is_valid_role(role: &str) -> bool {
    (1..=32).contains(&role.len())
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An email address in a plausible shape (not proof that it exists or is the person's).
pub fn is_plausible_email(email: &str) -> bool {
    email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
}

/// The role that administers users.
pub const ADMIN_ROLE: &str = "admin";

#[cfg(test)]
impl Identity {
    /// A provider-verified person for unit tests.
    pub fn example() -> Self {
        Self {
            issuer: "https://accounts.google.com".into(),
            subject: "1234567890".into(),
            email: Some("ada@example.com".into()),
            email_verified: true,
            name: Some("Ada Lovelace".into()),
            picture: Some("https://lh3.googleusercontent.com/a/x=s96-c".into()),
            user_id: Some(7),
            roles: vec!["admin".into()],
            groups: Vec::new(),
        }
    }
}
