//! The built-in proxy's WebSocket tunnels, for the operator: how many are open now, and how
//! many closed, by why (who ended it, or which limit did); and the streaming answers cut
//! because their session ended. Labels are reasons, never users.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub struct TunnelMetrics {
    open: Gauge,
    closed: Family<[(&'static str, &'static str); 1], Counter>,
    streams_cut: Counter,
}

impl TunnelMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let (open, closed) = (Gauge::default(), Family::default());
        registry.register(
            "doorman_websocket_tunnels_open",
            "WebSocket tunnels open now (each keeps its connection's MAX_CONNECTIONS slot)",
            open.clone(),
        );
        registry.register(
            "doorman_websocket_tunnels_closed",
            "WebSocket tunnels closed, by reason (client, upstream, idle, expired, revoked, \
             changed, shutdown, error)",
            closed.clone(),
        );
        let streams_cut = Counter::default();
        registry.register(
            "doorman_streams_cut",
            "Streaming answers of the front door (server-sent events, downloads) cut because their session ended",
            streams_cut.clone(),
        );
        Self {
            open,
            closed,
            streams_cut,
        }
    }

    /// A tunnel opened (both sides switched protocols).
    pub fn opened(&self) {
        self.open.inc();
    }

    /// A service's streaming answer was cut: its session ended.
    pub fn stream_cut(&self) {
        self.streams_cut.inc();
    }

    /// A tunnel that `opened` closed, for `reason`.
    pub fn closed(&self, reason: &'static str) {
        self.open.dec();
        self.closed.get_or_create(&[("reason", reason)]).inc();
    }
}
