//! doorman's integration suite: the real application on random loopback ports, driven over
//! HTTP. One binary, so the harness (and the test provider's RSA keys) are built once.
//! `tests/log_scan.rs` stays a binary of its own: it installs the global log subscriber.

mod support;

mod access_policy;
mod accounts;
mod accounts_faults;
mod dev_provider;
mod device_grant;
mod flow;
mod gateway;
mod groups;
mod key_rotation;
mod log_lines;
mod multi_instance;
mod no_peer;
mod operability;
mod postgres_tls;
mod proptest_parsers;
mod provider_logout;
mod provider_recheck;
mod providers;
mod proxy;
mod proxy_hosts;
mod proxy_hygiene;
mod proxy_paths;
mod registration;
mod renewal;
mod revocation_hints;
mod security_login_flow;
mod security_session;
mod security_web;
mod server_limits;
mod serving_threads;
mod streams;
mod tunnels;
