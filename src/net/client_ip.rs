//! The client's address. The TCP peer is the client, unless the peer is one of
//! `TRUSTED_PROXIES`: then `X-Forwarded-For` is read from the right, skipping trusted hops,
//! and the first untrusted address is the client (the left part was written by the client
//! and is worthless). RFC 7239 `Forwarded` is never read.

use std::net::{IpAddr, SocketAddr};

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::{TrustedProxies, canonical};
use crate::error::context as scope;

tokio::task_local! {
    /// The TCP peer of the connection being served, set once per connection by the server
    /// (so no request pays for an extension carrying it).
    pub static PEER: SocketAddr;
}

/// The TCP peer of the current connection; loopback outside a served connection (a test
/// calling the router directly).
pub fn peer() -> IpAddr {
    PEER.try_with(|p| p.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Application state that knows which proxies to trust.
pub trait ProxyTrust {
    fn trusted_proxies(&self) -> &TrustedProxies;
}

/// The addresses in every `X-Forwarded-For` header, left to right; `None` if one is malformed.
pub fn forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().ok()?;
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            hops.push(parse_hop(item)?);
        }
    }
    Some(hops)
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_hop(item: &str) -> Option<IpAddr> {
    item.parse::<IpAddr>()
        .ok()
        .or_else(|| item.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The client address for a request from `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let Some(hops) = forwarded_for(headers) else {
        return peer;
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let hop = canonical(hop);
        client = hop;
        if !trusted.contains(hop) {
            break;
        }
    }
    client
}

/// The client address as an extractor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    S: ProxyTrust + Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // The envelope found it already; outside one (a test calling the router), find it.
        Ok(Self(scope::client().unwrap_or_else(|| {
            client_ip(peer(), &parts.headers, state.trusted_proxies())
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn trusted(items: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .expect("valid")
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("ascii"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let h = xff(&["203.0.113.9"]);
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &TrustedProxies::none()),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), &h, &trusted(&["127.0.0.1"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_and_spoofed_hops_are_skipped() {
        let proxies = trusted(&["127.0.0.1", "10.0.0.0/8"]);
        let h = xff(&["6.6.6.6, 203.0.113.9", "10.1.1.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("203.0.113.9"));
        let ports = xff(&["[2001:db8::7]:4431"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &ports, &proxies),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn a_malformed_chain_falls_back_to_the_peer() {
        let proxies = trusted(&["127.0.0.1"]);
        let h = xff(&["not-an-ip"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("127.0.0.1"));
    }
}
