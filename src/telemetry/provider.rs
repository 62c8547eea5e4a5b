//! Metrics of the provider's groups: members of the groups claim that were not strings, and
//! identity headers that carried only the groups a route's policy names.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Default)]
pub struct GroupMetrics {
    skipped: Counter,
    truncated: Counter,
}

impl GroupMetrics {
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
        metrics
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
