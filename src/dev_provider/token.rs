//! The development provider's token endpoint (client authentication, single-use codes, PKCE)
//! and UserInfo endpoint (Bearer tokens it issued).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ACCESS_TOKEN_TTL_SECS, DEV_CLIENT_ID, DevProvider, ID_TOKEN_TTL_SECS, PendingCode};
use crate::random::token_id;

#[derive(Debug, Deserialize)]
pub(super) struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    let mut response = (status, Json(json!({ "error": error }))).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `client_secret_basic` as RFC 6749 §2.3.1 has it: both parts form-urlencoded first.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

pub(super) async fn token(
    State(dev): State<Arc<DevProvider>>,
    headers: HeaderMap,
    Form(req): Form<TokenRequest>,
) -> Response {
    if !dev.client_authenticated(&headers, &req) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if req.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let now = dev.clock.now();
    let Some(pending) = dev.redeem(&req, now) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let id_token = match dev.id_token(&pending, now) {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "the development provider could not sign an ID token");
            return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
        }
    };
    let access_token = token_id();
    {
        let mut tokens = dev.access_tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, (_, exp)| *exp > now);
        tokens.insert(
            access_token.clone(),
            (pending.user, now + ACCESS_TOKEN_TTL_SECS),
        );
    }
    let mut response = Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL_SECS,
        "id_token": id_token,
    }))
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

impl DevProvider {
    /// `client_secret_basic` (or the form's `client_secret_post`), compared as digests.
    fn client_authenticated(&self, headers: &HeaderMap, req: &TokenRequest) -> bool {
        let (client_id, client_secret) = match basic_credentials(headers) {
            Some(pair) => pair,
            None => (
                req.client_id.clone().unwrap_or_default(),
                req.client_secret.clone().unwrap_or_default(),
            ),
        };
        let secret_ok = Sha256::digest(client_secret.as_bytes())
            == Sha256::digest(self.client_secret.as_bytes());
        client_id == DEV_CLIENT_ID && secret_ok
    }

    /// The code's pending sign-in, spent: once, unexpired, same redirect URI, PKCE matching.
    fn redeem(&self, req: &TokenRequest, now: u64) -> Option<PendingCode> {
        let pending = {
            let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
            req.code.as_deref().and_then(|c| codes.remove(c))
        }
        .filter(|p| p.expires_at > now)?;
        let verifier = req.code_verifier.as_deref().unwrap_or_default();
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        (req.redirect_uri.as_deref() == Some(pending.redirect_uri.as_str())
            && challenge == pending.code_challenge)
            .then_some(pending)
    }

    /// A signed RS256 ID token for the pending sign-in, nonce included.
    fn id_token(&self, pending: &PendingCode, now: u64) -> jsonwebtoken::errors::Result<String> {
        let user = &pending.user;
        let mut claims = json!({
            "iss": self.issuer,
            "sub": user.sub,
            "aud": DEV_CLIENT_ID,
            "azp": DEV_CLIENT_ID,
            "iat": now,
            "exp": now + ID_TOKEN_TTL_SECS,
            "email": user.email,
            "email_verified": true,
            "name": user.name,
        });
        if let Some(nonce) = &pending.nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(picture) = &user.picture {
            claims["picture"] = json!(picture);
        }
        self.signer.try_sign(&claims)
    }
}

pub(super) async fn userinfo(State(dev): State<Arc<DevProvider>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let now = dev.clock.now();
    let user = token.and_then(|t| {
        let tokens = dev.access_tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(&t)
            .filter(|(_, exp)| *exp > now)
            .map(|(u, _)| u.clone())
    });
    match user {
        Some(user) => Json(json!({
            "sub": user.sub,
            "email": user.email,
            "email_verified": true,
            "name": user.name,
            "picture": user.picture,
        }))
        .into_response(),
        None => {
            let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
            response
        }
    }
}
