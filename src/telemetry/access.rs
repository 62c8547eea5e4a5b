//! The access log: one line per request (target `doorman::access`, level `info`). With
//! doorman's own JSON log installed the line is written straight into the log's buffer, field
//! by field with no dynamic dispatch (it is most of what doorman logs, so it must be cheap);
//! otherwise it is an ordinary event for whatever subscriber is installed. The filter decides
//! either way: `RUST_LOG=doorman::access=off` silences it.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use super::format::{ip, json_str, millis, timestamp, uint};
use super::logs::LogLayer;
use super::sink::Sink;

/// The fields of one access-log line.
#[derive(Debug)]
pub struct AccessLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// The matched route template.
    pub route: &'a str,
    /// The path, never the query.
    pub path: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    /// The signed-in caller's `sub`.
    pub user: Option<&'a str>,
    pub client: IpAddr,
}

static DIRECT: OnceLock<Arc<Sink>> = OnceLock::new();

/// Whether an access line would be written now (the filter's verdict).
pub fn enabled() -> bool {
    tracing::enabled!(target: "doorman::access", tracing::Level::INFO)
}

/// Writes access lines straight into `layer`'s buffer, when it writes JSON. Once per process
/// (the first layer wins).
pub fn write_directly_to(layer: &LogLayer) {
    if let Some(sink) = layer.json_sink() {
        let _ = DIRECT.set(sink);
    }
}

/// Writes `line` (the caller checked [`enabled`]).
pub fn write(line: &AccessLine<'_>) {
    match DIRECT.get() {
        Some(sink) => sink.append(false, |buf| json(buf, line)),
        None => tracing::info!(
            target: "doorman::access",
            request_id = line.request_id,
            method = line.method,
            route = line.route,
            path = line.path,
            status = line.status,
            duration_ms = line.elapsed.as_micros() as f64 / 1000.0,
            user = line.user,
            client = %line.client,
            "request"
        ),
    }
}

/// The line as the JSON layer would write the event above, field for field.
fn json(buf: &mut Vec<u8>, line: &AccessLine<'_>) {
    buf.extend_from_slice(b"{\"time\":\"");
    timestamp(buf, SystemTime::now());
    buf.extend_from_slice(
        b"\",\"level\":\"INFO\",\"target\":\"doorman::access\",\"message\":\"request\",\"request_id\":",
    );
    json_str(buf, line.request_id);
    buf.extend_from_slice(b",\"method\":");
    json_str(buf, line.method);
    buf.extend_from_slice(b",\"route\":");
    json_str(buf, line.route);
    buf.extend_from_slice(b",\"path\":");
    json_str(buf, line.path);
    buf.extend_from_slice(b",\"status\":");
    uint(buf, u64::from(line.status));
    buf.extend_from_slice(b",\"duration_ms\":");
    millis(buf, line.elapsed);
    if let Some(user) = line.user {
        buf.extend_from_slice(b",\"user\":");
        json_str(buf, user);
    }
    buf.extend_from_slice(b",\"client\":\"");
    ip(buf, line.client);
    buf.extend_from_slice(b"\"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_line_is_json_with_every_field_and_nothing_forged() {
        let mut buf = Vec::new();
        json(
            &mut buf,
            &AccessLine {
                request_id: "abc",
                method: "GET",
                route: "/api/user",
                path: "/api/\"x\"\n{}",
                status: 200,
                elapsed: Duration::from_micros(1_234),
                user: Some("104892318420394857123"),
                client: "2001:db8::7".parse().expect("ip"),
            },
        );
        let text = String::from_utf8(buf).expect("utf8");
        assert_eq!(text.matches('\n').count(), 1);
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["target"], "doorman::access");
        assert_eq!(value["path"], "/api/\"x\"\n{}");
        assert_eq!(value["status"], 200);
        assert_eq!(value["duration_ms"], 1.234);
        assert_eq!(value["user"], "104892318420394857123");
        assert_eq!(value["client"], "2001:db8::7");
    }
}
