//! The provider's groups, end to end in one process: read from the ID token (or UserInfo) at
//! sign-in, shown by `/api/user`, granting roles (`ROLE_FROM_GROUPS`), judged by `groups`
//! policies on forward-auth and the front door, passed on in the identity headers and the
//! assertion; and a person with 500 long groups, whose cookie stays small.

use base64::Engine;
use serde_json::{Value, json};

use crate::support::front::{echo, echoed};
use crate::support::test_provider::{
    Faults, TestProvider, arrive, begin, patch, sign_in, spawn_app_for,
};
use crate::support::{Jar, STRONG_SECRET, TestApp};

const POLICIES: &str = r#"
[gateway.policy.ops]
groups = ["sre", "oncall"]

[gateway.policy.platform]
groups = ["platform"]

[gateway.policy.ops-admins]
roles = ["admin"]
groups = ["sre"]
"#;

fn config_file(text: &str) -> String {
    crate::support::config_file("groups", text)
}

/// A provider whose ID token carries `groups` (and the profile), and doorman for it with the
/// policies above and `extra`.
async fn provider_with_groups(
    groups: Value,
    extra: &[(&str, &str)],
) -> (TestProvider, TestApp, String) {
    let provider = TestProvider::start(Faults {
        profile_in_id_token: true,
        claims_patch: Some(patch(move |c| c["groups"] = groups.clone())),
        ..Faults::default()
    })
    .await;
    let config = config_file(POLICIES);
    let mut vars = vec![
        ("DOORMAN_CONFIG", config.as_str()),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ];
    vars.extend_from_slice(extra);
    let app = spawn_app_for(&provider, &vars).await;
    (provider, app, config)
}

fn session_cookie(jar: &Jar) -> String {
    format!(
        "access_token={}",
        jar.get("access_token").expect("signed in")
    )
}

/// nginx's `auth_request` for `https://app.example.com/x` under `policy`.
async fn ask(app: &TestApp, policy: &str, cookie: &str, navigation: bool) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(&format!("/.doorman/auth-request/{policy}")))
        .header("x-original-url", "https://app.example.com/x")
        .header("x-original-method", "GET")
        .header("cookie", cookie);
    if navigation {
        request = request
            .header("sec-fetch-mode", "navigate")
            .header("accept", "text/html");
    }
    request.send().await.expect("auth request")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The claims of a JWT, unverified (its signature is another suite's business).
fn payload(jwt: &str) -> Value {
    let segment = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn groups_from_the_id_token_are_shown_passed_on_and_judged_by_group_policies() {
    let (provider, app, _config) =
        provider_with_groups(json!(["sre", "Platform, Admins", "équipe"]), &[]).await;
    let jar = sign_in(&app, &provider).await;
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["groups"], json!(["sre", "Platform, Admins", "équipe"]));
    let cookie = session_cookie(&jar);

    let allowed = ask(&app, "ops", &cookie, false).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        header(&allowed, "x-doorman-groups"),
        "sre,Platform%2C%20Admins,%C3%A9quipe",
        "comma-separated, each group percent-encoded (its own comma too)"
    );
    assert_eq!(header(&allowed, "x-doorman-groups-truncated"), "");
    let assertion = payload(header(&allowed, "x-doorman-jwt-assertion"));
    assert_eq!(
        assertion["groups"],
        json!(["sre", "Platform, Admins", "équipe"])
    );

    // Refused: the JSON names the policy, what it needs and why; never the caller's groups.
    let refused = ask(&app, "platform", &cookie, false).await;
    assert_eq!(refused.status(), 403);
    let text = refused.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["reason"], "group_required");
    assert_eq!(body["policy"], "platform");
    assert_eq!(body["required"], json!(["platform"]));
    assert_eq!(
        body["message"],
        "Your account may not use this service: the policy `platform` needs one of the groups platform"
    );
    assert!(
        !text.contains("sre") && !text.contains("quipe"),
        "the caller's groups stay out: {text}"
    );
    // A person navigating gets a page saying the same.
    let page = ask(&app, "platform", &cookie, true).await;
    assert_eq!(page.status(), 403);
    let html = page.text().await.expect("html");
    assert!(html.contains("needs one of the groups platform"), "{html}");

    // Every kind a policy lists must pass: the group, but not the role.
    let both = ask(&app, "ops-admins", &cookie, false).await;
    assert_eq!(both.status(), 403);
    let body: Value = both.json().await.expect("json");
    assert_eq!(body["reason"], "role_required");
}

