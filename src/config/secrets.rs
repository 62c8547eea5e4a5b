//! Secrets as types: they are checked when read and never show up in `Debug` output or logs.

use std::fmt;

use super::vars::ConfigError;

/// The shortest session secret accepted: HS256 wants a key at least as long as its output.
pub const MIN_SECRET_BYTES: usize = 32;

/// Secrets that have appeared in documentation or examples; refusing them stops a copy-paste
/// deployment from signing sessions with a key the whole internet knows.
const WELL_KNOWN_SECRETS: &[&str] = &[
    "replace-me-with-the-output-of-openssl-rand-base64-48",
    "change-me-change-me-change-me-change-me",
    "changemechangemechangemechangeme",
    "secretsecretsecretsecretsecretsecret",
    "your-256-bit-secret",
    "your-secret-key-your-secret-key-your-secret-key",
];

/// The session signing key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct SessionSecret(Vec<u8>);

impl SessionSecret {
    pub fn parse(variable: &str, raw: &str) -> Result<Self, ConfigError> {
        let how = "make one with `openssl rand -base64 48`";
        if raw.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::new(
                variable,
                format!(
                    "is {} bytes; it needs at least {MIN_SECRET_BYTES}: {how}",
                    raw.len()
                ),
            ));
        }
        let distinct = raw.bytes().collect::<std::collections::BTreeSet<_>>().len();
        let well_known = WELL_KNOWN_SECRETS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(raw));
        if well_known || distinct < 8 {
            return Err(ConfigError::new(
                variable,
                format!("is a well-known or low-entropy value: {how}"),
            ));
        }
        Ok(Self(raw.as_bytes().to_vec()))
    }

    /// A fresh random secret: sessions made with it end when the process does.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut bytes = vec![0u8; 48];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

/// The OAuth client secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_output_is_redacted() {
        let secret = SessionSecret::parse(
            "SESSION_SECRET",
            "Zq3v9Jb1xK7mN2pR5sT8uW0yA4cE6gH1jL3nP5rS7tV9xZ",
        )
        .expect("strong");
        assert!(!format!("{secret:?}").contains("Zq3v"));
        assert!(!format!("{:?}", ClientSecret::new("GOCSPX-x".into())).contains("GOCSPX"));
    }
}
