//! Metrics of what doorman follows of the provider: members of the groups claim that were not
//! strings, identity headers that carried only the groups a route's policy names,
//! back-channel logouts by result, and the sessions renewed while they were used.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct ProviderMetrics {
    skipped: Counter,
    truncated: Counter,
    backchannel: Family<ResultLabel, Counter>,
    renewed: Counter,
}

impl ProviderMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
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
