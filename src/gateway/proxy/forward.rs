//! Phases 3 and 4 of a proxied request: prepare the upstream request (its URI, hop-by-hop
//! hygiene, no client-sent identity or trust header, no doorman cookie or Bearer credential,
//! the forwarding headers, the identity; an upgrade kept when the route allows it), then
//! exchange it with the upstream within the route's `timeout`, its answer cleaned on the way
//! back. Bodies stream both ways, never buffered; a `101` becomes a bounded tunnel.

use axum::body::Body;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Request, Response, StatusCode, Uri, Version};
use hyper::upgrade::OnUpgrade;

use super::Proxy;
use super::hygiene::{self, Cleaning, Forwarded};
use super::stream::{Guarded, StreamGuard};
use super::tunnel::{Bounds, Tunnel};
use crate::config::{ProxyRoute, Upstream};

/// Why a request did not reach its upstream, or got no answer in time.
#[derive(Debug)]
pub enum Failure {
    /// Refused, reset, unresolvable, TLS failed: 502.
    Unreachable(String),
    /// No response headers within the route's `timeout`: 504.
    Timeout,
    /// The client's own request body could not be read (malformed chunks, a stall): 400,
    /// and not the service's failure.
    ClientBody(String),
}

impl Failure {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "unreachable",
            Self::Timeout => "timeout",
            Self::ClientBody(_) => "client_body",
        }
    }

    /// From the client's error sending the request: the client's body, or the upstream.
    fn of(err: &hyper_util::client::legacy::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(cause) = source {
            if cause
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_user)
            {
                return Self::ClientBody(describe(err));
            }
            source = cause.source();
        }
        Self::Unreachable(describe(err))
    }
}

/// What the proxy adds to an allowed request.
pub struct Forwarding<'a> {
    /// The identity headers (from `identity::headers`), set after a client's copies are gone.
    pub identity: &'a [(HeaderName, HeaderValue)],
    pub forwarded: Forwarded<'a>,
    /// A CORS preflight: the service gets no `Authorization` and no `Cookie` at all.
    pub strip_credentials: bool,
    /// What bounds the tunnel, should the request become one.
    pub tunnel: Bounds<'a>,
}

/// An upstream request, ready to send.
pub struct Prepared {
    request: Request<Body>,
    /// The client's side of an upgrade the route allows, and what will bound the tunnel.
    upgrade: Option<(OnUpgrade, Tunnel)>,
    /// The session a streaming answer must end with (none for an anonymous caller).
    guard: Option<StreamGuard>,
}

/// What the proxy noticed in an upstream's answer, for the caller to count.
#[derive(Debug, Default)]
pub struct Answered {
    /// `Set-Cookie` lines for doorman's own cookies, dropped.
    pub cookies_dropped: usize,
}

impl Proxy {
    /// Phase 3: the upstream request for the allowed `request` on route `index`.
    pub fn prepare(
        &self,
        index: usize,
        request: Request<Body>,
        forwarding: &Forwarding<'_>,
    ) -> Result<Prepared, Failure> {
        let route = &self.routes[index];
        let (mut parts, body) = request.into_parts();
        let upgrade = (route.websockets && is_websocket_upgrade(&parts.headers))
            .then(|| parts.extensions.remove::<OnUpgrade>())
            .flatten()
            .map(|client| (client, forwarding.tunnel.tunnel()));
        let upgrade_to = parts.headers.get(header::UPGRADE).cloned();
        parts.uri = upstream_uri(route, &self.bases[index], &parts.uri)?;
        parts.version = Version::HTTP_11;
        clean_request(&mut parts, route, forwarding);
        if let (Some(_), Some(protocol)) = (&upgrade, upgrade_to) {
            let h = &mut parts.headers;
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(header::UPGRADE, protocol);
        }
        let bounds = &forwarding.tunnel;
        let guard = bounds.session.map(|session| StreamGuard {
            revocation_id: session.revocation_id.into(),
            issued_at: session.iat,
            change_id: Default::default(),
            revocations: bounds.revocations.clone(),
            clock: bounds.clock.clone(),
            metrics: bounds.metrics.clone(),
        });
        Ok(Prepared {
            request: Request::from_parts(parts, body),
            upgrade,
            guard,
        })
    }

