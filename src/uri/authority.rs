//! The one parser of a request's authority (`Host`, `X-Forwarded-Host`, the authority of
//! `X-Original-URL` or of an absolute-form target): a host name, an IPv4 address or a
//! bracketed IPv6 address, and an optional port. Nothing else: no userinfo (`a@b`), no `/`,
//! `?`, `#`, `\`, spaces, percent-escapes or empty values, so that choosing a route, building
//! the target URL, the assertion's audience, `rd` and `X-Forwarded-Host` all see the same host.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv6Addr;

/// Host names longer than this are refused (DNS allows 253).
pub const MAX_HOST_LEN: usize = 253;

/// A checked authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority<'a> {
    /// Lower-case, without a trailing dot; an IPv6 address keeps its brackets.
    host: Cow<'a, str>,
    port: Option<u16>,
    /// The text as it came (validated), for `X-Forwarded-Host`.
    raw: &'a str,
}

/// Why an authority was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityError;

impl fmt::Display for AuthorityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a host name, IPv4 or [IPv6] address with an optional port")
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// The host name at the start of `raw` (up to a `:` or the end), in one pass: the name without
/// a trailing dot, where it ends, and whether it has upper-case letters. Only letters, digits,
/// `-`, `.` and `_`; no empty label (a leading dot, `..`), at most `MAX_HOST_LEN` bytes. (This
/// runs on every request: no substring search, no second scan.)
fn host_name(raw: &str) -> Result<(&str, usize, bool), AuthorityError> {
    let bytes = raw.as_bytes();
    let (mut end, mut upper, mut after_dot) = (bytes.len(), false, true);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b':' => {
                end = i;
                break;
            }
            b'.' if after_dot => {
                // A leading dot or `..`; a lone trailing dot is allowed (checked below).
                return Err(AuthorityError);
            }
            b'.' => after_dot = true,
            b if is_name_byte(b) => {
                upper |= b.is_ascii_uppercase();
                after_dot = false;
            }
            _ => return Err(AuthorityError),
        }
    }
    let name = &raw[..end];
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() || bare.len() > MAX_HOST_LEN || bare.ends_with('.') {
        return Err(AuthorityError);
    }
    if ends_in_a_number(bare) && bare.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(AuthorityError);
    }
    Ok((bare, end, upper))
}

/// Whether a URL parser reads `name` as an IPv4 address (WHATWG's "ends in a number": the
/// last label is decimal digits or `0x` hex). Only a dotted quad is then accepted, so that
/// `999.1.1.1`, `127.1`, `0x7f.0.0.1` or `a.1` are not one host here and another (or an
/// error) in the URL built from it.
fn ends_in_a_number(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let bytes = last.as_bytes();
    match bytes {
        [b'0', b'x' | b'X', hex @ ..] => hex.iter().all(u8::is_ascii_hexdigit),
        digits => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
    }
}

impl<'a> Authority<'a> {
    /// `raw` as an authority, or `Err` for anything but `host[:port]`.
    pub fn parse(raw: &'a str) -> Result<Self, AuthorityError> {
        let mut upper_case = false;
        let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or(AuthorityError)?;
            inside.parse::<Ipv6Addr>().map_err(|_| AuthorityError)?;
            (&raw[..inside.len() + 2], after)
        } else {
            let (bare, end, upper) = host_name(raw)?;
            upper_case = upper;
            (bare, &raw[end..])
        };
        let port = match port {
            "" => None,
            p => {
                let digits = p.strip_prefix(':').ok_or(AuthorityError)?;
                if digits.is_empty()
                    || digits.len() > 5
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(AuthorityError);
                }
                Some(digits.parse::<u16>().map_err(|_| AuthorityError)?)
            }
        };
        let host = if upper_case {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        };
        Ok(Self { host, port, raw })
    }

    /// The host, lower-case, without a trailing dot (IPv6 in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The validated text as it came.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// `host[:port]`, dropping the port when it is `default_port`.
    pub fn for_url(&self, default_port: u16) -> Cow<'_, str> {
        match self.port {
            Some(port) if port != default_port => Cow::Owned(format!("{}:{port}", self.host)),
            _ => Cow::Borrowed(&self.host),
        }
    }

    /// Whether both name the same host and port (`default_port` when absent).
    pub fn same_as(&self, other: &Authority<'_>, default_port: u16) -> bool {
        self.host == other.host
            && self.port.unwrap_or(default_port) == other.port.unwrap_or(default_port)
    }
}

