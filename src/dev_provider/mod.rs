//! The built-in development provider: a small but real OpenID provider inside the binary, so
//! `cargo run` signs a newcomer in with no credentials at all.
//!
//! It is on only when no provider is configured, only on loopback, and says so on every page
//! and at start-up. It answers only requests addressed to `PUBLIC_URL`'s host that carry no
//! forwarding headers, so a same-host proxy, a tunnel or a DNS-rebinding page cannot reach
//! it. It runs the same protocol a real provider does (discovery, JWKS, an authorize page
//! (`authorize`), a token endpoint that checks the client and PKCE, and userinfo (`token`)),
//! so the relying party code path is exactly the production one.

mod authorize;
mod signing;
mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub use signing::RsaSigner;

use crate::clock::Clock;
use crate::error::{AppError, PageError};
use crate::random::token_id;

pub const DEV_CLIENT_ID: &str = "doorman-development";
const CODE_TTL_SECS: u64 = 120;
const ACCESS_TOKEN_TTL_SECS: u64 = 600;
const ID_TOKEN_TTL_SECS: u64 = 600;

/// Key generation is the slow part of starting the provider; one key serves the process.
static SIGNER: OnceLock<Arc<RsaSigner>> = OnceLock::new();

pub async fn signer() -> anyhow::Result<Arc<RsaSigner>> {
    if let Some(signer) = SIGNER.get() {
        return Ok(signer.clone());
    }
    let kid = format!("dev-{}", &token_id()[..12]);
    let fresh = tokio::task::spawn_blocking(move || RsaSigner::generate(&kid)).await??;
    Ok(SIGNER.get_or_init(|| Arc::new(fresh)).clone())
}

#[derive(Clone, Debug)]
struct DevUser {
    sub: String,
    name: String,
    email: String,
    picture: Option<String>,
}

struct PendingCode {
    user: DevUser,
    nonce: Option<String>,
    code_challenge: String,
    redirect_uri: String,
    expires_at: u64,
}

pub struct DevProvider {
    issuer: String,
    client_secret: String,
    redirect_uri: String,
    /// `PUBLIC_URL`'s `host[:port]`: the only `Host` it answers.
    authority: String,
    signer: Arc<RsaSigner>,
    clock: Arc<dyn Clock>,
    codes: Mutex<HashMap<String, PendingCode>>,
    access_tokens: Mutex<HashMap<String, (DevUser, u64)>>,
}

impl DevProvider {
    pub fn new(
        issuer: String,
        redirect_uri: String,
        authority: String,
        signer: Arc<RsaSigner>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            issuer,
            client_secret: token_id(),
            redirect_uri,
            authority,
            signer,
            clock,
            codes: Mutex::default(),
            access_tokens: Mutex::default(),
        }
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    pub fn router<S>(self: Arc<Self>) -> Router<S> {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route(
                "/authorize",
                get(authorize::authorize_page).post(authorize::authorize_decision),
            )
            .route("/token", axum::routing::post(token::token))
            .route("/userinfo", get(token::userinfo))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                |State(dev): State<Arc<DevProvider>>,
                 request: axum::extract::Request,
                 next: axum::middleware::Next| async move {
                    match dev.check_request(request.headers()) {
                        Ok(()) => next.run(request).await,
                        Err(refused) => refused.into_response(),
                    }
                },
            ))
            .with_state(self)
    }

    /// Refuses (403 page) a request not addressed to `PUBLIC_URL`'s host, or one that came
    /// through a proxy: the development provider signs anybody in as anybody, so only a
    /// browser on this machine talking to it directly may use it.
    pub fn check_request(&self, headers: &HeaderMap) -> Result<(), PageError> {
        let forwarded = headers.keys().any(|name| {
            let name = name.as_str();
            name == "forwarded" || name == "x-real-ip" || name.starts_with("x-forwarded-")
        });
        let host_ok = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h.eq_ignore_ascii_case(&self.authority));
        if forwarded || !host_ok {
            return Err(PageError::from(
                AppError::forbidden(
                    if forwarded {
                        "dev_provider_forwarded_request"
                    } else {
                        "dev_provider_wrong_host"
                    },
                    "the development provider answers only direct requests to PUBLIC_URL",
                )
                .page(
                    "Development sign-in refused",
                    "The built-in development provider only answers a browser on this machine \
                     that talks to doorman directly, at the address in PUBLIC_URL. Open doorman \
                     at that address, or configure a real provider.",
                ),
            ));
        }
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

async fn discovery(State(dev): State<Arc<DevProvider>>) -> Json<Value> {
    Json(json!({
        "issuer": dev.issuer,
        "authorization_endpoint": dev.url("/authorize"),
        "token_endpoint": dev.url("/token"),
        "userinfo_endpoint": dev.url("/userinfo"),
        "jwks_uri": dev.url("/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name", "picture"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(dev): State<Arc<DevProvider>>) -> Json<Value> {
    Json(json!({ "keys": [dev.signer.public_jwk()] }))
}
