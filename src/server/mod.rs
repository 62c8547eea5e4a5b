//! The HTTP server around the router: hyper's HTTP/1 connection with a deadline for each
//! request head (which also ends idle keep-alive connections), an inactivity limit on request
//! bodies, a cap on open connections (a WebSocket tunnel keeps its connection's slot), and a
//! graceful stop that lets requests in flight finish and closes tunnels after the grace.
//! `serve_per_core` runs it on one single-threaded runtime per core, each accepting from its
//! own socket on the address `bind` listens on, so that a request never hops between threads.

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
use crate::error::context::{CONNECTION, Connection, Lease};

mod served;
mod sockets;
mod threads;

pub use sockets::bind;
pub use threads::serve_per_core;

/// Once the grace period is over and tunnels are told to close, how long the drain waits for
/// them to let go of their slots (they close at once; this only lets them count it).
const TUNNELS_CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// The application as the server runs it: a cloneable tower service from requests to
/// responses that never fails (errors are responses), shareable across the serving threads.
pub trait AppService:
    Service<
        axum::http::Request<Body>,
        Response = Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> AppService for S where
    S: Service<
            axum::http::Request<Body>,
            Response = Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

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
    S: AppService,
{
    let connections = Connections::new(server);
    tokio::pin!(shutdown);
    while let Some((permit, stream, peer)) = connections.accept(&listener, shutdown.as_mut()).await
    {
        connections.spawn(stream, peer, permit, service.clone());
    }
    drop(listener);
    connections.drain(grace).await;
    Ok(())
}

/// The open connections: their cap, their HTTP settings, and the signals to wind down.
struct Connections {
    http: hyper::server::conn::http1::Builder,
    permits: Arc<Semaphore>,
    /// All the permits: holding them all means no connection (and no tunnel) is open.
    capacity: u32,
    stop: (
        tokio::sync::watch::Sender<bool>,
        tokio::sync::watch::Receiver<bool>,
    ),
    /// Raised when the grace period is over: tunnels, which have no request to finish, close.
    close_tunnels: tokio::sync::watch::Sender<bool>,
    body_timeout: Duration,
}

impl Connections {
    fn new(server: &ServerConfig) -> Self {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(server.header_timeout)
            .keep_alive(true);
        Self {
            http,
            permits: Arc::new(Semaphore::new(server.max_connections)),
            capacity: u32::try_from(server.max_connections).unwrap_or(u32::MAX),
            stop: tokio::sync::watch::channel(false),
            close_tunnels: tokio::sync::watch::channel(false).0,
            body_timeout: server.body_timeout,
        }
    }

    /// The next connection, once the cap allows one; `None` when shutting down. Accepted
    /// first, then held unread until a slot is free: each serving thread has its own socket,
    /// so a thread holding a slot while it waited for a connection that the kernel gave to
    /// another thread's socket would leave that connection waiting with a slot unused.
    async fn accept(
        &self,
        listener: &TcpListener,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Option<(OwnedSemaphorePermit, TcpStream, std::net::SocketAddr)> {
        let (stream, peer) = loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => break accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: back off rather than spin.
                        tracing::warn!(error = %err, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = &mut shutdown => return None,
            }
        };
        tokio::select! {
            permit = self.permits.clone().acquire_owned() => Some((permit.ok()?, stream, peer)),
            () = &mut shutdown => None,
        }
    }

    /// Serves one connection in its own task, with its peer and its slot in `CONNECTION`: the
    /// slot is freed when the connection ends, unless it became a tunnel, which keeps a share.
    fn spawn<S>(
        &self,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        permit: OwnedSemaphorePermit,
        service: S,
    ) where
        S: AppService,
    {
        served::connection();
        let _ = stream.set_nodelay(true);
        let connection = self
            .http
            .serve_connection(
                TokioIo::new(stream),
                connection_service(service, self.body_timeout),
            )
            .with_upgrades();
        let mut stop = self.stop.1.clone();
        let lease = Lease::new(permit, self.close_tunnels.subscribe());
        tokio::spawn(CONNECTION.scope(Connection::new(peer, lease), async move {
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
        }));
    }

    /// Tells every connection to finish its request and close, and waits up to `grace` for
    /// them and for the tunnels (which may end by themselves meanwhile); then tells the
    /// tunnels to close, and waits a moment for them to do so.
    async fn drain(&self, grace: Duration) {
        let _ = self.stop.0.send(true);
        let all = self.permits.acquire_many(self.capacity);
        tokio::pin!(all);
        tokio::select! {
            _ = &mut all => return,
            () = tokio::time::sleep(grace) => {}
        }
        self.close_tunnels.send_replace(true);
        if tokio::time::timeout(TUNNELS_CLOSE_WITHIN, all)
            .await
            .is_err()
        {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "requests still running after the grace period; stopping anyway"
            );
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
    S: AppService,
{
    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        served::request();
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
