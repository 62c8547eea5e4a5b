//! A request's target checked as a whole, once, before anything routes it: one `Host` (RFC
//! 9112 §3.2: more than one is a 400), a valid authority, an absolute-form target that names
//! the same authority as `Host`, and the path in normal form.

use std::borrow::Cow;

use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, Uri, header};

use super::authority::Authority;
use super::path::{PathError, normalize};

/// Why a request target was refused (400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetError {
    Path(PathError),
    /// More than one `Host` header.
    TwoHosts,
    /// A `Host` that is not `host[:port]`.
    BadHost,
    /// An absolute-form target whose authority is not the `Host`.
    HostMismatch,
}

impl TargetError {
    /// A sentence for the client.
    pub fn message(self) -> &'static str {
        match self {
            Self::Path(error) => error.message(),
            Self::TwoHosts => "the request has more than one Host header",
            Self::BadHost => "the Host header is not a host name or address with an optional port",
            Self::HostMismatch => "the request target names another host than the Host header",
        }
    }

    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path(error) => error.as_str(),
            Self::TwoHosts => "two_hosts",
            Self::BadHost => "bad_host",
            Self::HostMismatch => "host_mismatch",
        }
    }
}

/// The checked target: the path in normal form (borrowed when it already was) and the
/// authority, when the request named one.
#[derive(Debug)]
pub struct Checked<'a> {
    pub path: Cow<'a, str>,
    pub authority: Option<Authority<'a>>,
}

/// The `Host` header of `headers`, checked: `Ok(None)` when there is none.
pub fn host(headers: &HeaderMap) -> Result<Option<Authority<'_>>, TargetError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let Some(value) = hosts.next() else {
        return Ok(None);
    };
    if hosts.next().is_some() {
        return Err(TargetError::TwoHosts);
    }
    // Only ASCII name bytes pass `Authority::parse`, so UTF-8 is check enough here.
    let text = std::str::from_utf8(value.as_bytes()).map_err(|_| TargetError::BadHost)?;
    Authority::parse(text)
        .map(Some)
        .map_err(|_| TargetError::BadHost)
}

/// Checks `uri` and `headers` as one request target.
pub fn check<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Result<Checked<'a>, TargetError> {
    let mut authority = host(headers)?;
    if let Some(given) = uri.authority() {
        let given = Authority::parse(given.as_str()).map_err(|_| TargetError::BadHost)?;
        let default_port = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        match &authority {
            Some(host) if !host.same_as(&given, default_port) => {
                return Err(TargetError::HostMismatch);
            }
            Some(_) => {}
            None => authority = Some(given),
        }
    }
    let path = normalize(uri.path()).map_err(TargetError::Path)?;
    Ok(Checked { path, authority })
}

/// `uri` with its path replaced by `path` (the query kept); `None` if that is not a URI.
pub fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let target = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::from_maybe_shared(target).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(hosts: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for host in hosts {
            map.append(header::HOST, HeaderValue::from_str(host).expect("value"));
        }
        map
    }

    #[test]
    fn one_valid_host_and_a_normal_path_pass() {
        let uri: Uri = "/x/../admin?q=1".parse().expect("uri");
        let h = headers(&["App.local:8080"]);
        let checked = check(&uri, &h).expect("valid");
        assert_eq!(checked.path, "/admin");
        assert_eq!(checked.authority.expect("host").host(), "app.local");
        let rewritten = with_path(&uri, &checked.path).expect("uri");
        assert_eq!(rewritten, "/admin?q=1");
    }

    #[test]
    fn two_hosts_a_bad_host_and_a_mismatched_absolute_target_are_refused() {
        let uri: Uri = "/".parse().expect("uri");
        assert_eq!(
            check(&uri, &headers(&["a.local", "b.local"])).err(),
            Some(TargetError::TwoHosts)
        );
        assert_eq!(
            check(&uri, &headers(&["app.local@secret.local"])).err(),
            Some(TargetError::BadHost)
        );
        let absolute: Uri = "http://secret.local/x".parse().expect("uri");
        assert_eq!(
            check(&absolute, &headers(&["app.local"])).err(),
            Some(TargetError::HostMismatch)
        );
        let same: Uri = "http://APP.local:80/x".parse().expect("uri");
        assert!(check(&same, &headers(&["app.local"])).is_ok());
        let none = HeaderMap::new();
        let alone = check(&absolute, &none).expect("no Host");
        assert_eq!(
            alone.authority.expect("from the target").host(),
            "secret.local"
        );
    }
}
