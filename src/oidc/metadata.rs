//! What doorman accepts from a provider's metadata: endpoints on https (http only for a
//! provider on this machine), and ID tokens signed with an asymmetric algorithm it advertises;
//! and what it promises beyond what the openidconnect crate reads (RFC 9207's `iss`).

use openidconnect::core::{CoreJwsSigningAlgorithm, CoreProviderMetadata};
use url::Url;

use crate::config::is_https_or_loopback;

/// ID token algorithms doorman will verify: asymmetric only, so neither the client secret nor a
/// public key can ever be used as an HMAC key.
const ACCEPTABLE_ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Endpoints must be https; http only for a provider on this machine.
pub(super) fn check_endpoints(metadata: &CoreProviderMetadata) -> Result<(), String> {
    let mut urls: Vec<&Url> = vec![
        metadata.authorization_endpoint().url(),
        metadata.jwks_uri().url(),
    ];
    urls.extend(metadata.token_endpoint().map(|u| u.url()));
    urls.extend(metadata.userinfo_endpoint().map(|u| u.url()));
    for url in urls {
        if !is_https_or_loopback(url) {
            return Err(format!("endpoint {url} is not https"));
        }
    }
    Ok(())
}

/// The ID token algorithms doorman verifies for this provider: the asymmetric ones it
/// advertises, or RS256 (the OpenID Connect default) if it advertises none of them. Never a
/// MAC algorithm, never `none`.
pub fn allowed_algs(metadata: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    let advertised = metadata.id_token_signing_alg_values_supported();
    let mut allowed: Vec<_> = ACCEPTABLE_ALGS
        .iter()
        .filter(|alg| advertised.contains(alg))
        .cloned()
        .collect();
    if allowed.is_empty() {
        allowed.push(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    }
    allowed
}

/// Whether the discovery document says `authorization_response_iss_parameter_supported: true`
/// (RFC 9207 §3): the provider then puts `iss` in every authorization response, so a callback
/// without it did not come from this provider. Only the JSON `true` counts; anything else,
/// or no such member, is "not advertised".
pub fn advertises_iss_parameter(document: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Rfc9207 {
        authorization_response_iss_parameter_supported: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Rfc9207>(document).is_ok_and(|d| {
        d.authorization_response_iss_parameter_supported == Some(serde_json::Value::Bool(true))
    })
}

/// What the discovery document says about the provider's sessions, beyond what the
/// openidconnect crate reads: where a person signs out (RP-Initiated Logout 1.0), whether it
/// sends back-channel logouts (and names its session in them), and whether it offers refresh
/// tokens. Only a JSON `true` counts as a yes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFeatures {
    /// `end_session_endpoint`, when it is https (or http on this machine).
    pub end_session_endpoint: Option<Url>,
    /// `backchannel_logout_supported`.
    pub backchannel_logout: bool,
    /// `backchannel_logout_session_supported`: its logout tokens carry `sid`.
    pub backchannel_logout_session: bool,
    /// `grant_types_supported` lists `refresh_token`.
    pub refresh_tokens: bool,
    /// `scopes_supported` lists `offline_access`.
    pub offline_access: bool,
}

/// Reads [`SessionFeatures`] from a discovery document; an unusable `end_session_endpoint`
/// (not a URL, or plain http elsewhere) counts as none, with a warning.
pub fn session_features(document: &[u8]) -> SessionFeatures {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Members {
        end_session_endpoint: Option<serde_json::Value>,
        backchannel_logout_supported: Option<serde_json::Value>,
        backchannel_logout_session_supported: Option<serde_json::Value>,
        grant_types_supported: Option<serde_json::Value>,
        scopes_supported: Option<serde_json::Value>,
    }
    let Ok(m) = serde_json::from_slice::<Members>(document) else {
        return SessionFeatures::default();
    };
    let yes = |v: &Option<serde_json::Value>| *v == Some(serde_json::Value::Bool(true));
    let lists = |v: &Option<serde_json::Value>, item: &str| {
        v.as_ref()
            .and_then(serde_json::Value::as_array)
            .is_some_and(|items| items.iter().any(|i| i.as_str() == Some(item)))
    };
    let end_session_endpoint = m.end_session_endpoint.as_ref().and_then(|v| {
        let url = v.as_str().and_then(|s| Url::parse(s).ok());
        match url {
            Some(url) if is_https_or_loopback(&url) => Some(url),
            _ => {
                tracing::warn!(
                    "the provider's end_session_endpoint is not an https URL; signing out stays local"
                );
                None
            }
        }
    });
    SessionFeatures {
        end_session_endpoint,
        backchannel_logout: yes(&m.backchannel_logout_supported),
        backchannel_logout_session: yes(&m.backchannel_logout_session_supported),
        refresh_tokens: lists(&m.grant_types_supported, "refresh_token"),
        offline_access: lists(&m.scopes_supported, "offline_access"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_features_are_read_from_the_document_and_only_a_json_true_is_a_yes() {
        let document = br#"{"issuer":"https://idp.example.com",
            "end_session_endpoint":"https://idp.example.com/logout",
            "backchannel_logout_supported":true,
            "backchannel_logout_session_supported":"true",
            "grant_types_supported":["authorization_code","refresh_token"],
            "scopes_supported":["openid","offline_access"]}"#;
        let features = session_features(document);
        assert_eq!(
            features.end_session_endpoint.as_ref().map(Url::as_str),
            Some("https://idp.example.com/logout")
        );
        assert!(features.backchannel_logout);
        assert!(!features.backchannel_logout_session, "a string is not true");
        assert!(features.refresh_tokens && features.offline_access);
        assert_eq!(session_features(b"{}"), SessionFeatures::default());
        assert_eq!(session_features(b"not json"), SessionFeatures::default());
    }

    #[test]
    fn an_end_session_endpoint_on_plain_http_elsewhere_is_not_used() {
        let far = session_features(br#"{"end_session_endpoint":"http://idp.example.com/logout"}"#);
        assert_eq!(far.end_session_endpoint, None);
        let near = session_features(br#"{"end_session_endpoint":"http://127.0.0.1:9/logout"}"#);
        assert!(near.end_session_endpoint.is_some());
        let odd = session_features(br#"{"end_session_endpoint":42}"#);
        assert_eq!(odd.end_session_endpoint, None);
    }

    #[test]
    fn only_a_json_true_advertises_the_iss_parameter() {
        let says = |member: &str| {
            advertises_iss_parameter(format!(r#"{{"issuer":"https://idp"{member}}}"#).as_bytes())
        };
        assert!(says(
            r#","authorization_response_iss_parameter_supported":true"#
        ));
        assert!(!says(
            r#","authorization_response_iss_parameter_supported":false"#
        ));
        assert!(!says(
            r#","authorization_response_iss_parameter_supported":"true""#
        ));
        assert!(!says(
            r#","authorization_response_iss_parameter_supported":null"#
        ));
        assert!(!says(""));
        assert!(!advertises_iss_parameter(b"not json"));
    }
}
