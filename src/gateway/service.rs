//! The gateway as one service, built once by the composition root: what judging a request
//! for another service needs (the policies, the sessions, the clock), what telling that
//! service who is calling needs (the signer, the identity cache, which header names), and
//! where doorman is (`PUBLIC_URL`, the trusted proxies). Forward-auth (`forward_auth`) and
//! the front door (`proxy::Front`) both run on it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::assertion::Signer;
use super::identity::{self, Headers, IdentityCache, IdentityInput};
use crate::clock::Clock;
use crate::config::{Config, IdentityHeaderSets, Policy, PublicUrl, TrustedProxies};
use crate::session::{Claims, Sessions};
use crate::telemetry::Metrics;

/// Everything the gateway needs, shared by every request.
pub struct Gateway {
    pub policies: BTreeMap<String, Policy>,
    pub sessions: Sessions,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// Signs the identity passed to the services behind.
    pub signer: Signer,
    /// Finished identity headers, reused for 30 s per token and audience.
    pub identities: IdentityCache,
    pub identity_headers: IdentityHeaderSets,
    pub public_url: PublicUrl,
    pub trusted_proxies: TrustedProxies,
    /// How long a proxied WebSocket may stay silent (`WEBSOCKET_IDLE_SECS`).
    pub websocket_idle: Duration,
}

impl Gateway {
    pub fn new(
        config: &Config,
        sessions: Sessions,
        signer: Signer,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            policies: config.gateway.policies.clone(),
            sessions,
            clock,
            metrics,
            signer,
            identities: IdentityCache::default(),
            identity_headers: config.gateway.identity_headers,
            public_url: config.public_url().clone(),
            trusted_proxies: config.server.trusted_proxies.clone(),
            websocket_idle: config.server.websocket_idle,
        }
    }

    /// Whether the public origin is https.
    pub fn https(&self) -> bool {
        self.public_url.is_https()
    }

    /// The identity headers for `claims` (empty ones for an anonymous caller) judged by
    /// `policy` (named `policy_name`), the assertion for `audience` included; reused for 30 s
    /// per token, audience and policy. `Err(size)` when they would not fit a proxy's header
    /// buffer.
    pub fn identity_for(
        &self,
        claims: Option<&Claims>,
        audience: &str,
        (policy_name, policy): (&str, &Policy),
    ) -> Result<Headers, usize> {
        let sets = self.identity_headers;
        let Some(claims) = claims else {
            let anonymous = IdentityInput {
                claims: None,
                provider: "",
                assertion: None,
                policy_groups: &[],
            };
            return identity::headers(sets, &anonymous).map(|b| b.headers.into());
        };
        let now = self.clock.now();
        self.identities
            .get_or_build((claims.jti(), audience, policy_name), now, || {
                // `X-Doorman-Idp` and the assertion's `provider`.
                let provider = self.sessions.provider_ids.of(claims.idp());
                let assertion =
                    self.signer
                        .sign(claims, provider, self.public_url.origin(), audience, now);
                self.metrics.assertion_signed();
                let built = identity::headers(
                    sets,
                    &IdentityInput {
                        claims: Some(claims),
                        provider,
                        assertion: Some(&assertion),
                        policy_groups: &policy.groups,
                    },
                )?;
                if built.truncated {
                    self.metrics.provider().truncated();
                }
                Ok(built.headers)
            })
    }
}
