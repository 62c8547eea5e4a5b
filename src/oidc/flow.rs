//! The state of one sign-in attempt, carried between `/auth/login` and `/auth/callback` in an
//! encrypted cookie of its own: what it holds, the cookie's name and attributes, and its key.
//! The jar of a browser's attempts (begin, take, evict) is `flow_jar`. Also `ReturnTo`, the
//! only kind of `next` path a sign-in ever returns to.

use crate::config::HostPattern;
use axum_extra::extract::cookie::{Cookie, Key, SameSite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use url::Url;

use super::SignInError;

/// How long a sign-in attempt may take, from the click to the return.
pub const FLOW_TTL_SECS: u64 = 600;

const FLOW_COOKIE_PREFIX: &str = "doorman_flow_";

/// What `/auth/callback` needs to finish the attempt that `/auth/login` began.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FlowState {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    pub created_at: u64,
    /// The id of the provider the attempt was started for (empty in attempts begun before
    /// several providers existed: the one of the environment's).
    #[serde(default)]
    pub provider: String,
}

impl FlowState {
    pub fn is_fresh(&self, now: u64) -> bool {
        now >= self.created_at && now - self.created_at <= FLOW_TTL_SECS
    }
}

/// The flow cookie's name is derived from its `state`, so the callback finds the one attempt
/// its `state` belongs to and concurrent attempts live side by side.
pub fn flow_cookie_name(state: &str, https: bool) -> String {
    let digest = Sha256::digest(state.as_bytes());
    let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let prefix = if https { "__Host-" } else { "" };
    format!("{prefix}{FLOW_COOKIE_PREFIX}{id}")
}

pub fn flow_cookie(flow: &FlowState, https: bool) -> Result<Cookie<'static>, SignInError> {
    let value = serde_json::to_string(flow).map_err(|e| SignInError::Internal(e.to_string()))?;
    Ok(Cookie::build((flow_cookie_name(&flow.state, https), value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .path("/")
        .max_age(time::Duration::seconds(FLOW_TTL_SECS as i64))
        .build())
}

pub(super) fn flow_cookie_removal(state: &str, https: bool) -> Cookie<'static> {
    removal_named(flow_cookie_name(state, https), https)
}

/// A cookie that replaces the flow cookie `name` with an empty, already-expired one.
pub(super) fn removal_named(name: String, https: bool) -> Cookie<'static> {
    Cookie::build(name)
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(https)
        .build()
}

/// At most this many sign-in attempts keep a cookie at once: every attempt's cookie rides on
/// every request to doorman, and proxies refuse oversized `Cookie` headers.
pub const MAX_ATTEMPTS: usize = 3;

pub(super) fn is_flow_cookie(name: &str) -> bool {
    name.strip_prefix("__Host-")
        .unwrap_or(name)
        .starts_with(FLOW_COOKIE_PREFIX)
}

/// Which of the existing attempts' cookies (name, creation time if it still decrypts) to drop
/// so that, with one more, at most [`MAX_ATTEMPTS`] remain: unreadable ones first, then the
/// oldest.
pub(super) fn evictions(mut existing: Vec<(String, Option<u64>)>) -> Vec<String> {
    let keep = MAX_ATTEMPTS - 1;
    if existing.len() <= keep {
        return Vec::new();
    }
    // Unreadable (None) sorts first, then by age.
    existing.sort_by_key(|(_, created)| created.map_or((0, 0), |c| (1, c)));
    let drop = existing.len() - keep;
    existing
        .into_iter()
        .take(drop)
        .map(|(name, _)| name)
        .collect()
}

/// The key that encrypts and authenticates flow cookies (AES-256-GCM via `PrivateCookieJar`),
/// derived from the session secret with a label of its own so the two uses never share a key.
pub fn flow_cookie_key(session_secret: &[u8]) -> Key {
    let mut hasher = Sha512::new();
    hasher.update(b"doorman flow cookie key v1\0");
    hasher.update(session_secret);
    let bytes: [u8; 64] = hasher.finalize().into();
    Key::from(&bytes)
}

/// A same-site path to return to after signing in. Anything that could leave the site, or
/// that a browser might read as leaving it, becomes `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnTo(String);

