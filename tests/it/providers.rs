//! Several providers at once (`[[provider]]` in `DOORMAN_CONFIG`): the chooser and the
//! remembered last choice, a sign-in through each with its own callback, every mix-up case
//! (RFC 9207, OAuth 2.0 Security BCP §4.4), one provider down while the other signs people in,
//! readiness, policies that admit only some providers, group roles per provider, and
//! back-channel logout dispatched by issuer. Two independent test providers play the two.

use serde_json::{Value, json};

use crate::support::provider_sessions::{logout_claims, post_logout_token, renewed, signed_logout};
use crate::support::test_provider::{
    CLIENT_ID, CLIENT_SECRET, Faults, IssParam, TestProvider, arrive, patch,
};
use crate::support::{Jar, STRONG_SECRET, TestApp, location, set_cookies, spawn_app_with};

struct Two {
    corp: TestProvider,
    partner: TestProvider,
    app: TestApp,
}

fn write_config(text: &str) -> String {
    crate::support::config_file("providers", text)
}

fn blocks(corp: &TestProvider, partner: &TestProvider, corp_extra: &str) -> String {
    format!(
        "[[provider]]\nid = \"corp\"\nname = \"Corp SSO\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret_env = \"CORP_SECRET\"\n{corp_extra}\n\n\
         [[provider]]\nid = \"partner\"\nname = \"Partner\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret_env = \"PARTNER_SECRET\"\n",
        corp.issuer, partner.issuer
    )
}

