//! What a log line must never carry as it is, and how it is escaped. Besides JSON's own
//! (`"`, `\`, bytes below 0x20) and DEL: the C1 controls U+0080–U+009F (U+0085 is a line break
//! to many readers), the line and paragraph separators U+2028 and U+2029 (Python's
//! `str.splitlines()`, JavaScript), and the bidirectional controls U+061C, U+200E, U+200F,
//! U+202A–U+202E and U+2066–U+2069, which make a terminal or a log viewer show text in another
//! order than it is stored. A request path may carry any of them.
//!
//! Plain text costs one table lookup per byte and no allocation: only the lead bytes of those
//! characters (0xC2, 0xD8, 0xE2) and the ASCII ones send a string down the slow path.

/// The class of each byte: 0 plain, 1 an ASCII byte always escaped, 2 a lead byte of a
/// character that may be.
const CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        class[b] = 1;
        b += 1;
    }
    class[b'"' as usize] = 1;
    class[b'\\' as usize] = 1;
    class[0x7f] = 1;
    class[0xc2] = 2;
    class[0xd8] = 2;
    class[0xe2] = 2;
    class
};

/// The character at the start of `rest` (a lead byte of class 2) and its length, when it is
/// one of those escaped.
fn escaped_char(rest: &[u8]) -> Option<(u16, usize)> {
    match rest {
        // U+0080–U+009F: C2 80 – C2 9F.
        [0xc2, b @ 0x80..=0x9f, ..] => Some((u16::from(*b), 2)),
        // U+061C: D8 9C.
        [0xd8, 0x9c, ..] => Some((0x061c, 2)),
        // U+200E, U+200F, U+2028–U+202E: E2 80 8E/8F/A8–AE.
        [0xe2, 0x80, b @ (0x8e | 0x8f | 0xa8..=0xae), ..] => {
            Some((0x2000 | u16::from(*b & 0x3f), 3))
        }
        // U+2066–U+2069: E2 81 A6–A9.
        [0xe2, 0x81, b @ 0xa6..=0xa9, ..] => Some((0x2040 | u16::from(*b & 0x3f), 3)),
        _ => None,
    }
}

/// `s` escaped for the inside of a JSON string, appended to `buf`.
pub(super) fn escape_into(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let Some(first) = bytes.iter().position(|&b| CLASS[usize::from(b)] != 0) else {
        buf.extend_from_slice(bytes);
        return;
    };
    let (mut start, mut i) = (0, first);
    while i < bytes.len() {
        let b = bytes[i];
        let (code, len) = match CLASS[usize::from(b)] {
            0 => {
                i += 1;
                continue;
            }
            1 => (u16::from(b), 1),
            _ => match escaped_char(&bytes[i..]) {
                Some(found) => found,
                None => {
                    i += 1;
                    continue;
                }
            },
        };
        buf.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            _ => unicode_escape(buf, code),
        }
        i += len;
        start = i;
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// `\uXXXX`, lower-case hex.
fn unicode_escape(buf: &mut Vec<u8>, code: u16) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    buf.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        buf.push(DIGITS[usize::from((code >> shift) & 0xf)]);
    }
}

/// Whether `c` must not reach a pretty line as it is (the value is then quoted, and Rust's
/// `Debug` quoting escapes every such character).
pub(super) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `fmt::Write` into a byte buffer, escaped for the inside of a JSON string.
pub(super) struct JsonEscaped<'a>(pub(super) &'a mut Vec<u8>);

impl std::fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character the module promises to escape.
    fn promised() -> Vec<char> {
        let ranges = [
            (0x00, 0x1f),
            (0x7f, 0x9f),
            (0x061c, 0x061c),
            (0x200e, 0x200f),
            (0x2028, 0x202e),
            (0x2066, 0x2069),
        ];
        ranges
            .iter()
            .flat_map(|&(lo, hi)| (lo..=hi).filter_map(char::from_u32))
            .collect()
    }

    fn escaped(s: &str) -> String {
        let mut buf = Vec::new();
        escape_into(&mut buf, s);
        String::from_utf8(buf).expect("utf8")
    }

    #[test]
    fn every_line_break_control_and_bidi_character_becomes_a_u_escape() {
        for c in promised() {
            let text = escaped(&format!("a{c}b"));
            assert!(text.is_ascii(), "{:04x} left raw: {text:?}", u32::from(c));
            assert_eq!(text.lines().count(), 1);
            let back: String = serde_json::from_str(&format!("\"{text}\"")).expect("json");
            assert_eq!(back, format!("a{c}b"));
            assert!(
                is_unsafe(c),
                "{:04x} is quoted in pretty lines too",
                u32::from(c)
            );
        }
        assert_eq!(escaped("\u{2028}\u{202e}\u{85}"), "\\u2028\\u202e\\u0085");
    }

    #[test]
    fn text_without_them_is_copied_as_it_is() {
        // Their neighbours share lead bytes: U+00A0 (C2 A0), U+061B (D8 9B), U+2027, U+202F,
        // U+2065, U+206A, the euro sign (E2 82 AC).
        let neighbours = "é\u{a0}\u{61b}\u{2027}\u{202f}\u{2065}\u{206a}€ 日本 /api/user";
        assert_eq!(escaped(neighbours), neighbours);
        for c in neighbours.chars() {
            assert!(!is_unsafe(c), "{c:?}");
        }
    }

    #[test]
    fn the_json_escapes_stay_short() {
        assert_eq!(escaped("a\"b\\c\nd\re\tf"), "a\\\"b\\\\c\\nd\\re\\tf");
        assert_eq!(escaped("\u{1b}[31m\u{7f}"), "\\u001b[31m\\u007f");
    }

    /// The line `event` makes in `style`, through the real layer.
    fn line_of(style: super::super::logs::Style, event: impl FnOnce()) -> String {
        use tracing_subscriber::layer::SubscriberExt;
        #[derive(Clone, Default)]
        struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let (layer, guard) = super::super::logs::LogLayer::new(style, Box::new(captured.clone()));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), event);
        drop(guard);
        let bytes = captured.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8(bytes).expect("utf8")
    }

    #[test]
    fn no_style_prints_line_breaks_or_bidi_controls_raw() {
        use super::super::logs::Style;
        let path = "/x\u{2028}{\"forged\":1}\u{85}\u{202e}gnp.exe\u{2066}";
        for style in [Style::Json, Style::Pretty { ansi: false }] {
            let line = line_of(style, || {
                tracing::warn!(path, "odd \u{2029} request \u{200f}");
            });
            // One line for any reader, `str.splitlines()` included: nothing inside it breaks.
            let body = line.strip_suffix('\n').expect("a whole line");
            assert!(!body.chars().any(is_unsafe), "{style:?}: {line:?}");
            if style == Style::Json {
                let value: serde_json::Value = serde_json::from_str(&line).expect("json");
                assert_eq!(value["path"], path);
                assert_eq!(value["message"], "odd \u{2029} request \u{200f}");
            } else {
                assert!(
                    line.contains("\\u{2028}") && line.contains("\\u{202e}"),
                    "{line}"
                );
            }
        }
    }
}
