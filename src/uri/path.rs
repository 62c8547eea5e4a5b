//! A request path in its one normal form, the form everything after the envelope sees:
//! routing, policies, doorman's reserved paths and the upstream (RFC 3986 §6.2.2, as Envoy's
//! `normalize_path` + `merge_slashes` + `path_with_escaped_slashes_action: REJECT_REQUEST`).
//!
//! - percent-encoded unreserved characters are decoded (`%61` → `a`, `%2e` → `.`), every
//!   other escape is kept with upper-case hex, and bytes outside ASCII are encoded;
//! - `.` and `..` segments are resolved (also when they were encoded), `..` never above `/`;
//! - empty segments are merged (`//` → `/`);
//! - what servers read differently is refused: `%2F`, `%5C`, `\`, `%00`, `;` (path
//!   parameters, which Tomcat and Spring strip) and invalid percent-encoding.
//!
//! A path already in normal form (nearly all of them) is checked in one pass and borrowed.

use std::borrow::Cow;
use std::fmt;

/// Why a path was refused: each is a shape that different servers read differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Not `/…` (an absolute path is required: `*` and authority forms are not paths).
    NotAbsolute,
    /// `%2F` or `%5C`: a slash that is not a separator to us but may be to the service.
    EncodedSlash,
    /// A raw `\`, which some servers read as `/`.
    Backslash,
    /// `%00`.
    Nul,
    /// `;`, which starts path parameters that some servers strip before matching.
    Semicolon,
    /// `%` not followed by two hex digits.
    BadEscape,
}

impl PathError {
    /// A sentence for the client.
    pub fn message(self) -> &'static str {
        match self {
            Self::NotAbsolute => "the request path must start with /",
            Self::EncodedSlash => "the request path contains an encoded slash (%2F or %5C)",
            Self::Backslash => "the request path contains a backslash",
            Self::Nul => "the request path contains an encoded NUL (%00)",
            Self::Semicolon => "the request path contains ; (path parameters are not accepted)",
            Self::BadEscape => "the request path contains an invalid percent-encoding",
        }
    }

    /// For logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAbsolute => "not_absolute",
            Self::EncodedSlash => "encoded_slash",
            Self::Backslash => "backslash",
            Self::Nul => "nul",
            Self::Semicolon => "semicolon",
            Self::BadEscape => "bad_escape",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `path` is already in normal form; `Err` for what is refused whatever else the
/// path holds (so the fast path and the slow one refuse the same paths).
fn is_normal(path: &[u8]) -> Result<bool, PathError> {
    let mut normal = true;
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'\\' => return Err(PathError::Backslash),
            b';' => return Err(PathError::Semicolon),
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    path.get(i + 1).copied().and_then(hex),
                    path.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                match hi << 4 | lo {
                    b'/' | b'\\' => return Err(PathError::EncodedSlash),
                    0 => return Err(PathError::Nul),
                    b if is_unreserved(b) => normal = false,
                    _ if path[i + 1].is_ascii_lowercase() || path[i + 2].is_ascii_lowercase() => {
                        normal = false
                    }
                    _ => {}
                }
                i += 2;
            }
            b'/' => {
                // An empty segment, or a `.`/`..` segment, follows this slash: look at the next
                // few bytes only.
                let rest = &path[i + 1..];
                let ends_segment = |at: usize| rest.get(at).is_none_or(|&b| b == b'/');
                if rest.first() == Some(&b'/')
                    || (rest.first() == Some(&b'.')
                        && (ends_segment(1) || (rest.get(1) == Some(&b'.') && ends_segment(2))))
                {
                    normal = false;
                }
            }
            b if !b.is_ascii() => normal = false,
            _ => {}
        }
        i += 1;
    }
    Ok(normal)
}

/// `path` in normal form, borrowed when it already was.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(bytes)? {
        return Ok(Cow::Borrowed(path));
    }
    Ok(Cow::Owned(resolve(&decode_unreserved(bytes))))
}