/// `next` paths longer than this fall back to `/`: every attempt's cookie carries it, and the
/// `Cookie` header must stay small.
const MAX_RETURN_TO_BYTES: usize = 512;

/// `rd` URLs longer than this are refused: the flow cookie carries them.
const MAX_RD_BYTES: usize = 1024;

impl ReturnTo {
    /// An absolute `rd` URL (sign-in started by the gateway for a protected host): http(s)
    /// (http only while doorman itself is on http), no userinfo, no whitespace, control
    /// characters or backslashes, on a host `hosts` allows; parsed and written out again.
    /// `Err` names why not (the metric's reason).
    pub fn absolute(raw: &str, hosts: &[HostPattern], https: bool) -> Result<Self, &'static str> {
        if raw.len() > MAX_RD_BYTES {
            return Err("too_long");
        }
        if raw
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return Err("malformed");
        }
        let url = Url::parse(raw).map_err(|_| "malformed")?;
        match url.scheme() {
            "https" => {}
            "http" if !https => {}
            _ => return Err("scheme"),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("userinfo");
        }
        if !hosts.iter().any(|h| h.matches(&url)) {
            return Err("host_not_allowed");
        }
        Ok(Self(url.to_string()))
    }

    /// A value kept in the flow cookie, judged again on the way out: a same-site path, or an
    /// absolute URL on an allowed host. Anything else is `/`.
    pub fn restore(stored: &str, hosts: &[HostPattern], https: bool) -> Self {
        if stored.starts_with('/') {
            Self::parse(Some(stored))
        } else {
            Self::absolute(stored, hosts, https).unwrap_or_else(|_| Self::root())
        }
    }

    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            Some(path) if is_safe_local_path(path) => Self(path.to_owned()),
            _ => Self::root(),
        }
    }

    pub fn root() -> Self {
        Self("/".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn is_safe_local_path(path: &str) -> bool {
    if path.len() > MAX_RETURN_TO_BYTES
        || !path.starts_with('/')
        || path.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return false;
    }
    // Sign-in and sign-out are never a destination: returning there would loop.
    every_decoding_looks_local(path)
        && !(path == "/auth" || path.starts_with("/auth/") || path.starts_with("/auth?"))
}

/// Rounds of percent-decoding after which a `next` that still changes is refused rather than
/// judged: three are more than any real link needs (`%2520`, a doubly encoded space, takes
/// two), and whatever a server downstream decodes, it can never see a form not judged here.
const MAX_DECODINGS: usize = 3;

/// The path as given and in every form percent-decoding makes of it, until decoding no longer
/// changes it, all look local: `/%2F%2Fevil.example`, `/%5Cevil.example` and
/// `/%25252F%25252Fevil.example` are caught like their plain forms. A path still changing
/// after [`MAX_DECODINGS`] rounds is refused.
fn every_decoding_looks_local(path: &str) -> bool {
    let mut form = path.to_owned();
    for _ in 0..=MAX_DECODINGS {
        if !looks_local(&form) {
            return false;
        }
        let decoded = percent_decode(&form);
        if decoded == form {
            return true;
        }
        form = decoded;
    }
    false
}

fn looks_local(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control())
}

