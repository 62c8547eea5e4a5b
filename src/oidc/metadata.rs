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

#[cfg(test)]
mod tests {
    use super::*;

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
