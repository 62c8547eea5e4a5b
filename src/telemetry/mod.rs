//! What doorman tells its operators: log lines (`logs`), Prometheus metrics (`metrics`), and
//! the auth events that are both (`events`). It imports only the bottom rooms (the request's
//! context from `error`), so every domain room may record into it.

pub mod access;
mod escape;
pub mod events;
mod format;
pub mod logs;
pub mod metrics;
mod process;
mod provider;
mod sink;
mod token_check;
mod tunnels;
mod upstream;

pub use metrics::{Metrics, ProviderMetrics, TokenCheck, TunnelMetrics, UpstreamMetrics};
