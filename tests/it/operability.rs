//! What operators see of doorman, through the real binary: the Prometheus scrape on its own
//! listener, JSON log lines on a pipe (no colour codes), the request id, `doorman check`,
//! `--help`/`--version`, readiness, and a SIGTERM that lets the request in flight finish.

use std::time::Duration;

use serde_json::Value;

use crate::support::process::{command, free_port, spawn_doorman};
use crate::support::test_provider::{Faults, TestProvider, TokenFault, spawn_app_for};
use crate::support::{Jar, location, start_login};

/// The value of the series `name` whose labels include `labels` (0 when absent).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
            (series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

async fn scrape(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    response.text().await.expect("text")
}

/// The JSON objects among `lines` (every line must be one).
fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect()
}

#[tokio::test]
async fn the_metrics_listener_counts_a_sign_in_a_failed_password_login_and_a_logout() {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let doorman = spawn_doorman(&[("METRICS_ADDR", &metrics_addr)]).await;
    let metrics_base = doorman.metrics.clone().expect("metrics on");
    let before = scrape(&doorman.client, &metrics_base).await;
    assert_eq!(
        metric(&before, "doorman_logins_total", &[("method", "oidc")]),
        0.0
    );
    assert_eq!(
        metric(
            &before,
            "doorman_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    let jar = doorman.sign_in("Ada Lovelace", "ada@example.com").await;
    let me = doorman
        .client
        .get(doorman.url("/api/user"))
        .header("cookie", jar.header())
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let token = jar.get("access_token").expect("session").to_owned();
    let wrong = doorman
        .client
        .post(doorman.url("/api/login"))
        .json(&serde_json::json!({"username": "nobody", "password": "not-the-password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), 401);
    let out = doorman
        .client
        .post(doorman.url("/api/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 204);
    let after_logout = doorman
        .client
        .get(doorman.url("/api/user"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me again");
    assert_eq!(after_logout.status(), 401);

    let text = scrape(&doorman.client, &metrics_base).await;
    let count = |name: &str, labels: &[(&str, &str)]| metric(&text, name, labels);
    assert_eq!(
        count(
            "doorman_logins_total",
            &[("method", "oidc"), ("result", "success")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "doorman_logins_total",
            &[
                ("method", "password"),
                ("result", "failure"),
                ("reason", "invalid_credentials")
            ]
        ),
        1.0
    );
    assert_eq!(count("doorman_logouts_total", &[]), 1.0);
    assert_eq!(
        count("doorman_sessions_revoked_total", &[("cause", "logout")]),
        1.0
    );
    assert!(count("doorman_token_checks_total", &[("result", "valid")]) >= 1.0);
    assert_eq!(
        count("doorman_token_checks_total", &[("result", "revoked")]),
        1.0
    );
    assert_eq!(
        count(
            "doorman_http_requests_total",
            &[("route", "/api/user"), ("status_class", "2xx")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "doorman_http_requests_total",
            &[("route", "/api/user"), ("status_class", "4xx")]
        ),
        1.0
    );
    assert!(
        count(
            "doorman_http_request_duration_seconds_count",
            &[("route", "/auth/callback")]
        ) >= 1.0
    );
    assert!(
        text.contains(
            "doorman_http_request_duration_seconds_bucket{le=\"0.00005\",route=\"/api/user\"}"
        ),
        "the first bucket is 50 µs"
    );
    assert!(
        count(
            "doorman_provider_requests_total",
            &[("endpoint", "discovery"), ("result", "ok")]
        ) >= 1.0
    );
    assert!(
        count(
            "doorman_provider_requests_total",
            &[("endpoint", "token"), ("result", "ok")]
        ) >= 1.0
    );
    assert!(count("doorman_jwks_refreshes_total", &[("reason", "discovery")]) >= 1.0);
    assert!(count("process_resident_memory_bytes", &[]) > 1_000_000.0);
    assert!(count("process_open_fds", &[]) > 3.0);
    // Nothing on the public port, and nothing labelled by user or email.
    let public = doorman
        .client
        .get(doorman.url("/metrics"))
        .send()
        .await
        .expect("public");
    assert_eq!(public.status(), 404);
    assert!(!text.contains("ada@example.com") && !text.contains("Ada Lovelace"));
    // Only series that happened are shown: no rows of zeros for routes never called.
    assert!(!text.contains("route=\"/api/admin/users\""), "{text}");
}

#[tokio::test]
async fn a_piped_run_logs_one_json_object_per_line_with_request_ids_and_auth_events() {
    let doorman = spawn_doorman(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let jar = doorman.sign_in("Grace Hopper", "grace@example.com").await;
    let sub = crate::support::jwt_payload(jar.get("access_token").expect("session"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let me = doorman
        .client
        .get(doorman.url("/api/user?secret-looking=query"))
        .header("cookie", jar.header())
        .header("x-request-id", "edge-4f1c2a")
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["x-request-id"], "edge-4f1c2a");
    let bad = doorman
        .client
        .post(doorman.url("/api/login"))
        .basic_auth("nobody", Some("wrong"))
        .send()
        .await
        .expect("login");
    assert_eq!(bad.status(), 401);
    let bad_id = bad.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let health = doorman
        .client
        .get(doorman.url("/healthz"))
        .send()
        .await
        .expect("health");
    let health_id = health.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    // One request more, to mark the end: lines reach stdout in the order they were logged,
    // so once its line is there, so is every line before it (a health check's included).
    doorman
        .client
        .get(doorman.url("/api/user"))
        .header("x-request-id", "the-last-request")
        .send()
        .await
        .expect("last");

    let lines = doorman
        .lines_until(|line| line.contains("the-last-request"))
        .await;
    let all = lines.join("\n");
    assert!(!all.contains('\u{1b}'), "no colour codes on a pipe:\n{all}");
    let events = json_lines(&lines);
    for event in &events {
        for field in ["time", "level", "target"] {
            assert!(event.get(field).is_some(), "{field} in {event}");
        }
    }
    let access: Vec<&Value> = events
        .iter()
        .filter(|e| e["target"] == "doorman::access")
        .collect();
    let me_line = access
        .iter()
        .find(|e| e["request_id"] == "edge-4f1c2a")
        .expect("the access line carries the proxy's request id");
    assert_eq!(me_line["method"], "GET");
    assert_eq!(me_line["route"], "/api/user");
    assert_eq!(me_line["path"], "/api/user", "never the query");
    assert_eq!(me_line["status"], 200);
    assert_eq!(me_line["user"], sub.as_str());
    assert_eq!(me_line["client"], "127.0.0.1");
    assert!(me_line["duration_ms"].as_f64().expect("number") >= 0.0);
    assert!(!all.contains("secret-looking"));
    assert!(
        !access.iter().any(|e| e["request_id"] == health_id.as_str()),
        "health checks stay out of the access log by default"
    );
    let signed_in = events
        .iter()
        .find(|e| e["event"] == "login_succeeded")
        .expect("login_succeeded");
    assert_eq!(signed_in["method"], "oidc");
    assert_eq!(signed_in["user"], sub.as_str());
    assert!(
        signed_in["request_id"].is_string(),
        "auth events carry the request id"
    );
    let failed = events
        .iter()
        .find(|e| e["event"] == "login_failed")
        .expect("login_failed");
    assert_eq!(failed["reason"], "invalid_credentials");
    assert_eq!(failed["method"], "password");
    assert_eq!(
        failed["request_id"],
        bad_id.as_str(),
        "every line of a request carries its id"
    );
    let denied_status = access
        .iter()
        .find(|e| e["request_id"] == bad_id.as_str())
        .expect("the failed login's access line")["status"]
        .clone();
    assert_eq!(denied_status, 401);
}

#[tokio::test]
async fn pretty_logs_on_a_pipe_have_no_colour_and_health_checks_can_be_logged() {
    let doorman = spawn_doorman(&[("LOG_FORMAT", "pretty"), ("LOG_HEALTH_CHECKS", "true")]).await;
    // The built-in provider is discovered over HTTP too, just after start.
    let health = doorman.ready().await;
    let id = health.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let lines = doorman
        .lines_until(|l| {
            l.contains("doorman::access") && l.contains("route=/readyz") && l.contains(&id)
        })
        .await;
    let all = lines.join("\n");
    assert!(!all.contains('\u{1b}'), "{all}");
    assert!(
        lines.iter().any(|l| l.contains("doorman::access")
            && l.contains("route=/readyz")
            && l.contains(&id)),
        "{all}"
    );
    assert!(
        serde_json::from_str::<Value>(&lines[0]).is_err(),
        "pretty, not JSON"
    );
}

#[tokio::test]
async fn an_untrusted_peer_cannot_choose_its_request_id() {
    let doorman = spawn_doorman(&[]).await;
    let response = doorman
        .client
        .get(doorman.url("/healthz"))
        .header("x-request-id", "forged-id")
        .send()
        .await
        .expect("health");
    let id = response.headers()["x-request-id"].to_str().expect("id");
    assert_ne!(id, "forged-id");
    assert_eq!(id.len(), 16);
}

#[tokio::test]
async fn readiness_waits_for_the_provider_and_names_the_failing_checks() {
    let provider = TestProvider::start(Faults {
        discovery_down: true,
        ..Faults::default()
    })
    .await;
    let app = spawn_app_for(&provider, &[]).await;
    let down = app.get("/readyz", &Jar::default()).await;
    assert_eq!(down.status(), 503);
    let body: Value = down.json().await.expect("json");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["store"]["ok"], true);
    assert_eq!(body["checks"]["provider_discovery"]["ok"], false);
    assert_eq!(body["checks"]["provider_keys"]["ok"], false);
    let failing: Vec<&str> = body["failing"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(failing, ["provider_discovery", "provider_keys"]);
    assert_eq!(body["checks"]["revocations"]["ok"], true);
    // Liveness does not depend on the provider.
    assert_eq!(app.get("/healthz", &Jar::default()).await.status(), 200);

    provider.set(|f| f.discovery_down = false);
    // The background discovery retries on its own; readiness follows once it succeeds.
    tokio::time::timeout(
        Duration::from_secs(10),
        app.state.sign_in.first().provider.discovered(),
    )
    .await
    .expect("never became ready");
    let ready = app.get("/readyz", &Jar::default()).await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ready");
}

/// `doorman check` with `vars`: its exit code and output.
async fn check(vars: Vec<(&'static str, String)>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let mut command = command(&["check"]);
        command.env("DATABASE_URL", crate::support::temp_database());
        for (k, v) in vars {
            command.env(k, v);
        }
        let output = command.output().expect("doorman check runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn doorman_check_passes_a_good_configuration_and_names_what_is_broken() {
    let provider = TestProvider::start(Faults::default()).await;
    let mut vars = provider.app_vars();
    vars.push(("PUBLIC_URL", "http://127.0.0.1:8000".into()));
    let (code, out) = check(vars.clone()).await;
    assert_eq!(code, 0, "{out}");
    for check in [
        "configuration",
        "store",
        "redirect URI",
        "discovery",
        "keys",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "{check}:\n{out}"
        );
    }
    assert!(out.contains("http://127.0.0.1:8000/auth/callback"));

    // The provider is unreachable: discovery and keys fail, exit 1.
    let mut unreachable = vars.clone();
    unreachable.retain(|(k, _)| *k != "OIDC_ISSUER_URL");
    unreachable.push((
        "OIDC_ISSUER_URL",
        format!("http://127.0.0.1:{}", free_port()),
    ));
    let (code, out) = check(unreachable).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("discovery")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok") && l.contains("store"))
    );

    // An unusable configuration: exit 2, naming the variable.
    let mut broken = vars;
    broken.retain(|(k, _)| *k != "SESSION_SECRET");
    broken.push(("SESSION_SECRET", "short".into()));
    let (code, out) = check(broken).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("SESSION_SECRET")),
        "{out}"
    );
}

#[tokio::test]
async fn doorman_check_says_what_the_provider_offers_for_sign_out_back_channel_and_refresh() {
    let plain = TestProvider::start(Faults::default()).await;
    let mut vars = plain.app_vars();
    vars.push(("PUBLIC_URL", "https://auth.example.com".into()));
    let (code, out) = check(vars).await;
    assert_eq!(code, 0, "{out}");
    let line = |out: &str, name: &str| {
        out.lines()
            .find(|l| l.starts_with("ok") && l.contains(name))
            .unwrap_or_else(|| panic!("no ok line for {name}:\n{out}"))
            .to_owned()
    };
    assert!(
        line(&out, "sign-out")
            .contains("local only (the provider advertises no end_session_endpoint)")
    );
    assert!(line(&out, "back-channel").contains("not advertised"));
    assert!(line(&out, "refresh tokens").contains("not advertised"));

    let full = TestProvider::start(Faults {
        discovery_patch: Some(crate::support::test_provider::patch(|d| {
            d["end_session_endpoint"] = serde_json::json!("http://127.0.0.1:9/logout");
            d["backchannel_logout_supported"] = serde_json::json!(true);
            d["backchannel_logout_session_supported"] = serde_json::json!(true);
            d["grant_types_supported"] = serde_json::json!(["authorization_code", "refresh_token"]);
            d["scopes_supported"] = serde_json::json!(["openid", "offline_access"]);
        })),
        ..Faults::default()
    })
    .await;
    let mut vars = full.app_vars();
    vars.push(("PUBLIC_URL", "https://auth.example.com".into()));
    let (code, out) = check(vars.clone()).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        line(&out, "sign-out").contains(
            "at the provider too (http://127.0.0.1:9/logout); register https://auth.example.com/auth/signed-out"
        ),
        "{out}"
    );
    assert!(
        line(&out, "back-channel").contains(
            "supported, with sid; register https://auth.example.com/auth/backchannel-logout"
        ),
        "{out}"
    );
    assert!(
        line(&out, "refresh tokens")
            .contains("offered (refresh_token grant, offline_access scope)")
    );
    vars.push(("OIDC_LOGOUT", "local".into()));
    let (_, out) = check(vars).await;
    assert!(
        line(&out, "sign-out").contains("local only (OIDC_LOGOUT=local"),
        "{out}"
    );
}

#[tokio::test]
async fn help_lists_every_variable_and_version_names_the_release() {
    let (help, version) = tokio::task::spawn_blocking(|| {
        (
            command(&["--help"]).output().expect("help"),
            command(&["--version"]).output().expect("version"),
        )
    })
    .await
    .expect("join");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for var in doorman::config::VARS {
        assert!(help.contains(var.name), "{} missing from --help", var.name);
    }
    assert!(help.contains("check") && help.contains("create-user"));
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("doorman {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn sigterm_lets_the_sign_in_in_flight_finish_then_exits_zero() {
    let provider = TestProvider::start(Faults {
        token: TokenFault::Hang(Duration::from_millis(1500)),
        ..Faults::default()
    })
    .await;
    let mut vars = provider.app_vars();
    vars.retain(|(k, _)| *k != "OIDC_HTTP_TIMEOUT_SECS");
    vars.push(("OIDC_HTTP_TIMEOUT_SECS", "10".into()));
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut doorman = spawn_doorman(&borrowed).await;
    // Wait for discovery, so the sign-in can start.
    doorman.ready().await;
    let (authorize, jar) = start_login(&doorman.client, &doorman.base, None).await;
    let callback = provider.authorize(&authorize).await;
    let client = doorman.client.clone();
    let in_flight = tokio::spawn(async move {
        client
            .get(callback.as_str())
            .header("cookie", jar.header())
            .send()
            .await
            .expect("the callback is answered")
    });
    // Once the provider has the token request, the callback is waiting for its answer.
    provider.until_calls(|c| c.token == 1).await;
    doorman.terminate();
    assert!(
        doorman
            .refuses_connections_within(Duration::from_secs(5))
            .await,
        "no new connections once stopping"
    );
    assert!(
        !in_flight.is_finished(),
        "the listener closed while the sign-in was still in flight"
    );

    let response = in_flight.await.expect("join");
    assert_eq!(response.status(), 303, "the sign-in in flight completed");
    assert_eq!(location(&response), "/");
    assert!(
        crate::support::set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("access_token=")),
        "with its session cookie"
    );
    let status = doorman.exit_within(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", doorman.output());
    assert!(doorman.output().contains("stopped"));
}

#[tokio::test]
async fn a_bad_thread_count_is_a_configuration_error_not_a_panic() {
    let outputs = tokio::task::spawn_blocking(|| {
        ["0", "two", " 2"].map(|value| {
            command(&[])
                .env("TOKIO_WORKER_THREADS", value)
                .env("DATABASE_URL", crate::support::temp_database())
                .output()
                .expect("doorman runs")
        })
    })
    .await
    .expect("join");
    for output in outputs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("TOKIO_WORKER_THREADS must be a whole number above zero"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
