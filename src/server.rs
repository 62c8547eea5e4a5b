//! The HTTP server around the router: hyper's HTTP/1 connection with a deadline for each
//! request head (which also ends idle keep-alive connections), an inactivity limit on request
//! bodies, a cap on open connections, and a graceful stop that lets requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;
use tower_http::timeout::TimeoutBody;

use crate::config::ServerConfig;
use crate::net::PEER;

/// Serves `service` (the application: `crate::build_router`) on `listener` until `shutdown`
/// resolves, then waits up to `grace` for the requests in flight.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    server: &ServerConfig,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()>
where
    S: Service<axum::http::Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(server.header_timeout)
        .keep_alive(true);
    let connections = Connections {
        http,
        permits: Arc::new(Semaphore::new(server.max_connections)),
        capacity: u32::try_from(server.max_connections).unwrap_or(u32::MAX),
        stop: tokio::sync::watch::channel(false),
        body_timeout: server.body_timeout,
    };
    tokio::pin!(shutdown);
    while let Some((permit, stream, peer)) = connections.accept(&listener, shutdown.as_mut()).await
    {
        connections.spawn(stream, peer, permit, service.clone());
    }
    drop(listener);
    connections.drain(grace).await;
    Ok(())
}

/// The open connections: their cap, their HTTP settings, and the signal to wind down.
struct Connections {
    http: hyper::server::conn::http1::Builder,
    permits: Arc<Semaphore>,
    /// All the permits: holding them all means no connection is open.
    capacity: u32,
    stop: (
        tokio::sync::watch::Sender<bool>,
        tokio::sync::watch::Receiver<bool>,
    ),
    body_timeout: Duration,
}

impl Connections {
    /// The next connection, once the cap allows one; `None` when shutting down.
    async fn accept(
        &self,
        listener: &TcpListener,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Option<(OwnedSemaphorePermit, TcpStream, std::net::SocketAddr)> {
        let permit = tokio::select! {
            permit = self.permits.clone().acquire_owned() => permit.ok()?,
            () = &mut shutdown => return None,
        };
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => return Some((permit, stream, peer)),
                    Err(err) => {
                        // Out of file descriptors and the like: back off rather than spin.
                        tracing::warn!(error = %err, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = &mut shutdown => return None,
            }
        }
    }

    /// Serves one connection in its own task, with its peer address in `PEER`.
    fn spawn<S>(
        &self,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        permit: OwnedSemaphorePermit,
        service: S,
    ) where
        S: Service<axum::http::Request<Body>, Response = Response, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let _ = stream.set_nodelay(true);
        let connection = self
            .http
            .serve_connection(
                TokioIo::new(stream),
                connection_service(service, self.body_timeout),
            )
            .with_upgrades();
        let mut stop = self.stop.1.clone();
        tokio::spawn(PEER.scope(peer, async move {
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = &mut connection => ended,
                _ = async { stop.wait_for(|stopping| *stopping).await.map(|_| ()) } => {
                    // Finish the request in flight, then close instead of keeping alive.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            // Errors here are clients going away or timing out; nothing to report upward.
            if let Err(err) = ended {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(permit);
        }));
    }

    /// Tells every connection to finish its request and close, and waits up to `grace`.
    async fn drain(self, grace: Duration) {
        let _ = self.stop.0.send(true);
        tokio::select! {
            _ = self.permits.acquire_many(self.capacity) => {}
            () = tokio::time::sleep(grace) => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period; stopping anyway");
            }
        }
    }
}

/// The per-connection service: request bodies that time out when they stall.
fn connection_service<S>(
    service: S,
    body_timeout: Duration,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send,
> + Clone
where
    S: Service<axum::http::Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut service = service.clone();
        // A request without a body (most are GETs) needs no timer and no box.
        let request = request.map(|body| {
            if body.is_end_stream() {
                Body::empty()
            } else {
                Body::new(TimeoutBody::new(body_timeout, body))
            }
        });
        service.call(request)
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}
