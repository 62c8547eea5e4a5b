//! The two renderings of an `AppError`, each showing the request id a person can quote.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use super::AppError;
use crate::error::context::{RequestContext, context as request_context};

/// An `AppError` answered as `{"error","message","request_id"}` (API clients), plus `reason`,
/// `required`, `missing` and `login_url` when the error has them. Boxed: errors are rare, and
/// a small `Result` keeps every handler's happy path cheap.
#[derive(Debug)]
pub struct ApiError(pub Box<AppError>);

/// An `AppError` answered as an HTML page (browsers).
#[derive(Debug)]
pub struct PageError(pub Box<AppError>);

pub type ApiResult<T> = Result<T, ApiError>;
pub type PageResult<T> = Result<T, PageError>;

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        Self(Box::new(err))
    }
}

impl From<AppError> for PageError {
    fn from(err: AppError) -> Self {
        Self(Box::new(err))
    }
}

#[derive(Serialize)]
struct ApiErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required: Option<&'a super::Required>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<&'a [&'static str]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_url: Option<&'a str>,
    request_id: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = *self.0;
        let ctx = request_context();
        log(&err);
        let body = ApiErrorBody {
            error: err.code,
            message: &err.message,
            error_description: err.oauth.then_some(&*err.message),
            reason: err.reason,
            policy: err.policy.as_deref(),
            required: err.required.as_ref(),
            missing: err.missing.as_deref(),
            login_url: err.login_url.as_deref(),
            request_id: ctx.request_id.as_str(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (
            err.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response();
        decorate(&mut response, &err);
        response
    }
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

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let err = *self.0;
        let ctx = request_context();
        log(&err);
        let (title, message) = err
            .page
            .unwrap_or_else(|| (generic_title(err.status.as_u16()), &*err.message));
        let (action_href, action_label) = if err.offer_sign_in {
            ("/auth/login", "Try signing in again")
        } else {
            ("/", "Go to the start page")
        };
        let page = ErrorPage {
            ctx,
            status: err.status.as_u16(),
            title,
            message,
            action_href,
            action_label,
        };
        let mut response = match page.render() {
            Ok(html) => (err.status, Html(html)).into_response(),
            Err(render) => {
                tracing::error!(error = %render, "rendering the error page failed");
                (err.status, title.to_owned()).into_response()
            }
        };
        decorate(&mut response, &err);
        response
    }
}

fn generic_title(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Sign-in needed",
        403 => "Not allowed",
        404 => "Page not found",
        409 => "Conflict",
        413 => "Too large",
        429 => "Too many requests",
        503 => "Temporarily unavailable",
        504 => "Timed out",
        _ => "Something went wrong",
    }
}

fn decorate(response: &mut Response, err: &AppError) {
    let headers = response.headers_mut();
    if let Some(challenge) = err.www_authenticate {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    if let Some(seconds) = err.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
}

/// The one log line of a failed request: its status, reason (the code, or the finer reason
/// when the error has one) and (never secret) detail. A refused sign-in is
/// `event=login_failed`; any other 401 or 403 is `event=access_denied`.
fn log(err: &AppError) {
    let detail = err.detail.as_deref().unwrap_or("");
    // The finer reason where there is one (the gateway's `role_required`), else the code.
    let reason = err.reason.unwrap_or(err.code);
    let status = err.status.as_u16();
    let event = err.event.or(match status {
        401 | 403 => Some(("access_denied", "")),
        _ => None,
    });
    if let Some((event, method)) = event {
        tracing::info!(
            event,
            method = (!method.is_empty()).then_some(method),
            provider = err.provider,
            status,
            reason,
            detail,
            "request refused"
        );
    } else if err.status.is_server_error() {
        tracing::error!(status, reason, detail, "request failed");
    } else {
        tracing::info!(status, reason, detail, "request refused");
    }
}

/// Renders `page` as a 200 HTML response; a template failure is a 500 page.
pub fn render_page(page: &impl Template) -> PageResult<Response> {
    page.render()
        .map(|html| Html(html).into_response())
        .map_err(|e| PageError::from(AppError::internal(format!("template: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn one_error_renders_as_json_for_apis_and_as_a_page_for_browsers() {
        let err = AppError::rate_limited(7);
        let api = ApiError::from(err.clone()).into_response();
        assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(api.headers()[header::RETRY_AFTER], "7");
        assert_eq!(api.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(api.into_body(), 1 << 16)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["error"], "rate_limited");

        let page = PageError::from(err).into_response();
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(page.headers()[header::RETRY_AFTER], "7");
        let html = axum::body::to_bytes(page.into_body(), 1 << 16)
            .await
            .expect("body");
        assert!(String::from_utf8_lossy(&html).contains("Too many requests"));
    }

    #[tokio::test]
    async fn internal_details_reach_neither_rendering() {
        let err = AppError::internal("database path /secret/x.db is corrupt");
        for response in [
            ApiError::from(err.clone()).into_response(),
            PageError::from(err).into_response(),
        ] {
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .expect("body");
            assert!(!String::from_utf8_lossy(&body).contains("/secret/"));
        }
    }
}
