//! What the suites on sessions that follow the provider share: reading a renewed session
//! cookie off an answer, a jar holding one token, a back-channel logout token signed as the
//! test provider signs its ID tokens (and posting it), and two instances of doorman for one
//! provider on one PostgreSQL database.

use std::time::Duration;

use serde_json::{Value, json};

use super::instances::until_ready;
use super::test_provider::{CLIENT_ID, TestProvider, key, spawn_app_for};
use super::{Jar, TestApp, set_cookies};

/// The session token a `Set-Cookie` of the answer carries (a renewal), if any.
pub(crate) fn renewed(response: &reqwest::Response) -> Option<String> {
    set_cookies(response).into_iter().find_map(|c| {
        let token = c
            .strip_prefix("access_token=")?
            .split(';')
            .next()?
            .to_owned();
        (!token.is_empty()).then_some(token)
    })
}

/// A jar holding only the session cookie `token`.
pub(crate) fn with_token(token: &str) -> Jar {
    let mut jar = Jar::default();
    jar.0.insert("access_token".into(), token.to_owned());
    jar
}

/// The claims of a valid logout token from `provider` at `now` for the provider session `sid`.
pub(crate) fn logout_claims(provider: &TestProvider, now: u64, sid: &str) -> Value {
    json!({
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": doorman::random::token_id(),
        "sid": sid,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    })
}

/// `claims` signed as the provider signs its ID tokens (RS256, key 0), typed `logout+jwt`.
pub(crate) fn signed_logout(claims: &Value) -> String {
    let signer = key(0);
    signer.sign_with_header(
        &json!({"alg": "RS256", "typ": "logout+jwt", "kid": signer.kid()}),
        claims,
    )
}

/// `POST /auth/backchannel-logout` with the form field `logout_token`.
pub(crate) async fn post_logout_token(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/auth/backchannel-logout"))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("back-channel logout")
}

/// Two instances for `provider` on the database `url` (the same public URL, as behind one
/// load balancer), with `extra`, both ready.
pub(crate) async fn two_instances(
    provider: &TestProvider,
    url: &str,
    extra: &[(&str, &str)],
) -> (TestApp, TestApp) {
    let mut vars = vec![("DATABASE_URL", url)];
    vars.extend_from_slice(extra);
    let a = spawn_app_for(provider, &vars).await;
    vars.push(("PUBLIC_URL", a.public_url.as_str()));
    let b = spawn_app_for(provider, &vars).await;
    until_ready(&a, Duration::from_secs(20)).await;
    until_ready(&b, Duration::from_secs(20)).await;
    (a, b)
}
