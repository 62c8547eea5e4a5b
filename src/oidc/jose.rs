//! What both ID-token paths (`id_token`, and Google's legacy issuer in `legacy`) share about
//! a compact JWS before and around its verification: the time leeways, reading a segment
//! unverified, and refusing headers that point at keys elsewhere. A leaf of the room, so the
//! two paths depend on it and not on each other.

use base64::Engine;
use serde_json::{Map, Value};

use super::SignInError;

/// Exp is checked with this much leeway for clock skew between us and the provider.
pub(super) const CLOCK_SKEW_SECS: i64 = 60;
/// An ID token issued longer ago than this is not a fresh answer to our request.
pub(super) const MAX_ID_TOKEN_AGE_SECS: i64 = 600;
/// JOSE headers that point at keys elsewhere or demand extensions: never honoured.
const DANGEROUS_JOSE_HEADERS: &[&str] = &["jku", "x5u", "jwk", "crit"];

/// The JOSE header, refused if it points at keys elsewhere or demands extensions.
pub(super) fn checked_header(raw: &str) -> Result<Map<String, Value>, SignInError> {
    let header = jose_segment(raw, 0)?;
    if let Some(h) = DANGEROUS_JOSE_HEADERS
        .iter()
        .find(|h| header.contains_key(**h))
    {
        return Err(SignInError::InvalidIdToken(format!("header_{h}")));
    }
    Ok(header)
}

/// Decodes segment `index` of a compact JWS as a JSON object (unverified).
pub(super) fn jose_segment(jwt: &str, index: usize) -> Result<Map<String, Value>, SignInError> {
    let malformed = || SignInError::InvalidIdToken("malformed".into());
    let segment = jwt.split('.').nth(index).ok_or_else(malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}
