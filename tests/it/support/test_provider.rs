//! A test-only OpenID provider that can be told to misbehave: the provider side of the negative
//! security tests. It is an axum router on `127.0.0.1:0` serving discovery, JWKS, `/authorize`
//! (auto-approving, no login page), `/token` (client_secret_basic, PKCE S256, single-use codes)
//! and `/userinfo` (Bearer header only).
//!
//! Every endpoint reads the shared [`Faults`] on each call, so a test can change the provider's
//! behaviour between two steps of one sign-in (rotate its keys, say). Calls are counted per
//! endpoint, so a test can assert which endpoints were *not* called after a bad artefact, or
//! wait for a call to arrive (`until_calls`) instead of sleeping, and everything secret the
//! provider handed out is recorded, so the log scan can look for it.
//!
//! Never part of the binary: it lives under `tests/`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use doorman::dev_provider::RsaSigner;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Jar, STRONG_SECRET, TestApp, location, spawn_app_https, spawn_app_with};

pub(crate) const CLIENT_ID: &str = "doorman-test-client";
/// Has `:` `+` `%` (and `/`, `=`): only a client that form-urlencodes before Base64 gets in.
pub(crate) const CLIENT_SECRET: &str = "s3cr:t+with%25odd/chars=and%more";
/// The subject the provider signs in unless a claims patch says otherwise.
pub(crate) const SUBJECT: &str = "test-user-248289761001";
pub(crate) const NAME: &str = "Test User";
pub(crate) const EMAIL: &str = "test.user@example.com";
pub(crate) const PICTURE: &str = "https://pictures.example.com/test-user.png";
/// Put in provider error bodies so tests can assert it never reaches a page.
pub(crate) const LEAK_MARKER: &str = "PROVIDER-INTERNAL-DETAIL-7f3a";

/// Three RSA keys per test binary (generation is the slow part): index 0 is the normal signing
/// key, index 1 the "next" key for rotation, or an attacker's key, index 2 the one after next.
static KEYS: LazyLock<[RsaSigner; 3]> = LazyLock::new(|| {
    [
        RsaSigner::generate("test-key-1").expect("RSA key generation"),
        RsaSigner::generate("test-key-2").expect("RSA key generation"),
        RsaSigner::generate("test-key-3").expect("RSA key generation"),
    ]
});

pub(crate) fn key(index: usize) -> &'static RsaSigner {
    &KEYS[index]
}

/// Seconds since the epoch, signed, for claims arithmetic.
pub(crate) fn now() -> i64 {
    i64::try_from(doorman::clock::system_now()).expect("time fits")
}

/// A change applied to a JSON document (claims, JOSE header, discovery document).
pub(crate) type Patch = Arc<dyn Fn(&mut Value) + Send + Sync>;

pub(crate) fn patch(f: impl Fn(&mut Value) + Send + Sync + 'static) -> Patch {
    Arc::new(f)
}

/// How the ID token is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signing {
    /// RS256 with `Faults::signing_key`.
    Valid,
    /// RS256, then one bit of the signature flipped.
    BadSignature,
    /// `alg: none`, empty signature.
    AlgNone,
    /// HS256 MACed with the client secret (the spec's MAC option, refused by the allow-list).
    Hs256WithClientSecret,
    /// HS256 MACed with the public key's JWK (the classic algorithm-confusion attack).
    Hs256WithPublicKey,
}

/// What `/token` answers once it has checked the client, the code and the verifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenFault {
    None,
    /// This status with an HTML body carrying [`LEAK_MARKER`].
    Status(u16),
    /// 200 with an HTML page instead of JSON.
    Html,
    /// 302 to another URL on this provider (counted as `untrusted`).
    Redirect,
    /// 200 with a 2 MiB JSON body and a Content-Length saying so.
    OversizedDeclared,
    /// 200 with a 2 MiB JSON body, chunked (no Content-Length): must be cut off while reading.
    OversizedStreamed,
    /// Sleep this long before answering normally.
    Hang(Duration),
    /// 400 with this OAuth error code and a description carrying [`LEAK_MARKER`].
    OAuthError(&'static str),
    /// A normal answer without `id_token`.
    NoIdToken,
    /// A normal answer with this `token_type`.
    TokenType(&'static str),
}

/// What `/authorize` sends back in the redirect's `iss` parameter (RFC 9207).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IssParam {
    Correct,
    Omitted,
    Value(String),
}

