//! Who is on the other end of a request, and how much they may ask for: the connection it came
//! on (its peer, its slot under the connection cap), the client address (from
//! `X-Forwarded-For` only when the peer is a trusted proxy) and per-client rate limits.
//! Imports only the bottom floor.

mod client_ip;
mod connection;
mod rate_limit;

pub use client_ip::{ClientIp, ProxyTrust, UNKNOWN_CLIENT, client_ip};
pub use connection::{CONNECTION, Connection, Lease, lease, peer};
pub use rate_limit::RateLimiter;
