//! The test harness: start the real application on a random loopback port, and walk the
//! sign-in flow the way a browser would, asserting each redirect rather than following it.

pub(crate) mod accounts;
pub(crate) mod front;
pub(crate) mod instances;
pub(crate) mod postgres;
pub(crate) mod process;
pub(crate) mod provider_sessions;
pub(crate) mod test_provider;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use doorman::clock::{Clock, FakeClock};
use doorman::config::Config;
use doorman::{App, AppState, Deps};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

pub(crate) const STRONG_SECRET: &str = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";

pub(crate) struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    /// `PUBLIC_URL`: the same as `base` unless the test set another.
    pub public_url: String,
    /// No redirects followed, no cookie store: tests see every hop.
    pub client: reqwest::Client,
    /// doorman's clock: tests move time forward instead of sleeping.
    pub clock: FakeClock,
    /// The running application, for what HTTP cannot reach (a maintenance round).
    pub state: AppState,
}

/// The app with no provider configured: the built-in development provider.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The app with extra configuration variables; `BIND_ADDR` and `PUBLIC_URL` are set to the
/// random port unless given.
pub(crate) async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    spawn_app_public(vars, |addr| format!("http://{addr}")).await
}

/// The app with `PUBLIC_URL=https://localhost:<port>` while it serves plain http on that port,
/// as behind a TLS-terminating proxy: Secure, `__Host-` cookies and HSTS are on.
pub(crate) async fn spawn_app_https(vars: &[(&str, &str)]) -> TestApp {
    spawn_app_public(vars, |addr| format!("https://localhost:{}", addr.port())).await
}

async fn spawn_app_public(
    vars: &[(&str, &str)],
    public_url: impl FnOnce(SocketAddr) -> String,
) -> TestApp {
    let listener = doorman::server::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let base = format!("http://{addr}");
    let mut map: HashMap<String, String> = HashMap::new();
    map.insert("BIND_ADDR".into(), addr.to_string());
    map.insert("PUBLIC_URL".into(), public_url(addr));
    map.insert("DATABASE_URL".into(), temp_database());
    for (k, v) in vars {
        map.insert((*k).into(), (*v).into());
    }
    let public_url = map["PUBLIC_URL"].trim_end_matches('/').to_owned();
    let config = Config::from_lookup(|name| map.get(name).cloned()).expect("test config is valid");
    let clock = FakeClock::new();
    let server = config.server.clone();
    let state: AppState = App::new(
        config,
        Deps {
            clock: Arc::new(clock.clone()),
        },
    )
    .await
    .expect("the app starts")
    .into();
    state.0.spawn_background();
    let router = doorman::build_router(state.clone());
    tokio::spawn(async move {
        // Two serving threads, as on the two-core machines doorman ships to.
        doorman::server::serve_per_core(
            listener,
            router,
            &server,
            std::future::pending(),
            std::time::Duration::ZERO,
            2,
        )
        .await
        .expect("server runs");
    });
    TestApp {
        addr,
        base,
        public_url,
        client: client(),
        clock,
        state,
    }
}

/// A `DOORMAN_CONFIG` file of `text` in the temp directory, named after `what` (one per
/// call); its path.
pub(crate) fn config_file(what: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "doorman-{what}-{}.toml",
        doorman::random::token_id()
    ));
    std::fs::write(&path, text).expect("write the config file");
    path.to_string_lossy().into_owned()
}

/// A fresh SQLite file per app, so tests never share accounts.
pub(crate) fn temp_database() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join("doorman-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!(
        "{}-{n}-{}.db",
        std::process::id(),
        doorman::random::token_id()
    ))
    .to_string_lossy()
    .into_owned()
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A minimal cookie jar: name → value, updated from `Set-Cookie` headers.
#[derive(Default, Clone, Debug)]
pub(crate) struct Jar(pub HashMap<String, String>);

impl Jar {
    pub(crate) fn absorb(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().expect("ascii cookie");
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, val) = pair.split_once('=').expect("name=value");
            let expired = attrs.to_ascii_lowercase().contains("max-age=0");
            if expired || val.is_empty() {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_owned(), val.trim().to_owned());
            }
        }
    }

    pub(crate) fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

pub(crate) fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .expect("ascii location")
        .to_owned()
}