/// doorman with the providers `corp` and `partner` (with these faults), and `extra` TOML.
async fn two(corp: Faults, partner: Faults, corp_extra: &str, extra: &str) -> Two {
    let corp = TestProvider::start(corp).await;
    let partner = TestProvider::start(partner).await;
    let path = write_config(&format!("{}\n{extra}", blocks(&corp, &partner, corp_extra)));
    let app = spawn_app_with(&[
        ("DOORMAN_CONFIG", &path),
        ("SESSION_SECRET", STRONG_SECRET),
        ("CORP_SECRET", CLIENT_SECRET),
        ("PARTNER_SECRET", CLIENT_SECRET),
        ("OIDC_HTTP_TIMEOUT_SECS", "1"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("ALLOWED_REDIRECT_HOSTS", "app.example.com"),
    ])
    .await;
    Two { corp, partner, app }
}

async fn default_two() -> Two {
    two(Faults::default(), Faults::default(), "", "").await
}

/// `/auth/login?provider=<id>`, then that provider's `/authorize`: the callback URL and the
/// jar with the attempt's cookie.
async fn begin_at(app: &TestApp, id: &str, provider: &TestProvider) -> (reqwest::Url, Jar) {
    let response = app
        .get(&format!("/auth/login?provider={id}"), &Jar::default())
        .await;
    assert_eq!(response.status(), 303, "straight to {id}");
    let mut jar = Jar::default();
    jar.absorb(response.headers());
    let authorize = reqwest::Url::parse(&location(&response)).expect("absolute");
    (provider.authorize(&authorize).await, jar)
}

async fn sign_in_at(app: &TestApp, id: &str, provider: &TestProvider) -> (Jar, reqwest::Response) {
    let (callback, mut jar) = begin_at(app, id, provider).await;
    let response = arrive(app, &callback, &jar).await;
    assert_eq!(response.status(), 303, "signed in through {id}");
    jar.absorb(response.headers());
    assert!(jar.get("access_token").is_some());
    (jar, response)
}

async fn user(app: &TestApp, jar: &Jar) -> Value {
    let response = app.get("/api/user", jar).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// The callback was refused as a sign-in that cannot be completed, and no session began.
async fn assert_refused(case: &str, response: reqwest::Response) {
    assert_eq!(response.status(), 400, "{case}");
    assert!(
        !set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("access_token=")),
        "{case}: no session"
    );
    let page = response.text().await.expect("page");
    assert!(page.contains("Sign-in could not be completed"), "{case}");
}

#[tokio::test]
async fn with_several_providers_sign_in_offers_each_and_puts_the_last_one_used_first() {
    let Two { app, partner, .. } = default_two().await;

    let response = app.get("/auth/login?next=/profile", &Jar::default()).await;
    assert_eq!(response.status(), 200);
    assert!(set_cookies(&response).is_empty(), "no attempt begins yet");
    let page = response.text().await.expect("page");
    assert!(page.contains("Sign in with Corp SSO") && page.contains("Sign in with Partner"));
    let corp_at = page.find("id=\"provider-corp\"").expect("corp's button");
    let partner_at = page
        .find("id=\"provider-partner\"")
        .expect("partner's button");
    assert!(corp_at < partner_at, "the configured order");
    assert!(page.contains("href=\"/auth/login?provider=partner&#38;next=%2Fprofile\""));

    let (_, signed_in) = sign_in_at(&app, "partner", &partner).await;
    let remembered = set_cookies(&signed_in)
        .into_iter()
        .find(|c| c.starts_with("doorman_last_provider="))
        .expect("the choice is remembered");
    assert!(remembered.starts_with("doorman_last_provider=partner;"));
    assert!(remembered.contains("Path=/auth/login") && remembered.contains("HttpOnly"));

    let mut back = Jar::default();
    back.0
        .insert("doorman_last_provider".into(), "partner".into());
    let page = app
        .get("/auth/login", &back)
        .await
        .text()
        .await
        .expect("page");
    let corp_at = page.find("id=\"provider-corp\"").expect("corp's button");
    let partner_at = page
        .find("id=\"provider-partner\"")
        .expect("partner's button");
    assert!(partner_at < corp_at, "the last one used comes first");
    assert!(page.contains("used last time on this browser"));

    let narrowed = app
        .get("/auth/login?providers=partner,corp", &Jar::default())
        .await
        .text()
        .await
        .expect("page");
    let corp_at = narrowed
        .find("id=\"provider-corp\"")
        .expect("corp's button");
    let partner_at = narrowed
        .find("id=\"provider-partner\"")
        .expect("partner's button");
    assert!(corp_at < partner_at, "narrowed, in the configured order");
}

#[tokio::test]
async fn a_named_provider_is_reached_directly_with_its_own_redirect_uri_and_an_unknown_one_is_a_400_page()
 {
    let Two { app, corp, partner } = default_two().await;
    for (id, provider) in [("corp", &corp), ("partner", &partner)] {
        let response = app
            .get(&format!("/auth/login?provider={id}"), &Jar::default())
            .await;
        assert_eq!(response.status(), 303);
        let to = reqwest::Url::parse(&location(&response)).expect("absolute");
        assert!(to.as_str().starts_with(&provider.url("/authorize")), "{to}");
        let redirect = to
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned());
        assert_eq!(redirect, Some(app.url(&format!("/auth/callback/{id}"))));
    }
    let unknown = app
        .get("/auth/login?provider=nobody", &Jar::default())
        .await;
    assert_eq!(unknown.status(), 400);
    assert!(
        unknown.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    assert!(
        unknown
            .text()
            .await
            .expect("page")
            .contains("Unknown sign-in provider")
    );
    // A narrowed chooser with one provider left goes straight to it.
    let narrowed = app
        .get("/auth/login?providers=partner,nobody", &Jar::default())
        .await;
    assert_eq!(narrowed.status(), 303);
    assert!(location(&narrowed).starts_with(&partner.url("/authorize")));
}

#[tokio::test]
async fn people_sign_in_through_either_provider_and_the_same_subject_at_each_is_two_people() {
    let Two { app, corp, partner } = default_two().await;

    let (corp_jar, _) = sign_in_at(&app, "corp", &corp).await;
    let (partner_jar, _) = sign_in_at(&app, "partner", &partner).await;

    let at_corp = user(&app, &corp_jar).await;
    let at_partner = user(&app, &partner_jar).await;
    assert_eq!(at_corp["provider"], "corp");
    assert_eq!(at_corp["idp"], corp.issuer.as_str());
    assert_eq!(at_partner["provider"], "partner");
    assert_eq!(at_partner["idp"], partner.issuer.as_str());
    assert_eq!(
        at_corp["sub"], at_partner["sub"],
        "the providers use one subject"
    );
    assert_ne!(
        at_corp["uid"], at_partner["uid"],
        "users are keyed by (idp, sub)"
    );
    let metrics = app.state.metrics.render();
    for id in ["corp", "partner"] {
        let series = format!(
            "doorman_logins_total{{method=\"oidc\",provider=\"{id}\",result=\"success\",reason=\"\"}} 1"
        );
        assert!(metrics.contains(&series), "{series}");
    }
    assert!(metrics.contains(
        "doorman_provider_requests_total{provider=\"partner\",endpoint=\"token\",result=\"ok\"} 1"
    ));
}

#[tokio::test]
async fn a_callback_for_an_attempt_started_at_another_provider_is_refused_before_any_token_request()
{
    let Two { app, corp, partner } = default_two().await;
    let (callback, jar) = begin_at(&app, "corp", &corp).await;
    let mut elsewhere = callback.clone();
    elsewhere.set_path("/auth/callback/partner");

    assert_refused(
        "corp's answer at partner's callback",
        arrive(&app, &elsewhere, &jar).await,
    )
    .await;
    assert_eq!(corp.calls().token, 0);
    assert_eq!(partner.calls().token, 0);
    // The environment's callback path belongs to no `[[provider]]`.
    let mut legacy = callback.clone();
    legacy.set_path("/auth/callback");
    assert_eq!(arrive(&app, &legacy, &jar).await.status(), 404);
}

#[tokio::test]
async fn the_iss_parameter_must_name_the_provider_of_the_attempt() {
    let advertises = || Faults {
        advertises_iss_parameter: true,
        ..Faults::default()
    };
    let Two { app, corp, partner } = two(advertises(), advertises(), "", "").await;

    corp.set(|f| f.iss_param = IssParam::Value(partner.issuer.clone()));
    let (callback, jar) = begin_at(&app, "corp", &corp).await;
    assert_refused(
        "iss names the other provider",
        arrive(&app, &callback, &jar).await,
    )
    .await;

    corp.set(|f| f.iss_param = IssParam::Omitted);
    let (callback, jar) = begin_at(&app, "corp", &corp).await;
    assert_refused("iss left out", arrive(&app, &callback, &jar).await).await;
    assert_eq!(
        corp.calls().token,
        0,
        "refused before the code was redeemed"
    );

    corp.set(|f| f.iss_param = IssParam::Correct);
    sign_in_at(&app, "corp", &corp).await;
}

#[tokio::test]
async fn an_id_token_naming_another_issuer_is_refused() {
    let Two { app, corp, partner } = default_two().await;
    let other = partner.issuer.clone();
    corp.set(|f| f.claims_patch = Some(patch(move |c| c["iss"] = json!(other))));
    let (callback, jar) = begin_at(&app, "corp", &corp).await;
    assert_refused(
        "an ID token from corp claiming partner's issuer",
        arrive(&app, &callback, &jar).await,
    )
    .await;
    assert_eq!(corp.calls().token, 1);
    assert_eq!(
        partner.calls().token,
        0,
        "never taken to the provider it names"
    );
}

#[tokio::test]
async fn a_code_from_one_provider_sent_with_anothers_attempt_never_signs_anyone_in() {
    let Two { app, corp, partner } = default_two().await;
    let (corp_callback, corp_jar) = begin_at(&app, "corp", &corp).await;
    let (partner_callback, _) = begin_at(&app, "partner", &partner).await;
    let partner_code = partner_callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let mut swapped = corp_callback.clone();
    let pairs: Vec<(String, String)> = corp_callback
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "code" {
                (k, partner_code.clone())
            } else {
                (k, v)
            }
        })
        .collect();
    swapped.query_pairs_mut().clear().extend_pairs(pairs);

    assert_refused(
        "partner's code with corp's attempt",
        arrive(&app, &swapped, &corp_jar).await,
    )
    .await;
    assert_eq!(
        corp.calls().token,
        1,
        "corp refused a code it did not issue"
    );
    assert_eq!(
        partner.calls().token,
        0,
        "the code never went back to partner"
    );
}

