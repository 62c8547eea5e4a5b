//! `[[gateway.route]]` in `DOORMAN_CONFIG`: the services doorman itself proxies to when it is
//! the front door. Each route names where requests go (`upstream`: `http://`, `https://` or
//! `unix:/path`), which requests are its (`host`, exact or `*.suffix`; `path_prefix`, matched
//! on segment boundaries) and under which policy.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// One route as the file writes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteEntry {
    name: Option<String>,
    host: Option<String>,
    path_prefix: Option<String>,
    upstream: String,
    strip_prefix: Option<bool>,
    policy: Option<String>,
    preserve_host: Option<bool>,
    timeout: Option<String>,
    websockets: Option<bool>,
}

/// Where a route's requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// `http://` or `https://`, with an optional base path the request path is appended to.
    Http(Url),
    /// A Unix socket speaking HTTP/1.
    Unix(PathBuf),
}

/// A host a route answers for: exact, or `*.suffix` (any subdomain); the port is not compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteHost {
    name: String,
    wildcard: bool,
}

impl RouteHost {
    /// Whether `host` (a `Host` header, port allowed) is this one.
    pub fn matches(&self, host: &str) -> bool {
        let host = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if self.wildcard {
            host.strip_suffix(&self.name)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
        } else {
            host == self.name
        }
    }
}

/// A route, checked.
#[derive(Clone, Debug)]
pub struct ProxyRoute {
    /// For metrics and logs: `name`, or host + prefix.
    pub name: String,
    pub host: Option<RouteHost>,
    /// `/` or a path without a trailing slash (`/grafana` matches `/grafana`, `/grafana/x`).
    pub path_prefix: String,
    pub upstream: Upstream,
    pub strip_prefix: bool,
    pub policy: String,
    /// Send the client's `Host` (default), or the upstream's.
    pub preserve_host: bool,
    /// How long the upstream may take to answer with its headers.
    pub timeout: Duration,
    pub websockets: bool,
}

impl ProxyRoute {
    /// Whether `path` is under this route's prefix (segment boundaries only).
    pub fn covers(&self, path: &str) -> bool {
        self.path_prefix == "/"
            || path == self.path_prefix
            || path
                .strip_prefix(&self.path_prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// `500ms`, `30s`, `5m`, or a bare number of seconds.
fn duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = number.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
}

fn upstream(raw: &str) -> Result<Upstream, String> {
    if let Some(path) = raw.strip_prefix("unix:") {
        let path = PathBuf::from(path.trim_start_matches("//"));
        if !path.is_absolute() {
            return Err(format!("`{raw}`: a Unix socket is `unix:/absolute/path`"));
        }
        return Ok(Upstream::Unix(path));
    }
    let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "`{raw}`: upstreams are http://, https:// or unix:/path"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "`{raw}`: no query, fragment or credentials in an upstream"
        ));
    }
    Ok(Upstream::Http(url))
}

/// The routes of the file, checked against the policies it defines.
pub(super) fn routes(
    entries: Vec<RouteEntry>,
    policies: &std::collections::BTreeMap<String, super::Policy>,
) -> Result<Vec<ProxyRoute>, String> {
    let mut routes = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let at = format!("[[gateway.route]] #{} ({})", i + 1, entry.upstream);
        let mut prefix = entry.path_prefix.unwrap_or_else(|| "/".into());
        if !prefix.starts_with('/') || prefix.contains(['?', '#', ' ']) {
            return Err(format!(
                "{at} path_prefix: `{prefix}` must be a path starting with /"
            ));
        }
        while prefix.len() > 1 && prefix.ends_with('/') {
            prefix.pop();
        }
        let host = match entry.host {
            None => None,
            Some(raw) => {
                let raw = raw.trim().to_ascii_lowercase();
                let (name, wildcard) = match raw.strip_prefix("*.") {
                    Some(suffix) => (suffix.to_owned(), true),
                    None => (raw.clone(), false),
                };
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                {
                    return Err(format!(
                        "{at} host: `{raw}` is not a host name or `*.suffix`"
                    ));
                }
                Some(RouteHost { name, wildcard })
            }
        };
        let policy = entry.policy.unwrap_or_else(|| "default".into());
        if !policies.contains_key(&policy) {
            return Err(format!("{at} policy: no policy `{policy}` is defined"));
        }
        let timeout = match entry.timeout {
            None => Duration::from_secs(30),
            Some(raw) => duration(&raw)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("{at} timeout: `{raw}` is not like 500ms, 30s or 5m"))?,
        };
        let upstream = upstream(&entry.upstream).map_err(|e| format!("{at} upstream: {e}"))?;
        let name = entry.name.unwrap_or_else(|| {
            let host = host.as_ref().map_or(String::new(), |h| {
                format!("{}{}", if h.wildcard { "*." } else { "" }, h.name)
            });
            format!("{host}{prefix}")
        });
        routes.push(ProxyRoute {
            name,
            host,
            path_prefix: prefix,
            upstream,
            strip_prefix: entry.strip_prefix.unwrap_or(false),
            policy,
            preserve_host: entry.preserve_host.unwrap_or(true),
            timeout,
            websockets: entry.websockets.unwrap_or(true),
        });
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str) -> ProxyRoute {
        ProxyRoute {
            name: "r".into(),
            host: None,
            path_prefix: prefix.into(),
            upstream: Upstream::Unix("/x".into()),
            strip_prefix: false,
            policy: "default".into(),
            preserve_host: true,
            timeout: Duration::from_secs(30),
            websockets: true,
        }
    }

    #[test]
    fn prefixes_match_on_segment_boundaries_only() {
        let grafana = route("/grafana");
        assert!(grafana.covers("/grafana"));
        assert!(grafana.covers("/grafana/d/x"));
        assert!(!grafana.covers("/grafanax"));
        assert!(!grafana.covers("/"));
        assert!(route("/").covers("/anything"));
    }

    #[test]
    fn hosts_match_exactly_or_as_a_subdomain_whatever_the_port() {
        let exact = RouteHost {
            name: "app.example.com".into(),
            wildcard: false,
        };
        assert!(exact.matches("app.example.com"));
        assert!(exact.matches("APP.example.com:8443"));
        assert!(!exact.matches("app.example.com.evil.io"));
        let wild = RouteHost {
            name: "example.com".into(),
            wildcard: true,
        };
        assert!(wild.matches("a.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("evilexample.com"));
    }

    #[test]
    fn timeouts_and_upstreams_are_read_or_refused_with_a_reason() {
        assert_eq!(duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(duration("12"), Some(Duration::from_secs(12)));
        assert_eq!(duration("soon"), None);
        assert!(matches!(
            upstream("unix:/run/app.sock"),
            Ok(Upstream::Unix(_))
        ));
        assert!(matches!(
            upstream("https://svc.internal/base"),
            Ok(Upstream::Http(_))
        ));
        assert!(upstream("unix:relative.sock").is_err());
        assert!(upstream("ftp://x").is_err());
        assert!(upstream("http://u:p@x").is_err());
    }
}
