//! The counters and histograms doorman exposes, labelled by outcome and reason (never by
//! user, email or a path with ids). Each `App` owns its registry (no globals, so parallel
//! tests count apart); hot-path handles are created up front, so recording a request is two
//! atomic increments and a histogram bucket.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Metric, Registry};

use super::process::ProcessCollector;
pub use super::{
    provider::ProviderMetrics, token_check::TokenCheck, tunnels::TunnelMetrics,
    upstream::UpstreamMetrics,
};

type Labels2 = [(&'static str, &'static str); 2];
type Labels3 = [(&'static str, &'static str); 3];
type Labels1 = [(&'static str, &'static str); 1];
type Labels4 = [(&'static str, &'static str); 4];
type Histograms = Family<Labels1, Histogram, fn() -> Histogram>;

/// A new metric of type `M`, registered as `name`; the returned handle shares its values.
fn registered<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

/// 50 µs, doubling, up to ~3.3 s.
pub(super) fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, 17)
}

/// Per route: requests by status class, and their duration. Each series is created on its
/// first request (so a scrape shows no rows of zeros), then recorded through its handle.
struct RouteMetrics {
    route: &'static str,
    by_class: [OnceLock<Counter>; 5],
    duration: OnceLock<Histogram>,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels2, Counter>,
    durations: Histograms,
    /// Handles per route template, in the router's order; set when the router is built.
    routes: OnceLock<Vec<RouteMetrics>>,
    token_checks: [Counter; 6],
    logins: Family<Labels4, Counter>,
    logouts: Counter,
    sessions_revoked: Family<Labels1, Counter>,
    throttle_rejections: Family<Labels1, Counter>,
    redirects_rejected: Family<Labels1, Counter>,
    device_grants: Family<Labels1, Counter>,
    authz_decisions: Family<Labels3, Counter>,
    /// The most frequent decision's counter per endpoint (allowed, signed in), resolved once.
    signed_in_allowed: [OnceLock<Counter>; 3],
    assertions_signed: Counter,
    upstream: UpstreamMetrics,
    tunnels: TunnelMetrics,
    provider: ProviderMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Metrics {
    /// A registry with every family registered and nothing counted yet.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<Labels2, Counter>::default();
        let durations =
            Family::<Labels1, Histogram, fn() -> Histogram>::new_with_constructor(|| {
                Histogram::new(latency_buckets())
            });
        registry.register(
            "doorman_http_requests",
            "HTTP requests answered, by route template and status class",
            requests.clone(),
        );
        registry.register(
            "doorman_http_request_duration_seconds",
            "Time from request head to response head, by route template",
            durations.clone(),
        );
        let checks = Family::<Labels1, Counter>::default();
        let token_checks =
            TokenCheck::ALL.map(|c| checks.get_or_create(&[("result", c.label())]).clone());
        registry.register(
            "doorman_token_checks",
            "Session token checks, by result",
            checks,
        );
        Arc::new(Self::outcome_families(
            registry,
            (requests, durations),
            token_checks,
        ))
    }