#[tokio::test]
async fn one_provider_down_never_stops_sign_in_with_the_other_nor_readiness_unless_required() {
    let down = Faults {
        discovery_down: true,
        ..Faults::default()
    };
    let Two { app, partner, .. } = two(down.clone(), Faults::default(), "", "").await;
    sign_in_at(&app, "partner", &partner).await;
    let unavailable = app.get("/auth/login?provider=corp", &Jar::default()).await;
    assert_eq!(unavailable.status(), 503);

    let ready = app.get("/readyz", &Jar::default()).await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["provider_corp_discovery"]["ok"], false);
    assert_eq!(body["checks"]["provider_corp_discovery"]["required"], false);
    assert_eq!(body["checks"]["provider_partner_discovery"]["ok"], true);
    let health: Value = app
        .get("/healthz", &Jar::default())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(health["providers"]["corp"], "discovering");
    assert_eq!(health["providers"]["partner"], "ready");

    let none_up = two(down.clone(), down.clone(), "", "").await;
    let ready = none_up.app.get("/readyz", &Jar::default()).await;
    assert_eq!(ready.status(), 503, "no provider can sign anyone in");
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["failing"], json!(["providers"]));

    let required = two(down, Faults::default(), "required = true", "").await;
    let ready = required.app.get("/readyz", &Jar::default()).await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(
        body["failing"],
        json!(["provider_corp_discovery", "provider_corp_keys"])
    );
}

