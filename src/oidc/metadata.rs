//! What doorman accepts from a provider's metadata: endpoints on https (http only for a
//! provider on this machine), and ID tokens signed with an asymmetric algorithm it advertises.

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