pub(crate) fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn get(&self, path: &str, jar: &Jar) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("cookie", jar.header())
            .send()
            .await
            .expect("request")
    }

    /// `GET /auth/login`, returning the provider URL and the jar holding the flow cookie.
    pub(crate) async fn start_login(&self, next: Option<&str>) -> (reqwest::Url, Jar) {
        start_login(&self.client, &self.base, next).await
    }

    /// The development provider's form, filled in and submitted; returns the callback URL.
    pub(crate) async fn dev_provider_approves(
        &self,
        authorize: &reqwest::Url,
        name: &str,
        email: &str,
    ) -> String {
        dev_provider_approves(&self.client, authorize, name, email).await
    }

    /// A whole sign-in through the development provider; returns the jar with the session.
    pub(crate) async fn sign_in(&self, name: &str, email: &str) -> Jar {
        dev_sign_in(&self.client, &self.base, name, email).await
    }
}

/// `GET /auth/login` at `base`, returning the provider URL and the jar holding the flow cookie.
pub(crate) async fn start_login(
    client: &reqwest::Client,
    base: &str,
    next: Option<&str>,
) -> (reqwest::Url, Jar) {
    let path = match next {
        Some(n) => format!("/auth/login?next={}", urlencode(n)),
        None => "/auth/login".to_owned(),
    };
    let response = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 303, "login redirects to the provider");
    let mut jar = Jar::default();
    jar.absorb(response.headers());
    (
        reqwest::Url::parse(&location(&response)).expect("absolute provider URL"),
        jar,
    )
}

/// The development provider's form, filled in and submitted; returns the callback URL.
pub(crate) async fn dev_provider_approves(
    client: &reqwest::Client,
    authorize: &reqwest::Url,
    name: &str,
    email: &str,
) -> String {
    let response = client
        .post(authorize.as_str())
        .form(&[
            ("name", name),
            ("email", email),
            ("picture", ""),
            ("decision", "allow"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        response.status(),
        303,
        "the development provider redirects back"
    );
    location(&response)
}

/// A whole sign-in at `base` through the development provider; the jar holds the session.
pub(crate) async fn dev_sign_in(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    email: &str,
) -> Jar {
    let (authorize, mut jar) = start_login(client, base, None).await;
    let callback = dev_provider_approves(client, &authorize, name, email).await;
    let response = client
        .get(&callback)
        .header("cookie", jar.header())
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 303, "callback succeeds");
    jar.absorb(response.headers());
    assert!(
        jar.get("access_token").is_some(),
        "a session cookie was set"
    );
    jar
}

pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The JWT's payload as JSON, without verifying it (the tests check what was minted).
pub(crate) fn jwt_payload(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("three segments");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

impl TestApp {
    /// GET an absolute URL (a callback the provider redirected to) with the jar's cookies.
    pub(crate) async fn get_absolute(&self, url: &str, jar: &Jar) -> reqwest::Response {
        self.client
            .get(url)
            .header("cookie", jar.header())
            .send()
            .await
            .expect("request")
    }
}

/// The configuration `vars` describe (with `PUBLIC_URL` as given), for tests that need
/// doorman's own types: minting session tokens, building a `SessionState`.
pub(crate) fn config(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(|name| map.get(name).cloned()).expect("test config is valid")
}

/// A token minter/verifier for an app whose public URL is `public_url`, keyed with `secret`.
pub(crate) fn session_tokens(public_url: &str, secret: &str) -> doorman::session::SessionTokens {
    let config = config(&[("PUBLIC_URL", public_url), ("SESSION_SECRET", secret)]);
    doorman::session::SessionTokens::new(&config.session, config.public_url().origin())
}

impl TestApp {
    /// doorman's current time.
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// A valid session token for user `uid` (or nobody) with `roles`, minted by the app's own
    /// token service; no sign-in, no session row.
    pub(crate) fn session_for(&self, uid: Option<i64>, roles: &[&str]) -> String {
        let identity = doorman::identity::Identity {
            issuer: self.public_url.clone(),
            subject: uid.map_or_else(|| "operator".to_owned(), |id| id.to_string()),
            email: None,
            email_verified: false,
            name: Some("Operator".into()),
            picture: None,
            user_id: uid,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            groups: Vec::new(),
        };
        let tokens = &self.state.sessions.tokens;
        let claims = tokens.claims_for(&identity, self.now(), doorman::random::token_id(), None);
        tokens.mint(&claims).expect("mint a session token")
    }
}
