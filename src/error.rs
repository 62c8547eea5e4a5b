//! Errors at the two edges a client sees, each turned into a response in one place:
//! `PageError` renders an HTML page for browsers, `ApiError` a JSON body for `/api/*`.
//!
//! Both carry a request id the user can quote; neither ever shows internals, tokens or a
//! provider's raw error. The reason code is logged once, here.

use askama::Template;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::session::{SessionProblem, TokenError};

/// Facts about the current request that every rendered page needs.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub development: bool,
}

tokio::task_local! {
    /// Set by the request middleware for the whole life of a request.
    pub static REQUEST_CONTEXT: RequestContext;
}

/// The current request's context; outside a request (unit tests) a neutral one.
pub fn request_context() -> RequestContext {
    REQUEST_CONTEXT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| RequestContext {
            request_id: "-".into(),
            development: false,
        })
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    ctx: RequestContext,
    status: u16,
    title: &'a str,
    message: &'a str,
    action_href: &'a str,
    action_label: &'a str,
}

/// A failure on a browser route, shown as a page.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: &'static str,
    /// For the log only: a short machine-readable reason, never secret material.
    pub reason: String,
    pub retry_sign_in: bool,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: &'static str) -> Self {
        Self {
            status,
            title,
            message,
            reason: String::new(),
            retry_sign_in: false,
        }
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    pub fn offer_sign_in(mut self) -> Self {
        self.retry_sign_in = true;
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address. Check the link, or go back to the start.",
        )
        .reason("not_found")
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "doorman could not finish this request. Please try again; if it keeps happening, \
             quote the request id below to whoever runs this service.",
        )
        .reason(reason)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let ctx = request_context();
        log_failure(self.status, &self.reason, &ctx.request_id);
        let (action_href, action_label) = if self.retry_sign_in {
            ("/auth/login", "Try signing in again")
        } else {
            ("/", "Go to the start page")
        };
        let page = ErrorPage {
            ctx,
            status: self.status.as_u16(),
            title: self.title,
            message: self.message,
            action_href,
            action_label,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(err) => {
                tracing::error!(error = %err, "rendering the error page failed");
                (self.status, self.title).into_response()
            }
        }
    }
}

/// A failure on `/api/*`, answered as `{"error","message","request_id"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: &'static str,
    pub www_authenticate: Option<&'static str>,
}

#[derive(Serialize)]
struct ApiErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    request_id: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: &'static str) -> Self {
        Self {
            status,
            error,
            message,
            www_authenticate: None,
        }
    }

    /// 401 as RFC 6750 §3 wants it: a bare challenge when no credentials came, `invalid_token`
    /// (expired told apart from invalid) when they did.
    pub fn unauthorized(problem: SessionProblem) -> Self {
        let (error, message, challenge) = match problem {
            SessionProblem::Missing => (
                "unauthorized",
                "sign in first, or send Authorization: Bearer <token>",
                "Bearer",
            ),
            SessionProblem::Token(TokenError::Expired) => (
                "invalid_token",
                "token expired",
                r#"Bearer error="invalid_token", error_description="token expired""#,
            ),
            SessionProblem::Token(TokenError::Invalid) => (
                "invalid_token",
                "invalid token",
                r#"Bearer error="invalid_token", error_description="invalid token""#,
            ),
        };
        Self {
            status: StatusCode::UNAUTHORIZED,
            error,
            message,
            www_authenticate: Some(challenge),
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ctx = request_context();
        log_failure(self.status, self.error, &ctx.request_id);
        let body = ApiErrorBody {
            error: self.error,
            message: self.message,
            request_id: &ctx.request_id,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

fn log_failure(status: StatusCode, reason: &str, request_id: &str) {
    if status.is_server_error() {
        tracing::error!(
            status = status.as_u16(),
            reason,
            request_id,
            "request failed"
        );
    } else {
        tracing::info!(
            status = status.as_u16(),
            reason,
            request_id,
            "request refused"
        );
    }
}
