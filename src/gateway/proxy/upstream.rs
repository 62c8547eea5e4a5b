//! Connections to the services behind doorman: a pooled hyper client per route and serving
//! thread, over TCP (`http://`, `https://` with rustls and Mozilla's roots) or a Unix socket.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use hyper::Uri;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pin_project_lite::pin_project;
use tokio::net::UnixStream;

use crate::config::Upstream;

/// Idle connections kept per upstream.
const IDLE_PER_UPSTREAM: usize = 64;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pin_project! {
    /// A Unix-socket connection as hyper's client wants it.
    pub struct UnixIo {
        #[pin]
        inner: TokioIo<UnixStream>,
    }
}

impl Connection for UnixIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for UnixIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UnixIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

/// Connects to one socket path, whatever the URI says.
#[derive(Clone)]
pub(super) struct UnixConnector(Arc<PathBuf>);

impl tower::Service<Uri> for UnixConnector {
    type Response = UnixIo;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<UnixIo>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(&*path))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
            Ok(UnixIo {
                inner: TokioIo::new(stream),
            })
        })
    }
}

type TcpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;
type UnixClient = Client<UnixConnector, Body>;

/// One route's clients, one per serving thread: a connection is opened, driven and reused by
/// the thread whose request needed it, so a proxied request never waits on another thread
/// (each serves on its own single-threaded runtime; a shared pool would hand a connection
/// driven by one thread to a request on another, and every exchange would cross between them).
pub(super) struct UpstreamClients {
    upstream: Upstream,
    per_thread: thread_local::ThreadLocal<UpstreamClient>,
}

impl UpstreamClients {
    pub(super) fn new(upstream: &Upstream) -> Self {
        Self {
            upstream: upstream.clone(),
            per_thread: thread_local::ThreadLocal::new(),
        }
    }

    /// Sends `request` on this thread's pool.
    pub(super) async fn send(
        &self,
        request: hyper::Request<Body>,
    ) -> Result<hyper::Response<Incoming>, hyper_util::client::legacy::Error> {
        self.per_thread
            .get_or(|| UpstreamClient::new(&self.upstream))
            .send(request)
            .await
    }
}

/// One route's client on one thread.
#[derive(Clone)]
enum UpstreamClient {
    Tcp(TcpClient),
    Unix(UnixClient),
}

impl UpstreamClient {
    fn new(upstream: &Upstream) -> Self {
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(IDLE_PER_UPSTREAM);
        match upstream {
            Upstream::Http(_) => {
                let mut http = HttpConnector::new();
                http.enforce_http(false);
                http.set_nodelay(true);
                http.set_connect_timeout(Some(CONNECT_TIMEOUT));
                let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                })
                .with_no_client_auth();
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http);
                Self::Tcp(builder.build(connector))
            }
            Upstream::Unix(path) => {
                Self::Unix(builder.build(UnixConnector(Arc::new(path.clone()))))
            }
        }
    }

    async fn send(
        &self,
        request: hyper::Request<Body>,
    ) -> Result<hyper::Response<Incoming>, hyper_util::client::legacy::Error> {
        match self {
            Self::Tcp(client) => client.request(request).await,
            Self::Unix(client) => client.request(request).await,
        }
    }
}
