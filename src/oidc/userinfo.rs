//! The UserInfo endpoint (OIDC Core §5.3), asked only when the ID token lacks profile claims
//! (or, when `OIDC_GROUPS_CLAIM` is set, the groups claim): the access token in the
//! `Authorization` header, and its `sub` must be the ID token's.

use openidconnect::core::CoreGenderClaim;
use openidconnect::{
    AccessToken, AdditionalClaims, SubjectIdentifier, UserInfoClaims, UserInfoError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::SignInError;
use super::http::Endpoint;
use super::http::OutboundError;
use super::provider::{Provider, ProviderHandle};
use crate::identity::Identity;

/// The claims of UserInfo's answer that are not profile claims (the groups among them).
#[derive(Debug, Deserialize, Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

/// Fills the profile claims `identity` lacks from the provider's UserInfo endpoint, asked
/// when one is missing or `want_more` (the groups claim is wanted and not in the ID token);
/// returns the answer's other claims (empty when it was not asked).
pub(super) async fn enrich(
    handle: &ProviderHandle,
    provider: &Provider,
    access_token: &AccessToken,
    identity: &mut Identity,
    want_more: bool,
) -> Result<Map<String, Value>, SignInError> {
    let profile_missing = identity.email.is_none() || identity.name.is_none();
    if !(profile_missing || want_more) || !provider.has_userinfo {
        return Ok(Map::new());
    }
    let userinfo: UserInfoClaims<OtherClaims, CoreGenderClaim> = provider
        .client
        .user_info(
            access_token.clone(),
            Some(SubjectIdentifier::new(identity.subject.clone())),
        )
        .map_err(|_| SignInError::ProviderFailed("no_userinfo_endpoint".into()))?
        .request_async(&handle.http.labelled(Endpoint::Userinfo))
        .await
        .map_err(|err| match err {
            UserInfoError::ClaimsVerification(_) => {
                SignInError::InvalidIdToken("userinfo_sub".into())
            }
            UserInfoError::Request(OutboundError::Timeout) => SignInError::ProviderTimeout,
            UserInfoError::Request(e) => {
                SignInError::ProviderFailed(format!("userinfo_request: {e}"))
            }
            UserInfoError::Response(status, ..) => {
                SignInError::ProviderFailed(format!("userinfo_http_{}", status.as_u16()))
            }
            _ => SignInError::ProviderFailed("userinfo_unusable".into()),
        })?;
    if identity.email.is_none() {
        identity.email = userinfo.email().map(|e| e.as_str().to_owned());
        identity.email_verified = userinfo.email_verified().unwrap_or(false);
    }
    if identity.name.is_none() {
        identity.name = userinfo
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned());
    }
    if identity.picture.is_none() {
        identity.picture = userinfo
            .picture()
            .and_then(|p| p.get(None))
            .map(|p| p.as_str().to_owned());
    }
    Ok(userinfo.additional_claims().rest.clone())
}
