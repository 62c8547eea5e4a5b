//! doorman as the front door: the routes of `[[gateway.route]]`, and forwarding a request
//! (already allowed, by `routes::proxy`) to its upstream. Bodies stream both ways, never
//! buffered; the upstream has `timeout` to answer with its headers; a WebSocket upgrade, once
//! the upstream agrees, becomes a bounded byte tunnel (`tunnel`). doorman's own paths
//! (`/auth/`, `/.doorman/`, `/.well-known/`, `/dev-oidc/`, `/healthz`, `/readyz`) are never
//! proxied.

pub mod headers;
pub mod tunnel;
mod upstream;

use axum::body::Body;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Request, Response, StatusCode, Uri, Version};

use std::borrow::Cow;

use self::headers::Forwarded;
use self::tunnel::Bounds;
use self::upstream::UpstreamClients;
use crate::config::{ProxyRoute, PublicUrl, Upstream};
use crate::uri::Authority;

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
pub struct Additions<'a> {
    /// The identity headers (from `identity::headers`), set after a client's copies are gone.
    pub identity: &'a [(HeaderName, HeaderValue)],
    pub forwarded: Forwarded<'a>,
    /// A CORS preflight: the service gets no `Authorization` and no `Cookie` at all.
    pub strip_credentials: bool,
    /// What bounds the tunnel, should the request become one.
    pub tunnel: Bounds<'a>,
}

/// What the proxy noticed in an upstream's answer, for the caller to count.
#[derive(Debug, Default)]
pub struct Answered {
    /// `Set-Cookie` lines for doorman's own cookies, dropped.
    pub cookies_dropped: usize,
}

/// The configured routes and a pooled client for each.
pub struct Proxy {
    routes: Vec<ProxyRoute>,
    clients: Vec<UpstreamClients>,
    /// Per route: the upstream's origin and base path, where the request's path goes after.
    bases: Vec<String>,
    /// Route indexes, most specific first (longest prefix; a host before none).
    order: Vec<usize>,
    /// Per route: the assertion's audience when neither the route nor its policy sets one.
    audiences: Vec<DefaultAudience>,
    /// `PUBLIC_URL`'s scheme and, when not the default, port (`https://`, `:8443`).
    public: (&'static str, String),
}

/// Where a route's default audience comes from: never from the request, except the host that
/// matched a wildcard route (every such host is under the one route and its policy).
enum DefaultAudience {
    /// `PUBLIC_URL`'s scheme and port with the route's host; or, for a route without a host,
    /// `PUBLIC_URL`'s origin.
    Fixed(String),
    /// `PUBLIC_URL`'s scheme and port with the host that matched `*.suffix`.
    MatchedHost,
}

/// Paths that are always doorman's own, whatever the routes say.
pub fn is_doormans_path(path: &str) -> bool {
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    under("/auth")
        || under("/.doorman")
        || under("/.well-known")
        || under("/dev-oidc")
        || path == "/healthz"
        || path == "/readyz"
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

impl Proxy {
    /// The proxy for `routes`, served at `public` (`PUBLIC_URL`); `None` when there are none.
    pub fn new(routes: &[ProxyRoute], public: &PublicUrl) -> Option<Self> {
        if routes.is_empty() {
            return None;
        }
        let mut order: Vec<usize> = (0..routes.len()).collect();
        order.sort_by_key(|&i| {
            let r = &routes[i];
            (std::cmp::Reverse(r.path_prefix.len()), r.host.is_none())
        });
        Some(Self {
            clients: routes
                .iter()
                .map(|r| UpstreamClients::new(&r.upstream))
                .collect(),
            bases: routes.iter().map(|r| upstream_base(&r.upstream)).collect(),
            audiences: routes
                .iter()
                .map(|r| match &r.host {
                    None => DefaultAudience::Fixed(public.origin().to_owned()),
                    Some(host) => match host.exact() {
                        Some(name) => DefaultAudience::Fixed(format!(
                            "{}{name}{}",
                            public.scheme_prefix(),
                            public.port_suffix()
                        )),
                        None => DefaultAudience::MatchedHost,
                    },
                })
                .collect(),
            public: (public.scheme_prefix(), public.port_suffix()),
            routes: routes.to_vec(),
            order,
        })
    }

    /// The assertion's audience for route `index`: the route's `audience`, else the policy's
    /// (`policy_audience`), else the route's default; `host` is the request's checked host.
    pub fn audience<'a>(
        &'a self,
        index: usize,
        policy_audience: Option<&'a str>,
        host: Option<&str>,
    ) -> Cow<'a, str> {
        if let Some(audience) = self.routes[index].audience.as_deref().or(policy_audience) {
            return Cow::Borrowed(audience);
        }
        match &self.audiences[index] {
            DefaultAudience::Fixed(audience) => Cow::Borrowed(audience),
            DefaultAudience::MatchedHost => {
                let (scheme, port) = &self.public;
                Cow::Owned(format!("{scheme}{}{port}", host.unwrap_or_default()))
            }
        }
    }

