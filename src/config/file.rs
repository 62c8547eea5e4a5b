//! `DOORMAN_CONFIG`, the TOML file of providers, policies and routes: read once at start,
//! with whether only its owner can read it (a literal client secret needs that).

use super::vars::{ConfigError, Vars};

pub(super) struct ConfigFile {
    pub path: String,
    pub text: String,
    /// Neither its group nor others may read or write it (mode 0600 or stricter).
    pub private: bool,
}

impl ConfigFile {
    /// The file `DOORMAN_CONFIG` names, if it names one.
    pub(super) fn read(vars: &Vars<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(path) = vars.get("DOORMAN_CONFIG") else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new("DOORMAN_CONFIG", format!("cannot read `{path}`: {e}"))
        })?;
        let private = is_private(&path);
        Ok(Some(Self {
            path,
            text,
            private,
        }))
    }

    /// A mistake in the file, named with its path.
    pub(super) fn error(&self, message: String) -> ConfigError {
        ConfigError::new("DOORMAN_CONFIG", format!("{}: {message}", self.path))
    }
}

#[cfg(unix)]
fn is_private(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
}

#[cfg(not(unix))]
fn is_private(_: &str) -> bool {
    false
}
