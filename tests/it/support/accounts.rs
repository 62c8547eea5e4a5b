//! Helpers for the local-accounts tests: JSON calls to `/api/*`, registering and signing in
//! a local account, and clients that connect from another loopback address (the throttle
//! keys on the client address).

use std::net::{IpAddr, Ipv4Addr};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app_with};

/// An app with registration open and rate limits out of the way (tests of those limits set
/// them), for the accounts suites.
pub(crate) async fn spawn_accounts_app(vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![
        ("ALLOW_REGISTRATION", "true"),
        ("RATE_LIMIT_REGISTER_PER_HOUR", "10000"),
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "10000"),
    ];
    for (k, v) in vars {
        all.retain(|(name, _)| name != k);
        all.push((k, v));
    }
    spawn_app_with(&all).await
}

/// Satisfies the password policy: 12+ characters, varied, not common, no username inside.
pub(crate) const PASSWORD: &str = "violet-Orbit-7-lantern";

/// A response's status and JSON body (`Value::Null` when the body is not JSON).
pub(crate) async fn status_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) fn registration(username: &str) -> Value {
    json!({
        "username": username,
        "email": format!("{}@example.com", username.to_ascii_lowercase()),
        "password": PASSWORD,
        "name": format!("Test {username}"),
    })
}

pub(crate) fn access_token(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("an access_token")
}

pub(crate) fn refresh_token(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("a refresh_token")
}

/// A client without redirects that connects from `127.0.0.<last>` (Linux routes all of
/// 127.0.0.0/8 to the loopback interface), so the server sees another client address.
pub(crate) fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .expect("client")
}

/// The error body every `/api` failure shares: a code, a message for people, a request id.
pub(crate) fn assert_api_error(status: StatusCode, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a message for people: {body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "a request id: {body}"
    );
}

impl TestApp {
    /// `POST /api/logout` with `token` as the Bearer credential: the answer's status.
    pub(crate) async fn api_logout(&self, token: &str) -> reqwest::StatusCode {
        self.client
            .post(self.url("/api/logout"))
            .bearer_auth(token)
            .send()
            .await
            .expect("logout")
            .status()
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `POST` with a raw body and content type, for the malformed-input cases.
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send().await.expect("request")
    }

    pub(crate) async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Registers `username` with [`PASSWORD`]; returns the created user.
    pub(crate) async fn register(&self, username: &str) -> Value {
        let (status, body) = status_json(
            self.post_json("/api/register", &registration(username))
                .await,
        )
        .await;
        assert_eq!(status, 201, "registering {username}: {body}");
        body
    }

    pub(crate) async fn login_as(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/login",
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Signs in with [`PASSWORD`]; returns the token response.
    pub(crate) async fn login(&self, username: &str) -> Value {
        let (status, body) = status_json(self.login_as(username, PASSWORD).await).await;
        assert_eq!(status, 200, "signing in as {username}: {body}");
        body
    }

    pub(crate) async fn refresh(&self, token: &str) -> (StatusCode, Value) {
        status_json(
            self.post_json("/api/token/refresh", &json!({ "refresh_token": token }))
                .await,
        )
        .await
    }

    /// An admin: a development-provider sign-in whose email is in `ADMIN_EMAILS`.
    /// Returns the session cookie's value, usable as a Bearer token too.
    pub(crate) async fn admin_token(&self, email: &str) -> String {
        let jar = self.sign_in("The Admin", email).await;
        jar.get("access_token").expect("session cookie").to_owned()
    }

    /// `POST /api/login` from `client` (see [`client_from`]).
    pub(crate) async fn login_from(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        client
            .post(self.url("/api/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("login")
    }

    /// `PUT /api/admin/users/{id}/roles` as `admin` (a Bearer token).
    pub(crate) async fn put_roles(
        &self,
        admin: &str,
        id: &Value,
        roles: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .put(self.url(&format!("/api/admin/users/{id}/roles")))
            .bearer_auth(admin)
            .json(&json!({ "roles": roles }))
            .send()
            .await
            .expect("set roles");
        status_json(response).await
    }

    /// `DELETE /api/admin/users/{id}` as `admin` (a Bearer token).
    pub(crate) async fn delete_user(&self, admin: &str, id: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .delete(self.url(&format!("/api/admin/users/{id}")))
            .bearer_auth(admin)
            .send()
            .await
            .expect("delete");
        status_json(response).await
    }

    /// The home page's password form, posted with `origin` (a browser sends its own).
    pub(crate) fn form_post(
        &self,
        origin: Option<&str>,
        username: &str,
        password: &str,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(self.url("/auth/password"))
            .form(&[("username", username), ("password", password)]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
    }
}
