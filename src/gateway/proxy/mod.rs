//! doorman as the front door: the routes of `[[gateway.route]]` and what happens to a
//! request on one, in named phases, in order (as Pingora's `ProxyHttp` names them):
//!
//! 1. **match the route**: `Proxy::find` on the request's checked host and normal path
//!    (the envelope calls it: `routes::envelope`); doorman's own paths (`/auth/`,
//!    `/.doorman/`, `/.well-known/`, `/dev-oidc/`, `/healthz`, `/readyz`) are never proxied;
//! 2. **judge**: `Front::judge`, the route's policy, exactly as forward-auth decides;
//! 3. **prepare** the upstream request: `Proxy::prepare` (`forward`): hygiene (`hygiene`),
//!    the identity and the assertion for the route's audience (`Proxy::audience`);
//! 4. **exchange**: `Proxy::exchange` (`forward`), streaming both ways through a pooled
//!    client per serving thread (`upstream`); a WebSocket upgrade becomes a bounded tunnel
//!    (`tunnel`);
//! 5. **answer**: `Front::answer`, the service's answer as it came (cleaned), or the
//!    refusal or the failure rendered as an `AppError`;
//! 6. **log**: the envelope writes the request's one access line, as route `proxy:<name>`.

mod forward;
mod front;
pub mod hygiene;
mod stream;
pub mod tunnel;
mod upstream;

use std::borrow::Cow;

use self::forward::upstream_base;
pub use self::forward::{Answered, Failure, Forwarding, Prepared};
pub use self::front::{FromUpstream, Front};
use self::upstream::UpstreamClients;
use crate::config::{ProxyRoute, PublicUrl};
use crate::uri::Authority;

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
        || path == "/device"
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
            "/device",
            "/dev-oidc/token",
        ] {
            assert!(is_doormans_path(path), "{path}");
        }
        for path in [
            "/",
            "/authors",
            "/api/user",
            "/healthz/x",
            "/devices",
            "/device/x",
        ] {
            assert!(!is_doormans_path(path), "{path}");
        }
    }
}
