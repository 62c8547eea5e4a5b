//! `DATABASE_URL` for PostgreSQL, and the rule that keeps the database password off the wire:
//! TLS unless the database is on this machine. Without `sslmode`, TLS is required (rustls
//! verifies the certificate and the host name); `require`, `verify-ca` and `verify-full` all
//! mean that. `disable` is accepted only when every host is a Unix socket or a loopback
//! address (the store warns at start). `prefer` and `allow` are refused: they fall back to
//! plaintext, and send the password, to anyone on the path who answers "no TLS".
//!
//! A Unix socket (`?host=/run/postgresql`) cannot carry TLS at all, and libpq ignores `sslmode`
//! there. It is local by construction, so for a socket any accepted `sslmode`, or none, means
//! "no TLS, it is local". Sockets and TCP hosts cannot be mixed in one URL: they would need
//! two different modes.
//!
//! The store opens its connections from the same parse ([`postgres_url`]), so what is
//! validated here is exactly what is used.

use std::net::IpAddr;

use tokio_postgres::config::{Host, SslMode};

/// How doorman reaches its PostgreSQL database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseTls {
    /// TLS, with the certificate and the host name verified; never plaintext.
    Required,
    /// No TLS: every host is a Unix socket, which is local and cannot carry TLS.
    Socket,
    /// No TLS to a loopback host, because the URL says `sslmode=disable`.
    DisabledOnLoopback,
}

impl DatabaseTls {
    /// The effective mode, for `doorman check` and the start-up log.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Required => "TLS required (certificate and host name verified)",
            Self::Socket => "no TLS: a Unix socket (local; TLS does not apply to sockets)",
            Self::DisabledOnLoopback => {
                "no TLS: sslmode=disable to a loopback host (nothing is encrypted)"
            }
        }
    }
}

/// A PostgreSQL `DATABASE_URL`, parsed and judged.
#[derive(Clone, Debug)]
pub struct PostgresUrl {
    /// The connection settings, with the effective TLS mode set.
    pub config: tokio_postgres::Config,
    pub tls: DatabaseTls,
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Parses a `postgres://` URL and applies the TLS rule; `Err` says what to change (never
/// quoting the password).
pub fn postgres_url(url: &str) -> Result<PostgresUrl, String> {
    let (rest, sslmode) = take_sslmode(url);
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e: tokio_postgres::Error| format!("not a valid PostgreSQL URL: {e}"))?;
    let tls = judge(sslmode.as_deref(), &targets(&config))?;
    // Set explicitly, so that nothing else in the URL (a percent-encoded `sslmode` key, say)
    // can bring tokio-postgres's default, `prefer`, back.
    config.ssl_mode(match tls {
        DatabaseTls::Required => SslMode::Require,
        DatabaseTls::Socket | DatabaseTls::DisabledOnLoopback => SslMode::Disable,
    });
    Ok(PostgresUrl { config, tls })
}

/// `url` without its `sslmode` parameters, and the value of the last one.
fn take_sslmode(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut mode = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = Some(value.to_owned()),
            _ => kept.push(pair),
        }
    }
    if kept.is_empty() {
        (base.to_owned(), mode)
    } else {
        (format!("{base}?{}", kept.join("&")), mode)
    }
}

/// Where one connection attempt goes.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Socket,
    Loopback,
    Remote(String),
}

/// Each host tokio-postgres will try, as it picks them: a `hostaddr` wins over its `host`.
fn targets(config: &tokio_postgres::Config) -> Vec<Target> {
    let (hosts, addrs) = (config.get_hosts(), config.get_hostaddrs());
    (0..hosts.len().max(addrs.len()))
        .map(|i| match (addrs.get(i), hosts.get(i)) {
            (Some(ip), _) if ip.is_loopback() => Target::Loopback,
            (Some(ip), _) => Target::Remote(ip.to_string()),
            (None, Some(Host::Tcp(name))) if is_loopback_name(name) => Target::Loopback,
            (None, Some(Host::Tcp(name))) => Target::Remote(name.clone()),
            #[cfg(unix)]
            (None, Some(Host::Unix(_))) => Target::Socket,
            (None, None) => Target::Remote(String::new()),
        })
        .collect()
}