/// Everything the provider can be told to do wrong. `Faults::default()` is a well-behaved
/// provider whose ID token carries no profile claims, so a successful sign-in also calls
/// `/userinfo` (and a test can tell that a bad ID token stopped the flow before it).
#[derive(Clone)]
pub(crate) struct Faults {
    /// Discovery answers 503.
    pub discovery_down: bool,
    /// Serve this document instead of the generated one.
    pub discovery_document: Option<Value>,
    /// Change the generated discovery document.
    pub discovery_patch: Option<Patch>,
    /// The discovery document says `authorization_response_iss_parameter_supported: true`
    /// (RFC 9207); else it leaves the member out.
    pub advertises_iss_parameter: bool,
    /// Redirect back with `error=<this>` instead of a code.
    pub authorize_error: Option<String>,
    pub iss_param: IssParam,
    pub token: TokenFault,
    pub signing: Signing,
    /// Which key signs the ID token.
    pub signing_key: usize,
    /// Which keys `/jwks` publishes.
    pub published_keys: Vec<usize>,
    /// Change the published JWKS (e.g. a new key under an old `kid`).
    pub jwks_patch: Option<Patch>,
    /// `Cache-Control` of the `/jwks` answer.
    pub jwks_cache_control: Option<&'static str>,
    /// `/jwks` answers 503.
    pub jwks_down: bool,
    /// `/jwks` answers only once `/token` has issued this many ID tokens in all (or after ten
    /// seconds): everyone who signs in meanwhile needs the keys that answer brings.
    pub jwks_held_until_id_tokens: Option<usize>,
    /// Change the ID token's JOSE header (after `kid` and `alg` are set).
    pub header_patch: Option<Patch>,
    /// Change the ID token's claims (after the standard ones are set).
    pub claims_patch: Option<Patch>,
    /// Put email, name and picture in the ID token (else only `/userinfo` has them).
    pub profile_in_id_token: bool,
    /// `/userinfo` answers with this status and an error body.
    pub userinfo_status: Option<u16>,
    /// Change the `/userinfo` claims.
    pub userinfo_patch: Option<Patch>,
    /// `/token` gives a refresh token with every code it redeems, and honours them.
    pub issue_refresh_tokens: bool,
    /// A refresh is refused with this OAuth error (`invalid_grant`: the account is disabled).
    pub refresh_error: Option<&'static str>,
    /// Seconds added to the clock of refreshed ID tokens: a relying party on a fake clock
    /// that ran ahead still sees them fresh.
    pub refresh_clock_offset: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            discovery_down: false,
            discovery_document: None,
            discovery_patch: None,
            advertises_iss_parameter: true,
            authorize_error: None,
            iss_param: IssParam::Correct,
            token: TokenFault::None,
            signing: Signing::Valid,
            signing_key: 0,
            published_keys: vec![0],
            jwks_patch: None,
            jwks_cache_control: None,
            jwks_down: false,
            jwks_held_until_id_tokens: None,
            header_patch: None,
            claims_patch: None,
            profile_in_id_token: false,
            userinfo_status: None,
            userinfo_patch: None,
            issue_refresh_tokens: false,
            refresh_error: None,
            refresh_clock_offset: 0,
        }
    }
}

/// Calls per endpoint since the provider started, comparable in assertions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Calls {
    pub discovery: usize,
    pub jwks: usize,
    pub authorize: usize,
    pub token: usize,
    pub userinfo: usize,
    /// Refresh-token grants at `/token` (also counted in `token`).
    pub refresh: usize,
    /// URLs no relying party should ever fetch: `jku`/`x5u` targets, redirect targets.
    pub untrusted: usize,
}

