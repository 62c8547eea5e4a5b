//! How one event becomes one line: JSON (every value escaped, so no field can forge a line)
//! or pretty (values with control, line-breaking or bidi characters quoted; colour only when
//! asked). What is escaped is `escape`'s. Time is RFC 3339 in UTC.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level};

use super::escape::{JsonEscaped, escape_into, is_unsafe};

pub(super) fn json_line(buf: &mut Vec<u8>, event: &Event<'_>, request_id: Option<&str>) {
    let meta = event.metadata();
    buf.extend_from_slice(b"{\"time\":\"");
    timestamp(buf, SystemTime::now());
    buf.extend_from_slice(b"\",\"level\":\"");
    buf.extend_from_slice(meta.level().as_str().as_bytes());
    buf.extend_from_slice(b"\",\"target\":");
    json_str(buf, meta.target());
    if let Some(id) = request_id {
        buf.extend_from_slice(b",\"request_id\":");
        json_str(buf, id);
    }
    event.record(&mut JsonFields {
        buf,
        skip_request_id: request_id.is_some(),
    });
    buf.extend_from_slice(b"}\n");
}

struct JsonFields<'a> {
    buf: &'a mut Vec<u8>,
    skip_request_id: bool,
}

impl JsonFields<'_> {
    /// Writes `,"name":` and says whether the value should follow.
    fn key(&mut self, field: &Field) -> bool {
        if self.skip_request_id && field.name() == "request_id" {
            return false;
        }
        self.buf.push(b',');
        json_str(self.buf, field.name());
        self.buf.push(b':');
        true
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            json_str(self.buf, value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            uint(self.buf, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            if value < 0 {
                self.buf.push(b'-');
            }
            uint(self.buf, value.unsigned_abs());
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            if value.is_finite() {
                let _ = write!(Bytes(self.buf), "{value}");
            } else {
                self.buf.extend_from_slice(b"null");
            }
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.buf
                .extend_from_slice(if value { b"true" } else { b"false" });
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.key(field) {
            self.buf.push(b'"');
            let _ = write!(JsonEscaped(self.buf), "{value:?}");
            self.buf.push(b'"');
        }
    }
}

pub(super) fn pretty_line(
    buf: &mut Vec<u8>,
    event: &Event<'_>,
    request_id: Option<&str>,
    ansi: bool,
) {
    let meta = event.metadata();
    let paint = |buf: &mut Vec<u8>, code: &str, text: &str| {
        if ansi {
            let _ = write!(Bytes(buf), "\x1b[{code}m{text}\x1b[0m");
        } else {
            buf.extend_from_slice(text.as_bytes());
        }
    };
    let mut time = Vec::with_capacity(32);
    timestamp(&mut time, SystemTime::now());
    paint(buf, "2", std::str::from_utf8(&time).unwrap_or(""));
    let level = meta.level();
    let colour = match *level {
        Level::ERROR => "31",
        Level::WARN => "33",
        Level::INFO => "32",
        Level::DEBUG => "34",
        Level::TRACE => "35",
    };
    buf.push(b' ');
    paint(buf, colour, &format!("{:>5}", level.as_str()));
    buf.push(b' ');
    paint(buf, "2", meta.target());
    buf.extend_from_slice(b": ");
    let mut fields = PrettyFields {
        message: String::new(),
        rest: String::new(),
        skip_request_id: request_id.is_some(),
    };
    event.record(&mut fields);
    buf.extend_from_slice(fields.message.as_bytes());
    buf.extend_from_slice(fields.rest.as_bytes());
    if let Some(id) = request_id {
        let _ = write!(Bytes(buf), " request_id={id}");
    }
    buf.push(b'\n');
}

struct PrettyFields {
    message: String,
    rest: String,
    skip_request_id: bool,
}

impl Visit for PrettyFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        // Control, line-breaking and bidi characters never reach a line as they are: they
        // could forge one, or reorder what a reader sees.
        let safe = |s: &str| {
            !s.is_empty()
                && !s
                    .chars()
                    .any(|c| is_unsafe(c) || c == ' ' || c == '"' || c == '=')
        };
        if field.name() == "message" {
            self.message = if text.chars().any(is_unsafe) {
                format!("{text:?}")
            } else {
                text
            };
        } else if !(self.skip_request_id && field.name() == "request_id") {
            if safe(&text) {
                let _ = write!(self.rest, " {}={text}", field.name());
            } else {
                let _ = write!(self.rest, " {}={text:?}", field.name());
            }
        }
    }
}