#[tokio::test]
async fn a_nested_claim_is_read_from_userinfo_and_grants_roles_by_group() {
    let provider = TestProvider::start(Faults {
        profile_in_id_token: true,
        userinfo_patch: Some(patch(|u| {
            u["realm_access"] =
                json!({"roles": ["platform-admins", 7, {"x": 1}, "offline_access"]});
        })),
        ..Faults::default()
    })
    .await;
    let config = config_file(POLICIES);
    let app = spawn_app_for(
        &provider,
        &[
            ("DOORMAN_CONFIG", config.as_str()),
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("OIDC_GROUPS_CLAIM", "/realm_access/roles"),
            ("ROLE_FROM_GROUPS", "admin=platform-admins,ops=sre"),
        ],
    )
    .await;
    let jar = sign_in(&app, &provider).await;
    assert_eq!(
        provider.calls().userinfo,
        1,
        "the profile was in the ID token, but the groups claim was not: UserInfo is asked"
    );
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["groups"], json!(["platform-admins", "offline_access"]));
    assert_eq!(
        user["roles"],
        json!(["admin"]),
        "granted by the group, once"
    );
    // The admin API honours a role a group grants.
    let users = app.get("/api/admin/users", &jar).await;
    assert_eq!(users.status(), 200);
    let metrics = app.state.metrics.render();
    assert!(
        metrics.contains("doorman_groups_skipped_total 2"),
        "two members were not strings"
    );
}

#[tokio::test]
async fn without_a_groups_claim_setting_userinfo_is_not_asked_for_groups() {
    let (provider, app, _config) = provider_with_groups(Value::Null, &[]).await;
    let jar = sign_in(&app, &provider).await;
    assert_eq!(provider.calls().userinfo, 0);
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["groups"], json!([]));
}

#[tokio::test]
async fn the_scopes_asked_for_are_openid_and_those_configured() {
    let (provider, app, _config) = provider_with_groups(
        json!(["sre"]),
        &[("OIDC_SCOPES", "email profile groups offline_access")],
    )
    .await;
    let _ = begin(&app, &provider, None).await;
    let record = provider.record();
    let scope = record.authorize_requests[0]["scope"].clone();
    let mut asked: Vec<&str> = scope.split(' ').collect();
    asked.sort_unstable();
    assert_eq!(
        asked,
        ["email", "groups", "offline_access", "openid", "profile"]
    );
}

#[tokio::test]
async fn more_groups_than_doorman_keeps_is_a_clear_sign_in_error() {
    let many: Vec<String> = (0..501).map(|i| format!("g{i}")).collect();
    let (provider, app, _config) = provider_with_groups(json!(many), &[]).await;
    let attempt = begin(&app, &provider, None).await;
    let response = arrive(&app, &attempt.callback, &attempt.jar).await;
    assert_eq!(response.status(), 502);
    assert!(
        response
            .headers()
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap_or("").starts_with("access_token=")),
        "no session"
    );
    let html = response.text().await.expect("html");
    assert!(html.contains("Too many groups"), "{html}");
}