    /// Creates the handles for `routes` (route templates; the last one labels unmatched
    /// paths). Only the first call counts: one router per `App`.
    pub fn set_routes(&self, routes: &[&'static str]) {
        let _ = self.routes.set(
            routes
                .iter()
                .map(|route| RouteMetrics {
                    route,
                    by_class: Default::default(),
                    duration: OnceLock::new(),
                })
                .collect(),
        );
    }

    fn outcome_families(
        mut registry: Registry,
        (requests, durations): (Family<Labels2, Counter>, Histograms),
        token_checks: [Counter; 6],
    ) -> Self {
        let r = &mut registry;
        let logins = registered(
            r,
            "doorman_logins",
            "Sign-ins by method, provider, result and reason",
        );
        let logouts = registered(r, "doorman_logouts", "Sign-outs");
        let sessions_revoked =
            registered(r, "doorman_sessions_revoked", "Sessions revoked, by cause");
        let throttle_rejections = registered(
            r,
            "doorman_throttle_rejections",
            "Requests refused by a rate limit or the password throttle, by scope",
        );
        let redirects_rejected = registered(
            r,
            "doorman_redirects_rejected",
            "Return URLs (rd) refused at sign-in, by reason",
        );
        let device_grants = registered(
            r,
            "doorman_device_grants",
            "Device authorization grants (doorman login), by result: issued, approved, denied, \
             tokens, expired, invalid, throttled",
        );
        let authz_decisions = registered(
            r,
            "doorman_authz_decisions",
            "Gateway decisions, by endpoint, decision and reason",
        );
        let assertions_signed = registered(
            r,
            "doorman_assertions_signed",
            "Upstream identity assertions signed (cached ones are reused, not counted)",
        );
        let upstream = UpstreamMetrics::register(r);
        let tunnels = TunnelMetrics::register(r);
        let provider = ProviderMetrics::register(r);
        registry.register(
            "doorman_build",
            "The running version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register_collector(Box::new(ProcessCollector));
        Self {
            registry,
            requests,
            durations,
            routes: OnceLock::new(),
            token_checks,
            logins,
            logouts,
            sessions_revoked,
            throttle_rejections,
            redirects_rejected,
            device_grants,
            authz_decisions,
            signed_in_allowed: Default::default(),
            assertions_signed,
            upstream,
            tunnels,
            provider,
        }
    }

    /// A request on route `index` answered `status` after `elapsed`.
    pub fn http_request(&self, index: usize, status: u16, elapsed: Duration) {
        let Some(routes) = self.routes.get() else {
            return;
        };
        let Some(route) = routes.get(index).or_else(|| routes.last()) else {
            return;
        };
        let class = usize::from((status / 100).clamp(1, 5)) - 1;
        route.by_class[class]
            .get_or_init(|| {
                self.requests
                    .get_or_create(&[
                        ("route", route.route),
                        ("status_class", STATUS_CLASSES[class]),
                    ])
                    .clone()
            })
            .inc();
        route
            .duration
            .get_or_init(|| {
                self.durations
                    .get_or_create(&[("route", route.route)])
                    .clone()
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn token_check(&self, check: TokenCheck) {
        self.token_checks[check as usize].inc();
    }

    /// A sign-in attempt: `method` oidc|password|refresh, `provider` its id (`local` for a
    /// local account), `result` success|failure.
    pub fn login(&self, method: [&'static str; 2], result: &'static str, reason: &'static str) {
        let [method, provider] = method;
        self.logins
            .get_or_create(&[
                ("method", method),
                ("provider", provider),
                ("result", result),
                ("reason", reason),
            ])
            .inc();
    }

    pub fn logout(&self) {
        self.logouts.inc();
    }

    pub fn sessions_revoked(&self, cause: &'static str, count: usize) {
        self.sessions_revoked
            .get_or_create(&[("cause", cause)])
            .inc_by(count as u64);
    }

    pub fn throttle_rejection(&self, scope: &'static str) {
        self.throttle_rejections
            .get_or_create(&[("scope", scope)])
            .inc();
    }

    pub fn device_grant(&self, result: &'static str) {
        self.device_grants
            .get_or_create(&[("result", result)])
            .inc();
    }

    pub fn redirect_rejected(&self, reason: &'static str) {
        self.redirects_rejected
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    /// A gateway decision: `endpoint` auth_request|forward_auth, `decision`
    /// allow|unauthenticated|forbidden|bad_request, and why.
    pub fn authz_decision(
        &self,
        endpoint: &'static str,
        decision: &'static str,
        reason: &'static str,
    ) {
        let hot = match (decision, reason, endpoint) {
            ("allow", "signed_in", "auth_request") => Some(0),
            ("allow", "signed_in", "forward_auth") => Some(1),
            ("allow", "signed_in", "proxy") => Some(2),
            _ => None,
        };
        if let Some(i) = hot {
            let labels = [
                ("endpoint", endpoint),
                ("decision", decision),
                ("reason", reason),
            ];
            self.signed_in_allowed[i]
                .get_or_init(|| self.authz_decisions.get_or_create(&labels).clone())
                .inc();
            return;
        }
        self.authz_decisions
            .get_or_create(&[
                ("endpoint", endpoint),
                ("decision", decision),
                ("reason", reason),
            ])
            .inc();
    }

    /// The front door's services: their failures, and the cookies they may not set.
    pub fn upstream(&self) -> &UpstreamMetrics {
        &self.upstream
    }

    pub fn provider(&self) -> &ProviderMetrics {
        &self.provider
    }

    /// The built-in proxy's WebSocket tunnels.
    pub fn tunnels(&self) -> &TunnelMetrics {
        &self.tunnels
    }

    pub fn assertion_signed(&self) {
        self.assertions_signed.inc();
    }

    /// The Prometheus text exposition (OpenMetrics 1.0).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