/// What the provider saw and handed out: for assertions and for the log scan.
#[derive(Clone, Debug, Default)]
pub(crate) struct Record {
    pub authorize_requests: Vec<HashMap<String, String>>,
    pub codes: Vec<String>,
    pub id_tokens: Vec<String>,
    pub access_tokens: Vec<String>,
    pub pkce_verifiers: Vec<String>,
    pub token_authorization: Vec<String>,
    /// How each `/userinfo` call presented its token: the Authorization header, or "" if none.
    pub userinfo_authorization: Vec<String>,
}

struct Pending {
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
}

struct Inner {
    issuer: String,
    /// The issuer without a trailing slash, for building endpoint URLs.
    base: String,
    faults: Arc<Mutex<Faults>>,
    /// Calls per endpoint; a watch, so a test can wait for a call instead of sleeping.
    calls: tokio::sync::watch::Sender<Calls>,
    record: Mutex<Record>,
    codes: Mutex<HashMap<String, Pending>>,
    access_tokens: Mutex<HashMap<String, String>>,
    /// Refresh tokens that may still be redeemed (each once: they rotate) → the subject.
    refresh_tokens: Mutex<HashMap<String, String>>,
    /// ID tokens issued so far, for `jwks_held_until_id_tokens` to wait on.
    id_tokens_issued: tokio::sync::watch::Sender<usize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone)]
pub(crate) struct TestProvider {
    /// `http://127.0.0.1:<port>` (with a trailing slash if started so): the issuer as
    /// configured and as signed.
    pub issuer: String,
    base: String,
    pub faults: Arc<Mutex<Faults>>,
    inner: Arc<Inner>,
}

impl TestProvider {
    /// Starts a provider on a random loopback port with `faults`.
    pub(crate) async fn start(faults: Faults) -> Self {
        Self::start_with_issuer(faults, "").await
    }

    /// A provider whose issuer is `http://127.0.0.1:<port>` followed by `suffix` (e.g. `/`,
    /// as Auth0's issuers end).
    pub(crate) async fn start_with_issuer(faults: Faults, suffix: &str) -> Self {
        // Generate the keys off the async runtime, once per test binary.
        tokio::task::spawn_blocking(|| LazyLock::force(&KEYS))
            .await
            .expect("key generation");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test provider");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let issuer = format!("{base}{suffix}");
        let faults = Arc::new(Mutex::new(faults));
        let inner = Arc::new(Inner {
            issuer: issuer.clone(),
            base: base.clone(),
            faults: faults.clone(),
            calls: tokio::sync::watch::Sender::new(Calls::default()),
            record: Mutex::default(),
            codes: Mutex::default(),
            access_tokens: Mutex::default(),
            refresh_tokens: Mutex::default(),
            id_tokens_issued: tokio::sync::watch::Sender::new(0),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo).post(userinfo))
            .route("/untrusted", get(untrusted).post(untrusted))
            .with_state(inner.clone());
        tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("test provider serves");
        });
        Self {
            issuer,
            base,
            faults,
            inner,
        }
    }

    /// Changes the faults from now on.
    pub(crate) fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut lock(&self.faults));
    }

    pub(crate) fn calls(&self) -> Calls {
        *self.inner.calls.borrow()
    }

    /// Waits until the calls so far satisfy `reached` (e.g. `|c| c.token == 1`: doorman's
    /// request is at the token endpoint now); a test whose call never comes fails after 10 s.
    pub(crate) async fn until_calls(&self, reached: impl FnMut(&Calls) -> bool) -> Calls {
        let mut calls = self.inner.calls.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(10), calls.wait_for(reached)).await;
        match waited {
            Ok(Ok(calls)) => *calls,
            _ => panic!(
                "the provider never saw the calls awaited: {:?}",
                self.calls()
            ),
        }
    }

    pub(crate) fn record(&self) -> Record {
        lock(&self.inner.record).clone()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The configuration that points doorman at this provider.
    pub(crate) fn app_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OIDC_ISSUER_URL", self.issuer.clone()),
            ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
            ("OIDC_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("SESSION_SECRET", STRONG_SECRET.to_owned()),
            ("OIDC_HTTP_TIMEOUT_SECS", "1".to_owned()),
        ]
    }

    /// The browser at `/authorize`: returns where the provider sends it back (the callback).
    pub(crate) async fn authorize(&self, authorize_url: &reqwest::Url) -> reqwest::Url {
        let response = super::client()
            .get(authorize_url.as_str())
            .send()
            .await
            .expect("authorize");
        assert_eq!(
            response.status(),
            303,
            "the test provider redirects back to the relying party"
        );
        reqwest::Url::parse(&location(&response)).expect("absolute callback URL")
    }
}

