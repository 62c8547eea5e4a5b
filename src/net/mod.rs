//! Who is on the other end of a request, and how much they may ask for: the client address
//! (from `X-Forwarded-For` only when the peer is a trusted proxy; the peer itself is the
//! connection's, in `error::context`) and per-client rate limits. Imports only the bottom floor.

mod client_ip;
mod rate_limit;

pub use client_ip::{ClientIp, ProxyTrust, UNKNOWN_CLIENT, client_ip};
pub use rate_limit::RateLimiter;
