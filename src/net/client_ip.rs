//! The client's address. The TCP peer is the client, unless the peer is one of
//! `TRUSTED_PROXIES`: then `X-Forwarded-For` is read from the right, skipping trusted hops,
//! and the first untrusted address is the client (the left part was written by the client
//! and is worthless). RFC 7239 `Forwarded` is never read.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::{TrustedProxies, canonical};
use crate::error::context as scope;
use crate::error::context::peer;

/// The client address of a request with no known TCP peer (the router called in-process):
/// the unspecified address, one bucket for every such caller in the rate limits. Never asked
/// whether it is a trusted proxy: without a peer, nothing a request says is believed.
pub const UNKNOWN_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Application state that knows which proxies to trust.
pub trait ProxyTrust {
    fn trusted_proxies(&self) -> &TrustedProxies;
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
    // Walking right to left, the client is the first hop not trusted, or the leftmost hop
    // when all are: in one pass left to right, the last untrusted hop seen, else the first.
    // A malformed header means none is believed.
    let (mut leftmost, mut last_untrusted) = (None, None);
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some(hop) = parse_hop(item).map(canonical) else {
                return peer;
            };
            leftmost.get_or_insert(hop);
            if !trusted.contains(hop) {
                last_untrusted = Some(hop);
            }
        }
    }
    last_untrusted.or(leftmost).unwrap_or(peer)
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
        Ok(Self(scope::client().unwrap_or_else(|| match peer() {
            Some(peer) => client_ip(peer, &parts.headers, state.trusted_proxies()),
            None => UNKNOWN_CLIENT,
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
        // A bad hop anywhere, even after good ones, discredits the whole chain.
        let h = xff(&["203.0.113.9, 198.51.100.4", "10.0.0.1, bogus"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("127.0.0.1"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), &xff(&[" , "]), &proxies),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn when_every_hop_is_a_trusted_proxy_the_leftmost_is_the_client() {
        let proxies = trusted(&["127.0.0.1", "10.0.0.0/8"]);
        let h = xff(&["10.0.0.5, 10.0.0.6", "10.0.0.7"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("10.0.0.5"));
        let mapped = xff(&["::ffff:203.0.113.9"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &mapped, &proxies),
            ip("203.0.113.9")
        );
    }
}
