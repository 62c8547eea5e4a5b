//! The state of one sign-in attempt, carried between `/auth/login` and `/auth/callback` in an
//! encrypted cookie of its own, so that two tabs signing in at once never overwrite each other.
//! Also the parsers for what comes back from the browser: the `next` path and the callback query.

use axum_extra::extract::cookie::{Cookie, Key, SameSite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use super::AuthError;

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

pub fn flow_cookie(flow: &FlowState, https: bool) -> Result<Cookie<'static>, AuthError> {
    let value = serde_json::to_string(flow).map_err(|e| AuthError::Internal(e.to_string()))?;
    Ok(Cookie::build((flow_cookie_name(&flow.state, https), value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(https)
        .path("/")
        .max_age(time::Duration::seconds(FLOW_TTL_SECS as i64))
        .build())
}

pub fn flow_cookie_removal(state: &str, https: bool) -> Cookie<'static> {
    Cookie::build(flow_cookie_name(state, https))
        .path("/")
        .secure(https)
        .build()
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

const MAX_RETURN_TO_BYTES: usize = 2048;

impl ReturnTo {
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
    // Judge the path as given and as it reads after one and two rounds of percent-decoding,
    // so `/%2F%2Fevil.example` and `/%5Cevil.example` are caught like their plain forms.
    let mut form = path.to_owned();
    for _ in 0..3 {
        if !looks_local(&form) {
            return false;
        }
        let decoded = percent_decode(&form);
        if decoded == form {
            break;
        }
        form = decoded;
    }
    // Sign-in and sign-out are never a destination: returning there would loop.
    !(path == "/auth" || path.starts_with("/auth/") || path.starts_with("/auth?"))
}

fn looks_local(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The parameters of `/auth/callback`, each at most once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub iss: Option<String>,
}

const MAX_STATE_BYTES: usize = 512;
const MAX_CODE_BYTES: usize = 2048;

pub fn parse_callback_query(query: Option<&str>) -> Result<CallbackParams, AuthError> {
    let mut params = CallbackParams::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match key.as_ref() {
            "code" => &mut params.code,
            "state" => &mut params.state,
            "error" => &mut params.error,
            "iss" => &mut params.iss,
            _ => continue,
        };
        if slot.is_some() {
            return Err(AuthError::InvalidCallback("duplicate_parameter"));
        }
        *slot = Some(value.into_owned());
    }
    let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
    if let Some(state) = &params.state
        && (state.is_empty() || state.len() > MAX_STATE_BYTES || !printable(state))
    {
        return Err(AuthError::InvalidCallback("malformed_state"));
    }
    if let Some(code) = &params.code
        && (code.is_empty() || code.len() > MAX_CODE_BYTES || !printable(code))
    {
        return Err(AuthError::InvalidCallback("malformed_code"));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_local_paths_are_kept() {
        for path in ["/", "/profile", "/a/b?x=1&y=2", "/search?q=%20x"] {
            assert_eq!(ReturnTo::parse(Some(path)).as_str(), path);
        }
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
    fn duplicate_callback_parameters_are_refused() {
        assert_eq!(
            parse_callback_query(Some("code=a&state=s&state=t")),
            Err(AuthError::InvalidCallback("duplicate_parameter"))
        );
    }

    #[test]
    fn callback_parameters_are_read() {
        let p = parse_callback_query(Some(
            "code=abc&state=xyz&iss=https%3A%2F%2Fidp&scope=openid",
        ))
        .expect("valid");
        assert_eq!(p.code.as_deref(), Some("abc"));
        assert_eq!(p.state.as_deref(), Some("xyz"));
        assert_eq!(p.iss.as_deref(), Some("https://idp"));
    }

    #[test]
    fn absurd_codes_are_refused() {
        let long = format!("code={}&state=s", "a".repeat(5000));
        assert!(parse_callback_query(Some(&long)).is_err());
        assert!(parse_callback_query(Some("code=a%00b&state=s")).is_err());
    }

    #[test]
    fn flow_cookie_names_differ_per_attempt_and_use_the_host_prefix_on_https() {
        assert_ne!(flow_cookie_name("a", false), flow_cookie_name("b", false));
        assert!(flow_cookie_name("a", true).starts_with("__Host-doorman_flow_"));
    }
}