    /// Phase 4: sends the prepared request to route `index`'s upstream within its `timeout`
    /// and streams its answer back; a `101` the client asked for becomes a tunnel.
    pub async fn exchange(
        &self,
        index: usize,
        prepared: Prepared,
    ) -> Result<(Response<Body>, Answered), Failure> {
        let Prepared {
            request,
            upgrade,
            guard,
        } = prepared;
        let mut response = tokio::time::timeout(
            self.routes[index].timeout,
            self.clients[index].send(request),
        )
        .await
        .map_err(|_| Failure::Timeout)?
        .map_err(|err| Failure::of(&err))?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some((client, tunnel)) = upgrade else {
                return Err(Failure::Unreachable(
                    "the upstream switched protocols without being asked".into(),
                ));
            };
            tokio::spawn(tunnel.run(client, hyper::upgrade::on(&mut response)));
            let (mut parts, _) = response.into_parts();
            let answered = hygiene::clean_response(&mut parts.headers, true);
            return Ok((Response::from_parts(parts, Body::empty()), answered));
        }
        let (mut parts, body) = response.into_parts();
        let answered = hygiene::clean_response(&mut parts.headers, false);
        let body = match guard {
            Some(guard) => Body::new(Guarded::new(body, guard)),
            None => Body::new(body),
        };
        Ok((Response::from_parts(parts, body), answered))
    }
}

/// The request's headers as the service may have them, with doorman's additions.
fn clean_request(parts: &mut Parts, route: &ProxyRoute, forwarding: &Forwarding<'_>) {
    let h = &mut parts.headers;
    hygiene::clean_request(
        h,
        &Cleaning {
            strip_headers: &route.strip_headers,
            strip_credentials: forwarding.strip_credentials,
            forwarded: &forwarding.forwarded,
        },
    );
    for (name, value) in forwarding.identity {
        h.insert(name.clone(), value.clone());
    }
    if !route.preserve_host {
        h.remove(header::HOST);
    }
}

fn is_websocket_upgrade(headers: &axum::http::HeaderMap) -> bool {
    let has = |name: HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// `scheme://host[:port]/base-path` of an upstream (`http://localhost` for a Unix socket).
pub(super) fn upstream_base(upstream: &Upstream) -> String {
    match upstream {
        Upstream::Http(base) => format!(
            "{}{}",
            base.origin().ascii_serialization(),
            base.path().trim_end_matches('/')
        ),
        Upstream::Unix(_) => "http://localhost".to_owned(),
    }
}

/// The upstream's URI for a request to `uri` (its path in normal form): the upstream's
/// `base` (origin and base path), the path (without the route's prefix when `strip_prefix`,
/// in whatever case it matched), the query.
fn upstream_uri(route: &ProxyRoute, base: &str, uri: &Uri) -> Result<Uri, Failure> {
    let mut path = uri.path();
    if route.strip_prefix && route.path_prefix != "/" && route.covers(path) {
        path = path.get(route.path_prefix.len()..).unwrap_or(path);
    }
    let path = if path.is_empty() { "/" } else { path };
    let query = uri.query();
    let mut target =
        String::with_capacity(base.len() + path.len() + query.map_or(0, |q| q.len() + 1));
    target.push_str(base);
    target.push_str(path);
    if let Some(query) = query {
        target.push('?');
        target.push_str(query);
    }
    Uri::try_from(target).map_err(|e| Failure::Unreachable(format!("the upstream URI: {e}")))
}

/// The error's chain, for the log (never shown to the client).
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn route(prefix: &str, strip: bool, ignore_case: bool) -> ProxyRoute {
        ProxyRoute {
            name: "r".into(),
            host: None,
            path_prefix: prefix.into(),
            upstream: Upstream::Unix("/x".into()),
            strip_prefix: strip,
            policy: "default".into(),
            preserve_host: true,
            timeout: Duration::from_secs(30),
            websockets: true,
            ignore_case,
            audience: None,
            strip_headers: Vec::new(),
        }
    }

    fn uri(route: &ProxyRoute, base: &str, path: &str) -> String {
        let path: Uri = path.parse().expect("uri");
        upstream_uri(route, base, &path).expect("uri").to_string()
    }

    #[test]
    fn a_stripped_prefix_leaves_the_rest_of_the_path_and_the_query() {
        let grafana = route("/grafana", true, false);
        let base = "http://127.0.0.1:3000";
        assert_eq!(uri(&grafana, base, "/grafana"), "http://127.0.0.1:3000/");
        assert_eq!(uri(&grafana, base, "/grafana/"), "http://127.0.0.1:3000/");
        assert_eq!(
            uri(&grafana, base, "/grafana/d/x?from=1"),
            "http://127.0.0.1:3000/d/x?from=1"
        );
        let kept = route("/grafana", false, false);
        assert_eq!(
            uri(&kept, "http://svc/base", "/grafana/d"),
            "http://svc/base/grafana/d"
        );
        let loose = route("/grafana", true, true);
        assert_eq!(uri(&loose, base, "/GRAFANA/d"), "http://127.0.0.1:3000/d");
    }
}