/// Decodes escapes of unreserved characters, upper-cases the others, encodes non-ASCII bytes.
/// `is_normal` has already refused every bad escape.
fn decode_unreserved(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            let decoded = hi << 4 | lo;
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(hi)]));
                out.push(char::from(HEX[usize::from(lo)]));
            }
            i += 3;
            continue;
        }
        if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        i += 1;
    }
    out
}

/// Merges empty segments and resolves `.` and `..` (never above the root). A path that ended
/// in `/`, `.` or `..` still ends in `/`.
fn resolve(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing = false;
    for segment in path.split('/').skip(1) {
        trailing = false;
        match segment {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                segments.pop();
                trailing = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_already_normal_are_borrowed() {
        for path in [
            "/",
            "/api/user",
            "/.well-known/jwks.json",
            "/a/b/",
            "/%20x",
            "/a..b/.c",
        ] {
            assert!(
                matches!(normalize(path), Ok(Cow::Borrowed(_))),
                "{path}: {:?}",
                normalize(path)
            );
        }
    }

    #[test]
    fn every_shape_of_the_audit_becomes_the_admin_path() {
        for path in [
            "/%61dmin/x",
            "//admin/x",
            "/x/../admin/x",
            "/x/%2e%2e/admin/x",
            "/x/%2E%2E/admin/x",
            "/x/.%2e/admin/x",
            "/./admin/x",
            "/%2e/admin/x",
            "/../admin/x",
            "/admin//x",
            "/admin/./x",
            "/adm%69n/x",
        ] {
            assert_eq!(normalize(path).as_deref(), Ok("/admin/x"), "{path}");
        }
    }

    #[test]
    fn shapes_that_servers_read_differently_are_refused() {
        for (path, error) in [
            ("/admin%2fx", PathError::EncodedSlash),
            ("/admin%2Fx", PathError::EncodedSlash),
            ("/x/..%2fadmin/x", PathError::EncodedSlash),
            ("/admin%5cx", PathError::EncodedSlash),
            ("/admin\\x", PathError::Backslash),
            ("/admin%00", PathError::Nul),
            ("/admin;x/y", PathError::Semicolon),
            ("/x/..;/admin/x", PathError::Semicolon),
            ("/admin%zz", PathError::BadEscape),
            ("/admin%4", PathError::BadEscape),
            ("/admin%", PathError::BadEscape),
            ("admin", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ] {
            assert_eq!(normalize(path), Err(error), "{path}");
        }
    }

    #[test]
    fn other_escapes_are_kept_upper_cased_and_trailing_slashes_stay() {
        assert_eq!(normalize("/a%3fb").as_deref(), Ok("/a%3Fb"));
        assert_eq!(normalize("/a%25b").as_deref(), Ok("/a%25b"));
        assert_eq!(normalize("/a%252e%252e/").as_deref(), Ok("/a%252e%252e/"));
        assert_eq!(normalize("/café").as_deref(), Ok("/caf%C3%A9"));
        assert_eq!(normalize("/a/b/..").as_deref(), Ok("/a/"));
        assert_eq!(normalize("/a/.").as_deref(), Ok("/a/"));
        assert_eq!(normalize("/a//").as_deref(), Ok("/a/"));
        assert_eq!(normalize("/..").as_deref(), Ok("/"));
        assert_eq!(normalize("//").as_deref(), Ok("/"));
        assert_eq!(normalize("/%7Euser").as_deref(), Ok("/~user"));
    }

    #[test]
    fn the_normal_form_is_a_fixed_point() {
        for path in [
            "/x/%2e%2e/admin/x",
            "/a%3fb/./c//",
            "/café/../%41",
            "/a/b/..",
        ] {
            let once = normalize(path).expect("accepted").into_owned();
            assert_eq!(normalize(&once).as_deref(), Ok(once.as_str()), "{path}");
        }
    }
}
