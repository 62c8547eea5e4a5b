//! The built-in development provider: a small but real OpenID provider inside the binary, so
//! `cargo run` signs a newcomer in with no credentials at all.
//!
//! It is on only when no provider is configured, only on loopback, and says so on every page
//! and at start-up. It answers only requests addressed to `PUBLIC_URL`'s host that carry no
//! forwarding headers, so a same-host proxy, a tunnel or a DNS-rebinding page cannot reach it. It runs the same protocol a real provider does (discovery, JWKS, an
//! authorize page, a token endpoint that checks the client and PKCE, userinfo), so the relying
//! party code path is exactly the production one.

mod signing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use signing::RsaSigner;

use crate::clock::Clock;
use crate::error::{PageError, RequestContext, request_context};
use crate::identity::is_plausible_email;
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
            .route("/authorize", get(authorize_page).post(authorize_decision))
            .route("/token", axum::routing::post(token))
            .route("/userinfo", get(userinfo))
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
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "Development sign-in refused",
                "The built-in development provider only answers a browser on this machine that \
                 talks to doorman directly, at the address in PUBLIC_URL. Open doorman at that \
                 address, or configure a real provider.",
            )
            .reason(if forwarded {
                "dev_provider_forwarded_request"
            } else {
                "dev_provider_wrong_host"
            }));
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

/// The authorization request, as the relying party sends it.
#[derive(Debug, Deserialize)]
struct AuthorizeRequest {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

struct ValidRequest {
    redirect_uri: String,
    state: String,
    nonce: Option<String>,
    code_challenge: String,
}

fn bad_request(message: &'static str) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "Invalid sign-in request", message)
        .reason("dev_provider_bad_request")
}

impl DevProvider {
    /// Never redirects to an unregistered URI: errors there are shown here instead.
    fn validate(&self, req: &AuthorizeRequest) -> Result<ValidRequest, PageError> {
        if req.client_id.as_deref() != Some(DEV_CLIENT_ID) {
            return Err(bad_request("Unknown client_id."));
        }
        let redirect_uri = req.redirect_uri.clone().unwrap_or_default();
        if redirect_uri != self.redirect_uri {
            return Err(bad_request("redirect_uri is not the registered one."));
        }
        if req.response_type.as_deref() != Some("code") {
            return Err(bad_request("Only response_type=code is supported."));
        }
        if !req
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .any(|s| s == "openid")
        {
            return Err(bad_request("The scope must include openid."));
        }
        if req.code_challenge_method.as_deref() != Some("S256") {
            return Err(bad_request(
                "PKCE with code_challenge_method=S256 is required.",
            ));
        }
        let code_challenge = req.code_challenge.clone().unwrap_or_default();
        let state = req.state.clone().unwrap_or_default();
        if code_challenge.len() != 43 || state.is_empty() || state.len() > 512 {
            return Err(bad_request("code_challenge and state are required."));
        }
        Ok(ValidRequest {
            redirect_uri,
            state,
            nonce: req.nonce.clone(),
            code_challenge,
        })
    }
}

#[derive(Template)]
#[template(path = "dev_authorize.html")]
struct AuthorizePage {
    ctx: RequestContext,
    action: String,
    error: Option<&'static str>,
    name: String,
    email: String,
    picture: String,
}

async fn authorize_page(
    State(dev): State<Arc<DevProvider>>,
    RawQuery(raw): RawQuery,
    Query(req): Query<AuthorizeRequest>,
) -> Result<Response, PageError> {
    dev.validate(&req)?;
    render_form(&raw.unwrap_or_default(), None, DecisionForm::default())
}

fn render_form(
    query: &str,
    error: Option<&'static str>,
    form: DecisionForm,
) -> Result<Response, PageError> {
    let page = AuthorizePage {
        ctx: request_context(),
        action: format!("/dev-oidc/authorize?{query}"),
        error,
        name: form.name,
        email: form.email,
        picture: form.picture,
    };
    let html = page
        .render()
        .map_err(|e| PageError::internal(format!("template: {e}")))?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, Html(html)).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct DecisionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    picture: String,
    #[serde(default)]
    decision: String,
}