#[tokio::test]
async fn five_hundred_long_groups_keep_the_cookie_small_and_the_headers_within_budget() {
    let groups: Vec<String> = (0..500).map(|i| format!("team-{i:0>251}")).collect();
    let wanted = groups[7].clone();
    let policy = format!("[gateway.policy.seven]\ngroups = [\"{wanted}\"]\n");
    let provider = TestProvider::start(Faults {
        profile_in_id_token: true,
        claims_patch: Some(patch({
            let groups = groups.clone();
            move |c| c["groups"] = json!(groups)
        })),
        ..Faults::default()
    })
    .await;
    let config = config_file(&policy);
    let database = crate::support::temp_database();
    let vars = [
        ("DOORMAN_CONFIG", config.as_str()),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("DATABASE_URL", database.as_str()),
        ("SESSION_SECRET", STRONG_SECRET),
    ];
    let app = spawn_app_for(&provider, &vars).await;
    let mut attempt = begin(&app, &provider, None).await;
    let response = arrive(&app, &attempt.callback, &attempt.jar).await;
    assert_eq!(response.status(), 303);
    let set_cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .find(|c| c.starts_with("access_token="))
        .expect("a session cookie");
    assert!(set_cookie.len() < 4096, "{} bytes", set_cookie.len());
    attempt.jar.absorb(response.headers());
    let jar = attempt.jar;
    let user: Value = app.get("/api/user", &jar).await.json().await.expect("json");
    assert_eq!(user["groups"], json!(groups));

    let allowed = ask(&app, "seven", &session_cookie(&jar), false).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(header(&allowed, "x-doorman-groups"), wanted);
    assert_eq!(header(&allowed, "x-doorman-groups-truncated"), "true");
    let identity_bytes: usize = allowed
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-doorman-") && *k != "x-doorman-jwt-assertion")
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    assert!(identity_bytes <= 8 * 1024, "{identity_bytes}");
    let assertion = payload(header(&allowed, "x-doorman-jwt-assertion"));
    assert_eq!(
        assertion["groups"],
        json!(groups),
        "the assertion carries all"
    );
    assert!(
        app.state
            .metrics
            .render()
            .contains("doorman_identity_groups_truncated_total 1")
    );

    // Another instance on the same store finds the session's groups there.
    // (Tokens are for one PUBLIC_URL: the second instance serves the same one.)
    let mut same_site = vars.to_vec();
    same_site.push(("PUBLIC_URL", app.public_url.as_str()));
    let other = spawn_app_for(&provider, &same_site).await;
    let response = other.get("/api/user", &jar).await;
    assert_eq!(response.status(), 200);
    let user: Value = response.json().await.expect("json");
    assert_eq!(user["groups"].as_array().map(Vec::len), Some(500));
}

#[tokio::test]
async fn the_front_door_passes_group_members_with_their_groups_and_refuses_others() {
    let up = echo("svc").await;
    let provider = TestProvider::start(Faults {
        profile_in_id_token: true,
        claims_patch: Some(patch(|c| c["groups"] = json!(["sre"]))),
        ..Faults::default()
    })
    .await;
    let config = config_file(&format!(
        "{POLICIES}\n[[gateway.route]]\npath_prefix = \"/ops\"\nupstream = \"http://{up}\"\npolicy = \"ops\"\n\n\
         [[gateway.route]]\npath_prefix = \"/platform\"\nupstream = \"http://{up}\"\npolicy = \"platform\"\n"
    ));
    let app = spawn_app_for(
        &provider,
        &[
            ("DOORMAN_CONFIG", config.as_str()),
            ("IDENTITY_HEADERS", "doorman,authelia"),
        ],
    )
    .await;
    let jar = sign_in(&app, &provider).await;
    let passed = app.get("/ops/x", &jar).await;
    assert_eq!(passed.status(), 200);
    let report: Value = passed.json().await.expect("echo");
    assert_eq!(echoed(&report, "x-doorman-groups"), Some("sre"));
    assert_eq!(echoed(&report, "remote-groups"), Some("sre"));
    let refused = app.get("/platform/x", &jar).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["reason"], "group_required");
    assert_eq!(body["policy"], "platform");
}
