//! Metrics of the providers and what doorman follows of them: calls to each provider's
//! endpoints and their time, key fetches by reason, members of the groups claim that were not
//! strings, identity headers that carried only the groups a route's policy names,
//! back-channel logouts by result, and the sessions renewed while they were used.

use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// A call to one of a provider's endpoints.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    provider: &'static str,
    endpoint: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    provider: &'static str,
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    provider: &'static str,
    reason: &'static str,
}

type Durations = Family<EndpointLabels, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug)]
pub struct ProviderMetrics {
    requests: Family<CallLabels, Counter>,
    durations: Durations,
    jwks_refreshes: Family<ReasonLabels, Counter>,
    skipped: Counter,
    truncated: Counter,
    backchannel: Family<ResultLabel, Counter>,
    renewed: Counter,
}

impl ProviderMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            durations: Family::new_with_constructor(|| {
                Histogram::new(super::metrics::latency_buckets())
            }),
            jwks_refreshes: Family::default(),
            skipped: Counter::default(),
            truncated: Counter::default(),
            backchannel: Family::default(),
            renewed: Counter::default(),
        };
        registry.register(
            "doorman_provider_requests",
            "Calls to the OpenID providers, by provider, endpoint and result",
            metrics.requests.clone(),
        );
        registry.register(
            "doorman_provider_request_duration_seconds",
            "Time of calls to the OpenID providers, by provider and endpoint",
            metrics.durations.clone(),
        );
        registry.register(
            "doorman_jwks_refreshes",
            "Fetches of the providers' signing keys, by provider and reason",
            metrics.jwks_refreshes.clone(),
        );
        registry.register(
            "doorman_groups_skipped",
            "Members of the provider's groups claim that were not strings, left out at sign-in",
            metrics.skipped.clone(),
        );
        registry.register(
            "doorman_identity_groups_truncated",
            "Allowed requests whose group headers carried only the groups the policy names (the assertion carries all)",
            metrics.truncated.clone(),
        );
        registry.register(
            "doorman_backchannel_logouts",
            "Back-channel logout tokens from the provider, by result (ended, replayed, invalid, unavailable)",
            metrics.backchannel.clone(),
        );
        registry.register(
            "doorman_sessions_renewed",
            "Browser sessions given a fresh token while used (at most one per half-lifetime per session and instance)",
            metrics.renewed.clone(),
        );
        metrics
    }

    /// A call to `provider`'s `endpoint` (discovery|jwks|token|userinfo) ended in `result`.
    pub fn request(
        &self,
        (provider, endpoint): (&'static str, &'static str),
        result: &'static str,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&CallLabels {
                provider,
                endpoint,
                result,
            })
            .inc();
        self.durations
            .get_or_create(&EndpointLabels { provider, endpoint })
            .observe(elapsed.as_secs_f64());
    }

    /// `provider`'s keys were fetched, for `reason`.
    pub fn jwks_refresh(&self, provider: &'static str, reason: &'static str) {
        self.jwks_refreshes
            .get_or_create(&ReasonLabels { provider, reason })
            .inc();
    }

    /// A session got a renewed token.
    pub fn session_renewed(&self) {
        self.renewed.inc();
    }

    /// A back-channel logout token was answered with `result`.
    pub fn backchannel_logout(&self, result: &'static str) {
        self.backchannel
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// A sign-in's groups claim had `count` members that were not strings.
    pub fn skipped(&self, count: usize) {
        self.skipped.inc_by(count as u64);
    }

    /// Identity headers were built with the policy's groups only.
    pub fn truncated(&self) {
        self.truncated.inc();
    }
}