/// One percent-decoding of the whole value (`+` stays `+`: this is a path, not a form), bad
/// UTF-8 replaced, so nothing after an `&` escapes being judged.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_absolute_return_url_must_be_on_an_allowed_host() {
        let hosts = [
            HostPattern::parse("app.example.com").expect("pattern"),
            HostPattern::parse("*.internal.example.com:8443").expect("pattern"),
        ];
        let ok = |raw: &str| ReturnTo::absolute(raw, &hosts, true).map(ReturnTo::into_string);
        assert_eq!(
            ok("https://app.example.com/dash?x=1"),
            Ok("https://app.example.com/dash?x=1".to_owned())
        );
        assert_eq!(
            ok("https://grafana.internal.example.com:8443/d/abc"),
            Ok("https://grafana.internal.example.com:8443/d/abc".to_owned())
        );
        assert_eq!(ok("https://evil.example/"), Err("host_not_allowed"));
        assert_eq!(
            ok("https://app.example.com.evil.example/"),
            Err("host_not_allowed")
        );
        assert_eq!(ok("https://app.example.com:444/"), Err("host_not_allowed"));
        assert_eq!(ok("http://app.example.com/"), Err("scheme"));
        assert_eq!(ok("javascript:alert(1)"), Err("scheme"));
        assert_eq!(ok("https://user:pw@app.example.com/"), Err("userinfo"));
        assert_eq!(ok("https://app.example.com/\\evil"), Err("malformed"));
        assert_eq!(ok("https://app.example.com/a b"), Err("malformed"));
        assert_eq!(
            ok(&format!("https://app.example.com/{}", "a".repeat(2000))),
            Err("too_long")
        );
        assert_eq!(
            ReturnTo::restore("https://evil.example/", &hosts, true).as_str(),
            "/"
        );
        assert_eq!(
            ReturnTo::restore("/profile", &hosts, true).as_str(),
            "/profile"
        );
    }

    use super::*;

    #[test]
    fn plain_local_paths_are_kept() {
        for path in [
            "/",
            "/profile",
            "/a/b?x=1&y=2",
            "/search?q=%20x",
            "/search?q=100%25",
            "/files/a%2520b",
            "/files/a%252520b",
        ] {
            assert_eq!(ReturnTo::parse(Some(path)).as_str(), path);
        }
    }

    #[test]
    fn what_follows_an_ampersand_is_decoded_and_judged_too() {
        for raw in [
            "/x?a=1&b=%0D%0ASet-Cookie:%20x",
            "/x?a=1&b=%5Cevil",
            "/a&%5Cb",
        ] {
            assert_eq!(
                ReturnTo::parse(Some(raw)).as_str(),
                "/",
                "{raw} has a control character or a backslash once decoded"
            );
        }
        assert_eq!(
            ReturnTo::parse(Some("/a/b?x=1&y=2")).as_str(),
            "/a/b?x=1&y=2"
        );
    }

    #[test]
    fn anything_that_could_leave_the_site_falls_back_to_root() {
        for path in [
            "//evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "/%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "/%25252F%25252Fevil.io",
            "/%2525252F%2525252Fevil.io",
            "/%25255Cevil.io",
            "/a/%2525252525",
            "/\tevil",
            "/a\r\nSet-Cookie: x=1",
            "evil.example",
            "",
            "/auth/logout",
            "/auth/login?next=/",
        ] {
            assert_eq!(ReturnTo::parse(Some(path)).as_str(), "/", "{path:?}");
        }
        assert_eq!(ReturnTo::parse(None).as_str(), "/");
    }

    #[test]
    fn only_the_oldest_and_unreadable_attempts_give_way() {
        assert!(evictions(vec![("a".into(), Some(5))]).is_empty());
        let dropped = evictions(vec![
            ("new".into(), Some(30)),
            ("old".into(), Some(10)),
            ("mid".into(), Some(20)),
        ]);
        assert_eq!(dropped, ["old"]);
        let dropped = evictions(vec![
            ("new".into(), Some(30)),
            ("junk".into(), None),
            ("mid".into(), Some(20)),
            ("old".into(), Some(10)),
        ]);
        assert_eq!(dropped, ["junk", "old"]);
        assert!(is_flow_cookie("__Host-doorman_flow_ab"));
        assert!(!is_flow_cookie("access_token"));
    }

    #[test]
    fn long_return_paths_fall_back_to_the_start() {
        let long = format!("/{}", "a".repeat(600));
        assert_eq!(ReturnTo::parse(Some(&long)).as_str(), "/");
        let fine = format!("/{}", "a".repeat(500));
        assert_eq!(ReturnTo::parse(Some(&fine)).as_str(), fine);
    }

    #[test]
    fn flow_cookie_names_differ_per_attempt_and_use_the_host_prefix_on_https() {
        assert_ne!(flow_cookie_name("a", false), flow_cookie_name("b", false));
        assert!(flow_cookie_name("a", true).starts_with("__Host-doorman_flow_"));
    }
}
