//! The front door's services, for the operator: proxied requests that failed (by route and
//! kind), and `Set-Cookie` lines for doorman's own cookies that a service sent and doorman
//! dropped. Labels are route names from the configuration, never paths or users.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

type ByRoute<const N: usize> = Family<[(&'static str, String); N], Counter>;

pub struct UpstreamMetrics {
    errors: ByRoute<2>,
    cookies_dropped: ByRoute<1>,
}

impl UpstreamMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let (errors, cookies_dropped) = (ByRoute::default(), ByRoute::default());
        registry.register(
            "doorman_upstream_errors",
            "Proxied requests that failed, by route and kind (unreachable, timeout)",
            errors.clone(),
        );
        registry.register(
            "doorman_upstream_cookies_dropped",
            "Set-Cookie lines for doorman's own cookies that a proxied service sent, dropped, by route",
            cookies_dropped.clone(),
        );
        Self {
            errors,
            cookies_dropped,
        }
    }

    /// A proxied request to route `route` failed: `kind` is unreachable or timeout.
    pub fn failed(&self, route: &str, kind: &'static str) {
        self.errors
            .get_or_create(&[("route", route.to_owned()), ("kind", kind.to_owned())])
            .inc();
    }

    /// Route `route`'s service tried to set doorman's own cookies `count` times in one answer.
    pub fn cookies_dropped(&self, route: &str, count: usize) {
        self.cookies_dropped
            .get_or_create(&[("route", route.to_owned())])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }
}
