//! The terminal's saved sessions: one entry per doorman URL in
//! `$XDG_CONFIG_HOME/doorman/credentials.json` (or `~/.config/doorman/credentials.json`),
//! the directory 0700 and the file 0600, replaced whole (written beside it, then renamed), so
//! a crash never leaves half a file and no other user can read a token.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One doorman's tokens.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct SavedSession {
    pub(super) access_token: String,
    pub(super) refresh_token: String,
    /// When the access token expires (seconds since the epoch).
    pub(super) expires_at: u64,
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    sessions: BTreeMap<String, SavedSession>,
}

/// The file, read.
pub(super) struct Saved {
    path: PathBuf,
    file: File,
}

fn config_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("doorman"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config").join("doorman")),
        None => Err("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep tokens".into()),
    }
}

impl Saved {
    pub(super) fn load() -> Result<Self, String> {
        let path = config_dir()?.join("credentials.json");
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{} is not a credentials file doorman wrote ({e}); delete it and sign in again",
                    path.display()
                )
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
        };
        Ok(Self { path, file })
    }

    pub(super) fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub(super) fn urls(&self) -> Vec<&str> {
        self.file.sessions.keys().map(String::as_str).collect()
    }

    pub(super) fn get(&self, url: &str) -> Option<&SavedSession> {
        self.file.sessions.get(url)
    }

    pub(super) fn put(&mut self, url: &str, session: SavedSession) {
        self.file.sessions.insert(url.to_owned(), session);
    }

    pub(super) fn remove(&mut self, url: &str) {
        self.file.sessions.remove(url);
    }

    /// Writes the file (0600, in a 0700 directory), replacing the old one at once.
    pub(super) fn store(&self) -> Result<(), String> {
        let dir = self.path.parent().unwrap_or(std::path::Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let json = serde_json::to_vec_pretty(&self.file).map_err(|e| e.to_string())?;
        let temporary = self
            .path
            .with_extension(format!("json.{}", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .and_then(|mut f| {
                // An existing temporary file keeps its mode: make sure.
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                f.write_all(&json)?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&temporary, &self.path));
        written.map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            format!("cannot write {}: {e}", self.path.display())
        })
    }
}
