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
    ignore_case: Option<bool>,
    audience: Option<String>,
    strip_headers: Option<Vec<String>>,
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
    /// Whether `host` (a checked host name: lower-case, no port, no trailing dot, as
    /// `uri::Authority::host` gives it) is this one.
    pub fn matches(&self, host: &str) -> bool {
        if self.wildcard {
            host.strip_suffix(&self.name)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
        } else {
            host == self.name
        }
    }

    /// The exact host name, `None` for a wildcard.
    pub fn exact(&self) -> Option<&str> {
        (!self.wildcard).then_some(self.name.as_str())
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
    /// `path_prefix` matches whatever the case of the path (for services that ignore case).
    pub ignore_case: bool,
    /// The assertion's `aud` for this route (before the policy's and the default).
    pub audience: Option<String>,
    /// Request headers the service must never get from a client, beyond doorman's list
    /// (lower-case).
    pub strip_headers: Vec<String>,
}

impl ProxyRoute {
    /// Whether `path` (in normal form) is under this route's prefix (segment boundaries only).
    pub fn covers(&self, path: &str) -> bool {
        if self.path_prefix == "/" {
            return true;
        }
        let prefix = self.path_prefix.as_bytes();
        let Some(head) = path.as_bytes().get(..prefix.len()) else {
            return false;
        };
        let same = if self.ignore_case {
            head.eq_ignore_ascii_case(prefix)
        } else {
            head == prefix
        };
        same && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'))
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

/// `path_prefix`, checked: a plain path in normal form (requests are matched in normal form,
/// `uri::normalize`, so another prefix would never match), without a trailing slash.
fn path_prefix(at: &str, raw: Option<String>) -> Result<String, String> {
    let mut prefix = raw.unwrap_or_else(|| "/".into());
    if !prefix.starts_with('/')
        || !prefix.is_ascii()
        || prefix.contains(['?', '#', ' ', '%', '\\', ';'])
        || prefix
            .trim_end_matches('/')
            .split('/')
            .skip(1)
            .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err(format!(
            "{at} path_prefix: `{prefix}` must be a plain path starting with / (no %, \\, ;, \
             spaces, // or dot segments)"
        ));
    }
    while prefix.len() > 1 && prefix.ends_with('/') {
        prefix.pop();
    }
    Ok(prefix)
}

/// `host`, checked: a host name or `*.suffix`.
fn route_host(at: &str, raw: Option<String>) -> Result<Option<RouteHost>, String> {
    let Some(raw) = raw else {
        return Ok(None);
    };
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
    Ok(Some(RouteHost { name, wildcard }))
}

/// `strip_headers`, as lower-case header names.
fn header_names(at: &str, raw: Option<Vec<String>>) -> Result<Vec<String>, String> {
    raw.unwrap_or_default()
        .into_iter()
        .map(|name| {
            axum::http::HeaderName::from_bytes(name.trim().as_bytes())
                .map(|n| n.as_str().to_owned())
                .map_err(|_| format!("{at} strip_headers: `{name}` is not a header name"))
        })
        .collect()
}

/// One route of the file, checked against the policies it defines.
fn route(
    at: &str,
    entry: RouteEntry,
    policies: &std::collections::BTreeMap<String, super::Policy>,
) -> Result<ProxyRoute, String> {
    let prefix = path_prefix(at, entry.path_prefix)?;
    let host = route_host(at, entry.host)?;
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
    if let Some(audience) = &entry.audience
        && Url::parse(audience).is_err()
    {
        return Err(format!("{at} audience: `{audience}` is not a URL"));
    }
    let name = entry.name.unwrap_or_else(|| {
        let host = host.as_ref().map_or(String::new(), |h| {
            format!("{}{}", if h.wildcard { "*." } else { "" }, h.name)
        });
        format!("{host}{prefix}")
    });
    Ok(ProxyRoute {
        name,
        host,
        path_prefix: prefix,
        upstream,
        strip_prefix: entry.strip_prefix.unwrap_or(false),
        policy,
        preserve_host: entry.preserve_host.unwrap_or(true),
        timeout,
        websockets: entry.websockets.unwrap_or(true),
        ignore_case: entry.ignore_case.unwrap_or(false),
        audience: entry.audience,
        strip_headers: header_names(at, entry.strip_headers)?,
    })
}

/// The routes of the file, checked against the policies it defines.
pub(super) fn routes(
    entries: Vec<RouteEntry>,
    policies: &std::collections::BTreeMap<String, super::Policy>,
) -> Result<Vec<ProxyRoute>, String> {
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let at = format!("[[gateway.route]] #{} ({})", i + 1, entry.upstream);
            route(&at, entry, policies)
        })
        .collect()
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
            ignore_case: false,
            audience: None,
            strip_headers: Vec::new(),
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
        assert!(!grafana.covers("/GRAFANA/x"), "case matters by default");
        let loose = ProxyRoute {
            ignore_case: true,
            ..route("/grafana")
        };
        assert!(loose.covers("/GraFana/x"));
        assert!(loose.covers("/GRAFANA"));
        assert!(!loose.covers("/grafanax"));
    }

    #[test]
    fn hosts_match_exactly_or_as_a_subdomain_whatever_the_port() {
        let exact = RouteHost {
            name: "app.example.com".into(),
            wildcard: false,
        };
        assert!(exact.matches("app.example.com"));
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