    pub fn routes(&self) -> &[ProxyRoute] {
        &self.routes
    }

    /// The route for a request to `host` and `path` (both checked: `uri::check`), if it is
    /// not one of doorman's own.
    pub fn find(&self, host: Option<&Authority<'_>>, path: &str) -> Option<usize> {
        if is_doormans_path(path) {
            return None;
        }
        self.order.iter().copied().find(|&i| {
            let route = &self.routes[i];
            route
                .host
                .as_ref()
                .is_none_or(|h| host.is_some_and(|host| h.matches(host.host())))
                && route.covers(path)
        })
    }

    /// Sends `request` (allowed) to route `index`'s upstream and streams its answer back.
    pub async fn forward(
        &self,
        index: usize,
        request: Request<Body>,
        additions: Additions<'_>,
    ) -> Result<(Response<Body>, Answered), Failure> {
        let route = &self.routes[index];
        let (mut parts, body) = request.into_parts();
        let upgrade = route.websockets && is_websocket_upgrade(&parts.headers);
        let client_upgrade = if upgrade {
            parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
        } else {
            None
        };
        let upgrade_to = parts.headers.get(header::UPGRADE).cloned();
        parts.uri = upstream_uri(route, &self.bases[index], &parts.uri)?;
        parts.version = Version::HTTP_11;
        let h = &mut parts.headers;
        headers::remove_hop_by_hop(h);
        headers::remove_identity(h);
        headers::remove_named(h, &route.strip_headers);
        if additions.strip_credentials {
            h.remove(header::AUTHORIZATION);
            h.remove(header::COOKIE);
        } else {
            headers::remove_doormans_cookies(h);
            headers::remove_bearer(h);
        }
        headers::set_forwarded(h, &additions.forwarded);
        for (name, value) in additions.identity {
            h.insert(name.clone(), value.clone());
        }
        if !route.preserve_host {
            h.remove(header::HOST);
        }
        if let (true, Some(protocol)) = (upgrade, upgrade_to) {
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(header::UPGRADE, protocol);
        }
        let sent = tokio::time::timeout(
            route.timeout,
            self.clients[index].send(Request::from_parts(parts, body)),
        )
        .await
        .map_err(|_| Failure::Timeout)?
        .map_err(|err| Failure::of(&err))?;
        let mut response = sent;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return match (client_upgrade, hyper::upgrade::on(&mut response)) {
                (Some(client), upstream) => {
                    tokio::spawn(additions.tunnel.tunnel().run(client, upstream));
                    let (mut parts, _) = response.into_parts();
                    let answered = headers::clean_response(&mut parts.headers, true);
                    Ok((Response::from_parts(parts, Body::empty()), answered))
                }
                (None, _) => Err(Failure::Unreachable(
                    "the upstream switched protocols without being asked".into(),
                )),
            };
        }
        let (mut parts, body) = response.into_parts();
        let answered = headers::clean_response(&mut parts.headers, false);
        Ok((Response::from_parts(parts, Body::new(body)), answered))
    }
}

/// `scheme://host[:port]/base-path` of an upstream (`http://localhost` for a Unix socket).
fn upstream_base(upstream: &Upstream) -> String {
    match upstream {
        Upstream::Http(base) => format!(
            "{}{}",
            base.origin().ascii_serialization(),
            base.path().trim_end_matches('/')
        ),
        Upstream::Unix(_) => "http://localhost".to_owned(),
    }
}

/// The upstream's URI for a request to `uri`: the upstream's `base` (origin and base path),
/// the path (without the route's prefix when `strip_prefix`), the query.
fn upstream_uri(route: &ProxyRoute, base: &str, uri: &Uri) -> Result<Uri, Failure> {
    let mut path = uri.path();
    if route.strip_prefix && route.path_prefix != "/" {
        path = path
            .strip_prefix(route.path_prefix.as_str())
            .unwrap_or(path);
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

    #[test]
    fn doormans_own_paths_are_never_proxied() {
        for path in [
            "/auth/login",
            "/auth",
            "/.doorman/forward-auth/x",
            "/.well-known/jwks.json",
            "/healthz",
            "/dev-oidc/token",
        ] {
            assert!(is_doormans_path(path), "{path}");
        }
        for path in ["/", "/authors", "/api/user", "/healthz/x"] {
            assert!(!is_doormans_path(path), "{path}");
        }
    }
}