const POLICIES: &str = "[gateway.policy.corp-only]\nproviders = [\"corp\"]\n\n\
     [gateway.policy.either]\nproviders = [\"corp\", \"partner\"]\n";

async fn forward_auth(app: &TestApp, policy: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(&format!("/.doorman/forward-auth/{policy}")))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", "/reports")
        .header("x-forwarded-method", "GET");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.expect("forward auth")
}

#[tokio::test]
async fn a_policy_naming_providers_admits_only_their_sessions_and_sends_browsers_to_them() {
    let Two { app, corp, partner } = two(Faults::default(), Faults::default(), "", POLICIES).await;
    let (corp_jar, _) = sign_in_at(&app, "corp", &corp).await;
    let (partner_jar, _) = sign_in_at(&app, "partner", &partner).await;

    let allowed = forward_auth(&app, "corp-only", &[("cookie", &corp_jar.header())]).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["x-doorman-idp"], "corp");
    let assertion = allowed.headers()["x-doorman-jwt-assertion"]
        .to_str()
        .expect("ascii");
    let claims = crate::support::jwt_payload(assertion);
    assert_eq!(claims["provider"], "corp");
    assert_eq!(claims["idp"], corp.issuer.as_str());

    let refused = forward_auth(&app, "corp-only", &[("cookie", &partner_jar.header())]).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["reason"], "provider_required");
    assert_eq!(body["required"], json!(["corp"]));
    let either = forward_auth(&app, "either", &[("cookie", &partner_jar.header())]).await;
    assert_eq!(either.status(), 200);
    assert_eq!(either.headers()["x-doorman-idp"], "partner");

    let navigation = [("sec-fetch-mode", "navigate"), ("accept", "text/html")];
    let signed_out = forward_auth(&app, "corp-only", &navigation).await;
    assert_eq!(signed_out.status(), 302);
    let rd: String =
        url::form_urlencoded::byte_serialize(b"https://app.example.com/reports").collect();
    assert_eq!(
        location(&signed_out),
        format!("{}/auth/login?rd={rd}&provider=corp", app.public_url)
    );
    let to_either = forward_auth(&app, "either", &navigation).await;
    assert!(location(&to_either).ends_with("&providers=corp,partner"));
    // Following it goes straight to corp.
    let login = app
        .get(
            &format!("/auth/login?rd={rd}&provider=corp"),
            &Jar::default(),
        )
        .await;
    assert_eq!(login.status(), 303);
    assert!(location(&login).starts_with(&corp.url("/authorize")));
}

