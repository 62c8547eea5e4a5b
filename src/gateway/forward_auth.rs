//! Forward-auth, whole: nginx's `auth_request` and Traefik's/Caddy's forward-auth ask
//! whether a request to another service may pass. Decide (`decide`), count, then answer:
//! 200 with the identity headers and what the service may have of the client's `Cookie` and
//! `Authorization` (`passthrough`), or the refusal (`answer`). Never a `Set-Cookie`.

use std::borrow::Cow;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::decide::{Allow, Ask, Decision, decide};
use super::identity::MAX_IDENTITY_BYTES;
use super::passthrough;
use super::reason::Allowed;
use super::request::Endpoint;
use super::service::Gateway;
use crate::config::Policy;
use crate::error::context::peer;
use crate::error::{ApiError, AppError};

impl Gateway {
    /// The answer to a forward-auth request for policy `policy_name` by `endpoint`.
    pub async fn forward_auth(
        &self,
        endpoint: Endpoint,
        policy_name: &str,
        headers: &HeaderMap,
    ) -> Response {
        let policy = self.policies.get(policy_name);
        let decision = decide(
            &Ask {
                endpoint,
                policy_name,
                policy,
                // No known peer (the router called in-process) is never a trusted proxy.
                trusted_peer: peer().is_some_and(|p| self.trusted_proxies.contains(p)),
                headers,
                now: self.clock.now(),
            },
            &self.sessions,
        )
        .await;
        let (verdict, reason) = decision.labels();
        self.metrics
            .authz_decision(endpoint.label(), verdict, reason);
        match decision {
            Decision::Allow(allow) => {
                // `decide` allows only under a configured policy.
                let Some(policy) = policy else {
                    return ApiError::from(AppError::internal("an allow without a policy"))
                        .into_response();
                };
                let audience = policy
                    .audience
                    .as_deref()
                    .map_or_else(|| allow.target.origin(), Cow::Borrowed);
                self.allow(&allow, &audience, (policy_name, policy), headers)
            }
            Decision::Refuse(refusal) => self.refuse(endpoint, policy_name, refusal),
        }
    }

    /// 200 with the identity headers (empty for an anonymous caller), and the client's
    /// `Cookie` and `Authorization` as the service may have them (`X-Doorman-Cookie`,
    /// `X-Doorman-Authorization`; empty when nothing is left, and for a preflight, which
    /// carries no credentials).
    fn allow(
        &self,
        allow: &Allow,
        audience: &str,
        policy: (&str, &Policy),
        request: &HeaderMap,
    ) -> Response {
        let claims = allow.caller.as_deref().map(|c| &c.claims);
        let headers = match self.identity_for(claims, audience, policy) {
            Ok(headers) => headers,
            Err(size) => return identity_too_large(size),
        };
        let (cookie, authorization) = if allow.reason == Allowed::Preflight {
            (passthrough::EMPTY, passthrough::EMPTY)
        } else {
            (
                passthrough::app_cookie(request),
                passthrough::app_authorization(request),
            )
        };
        let mut response = StatusCode::OK.into_response();
        let map = response.headers_mut();
        map.reserve(headers.len() + 2);
        for (name, value) in headers.iter() {
            map.insert(name.clone(), value.clone());
        }
        map.insert(passthrough::X_DOORMAN_COOKIE, cookie);
        map.insert(passthrough::X_DOORMAN_AUTHORIZATION, authorization);
        response
    }
}

/// A 500 for identity headers that would not fit a proxy's header buffer.
pub fn identity_too_large(size: usize) -> Response {
    ApiError::from(AppError::internal(format!(
        "the identity headers would take {size} bytes (limit {MAX_IDENTITY_BYTES})"
    )))
    .into_response()
}
