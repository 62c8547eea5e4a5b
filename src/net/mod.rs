//! Who is on the other end of a request, and how much they may ask for: the client address
//! (from `X-Forwarded-For` only when the peer is a trusted proxy) and per-client rate limits.
//! Imports only the bottom floor.

mod client_ip;
mod rate_limit;

pub use client_ip::{ClientIp, PEER, ProxyTrust, client_ip, peer};
pub use rate_limit::RateLimiter;