#[tokio::test]
async fn group_roles_are_granted_only_by_the_provider_whose_groups_they_are() {
    let in_ops = || Faults {
        claims_patch: Some(patch(|c| c["groups"] = json!(["ops"]))),
        ..Faults::default()
    };
    let Two { app, corp, partner } =
        two(in_ops(), in_ops(), "role_from_groups = [\"admin=ops\"]", "").await;
    let (corp_jar, _) = sign_in_at(&app, "corp", &corp).await;
    let (partner_jar, _) = sign_in_at(&app, "partner", &partner).await;

    assert_eq!(app.get("/admin", &corp_jar).await.status(), 200);
    assert_eq!(
        app.get("/admin", &partner_jar).await.status(),
        403,
        "partner's `ops` is not corp's"
    );
    assert_eq!(user(&app, &partner_jar).await["roles"], json!([]));
}

#[tokio::test]
async fn a_back_channel_logout_is_carried_out_by_the_provider_its_issuer_names() {
    let with_sid = |sid: &'static str| Faults {
        claims_patch: Some(patch(move |c| c["sid"] = json!(sid))),
        ..Faults::default()
    };
    let Two { app, corp, partner } =
        two(with_sid("shared-sid"), with_sid("shared-sid"), "", "").await;
    let (corp_jar, _) = sign_in_at(&app, "corp", &corp).await;
    let (partner_jar, _) = sign_in_at(&app, "partner", &partner).await;

    let now = app.now();
    let from_partner = signed_logout(&logout_claims(&partner, now, "shared-sid"));
    assert_eq!(post_logout_token(&app, &from_partner).await.status(), 200);

    assert_eq!(app.get("/api/user", &partner_jar).await.status(), 401);
    assert_eq!(
        app.get("/api/user", &corp_jar).await.status(),
        200,
        "corp's session with the same sid is another provider's"
    );
    let mut stranger = logout_claims(&partner, now, "shared-sid");
    stranger["iss"] = json!("https://stranger.example");
    let refused = post_logout_token(&app, &signed_logout(&stranger)).await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn on_postgresql_an_attempt_begun_at_one_instance_finishes_at_another_and_sign_outs_reach_both()
 {
    let Some(url) = crate::support::postgres::database().await else {
        eprintln!("skipped: no PostgreSQL (set DOORMAN_TEST_DATABASE_URL)");
        return;
    };
    let corp = TestProvider::start(Faults::default()).await;
    let partner = TestProvider::start(Faults {
        claims_patch: Some(patch(|c| c["sid"] = json!("partner-session"))),
        ..Faults::default()
    })
    .await;
    let path = write_config(&blocks(&corp, &partner, ""));
    let mut vars = vec![
        ("DOORMAN_CONFIG", path.as_str()),
        ("SESSION_SECRET", STRONG_SECRET),
        ("CORP_SECRET", CLIENT_SECRET),
        ("PARTNER_SECRET", CLIENT_SECRET),
        ("DATABASE_URL", url.as_str()),
    ];
    let a = spawn_app_with(&vars).await;
    vars.push(("PUBLIC_URL", a.public_url.as_str()));
    let b = spawn_app_with(&vars).await;
    for app in [&a, &b] {
        crate::support::instances::until_ready(app, std::time::Duration::from_secs(20)).await;
    }

    let (callback, mut jar) = begin_at(&a, "partner", &partner).await;
    let finished = arrive(&b, &callback, &jar).await;
    assert_eq!(finished.status(), 303, "begun at a, finished at b");
    jar.absorb(finished.headers());
    assert_eq!(user(&a, &jar).await["provider"], "partner");
    let replay = arrive(&a, &callback, &jar).await;
    assert_eq!(replay.status(), 400, "the state was claimed once, for both");

    let token = signed_logout(&logout_claims(&partner, b.now(), "partner-session"));
    assert_eq!(post_logout_token(&b, &token).await.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while a.get("/api/user", &jar).await.status() != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "a heard of the logout"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn log_lines_of_sign_ins_name_the_provider_by_id() {
    let corp = TestProvider::start(Faults::default()).await;
    let partner = TestProvider::start(Faults::default()).await;
    let path = write_config(&blocks(&corp, &partner, ""));
    let doorman = crate::support::process::spawn_doorman(&[
        ("DOORMAN_CONFIG", path.as_str()),
        ("SESSION_SECRET", STRONG_SECRET),
        ("CORP_SECRET", CLIENT_SECRET),
        ("PARTNER_SECRET", CLIENT_SECRET),
        ("LOG_FORMAT", "json"),
    ])
    .await;
    let response = crate::support::client()
        .get(doorman.url("/auth/callback/partner?code=c&state=s"))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 400);
    let lines = doorman
        .lines_until(|l| l.contains("\"event\":\"login_failed\""))
        .await;
    let line: Value = lines
        .iter()
        .find(|l| l.contains("\"event\":\"login_failed\""))
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("a JSON line");
    assert_eq!(line["provider"], "partner", "{line}");
    assert_eq!(line["method"], "oidc");
}

#[tokio::test]
async fn a_session_from_a_provider_taken_out_of_the_configuration_no_longer_renews() {
    let Two { app, corp, partner } = default_two().await;
    let (corp_jar, _) = sign_in_at(&app, "corp", &corp).await;
    let (partner_jar, _) = sign_in_at(&app, "partner", &partner).await;
    // The same store and secret, with corp's block removed.
    let database = app.state.config.accounts.database_url.clone();
    let only_partner = write_config(&blocks(&partner, &partner, "").replacen(
        &format!(
            "id = \"corp\"\nname = \"Corp SSO\"\nissuer = \"{}\"",
            partner.issuer
        ),
        "id = \"unused\"\nissuer = \"http://127.0.0.1:9\"",
        1,
    ));
    let later = spawn_app_with(&[
        ("DOORMAN_CONFIG", &only_partner),
        ("SESSION_SECRET", STRONG_SECRET),
        ("CORP_SECRET", CLIENT_SECRET),
        ("PARTNER_SECRET", CLIENT_SECRET),
        ("DATABASE_URL", &database),
        ("PUBLIC_URL", &app.public_url),
    ])
    .await;
    later.clock.advance(31 * 60);

    let from_partner = later.get("/api/user", &partner_jar).await;
    let from_corp = later.get("/api/user", &corp_jar).await;
    assert!(renewed(&from_partner).is_some(), "partner's session renews");
    assert_eq!(from_corp.status(), 200, "corp's token runs to its expiry");
    assert!(renewed(&from_corp).is_none(), "but is not renewed");
}

#[tokio::test]
async fn doorman_check_prints_each_providers_lines_and_fails_for_the_one_that_is_broken() {
    let corp = TestProvider::start(Faults::default()).await;
    let partner = TestProvider::start(Faults {
        discovery_down: true,
        ..Faults::default()
    })
    .await;
    let path = write_config(&blocks(&corp, &partner, ""));
    let output = tokio::task::spawn_blocking(move || {
        crate::support::process::command(&["check"])
            .env("DATABASE_URL", crate::support::temp_database())
            .env("PUBLIC_URL", "https://auth.example.com")
            .env("DOORMAN_CONFIG", path)
            .env("SESSION_SECRET", STRONG_SECRET)
            .env("CORP_SECRET", CLIENT_SECRET)
            .env("PARTNER_SECRET", CLIENT_SECRET)
            .output()
            .expect("doorman check runs")
    })
    .await
    .expect("join");
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{out}");
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = |start: &str| out.lines().any(|l| words(l).starts_with(&words(start)));
    assert!(
        line("ok    corp redirect URI  https://auth.example.com/auth/callback/corp"),
        "{out}"
    );
    assert!(line("ok    corp discovery"), "{out}");
    assert!(line("ok    corp keys"), "{out}");
    assert!(
        line("ok    partner redirect URI  https://auth.example.com/auth/callback/partner"),
        "{out}"
    );
    assert!(line("FAIL  partner discovery"), "{out}");
    assert!(out.contains("providers corp ("), "{out}");
}