async fn authorize_decision(
    State(dev): State<Arc<DevProvider>>,
    RawQuery(raw): RawQuery,
    Query(req): Query<AuthorizeRequest>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    let valid = dev.validate(&req)?;
    let mut back = url::Url::parse(&valid.redirect_uri).map_err(|_| bad_request("redirect_uri"))?;
    if form.decision == "deny" {
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", &valid.state)
            .append_pair("iss", &dev.issuer);
        return Ok(Redirect::to(back.as_str()).into_response());
    }
    let name = form.name.trim();
    let email = form.email.trim();
    let picture = form.picture.trim();
    let problem = if name.is_empty() || name.chars().count() > 100 {
        Some("Enter a name of at most 100 characters.")
    } else if !is_plausible_email(email) {
        Some("Enter an email address such as ada@example.com.")
    } else if !picture.is_empty() && (!picture.starts_with("https://") || picture.len() > 1000) {
        Some("The picture must be an https:// URL, or left empty.")
    } else {
        None
    };
    if let Some(problem) = problem {
        return render_form(&raw.unwrap_or_default(), Some(problem), form);
    }
    let user = DevUser {
        sub: format!(
            "dev-{}",
            &crate::random::hex(&Sha256::digest(email.to_ascii_lowercase().as_bytes()))[..20]
        ),
        name: name.to_owned(),
        email: email.to_owned(),
        picture: (!picture.is_empty()).then(|| picture.to_owned()),
    };
    let code = token_id();
    let now = dev.clock.now();
    {
        let mut codes = dev.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.retain(|_, c| c.expires_at > now);
        codes.insert(
            code.clone(),
            PendingCode {
                user,
                nonce: valid.nonce,
                code_challenge: valid.code_challenge,
                redirect_uri: valid.redirect_uri,
                expires_at: now + CODE_TTL_SECS,
            },
        );
    }
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &valid.state)
        .append_pair("iss", &dev.issuer);
    Ok(Redirect::to(back.as_str()).into_response())
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
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

async fn token(
    State(dev): State<Arc<DevProvider>>,
    headers: HeaderMap,
    Form(req): Form<TokenRequest>,
) -> Response {
    let (client_id, client_secret) = match basic_credentials(&headers) {
        Some(pair) => pair,
        None => (
            req.client_id.clone().unwrap_or_default(),
            req.client_secret.clone().unwrap_or_default(),
        ),
    };
    let secret_ok: bool =
        Sha256::digest(client_secret.as_bytes()) == Sha256::digest(dev.client_secret.as_bytes());
    if client_id != DEV_CLIENT_ID || !secret_ok {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if req.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let now = dev.clock.now();
    let pending = {
        let mut codes = dev.codes.lock().unwrap_or_else(|e| e.into_inner());
        req.code.as_deref().and_then(|c| codes.remove(c))
    };
    let Some(pending) = pending.filter(|p| p.expires_at > now) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let verifier = req.code_verifier.unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if req.redirect_uri.as_deref() != Some(pending.redirect_uri.as_str())
        || challenge != pending.code_challenge
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let access_token = token_id();
    let user = pending.user;
    let mut claims = json!({
        "iss": dev.issuer,
        "sub": user.sub,
        "aud": DEV_CLIENT_ID,
        "azp": DEV_CLIENT_ID,
        "iat": now,
        "exp": now + ID_TOKEN_TTL_SECS,
        "email": user.email,
        "email_verified": true,
        "name": user.name,
    });
    if let Some(nonce) = pending.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(picture) = &user.picture {
        claims["picture"] = json!(picture);
    }
    let id_token = dev.signer.sign(&claims);
    {
        let mut tokens = dev.access_tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, (_, exp)| *exp > now);
        tokens.insert(access_token.clone(), (user, now + ACCESS_TOKEN_TTL_SECS));
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

async fn userinfo(State(dev): State<Arc<DevProvider>>, headers: HeaderMap) -> Response {
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
