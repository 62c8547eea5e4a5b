//! Errors at the two edges a client sees, each turned into a response in one place:
//! `PageError` renders an HTML page for browsers, `ApiError` a JSON body for `/api/*`.
//!
//! Both carry a request id the user can quote; neither ever shows internals, tokens or a
//! provider's raw error. The reason code is logged once, here.

use std::borrow::Cow;

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
    /// For 429/503: seconds until another attempt may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: &'static str) -> Self {
        Self {
            status,
            title,
            message,
            reason: String::new(),
            retry_sign_in: false,
            retry_after: None,
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

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
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
        let mut response = match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(err) => {
                tracing::error!(error = %err, "rendering the error page failed");
                (self.status, self.title).into_response()
            }
        };
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A failure on `/api/*`, answered as `{"error","message","request_id"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: Cow<'static, str>,
    pub www_authenticate: Option<&'static str>,
    /// For `insufficient_role`: the role that was needed.
    pub required: Option<&'static str>,
    /// For 429: seconds until another attempt is accepted (`Retry-After`).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ApiErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    required: Option<&'a str>,
    request_id: &'a str,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        error: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            error,
            message: message.into(),
            www_authenticate: None,
            required: None,
            retry_after: None,
        }
    }

    pub fn bad_request(error: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, message)
    }

    /// 403 for a signed-in caller without the role an endpoint needs.
    pub fn insufficient_role(required: &'static str) -> Self {
        Self {
            required: Some(required),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_role",
                "your account does not have the role this endpoint requires",
            )
        }
    }

    /// 503 `busy` with `Retry-After`: a bounded resource (password hashing) is saturated.
    pub fn busy(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "doorman is busy with other sign-ins; try again in a few seconds",
            )
        }
    }

    /// 429 `rate_limited` with `Retry-After`: this client asked too often.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests from this address; wait before trying again",
            )
        }
    }

    pub fn too_many_attempts(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many failed sign-in attempts; wait before trying again",
            )
        }
    }

    pub fn internal(reason: &str) -> Self {
        tracing::error!(reason, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "doorman could not finish this request; quote the request id when reporting it",
        )
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
            www_authenticate: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, error, message)
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
            message: &self.message,
            required: self.required,
            request_id: &ctx.request_id,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
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

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Unavailable(reason) => {
                tracing::error!(%reason, "accounts store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the accounts store is busy or read-only; nothing was changed, try again shortly",
                )
            }
            StoreError::Conflict("last_admin") => Self::new(
                StatusCode::CONFLICT,
                "last_admin",
                "this is the last admin: make someone else an admin first",
            ),
            StoreError::Conflict(what) => Self::new(StatusCode::CONFLICT, "conflict", what),
            StoreError::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "no such user"),
            StoreError::Internal(reason) => Self::internal(&reason),
        }
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Unavailable(reason) => PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "doorman cannot reach its accounts store right now. Please try again in a minute.",
            )
            .reason(format!("store_unavailable: {reason}")),
            StoreError::NotFound => PageError::not_found(),
            other => PageError::internal(other.to_string()),
        }
    }
}
