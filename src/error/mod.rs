//! One error type for everything a client can be told went wrong, with two renderings: JSON
//! for API clients (`ApiError`) and an HTML page for browsers (`PageError`). Which one a
//! handler uses is its return type (`ApiResult` / `PageResult`), never the URL.
//!
//! Each room maps its own errors to an `AppError` (a status, a stable code, a message); this
//! module knows none of them. An error is logged exactly once, where it becomes a response,
//! with its code and the request id; internals never reach the client.

pub mod context;
mod render;

use std::borrow::Cow;

use axum::http::StatusCode;

pub use render::{ApiError, ApiResult, PageError, PageResult, render_page};

/// The two renderings, and `AppError` itself: what can be marked after the fact.
pub trait AsAppError {
    fn app_error(&mut self) -> &mut AppError;
}

impl AsAppError for AppError {
    fn app_error(&mut self) -> &mut AppError {
        self
    }
}

impl AsAppError for ApiError {
    fn app_error(&mut self) -> &mut AppError {
        &mut self.0
    }
}

impl AsAppError for PageError {
    fn app_error(&mut self) -> &mut AppError {
        &mut self.0
    }
}

/// What a refused request needed, as the JSON `required` field shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Required {
    /// One role (`"required": "admin"`).
    Role(&'static str),
    /// Any of these (`"required": ["admin", "ops"]`, possibly empty).
    AnyOf(Vec<String>),
}

/// Something a client is told went wrong.
#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    /// Stable and machine-readable: the JSON `error` field, and the log's reason.
    pub code: &'static str,
    /// What an API client (or, without `page`, a person) reads.
    pub message: Cow<'static, str>,
    /// The title and text of the page a browser shows, when they differ from the message.
    pub page: Option<(&'static str, &'static str)>,
    /// For the log only, never shown: e.g. which check a provider's answer failed.
    pub detail: Option<Cow<'static, str>>,
    pub www_authenticate: Option<&'static str>,
    /// What was needed: the role (`insufficient_role`), or what a gateway policy asks for.
    pub required: Option<Required>,
    /// Where a person signs in and comes back (the gateway's 401).
    pub login_url: Option<String>,
    /// The finer reason beside `code` (the gateway's 403: `role_required`).
    pub reason: Option<&'static str>,
    /// The request headers that were missing or malformed (the gateway's 400).
    pub missing: Option<Vec<&'static str>>,
    /// The gateway policy that refused the request (its 403).
    pub policy: Option<String>,
    /// For 429/503: seconds until another attempt may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
    /// The page offers "Try signing in again" rather than "Go to the start page".
    pub offer_sign_in: bool,
    /// An OAuth-style answer: the JSON repeats the message as `error_description`.
    pub oauth: bool,
    /// The auth event this error is (`login_failed`), and by which method, for its log line.
    /// Without one, a 401 or 403 is logged as `access_denied`.
    pub event: Option<(&'static str, &'static str)>,
    /// For a sign-in through a provider, the provider's id (its log line's `provider`).
    pub provider: Option<&'static str>,
}

impl AppError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            page: None,
            detail: None,
            www_authenticate: None,
            required: None,
            login_url: None,
            provider: None,
            reason: None,
            missing: None,
            policy: None,
            retry_after: None,
            offer_sign_in: false,
            oauth: false,
            event: None,
        }
    }

    /// The page a browser shows: a title and a sentence saying what happened and what to do.
    pub fn page(mut self, title: &'static str, text: &'static str) -> Self {
        self.page = Some((title, text));
        self
    }

    pub fn detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Answers as an OAuth endpoint does: `error_description` beside `error` (RFC 6749 §5.2).
    pub fn oauth(mut self) -> Self {
        self.oauth = true;
        self
    }

    pub fn offer_sign_in(mut self) -> Self {
        self.offer_sign_in = true;
        self
    }

    /// Marks this error as a failed sign-in by `method` (its log line's `event`).
    pub fn login_failed(mut self, method: &'static str) -> Self {
        self.event = Some(("login_failed", method));
        self
    }

    /// Where a person signs in and comes back (rendered as `login_url`).
    pub fn login_url(mut self, url: String) -> Self {
        self.login_url = Some(url);
        self
    }

    /// The finer reason beside the code (rendered as `reason`).
    pub fn reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// What a policy asks for (rendered as `required`: a list).
    pub fn requires(mut self, any_of: Vec<String>) -> Self {
        self.required = Some(Required::AnyOf(any_of));
        self
    }

    /// The gateway policy that refused (rendered as `policy`).
    pub fn policy(mut self, name: &str) -> Self {
        self.policy = Some(name.to_owned());
        self
    }

    /// The request headers that were missing or malformed (rendered as `missing`).
    pub fn missing(mut self, names: Vec<&'static str>) -> Self {
        self.missing = Some(names);
        self
    }

    pub fn challenge(mut self, www_authenticate: &'static str) -> Self {
        self.www_authenticate = Some(www_authenticate);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing at this address.",
        )
        .page(
            "Page not found",
            "There is nothing at this address. Check the link, or go back to the start.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not accept that method",
        )
        .page(
            "Method not allowed",
            "This page cannot be used that way. Go back to the start page.",
        )
    }

    /// 403 for a signed-in caller without the role an endpoint needs.
    pub fn insufficient_role(required: &'static str) -> Self {
        Self {
            required: Some(Required::Role(required)),
            ..Self::forbidden(
                "insufficient_role",
                "your account does not have the role this endpoint requires",
            )
            .page(
                "Not allowed",
                "Your account does not have the role this page requires. Ask an administrator.",
            )
        }
    }

    /// 429 `rate_limited`: this client asked too often.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests from this address; wait before trying again",
        )
        .page(
            "Too many requests",
            "This address sent too many requests in a short time. Wait a minute, then try again.",
        )
        .retry_after(retry_after)
    }

    /// 503 `busy`: a bounded resource (password hashing) is saturated.
    pub fn busy(retry_after: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "doorman is busy with other sign-ins; try again in a few seconds",
        )
        .page(
            "Busy",
            "doorman is busy with other sign-ins. Try again in a few seconds.",
        )
        .retry_after(retry_after)
    }

    /// A failure of doorman itself: the client sees a generic message and the request id;
    /// `detail` goes to the log.
    pub fn internal(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "doorman could not finish this request; quote the request id when reporting it",
        )
        .page(
            "Something went wrong",
            "doorman could not finish this request. Please try again; if it keeps happening, \
             quote the request id below to whoever runs this service.",
        )
        .detail(detail)
    }
}

/// Lets a room's error type become either rendering with `?`, through its `AppError` mapping.
macro_rules! renders_as_app_error {
    ($ty:ty) => {
        impl From<$ty> for $crate::error::ApiError {
            fn from(err: $ty) -> Self {
                Self(Box::new($crate::error::AppError::from(err)))
            }
        }
        impl From<$ty> for $crate::error::PageError {
            fn from(err: $ty) -> Self {
                Self(Box::new($crate::error::AppError::from(err)))
            }
        }
    };
}

// Exported by path (`crate::error::renders_as_app_error!`), not at the crate root, so the
// rooms that use it are seen importing `error`, which is where it lives.
pub(crate) use renders_as_app_error;