/// doorman configured for `provider` (plus `extra`, which wins).
pub(crate) async fn spawn_app_for(provider: &TestProvider, extra: &[(&str, &str)]) -> TestApp {
    let vars = merged(provider, extra);
    spawn_app_with(&borrowed(&vars)).await
}

/// doorman configured for `provider`, with an https `PUBLIC_URL` (see `spawn_app_https`).
pub(crate) async fn spawn_https_app_for(
    provider: &TestProvider,
    extra: &[(&str, &str)],
) -> TestApp {
    let vars = merged(provider, extra);
    spawn_app_https(&borrowed(&vars)).await
}

fn merged(provider: &TestProvider, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = provider
        .app_vars()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    vars
}

fn borrowed(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A provider with `faults` and doorman pointed at it.
pub(crate) async fn setup(faults: Faults) -> (TestProvider, TestApp) {
    let provider = TestProvider::start(faults).await;
    let app = spawn_app_for(&provider, &[]).await;
    (provider, app)
}

/// One sign-in attempt, up to the moment the browser is about to hit the callback.
pub(crate) struct Attempt {
    pub callback: reqwest::Url,
    pub jar: Jar,
}

impl Attempt {
    /// The callback URL with one query parameter replaced (or removed, with `None`).
    pub(crate) fn callback_with(&self, name: &str, value: Option<&str>) -> reqwest::Url {
        let pairs: Vec<(String, String)> = self
            .callback
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != name)
            .collect();
        let mut url = self.callback.clone();
        {
            let mut query = url.query_pairs_mut();
            query.clear();
            for (k, v) in &pairs {
                query.append_pair(k, v);
            }
            if let Some(v) = value {
                query.append_pair(name, v);
            }
        }
        url
    }

    pub(crate) fn param(&self, name: &str) -> Option<String> {
        self.callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// `/auth/login` then the provider's `/authorize`.
pub(crate) async fn begin(app: &TestApp, provider: &TestProvider, next: Option<&str>) -> Attempt {
    let (authorize, jar) = app.start_login(next).await;
    let callback = provider.authorize(&authorize).await;
    Attempt { callback, jar }
}

/// The browser arrives at `url` (a callback) with the attempt's cookies.
pub(crate) async fn arrive(app: &TestApp, url: &reqwest::Url, jar: &Jar) -> reqwest::Response {
    // The provider redirects to PUBLIC_URL, which may name https://localhost; the server
    // itself is plain http on the same port.
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    app.get(&path_and_query, jar).await
}

/// A whole sign-in; asserts it worked and returns the jar with the session cookie.
pub(crate) async fn sign_in(app: &TestApp, provider: &TestProvider) -> Jar {
    let mut attempt = begin(app, provider, None).await;
    let response = arrive(app, &attempt.callback, &attempt.jar).await;
    assert_eq!(response.status(), 303, "the callback succeeds");
    attempt.jar.absorb(response.headers());
    assert!(
        attempt.jar.get("access_token").is_some(),
        "a session cookie was set"
    );
    attempt.jar
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// A compact JWS with `header` and `claims`, MACed with HS256 under `key`.
pub(crate) fn hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mac = hmac_sha256(key, input.as_bytes());
    format!("{input}.{}", b64(&mac))
}

async fn discovery(State(op): State<Arc<Inner>>) -> Response {
    op.calls.send_modify(|c| c.discovery += 1);
    let faults = lock(&op.faults).clone();
    if faults.discovery_down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    if let Some(document) = faults.discovery_document {
        return Json(document).into_response();
    }
    let url = |path: &str| format!("{}{path}", op.base);
    let mut document = json!({
        "issuer": op.issuer,
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "userinfo_endpoint": url("/userinfo"),
        "jwks_uri": url("/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    });
    if faults.advertises_iss_parameter {
        document["authorization_response_iss_parameter_supported"] = json!(true);
    }
    if let Some(change) = faults.discovery_patch {
        change(&mut document);
    }
    Json(document).into_response()
}

async fn jwks(State(op): State<Arc<Inner>>) -> Response {
    op.calls.send_modify(|c| c.jwks += 1);
    let faults = lock(&op.faults).clone();
    if let Some(count) = faults.jwks_held_until_id_tokens {
        let mut issued = op.id_tokens_issued.subscribe();
        // A deadline, so that a test whose sign-ins never come fails instead of hanging.
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            issued.wait_for(|issued| *issued >= count),
        )
        .await;
    }
    if faults.jwks_down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let keys: Vec<Value> = faults
        .published_keys
        .iter()
        .map(|i| key(*i).public_jwk().clone())
        .collect();
    let mut document = json!({ "keys": keys });
    if let Some(patch) = &faults.jwks_patch {
        patch(&mut document);
    }
    let mut response = Json(document).into_response();
    if let Some(cache_control) = faults.jwks_cache_control {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static(cache_control),
        );
    }
    response
}

/// A URL nobody should fetch; answers with the attacker's key so that fetching it would matter.
async fn untrusted(State(op): State<Arc<Inner>>) -> Json<Value> {
    op.calls.send_modify(|c| c.untrusted += 1);
    Json(json!({ "keys": [key(1).public_jwk()] }))
}

async fn authorize(
    State(op): State<Arc<Inner>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    op.calls.send_modify(|c| c.authorize += 1);
    lock(&op.record).authorize_requests.push(params.clone());
    let faults = lock(&op.faults).clone();
    let p = |name: &str| params.get(name).cloned().unwrap_or_default();
    let valid = p("client_id") == CLIENT_ID
        && p("response_type") == "code"
        && p("scope").split(' ').any(|s| s == "openid")
        && p("code_challenge_method") == "S256"
        && p("code_challenge").len() == 43
        && !p("state").is_empty()
        && p("redirect_uri").starts_with("http");
    if !valid {
        // Like a real provider: a bad request is shown here, never redirected.
        return (StatusCode::BAD_REQUEST, "invalid authorization request").into_response();
    }
    let mut back = url::Url::parse(&p("redirect_uri")).expect("redirect_uri is a URL");
    {
        let mut query = back.query_pairs_mut();
        match &faults.authorize_error {
            Some(error) => {
                query.append_pair("error", error);
            }
            None => {
                let code = doorman::random::token_id();
                lock(&op.record).codes.push(code.clone());
                lock(&op.codes).insert(
                    code.clone(),
                    Pending {
                        nonce: params.get("nonce").cloned(),
                        challenge: p("code_challenge"),
                        redirect_uri: p("redirect_uri"),
                    },
                );
                query.append_pair("code", &code);
            }
        }
        query.append_pair("state", &p("state"));
        match &faults.iss_param {
            IssParam::Correct => {
                query.append_pair("iss", &op.issuer);
            }
            IssParam::Omitted => {}
            IssParam::Value(v) => {
                query.append_pair("iss", v);
            }
        }
    }
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, back.to_string())],
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (
        status,
        Json(json!({
            "error": error,
            "error_description": format!("{LEAK_MARKER}: the provider says no"),
        })),
    )
        .into_response()
}

/// `client_secret_basic` as RFC 6749 §2.3.1 defines it: form-urlencoded, then Base64.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

async fn token(
    State(op): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    op.calls.send_modify(|c| c.token += 1);
    let faults = lock(&op.faults).clone();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    {
        let mut record = lock(&op.record);
        record.token_authorization.push(authorization);
        if let Some(v) = form.get("code_verifier") {
            record.pkce_verifiers.push(v.clone());
        }
    }
    // client_secret_basic only: a secret in the body is refused.
    let client_ok = basic_credentials(&headers)
        .is_some_and(|(id, secret)| id == CLIENT_ID && secret == CLIENT_SECRET)
        && !form.contains_key("client_secret");
    if !client_ok {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        return refresh(&op, &faults, form.get("refresh_token")).await;
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // Single use: the code is gone whatever happens next.
    let pending = form
        .get("code")
        .and_then(|code| lock(&op.codes).remove(code));
    let Some(pending) = pending else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if b64(&Sha256::digest(verifier.as_bytes())) != pending.challenge
        || form.get("redirect_uri") != Some(&pending.redirect_uri)
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }

    match &faults.token {
        TokenFault::Status(status) => {
            let status = StatusCode::from_u16(*status).expect("a status code");
            return (
                status,
                [(header::CONTENT_TYPE, "text/html")],
                format!("<html><body>Internal error {LEAK_MARKER}</body></html>"),
            )
                .into_response();
        }
        TokenFault::Html => {
            return (
                [(header::CONTENT_TYPE, "text/html")],
                format!("<!doctype html><html><body>Please sign in {LEAK_MARKER}</body></html>"),
            )
                .into_response();
        }
        TokenFault::Redirect => {
            return (
                StatusCode::FOUND,
                [(header::LOCATION, format!("{}/untrusted", op.base))],
            )
                .into_response();
        }
        TokenFault::OversizedDeclared | TokenFault::OversizedStreamed => {
            let body = format!(
                r#"{{"access_token":"x","token_type":"Bearer","padding":"{}"}}"#,
                "a".repeat(2 * 1024 * 1024)
            );
            let body = if faults.token == TokenFault::OversizedStreamed {
                // A stream has no known length: hyper sends it chunked.
                Body::from_stream(Body::from(body).into_data_stream())
            } else {
                Body::from(body)
            };
            return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
        TokenFault::Hang(duration) => tokio::time::sleep(*duration).await,
        TokenFault::OAuthError(code) => return oauth_error(StatusCode::BAD_REQUEST, code),
        TokenFault::None | TokenFault::NoIdToken | TokenFault::TokenType(_) => {}
    }

    let now = now();
    let mut claims = json!({
        "iss": op.issuer,
        "sub": SUBJECT,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 600,
    });
    if let Some(nonce) = pending.nonce {
        claims["nonce"] = json!(nonce);
    }
    profile_and_patch(&faults, &mut claims);
    let signer = key(faults.signing_key);
    let mut jose = json!({"alg": "RS256", "typ": "JWT", "kid": signer.kid()});
    if let Some(change) = &faults.header_patch {
        change(&mut jose);
    }
    let id_token = match faults.signing {
        Signing::Valid => signer.sign_with_header(&jose, &claims),
        Signing::BadSignature => {
            let jws = signer.sign_with_header(&jose, &claims);
            let (input, signature) = jws.rsplit_once('.').expect("three segments");
            let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(signature)
                .expect("base64url");
            bytes[10] ^= 0x01;
            format!("{input}.{}", b64(&bytes))
        }
        Signing::AlgNone => {
            jose["alg"] = json!("none");
            format!(
                "{}.{}.",
                b64(jose.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            )
        }
        Signing::Hs256WithClientSecret => {
            jose["alg"] = json!("HS256");
            hs256(&jose, &claims, CLIENT_SECRET.as_bytes())
        }
        Signing::Hs256WithPublicKey => {
            jose["alg"] = json!("HS256");
            hs256(&jose, &claims, signer.public_jwk().to_string().as_bytes())
        }
    };
    let access_token = doorman::random::token_id();
    lock(&op.access_tokens).insert(
        access_token.clone(),
        claims["sub"].as_str().unwrap_or_default().to_owned(),
    );
    {
        let mut record = lock(&op.record);
        record.id_tokens.push(id_token.clone());
        record.access_tokens.push(access_token.clone());
    }
    op.id_tokens_issued.send_modify(|issued| *issued += 1);
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 600,
        "id_token": id_token,
    });
    if faults.issue_refresh_tokens {
        let refresh_token = doorman::random::secret_token();
        lock(&op.refresh_tokens).insert(
            refresh_token.clone(),
            claims["sub"].as_str().unwrap_or_default().to_owned(),
        );
        body["refresh_token"] = json!(refresh_token);
    }
    match &faults.token {
        TokenFault::NoIdToken => {
            body.as_object_mut().expect("an object").remove("id_token");
        }
        TokenFault::TokenType(kind) => body["token_type"] = json!(kind),
        _ => {}
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// The profile claims (when the ID token carries them) and the claims patch, as every ID token
/// of this provider gets them.
fn profile_and_patch(faults: &Faults, claims: &mut Value) {
    if faults.profile_in_id_token {
        claims["email"] = json!(EMAIL);
        claims["email_verified"] = json!(true);
        claims["name"] = json!(NAME);
        claims["picture"] = json!(PICTURE);
    }
    if let Some(change) = &faults.claims_patch {
        change(claims);
    }
}

/// The refresh-token grant: a refresh token is spent when redeemed and a new one comes with
/// a new ID token (no nonce), the claims patch applied as at sign-in.
async fn refresh(op: &Inner, faults: &Faults, presented: Option<&String>) -> Response {
    op.calls.send_modify(|c| c.refresh += 1);
    if let TokenFault::Status(status) = &faults.token {
        let status = StatusCode::from_u16(*status).expect("a status code");
        return (status, format!("down {LEAK_MARKER}")).into_response();
    }
    if let TokenFault::Hang(duration) = &faults.token {
        tokio::time::sleep(*duration).await;
    }
    if let Some(error) = faults.refresh_error {
        return oauth_error(StatusCode::BAD_REQUEST, error);
    }
    let sub = presented.and_then(|t| lock(&op.refresh_tokens).remove(t));
    let Some(sub) = sub else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let now = now() + i64::try_from(faults.refresh_clock_offset).expect("an offset");
    let mut claims =
        json!({"iss": op.issuer, "sub": sub, "aud": CLIENT_ID, "iat": now, "exp": now + 600});
    profile_and_patch(faults, &mut claims);
    let signer = key(faults.signing_key);
    let id_token = signer.sign_with_header(
        &json!({"alg": "RS256", "typ": "JWT", "kid": signer.kid()}),
        &claims,
    );
    let access_token = doorman::random::token_id();
    lock(&op.access_tokens).insert(access_token.clone(), sub.clone());
    let next = doorman::random::secret_token();
    lock(&op.refresh_tokens).insert(next.clone(), sub);
    let body = json!({
        "access_token": access_token, "token_type": "Bearer", "expires_in": 600,
        "id_token": id_token, "refresh_token": next,
    });
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

async fn userinfo(
    State(op): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    op.calls.send_modify(|c| c.userinfo += 1);
    let faults = lock(&op.faults).clone();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    lock(&op.record)
        .userinfo_authorization
        .push(authorization.clone());
    if let Some(status) = faults.userinfo_status {
        return oauth_error(
            StatusCode::from_u16(status).expect("a status code"),
            "server_error",
        );
    }
    // RFC 6750 §2.1 only: a token in the query string is refused.
    let token = authorization
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let sub = token.and_then(|t| lock(&op.access_tokens).get(&t).cloned());
    let Some(sub) = sub.filter(|_| !query.contains_key("access_token")) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    let mut claims = json!({
        "sub": sub,
        "email": EMAIL,
        "email_verified": true,
        "name": NAME,
        "picture": PICTURE,
    });
    if let Some(change) = &faults.userinfo_patch {
        change(&mut claims);
    }
    Json(claims).into_response()
}
