//! doorman as the front door: a request on a `[[gateway.route]]` is judged by the route's
//! policy exactly as forward-auth judges one (browsers are sent to sign in and back, programs
//! get 401 JSON), and, when allowed, forwarded to the upstream with the identity headers and
//! the signed assertion (`gateway::proxy`). An upstream that cannot be reached is a 502, one
//! too slow to answer a 504, as JSON or a page by the same browser rule, counted by route.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::gateway::{forbidden, identity_for, identity_too_large, unauthenticated, unavailable};
use crate::app::AppState;
use crate::config::canonical;
use crate::error::{ApiError, AppError, PageError};
use crate::gateway::proxy::headers::Forwarded;
use crate::gateway::proxy::tunnel::{Bounds, Session};
use crate::gateway::proxy::{Additions, Failure, Proxy};
use crate::gateway::request::is_navigation;
use crate::gateway::{Decision, Endpoint, Target, decide_target};
use crate::net::{UNKNOWN_CLIENT, peer};
use crate::session::{Claims, TokenSource};

/// Marks a response that came from an upstream: the envelope leaves its headers alone (the
/// service sets its own CSP and caching).
#[derive(Clone, Copy, Debug)]
pub struct FromUpstream;

/// The proxy with what it needs from the application.
#[derive(Clone)]
pub struct Front {
    pub state: AppState,
    pub proxy: Arc<Proxy>,
}

impl Front {
    /// Judges and, if allowed, forwards `request`, which route `index` covers.
    pub async fn handle(self, index: usize, request: Request<Body>) -> Response {
        let state = &self.state;
        let route = &self.proxy.routes()[index];
        let Some(policy) = state.config.gateway.policies.get(&route.policy) else {
            return ApiError::from(AppError::internal("a route names an unknown policy"))
                .into_response();
        };
        let Some(target) = target(state, &request) else {
            return ApiError::from(AppError::bad_request(
                "bad_request",
                "the request's Host or path cannot be read",
            ))
            .into_response();
        };
        let navigation = !policy.api && is_navigation(request.headers());
        let decision = decide_target(
            policy,
            target,
            request.headers(),
            &state.sessions,
            state.clock.now(),
        );
        let (verdict, reason) = decision.labels();
        state.metrics.authz_decision("proxy", verdict, reason);
        match decision {
            Decision::Allow { caller, target, .. } => {
                let audience = policy
                    .audience
                    .as_deref()
                    .map_or_else(|| target.origin(), Cow::Borrowed);
                let claims = caller.as_deref().map(|c| &c.claims);
                let identity = match identity_for(state, claims, &audience) {
                    Ok(identity) => identity,
                    Err(size) => return identity_too_large(size),
                };
                // No known peer (the router called in-process) is never a trusted proxy.
                let peer = peer().map(canonical);
                let trusted = peer.is_some_and(|p| state.config.server.trusted_proxies.contains(p));
                let scheme = if state.https() { "https" } else { "http" };
                let additions = Additions {
                    identity: &identity,
                    forwarded: Forwarded {
                        peer: peer.unwrap_or(UNKNOWN_CLIENT),
                        trusted,
                        scheme,
                        host: request.headers().get(header::HOST).cloned(),
                        prefix: route.strip_prefix.then_some(route.path_prefix.as_str()),
                    },
                    drop_authorization: caller
                        .as_ref()
                        .is_some_and(|c| c.source == TokenSource::Bearer),
                    tunnel: tunnel_bounds(state, claims),
                };
                match self.proxy.forward(index, request, additions).await {
                    Ok(mut response) => {
                        response.extensions_mut().insert(FromUpstream);
                        response
                    }
                    Err(failure) => failed(state, &route.name, &failure, navigation),
                }
            }
            Decision::Unauthenticated {
                target,
                reason,
                bearer,
                navigation,
            } => unauthenticated(state, Endpoint::Proxy, &target, reason, bearer, navigation),
            Decision::Forbidden {
                reason,
                required,
                navigation,
            } => forbidden(Endpoint::Proxy, reason, &required, navigation),
            Decision::Unavailable => unavailable(),
            Decision::BadRequest { message, .. } => {
                ApiError::from(AppError::bad_request("bad_request", message)).into_response()
            }
        }
    }
}

/// What ends a tunnel the request may become: its session (none for an anonymous caller),
/// the idle limit, and what to check them with.
fn tunnel_bounds<'a>(state: &'a AppState, claims: Option<&'a Claims>) -> Bounds<'a> {
    Bounds {
        session: claims.map(|c| Session {
            revocation_id: c.revocation_id(),
            exp: c.exp,
        }),
        revocations: &state.sessions.revocations,
        clock: &state.clock,
        metrics: &state.metrics,
        idle: state.config.server.websocket_idle,
    }
}

/// The request as the browser addressed it: doorman's public scheme, the `Host`, the path.
fn target(state: &AppState, request: &Request<Body>) -> Option<Target> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| state.config.public_url().authority());
    let scheme = if state.https() { "https" } else { "http" };
    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let url = Url::parse(&format!("{scheme}://{host}{path}")).ok()?;
    Some(Target {
        url,
        method: request.method().clone(),
    })
}

/// 502 or 504, as JSON or a page.
fn failed(state: &AppState, route: &str, failure: &Failure, navigation: bool) -> Response {
    state.metrics.upstream_error(route, failure.kind());
    let (status, code, message) = match failure {
        Failure::Unreachable(detail) => {
            tracing::warn!(route, detail = %detail, "the upstream could not be reached");
            (
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                "the service behind doorman could not be reached",
            )
        }
        Failure::Timeout => {
            tracing::warn!(route, "the upstream did not answer in time");
            (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "the service behind doorman did not answer in time",
            )
        }
    };
    let err = AppError::new(status, code, message).page(
        if status == StatusCode::BAD_GATEWAY {
            "Service unreachable"
        } else {
            "Service too slow"
        },
        "You are signed in, but the service behind this address is not answering. Try again in a moment.",
    );
    if navigation {
        PageError::from(err).into_response()
    } else {
        ApiError::from(err).into_response()
    }
}
