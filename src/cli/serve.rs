//! `doorman serve`: logging on, the listeners bound (the public one and, with `METRICS_ADDR`,
//! the metrics one), the application composed, and both served until SIGTERM or Ctrl-C; then
//! the requests in flight finish (up to `SHUTDOWN_GRACE_SECS`), pending revocations and the
//! store are written out, the last log lines flushed, and the process exits 0.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::app::{App, AppState, Deps};
use crate::config::{Config, LogFormat};
use crate::server;
use crate::telemetry::logs::{LogGuard, LogLayer, Style};
use crate::telemetry::{Metrics, access};

/// Installs the process's log subscriber: `RUST_LOG` (default `doorman=info`) in `format`.
pub(super) fn install_logging(format: LogFormat) -> LogGuard {
    let terminal = std::io::stdout().is_terminal();
    let style = match format {
        LogFormat::Json => Style::Json,
        LogFormat::Pretty => Style::Pretty { ansi: terminal },
        LogFormat::Auto if terminal => Style::Pretty { ansi: true },
        LogFormat::Auto => Style::Json,
    };
    let (layer, guard) = LogLayer::new(style, Box::new(std::io::stdout()));
    access::write_directly_to(&layer);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("doorman=info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
    guard
}

/// The listener on `addr`, or the exit code after saying which variable named an address that
/// cannot be listened on.
fn listening(
    bound: std::io::Result<TcpListener>,
    addr: std::net::SocketAddr,
    variable: &str,
) -> Result<TcpListener, ExitCode> {
    bound.map_err(|err| {
        eprintln!("doorman: cannot listen on {addr} ({variable}): {err}");
        ExitCode::from(1)
    })
}

/// The metrics listener's routes: `GET /metrics`, nothing else.
fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                }
            }),
        )
        .fallback(|| async {
            (StatusCode::NOT_FOUND, "only GET /metrics is served here\n").into_response()
        })
}

fn warn_if_development(config: &Config) {
    if config.is_development() {
        tracing::warn!(
            "DEVELOPMENT SIGN-IN: no OIDC_CLIENT_ID is set, so the built-in development provider \
             is on at {}/dev-oidc; anyone can sign in as anyone. Loopback only.",
            config.public_url()
        );
        if config.session.ephemeral {
            tracing::warn!(
                "no SESSION_SECRET: using a random one, so sessions end when doorman restarts"
            );
        }
    }
}

/// Serves until a stop signal; the exit code says how it ended.
pub async fn serve(config: Config) -> ExitCode {
    let log = install_logging(config.telemetry.log_format);
    let code = match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    };
    log.flush();
    code
}

async fn run(config: Config) -> Result<(), ExitCode> {
    warn_if_development(&config);
    // A socket per serving thread on the serving address (see `server::bind`), one plain
    // socket for the metrics.
    let addr = config.server.bind_addr;
    let listener = listening(server::bind(addr).await, addr, "BIND_ADDR")?;
    let metrics_listener = match config.telemetry.metrics_addr {
        Some(addr) => Some(listening(
            TcpListener::bind(addr).await,
            addr,
            "METRICS_ADDR",
        )?),
        None => None,
    };
    let server_config = config.server.clone();
    let public_url = config.public_url().clone();
    let state: AppState = App::new(config, Deps::default())
        .await
        .map_err(|err| {
            eprintln!("doorman: {err:#}");
            ExitCode::from(1)
        })?
        .into();
    state.0.spawn_background();
    let stopping = stop_on_signal();
    let grace = server_config.shutdown_grace;
    let metrics_server = metrics_listener.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("metrics on http://{addr}/metrics");
        }
        let router = metrics_router(state.metrics.clone());
        let (config, stopping) = (server_config.clone(), stopping.clone());
        tokio::spawn(async move {
            server::serve(listener, router, &config, signal(stopping), grace).await
        })
    });
    tracing::info!(
        "doorman listening on {} (public URL {public_url})",
        server_config.bind_addr
    );
    let served = server::serve_per_core(
        listener,
        crate::build_router(state.clone()),
        &server_config,
        signal(stopping),
        grace,
        serving_threads().unwrap_or(1),
    )
    .await;
    if let Some(task) = metrics_server {
        let _ = task.await;
    }
    state.shutdown().await;
    served.map_err(|err| {
        tracing::error!(error = %err, "serving failed");
        ExitCode::from(1)
    })?;
    tracing::info!("stopped");
    Ok(())
}

/// Turns `true` once SIGTERM or Ctrl-C arrives.
fn stop_on_signal() -> tokio::sync::watch::Receiver<bool> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        server::shutdown_signal().await;
        tracing::info!("stop requested: finishing the requests in flight");
        let _ = stop.send(true);
    });
    stopping
}

/// Resolves once `stopping` turns `true`.
async fn signal(mut stopping: tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

/// Threads serving requests: `TOKIO_WORKER_THREADS` when set (a whole number above zero;
/// tokio itself would panic on anything else, so it is checked before the runtime starts),
/// else one per core.
pub(super) fn serving_threads() -> Result<usize, String> {
    match std::env::var("TOKIO_WORKER_THREADS") {
        // Read exactly as tokio reads it (no trimming), so whatever passes here tokio takes.
        Ok(value) => match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "TOKIO_WORKER_THREADS must be a whole number above zero, not {value:?}"
            )),
        },
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, usize::from)),
    }
}