/// `s` as a JSON string, quotes included.
pub(super) fn json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    escape_into(buf, s);
    buf.push(b'"');
}

/// `fmt::Write` into a byte buffer.
pub(super) struct Bytes<'a>(pub(super) &'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `n` in decimal.
pub(super) fn uint(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// An IP address as `Display` writes it; IPv4 (nearly every client) without the formatting
/// machinery, which cost a tenth of an access line.
pub(super) fn ip(buf: &mut Vec<u8>, addr: std::net::IpAddr) {
    match addr {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                uint(buf, u64::from(octet));
            }
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(Bytes(buf), "{v6}");
        }
    }
}

/// `n` in decimal, zero-padded to `width` digits.
fn padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut n = n;
    for slot in digits[20 - width..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    buf.extend_from_slice(&digits[20 - width..]);
}

/// A duration in milliseconds with three decimals (microsecond precision), as a JSON number.
pub(super) fn millis(buf: &mut Vec<u8>, elapsed: std::time::Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    uint(buf, micros / 1000);
    buf.push(b'.');
    padded(buf, micros % 1000, 3);
}

/// RFC 3339 in UTC with microseconds: `2026-12-01T15:12:53.123456Z`.
pub(super) fn timestamp(buf: &mut Vec<u8>, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    padded(buf, u64::try_from(year).unwrap_or(0), 4);
    buf.push(b'-');
    padded(buf, u64::from(month), 2);
    buf.push(b'-');
    padded(buf, u64::from(day), 2);
    buf.push(b'T');
    padded(buf, rem / 3600, 2);
    buf.push(b':');
    padded(buf, rem / 60 % 60, 2);
    buf.push(b':');
    padded(buf, rem % 60, 2);
    buf.push(b'.');
    padded(buf, u64::from(since.subsec_micros()), 6);
    buf.push(b'Z');
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let mut buf = Vec::new();
        timestamp(
            &mut buf,
            UNIX_EPOCH + Duration::from_micros(1_796_136_277_123_456),
        );
        assert_eq!(
            String::from_utf8(buf).expect("utf8"),
            "2026-12-01T14:44:37.123456Z"
        );
        let mut leap = Vec::new();
        timestamp(&mut leap, UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(
            String::from_utf8(leap).expect("utf8"),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn numbers_and_durations_are_written_exactly() {
        let mut buf = Vec::new();
        uint(&mut buf, 0);
        buf.push(b' ');
        uint(&mut buf, u64::MAX);
        buf.push(b' ');
        millis(&mut buf, Duration::from_micros(61));
        buf.push(b' ');
        millis(&mut buf, Duration::from_micros(12_345_678));
        assert_eq!(
            String::from_utf8(buf).expect("utf8"),
            "0 18446744073709551615 0.061 12345.678"
        );
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for text in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.20.3.4",
            "2001:db8::7",
            "::1",
        ] {
            let addr: std::net::IpAddr = text.parse().expect("ip");
            let mut buf = Vec::new();
            ip(&mut buf, addr);
            assert_eq!(String::from_utf8(buf).expect("utf-8"), addr.to_string());
        }
    }

    #[test]
    fn json_strings_cannot_break_out_of_their_line() {
        let mut buf = Vec::new();
        let tricky = "a\"b\\c\nd\u{1b}[31m\u{7f}é\u{85}\u{2028}\u{2029}\u{202e}\u{2066}";
        json_str(&mut buf, tricky);
        let text = String::from_utf8(buf).expect("utf8");
        assert!(!text.contains('\n') && !text.contains('\u{1b}'));
        assert_eq!(text.lines().count(), 1);
        assert!(!text.contains(['\u{85}', '\u{2028}', '\u{2029}', '\u{202e}', '\u{2066}']));
        let back: String = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, tricky);
    }
}
