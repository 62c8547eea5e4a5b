//! The development provider's authorization endpoint: it validates the request like a real
//! provider (never redirecting to an unregistered URI), shows a form asking for a name and an
//! email, and redirects back with a single-use code (or `access_denied`).

use askama::Template;
use axum::Form;
use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::{CODE_TTL_SECS, DEV_CLIENT_ID, DevProvider, DevUser, PendingCode};
use crate::error::context::{RequestContext, context};
use crate::error::{AppError, PageError};
use crate::identity::is_plausible_email;
use crate::random::token_id;

/// The authorization request, as the relying party sends it.
#[derive(Debug, Deserialize)]
pub(super) struct AuthorizeRequest {
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
    PageError::from(
        AppError::bad_request("dev_provider_bad_request", message)
            .page("Invalid sign-in request", message),
    )
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

pub(super) async fn authorize_page(
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
        ctx: context(),
        action: format!("/dev-oidc/authorize?{query}"),
        error,
        name: form.name,
        email: form.email,
        picture: form.picture,
    };
    let html = page
        .render()
        .map_err(|e| PageError::from(AppError::internal(format!("template: {e}"))))?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, Html(html)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    picture: String,
    #[serde(default)]
    decision: String,
}

impl DevUser {
    /// The person the form describes, or what is wrong with it (shown on the form again).
    fn from_form(form: &DecisionForm) -> Result<Self, &'static str> {
        let name = form.name.trim();
        let email = form.email.trim();
        let picture = form.picture.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err("Enter a name of at most 100 characters.");
        }
        if !is_plausible_email(email) {
            return Err("Enter an email address such as ada@example.com.");
        }
        if !picture.is_empty() && (!picture.starts_with("https://") || picture.len() > 1000) {
            return Err("The picture must be an https:// URL, or left empty.");
        }
        Ok(Self {
            sub: format!(
                "dev-{}",
                &crate::random::hex(&Sha256::digest(email.to_ascii_lowercase().as_bytes()))[..20]
            ),
            name: name.to_owned(),
            email: email.to_owned(),
            picture: (!picture.is_empty()).then(|| picture.to_owned()),
        })
    }
}

impl DevProvider {
    /// A fresh authorization code for `user`, remembered for `CODE_TTL_SECS` (expired ones
    /// leave on the way).
    fn remember_code(
        &self,
        user: DevUser,
        nonce: Option<String>,
        code_challenge: String,
        redirect_uri: String,
    ) -> String {
        let code = token_id();
        let now = self.clock.now();
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.retain(|_, c| c.expires_at > now);
        codes.insert(
            code.clone(),
            PendingCode {
                user,
                nonce,
                code_challenge,
                redirect_uri,
                expires_at: now + CODE_TTL_SECS,
            },
        );
        code
    }
}

pub(super) async fn authorize_decision(
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
    let user = match DevUser::from_form(&form) {
        Ok(user) => user,
        Err(problem) => return render_form(&raw.unwrap_or_default(), Some(problem), form),
    };
    let code = dev.remember_code(user, valid.nonce, valid.code_challenge, valid.redirect_uri);
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &valid.state)
        .append_pair("iss", &dev.issuer);
    Ok(Redirect::to(back.as_str()).into_response())
}
