//! What doorman tells its operators and how: `METRICS_ADDR` (the Prometheus listener, off
//! when unset), `LOG_FORMAT` and `LOG_HEALTH_CHECKS`.

use std::net::SocketAddr;

use super::vars::{ConfigError, Vars};

/// `LOG_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines; coloured only when stdout is a terminal.
    Pretty,
    /// Pretty on a terminal, JSON otherwise (the default).
    Auto,
}

#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// `METRICS_ADDR`: where `GET /metrics` is served; never the public listener.
    pub metrics_addr: Option<SocketAddr>,
    pub log_format: LogFormat,
    /// `LOG_HEALTH_CHECKS`: whether `/healthz` and `/readyz` requests get an access-log line.
    pub log_health_checks: bool,
}

pub(super) fn telemetry_from(
    vars: &Vars<'_>,
    bind_addr: SocketAddr,
) -> Result<TelemetryConfig, ConfigError> {
    let metrics_addr = match vars.get("METRICS_ADDR") {
        None => None,
        Some(raw) => {
            let addr: SocketAddr = raw.parse().map_err(|_| {
                ConfigError::new(
                    "METRICS_ADDR",
                    format!("`{raw}` is not an address and port; use e.g. 127.0.0.1:9090"),
                )
            })?;
            if addr == bind_addr {
                return Err(ConfigError::new(
                    "METRICS_ADDR",
                    "must differ from BIND_ADDR: metrics are never served on the public port",
                ));
            }
            Some(addr)
        }
    };
    let log_format = match vars.get("LOG_FORMAT").map(|v| v.to_ascii_lowercase()) {
        None => LogFormat::Auto,
        Some(v) if v == "json" => LogFormat::Json,
        Some(v) if v == "pretty" => LogFormat::Pretty,
        Some(v) => {
            return Err(ConfigError::new(
                "LOG_FORMAT",
                format!("`{v}` is neither json nor pretty"),
            ));
        }
    };
    Ok(TelemetryConfig {
        metrics_addr,
        log_format,
        log_health_checks: vars.flag("LOG_HEALTH_CHECKS", false)?,
    })
}