/// The authority part of an absolute URL as written (`https://AUTHORITY/…`), before any URL
/// parser folds `\` into `/` or drops userinfo; `None` when `url` has no `scheme://`.
pub fn authority_of_url(url: &str) -> Option<&str> {
    authority_span(url).and_then(|(start, end)| url.get(start..end))
}

/// Where the authority of `url` (`scheme://AUTHORITY…`) starts and ends, as byte offsets.
pub fn authority_span(url: &str) -> Option<(usize, usize)> {
    let bytes = url.as_bytes();
    let colon = bytes.iter().position(|&b| b == b':')?;
    let start = colon + 3;
    if bytes.get(colon + 1..start) != Some(b"//") {
        return None;
    }
    let end = bytes[start..]
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .map_or(bytes.len(), |i| start + i);
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_addresses_and_ports_are_accepted_and_folded() {
        let a = Authority::parse("App.Example.COM.:8443").expect("valid");
        assert_eq!((a.host(), a.port()), ("app.example.com", Some(8443)));
        assert_eq!(a.as_str(), "App.Example.COM.:8443");
        assert_eq!(
            Authority::parse("127.0.0.1").expect("v4").host(),
            "127.0.0.1"
        );
        let v6 = Authority::parse("[::1]:3000").expect("v6");
        assert_eq!((v6.host(), v6.port()), ("[::1]", Some(3000)));
        assert_eq!(
            Authority::parse("app.1x").expect("not a number").host(),
            "app.1x"
        );
        assert_eq!(
            Authority::parse("svc_1.internal").expect("_").host(),
            "svc_1.internal"
        );
        assert_eq!(
            Authority::parse("a.example:443")
                .expect("port")
                .for_url(443),
            "a.example"
        );
    }

    #[test]
    fn anything_that_is_not_host_and_port_is_refused() {
        for raw in [
            "",
            "app.local@secret.local",
            "user:pw@secret.local",
            "secret.local?",
            "secret.local#x",
            "secret.local/",
            "secret.local\\@app.local",
            "secret local",
            "secret.local:",
            "secret.local:http",
            "secret.local:99999",
            "secret.local:80:80",
            "%73ecret.local",
            "[::1",
            "[::1]x",
            "[fe80::1%25eth0]",
            ".",
            ".secret.local",
            "a..b",
            ":80",
            "999.1.1.1",
            "127.1",
            "0x7f.0.0.1",
            "app.1",
            "1.2.3.4.5",
            "01.2.3.4",
        ] {
            assert_eq!(Authority::parse(raw), Err(AuthorityError), "{raw:?}");
        }
        assert!(Authority::parse(&"a".repeat(MAX_HOST_LEN + 1)).is_err());
    }

    #[test]
    fn the_authority_of_a_url_is_read_as_written() {
        assert_eq!(
            authority_of_url("https://app.local@secret.local/x"),
            Some("app.local@secret.local")
        );
        assert_eq!(
            authority_of_url("https://secret.local\\@app.local/x"),
            Some("secret.local\\@app.local")
        );
        assert_eq!(authority_of_url("https://a.example?x"), Some("a.example"));
        assert_eq!(authority_of_url("javascript:alert(1)"), None);
    }

    #[test]
    fn the_same_host_with_and_without_its_default_port_is_the_same() {
        let a = Authority::parse("a.example").expect("a");
        let b = Authority::parse("A.example:80").expect("b");
        assert!(a.same_as(&b, 80));
        assert!(!a.same_as(&b, 443));
    }
}