/// `localhost` or a loopback address: names that reach this machine without a network.
fn is_loopback_name(name: &str) -> bool {
    name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn judge(sslmode: Option<&str>, targets: &[Target]) -> Result<DatabaseTls, String> {
    if targets.is_empty() {
        return Err("names no host: give a host name, or `?host=/path/to/socket/dir`".into());
    }
    match sslmode {
        Some(mode @ ("prefer" | "allow")) => return Err(weak_mode(mode)),
        None | Some("disable" | "require" | "verify-ca" | "verify-full") => {}
        Some(other) => return Err(unknown_mode(other)),
    }
    let sockets = targets.iter().filter(|t| **t == Target::Socket).count();
    if sockets == targets.len() {
        return Ok(DatabaseTls::Socket);
    }
    if sockets > 0 {
        return Err(
            "mixes Unix sockets and TCP hosts: one URL has one TLS mode, so use one kind".into(),
        );
    }
    if sslmode != Some("disable") {
        return Ok(DatabaseTls::Required);
    }
    let remote = targets.iter().find_map(|t| match t {
        Target::Remote(host) => Some(host),
        _ => None,
    });
    match remote {
        None => Ok(DatabaseTls::DisabledOnLoopback),
        Some(host) => Err(format!(
            "sslmode=disable is accepted only for a Unix socket or a loopback host \
             (localhost, 127.0.0.1, ::1), and `{host}` is neither: anyone on the path would \
             read the password and every query. Use sslmode=require (with DATABASE_CA_FILE \
             for a private CA)"
        )),
    }
}

fn weak_mode(mode: &str) -> String {
    format!(
        "sslmode={mode} is refused: it falls back to plaintext, sending the password to anyone \
         on the path who answers \"no TLS\". Leave sslmode out (TLS is then required), or use \
         sslmode=require (verify-full means the same here); sslmode=disable is accepted for a \
         Unix socket or a loopback host"
    )
}

fn unknown_mode(mode: &str) -> String {
    format!("sslmode=`{mode}` is not one of disable, require, verify-ca, verify-full")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(url: &str) -> Result<DatabaseTls, String> {
        postgres_url(url).map(|p| p.tls)
    }

    #[test]
    fn without_sslmode_tls_is_required_and_set_so() {
        let parsed = postgres_url("postgres://doorman:pw@db.internal:5432/doorman").expect("ok");
        assert_eq!(parsed.tls, DatabaseTls::Required);
        assert_eq!(parsed.config.get_ssl_mode(), SslMode::Require);
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = format!("postgres://d@db.internal/d?sslmode={mode}&connect_timeout=3");
            let parsed = postgres_url(&url).expect(mode);
            assert_eq!(parsed.tls, DatabaseTls::Required, "{mode}");
            assert_eq!(parsed.config.get_ssl_mode(), SslMode::Require, "{mode}");
        }
        assert_eq!(
            tls("postgres://d@localhost/d"),
            Ok(DatabaseTls::Required),
            "loopback too, unless disabled"
        );
    }

    #[test]
    fn prefer_and_allow_are_refused_everywhere() {
        for url in [
            "postgres://d:pw@db.internal/d?sslmode=prefer",
            "postgres://d:pw@127.0.0.1/d?sslmode=allow",
            "postgresql://d@/d?host=/run/postgresql&sslmode=prefer",
            "postgres://d@db.internal/d?sslmode=disable&sslmode=prefer",
        ] {
            let err = tls(url).expect_err(url);
            assert!(
                err.contains("refused") && err.contains("plaintext"),
                "{err}"
            );
            assert!(!err.contains("pw"), "never the password: {err}");
        }
    }

    #[test]
    fn disable_is_accepted_only_on_loopback_or_a_socket() {
        for url in [
            "postgres://d@127.0.0.1:5432/d?sslmode=disable",
            "postgres://d@127.8.9.10/d?sslmode=disable",
            "postgres://d@[::1]:5432/d?sslmode=disable",
            "postgres://d@LocalHost./d?sslmode=disable",
            "postgres://d@db.internal/d?hostaddr=127.0.0.1&sslmode=disable",
        ] {
            let parsed = postgres_url(url).expect(url);
            assert_eq!(parsed.tls, DatabaseTls::DisabledOnLoopback, "{url}");
            assert_eq!(parsed.config.get_ssl_mode(), SslMode::Disable, "{url}");
        }
        for (url, host) in [
            (
                "postgres://d:pw@db.internal/d?sslmode=disable",
                "db.internal",
            ),
            ("postgres://d@10.0.0.5/d?sslmode=disable", "10.0.0.5"),
            (
                "postgres://d@localhost.evil.example/d?sslmode=disable",
                "localhost.evil",
            ),
            (
                "postgres://d@127.0.0.1,db.internal/d?sslmode=disable",
                "db.internal",
            ),
            (
                "postgres://d@localhost/d?hostaddr=192.0.2.7&sslmode=disable",
                "192.0.2.7",
            ),
        ] {
            let err = tls(url).expect_err(url);
            assert!(
                err.contains("sslmode=disable") && err.contains(host),
                "{err}"
            );
        }
    }

    #[test]
    fn a_unix_socket_means_no_tls_whatever_sslmode_says_except_the_weak_ones() {
        for url in [
            "postgresql://doorman@/postgres?host=/tmp/doorman-stores/pg",
            "postgresql://doorman@/postgres?host=%2Frun%2Fpostgresql",
            "postgresql://doorman@/postgres?host=/run/pg&sslmode=disable",
            "postgresql://doorman@/postgres?sslmode=require&host=/run/pg",
        ] {
            let parsed = postgres_url(url).expect(url);
            assert_eq!(parsed.tls, DatabaseTls::Socket, "{url}");
            assert_eq!(parsed.config.get_ssl_mode(), SslMode::Disable, "{url}");
        }
        let mixed = tls("postgresql://d@db.internal/d?host=/run/pg").expect_err("mixed");
        assert!(mixed.contains("mixes"), "{mixed}");
    }

    #[test]
    fn a_smuggled_sslmode_cannot_bring_prefer_back() {
        // tokio-postgres decodes `ssl%6Dode`; the mode it parses is overwritten.
        let parsed = postgres_url("postgres://d@db.internal/d?ssl%6Dode=prefer").expect("ok");
        assert_eq!(parsed.config.get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        assert!(
            tls("postgres://d@db.internal/d?sslmode=maybe")
                .expect_err("unknown")
                .contains("not one of")
        );
        assert!(
            tls("postgres://d@/d")
                .expect_err("no host")
                .contains("no host")
        );
        assert!(
            tls("postgres://d@db.internal/d?nonsense=1")
                .expect_err("bad option")
                .contains("not a valid PostgreSQL URL")
        );
    }
}
