//! A request path full of Unicode line breaks, C1 controls and bidi controls, sent raw to the
//! real binary, gives one access-log line: one line even for readers that split on U+2028 or
//! U+0085 (Python's `str.splitlines()`), with nothing that reorders text on a terminal, and,
//! in JSON, the very path back when parsed.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::process::{Doorman, spawn_doorman};

/// The path sent: each character the log must escape, between ordinary ones.
const PATH: &str = "/log-probe/a\u{2028}{\"level\":\"ERROR\"}\u{2029}b\u{85}c\u{9b}d\u{202e}gnp.exe\u{2066}e\u{61c}\u{200e}\u{200f}f";

/// Only separators and bidi controls, no C0/C1 control (a value with one of those was quoted
/// whole even before).
const NO_CONTROLS: &str = "/log-probe/a\u{2028}b\u{2029}c\u{202e}gnp.exe\u{2066}d\u{200f}";

/// Where `str.splitlines()` breaks a line (besides `\n` and `\r`).
const SPLITLINES: &[char] = &[
    '\u{0b}', '\u{0c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}', '\u{2029}',
];

/// Sends `GET path` with the path's bytes as they are (a real client would percent-encode
/// them; an attacker does not), and waits for the answer.
async fn send_raw(doorman: &Doorman, path: &str) {
    let addr = doorman.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer");
    assert!(answer.starts_with(b"HTTP/1.1 "), "an HTTP answer");
}

/// The stdout lines containing `marker`, once the log writer has written `count` of them.
async fn lines_with(doorman: &Doorman, marker: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = doorman.output();
        let lines: Vec<String> = output
            .lines()
            .filter(|l| l.contains(marker))
            .map(str::to_owned)
            .collect();
        if lines.len() >= count {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {count} `{marker}` lines in:\n{output}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_one_safe_line(line: &str) {
    assert!(
        !line.contains(SPLITLINES) && !line.contains(['\r', '\n']),
        "the line would be split: {line:?}"
    );
    let raw: Vec<char> = line
        .chars()
        .filter(|c| c.is_control() || "\u{61c}\u{200e}\u{200f}\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}".contains(*c))
        .collect();
    assert!(raw.is_empty(), "printed raw: {raw:?} in {line:?}");
}

#[tokio::test]
async fn a_path_with_line_separators_and_bidi_controls_is_one_json_line_that_parses_back() {
    let doorman = spawn_doorman(&[("LOG_FORMAT", "json")]).await;
    for (n, path) in [PATH, NO_CONTROLS].into_iter().enumerate() {
        send_raw(&doorman, path).await;
        let lines = lines_with(&doorman, "/log-probe/", n + 1).await;
        let line = &lines[n];
        assert_one_safe_line(line);
        let record: Value = serde_json::from_str(line).expect("the line is JSON");
        assert_eq!(record["target"], "doorman::access");
        assert_eq!(record["path"], path, "the path, exactly");
    }
}

#[tokio::test]
async fn a_path_with_line_separators_and_bidi_controls_is_one_quoted_pretty_line() {
    let doorman = spawn_doorman(&[("LOG_FORMAT", "pretty")]).await;
    for (n, path) in [PATH, NO_CONTROLS].into_iter().enumerate() {
        send_raw(&doorman, path).await;
        let lines = lines_with(&doorman, "/log-probe/", n + 1).await;
        let line = &lines[n];
        assert_one_safe_line(line);
        assert!(
            line.contains(r"\u{2028}") && line.contains(r"\u{202e}"),
            "escaped where a reader can see them: {line}"
        );
    }
}
