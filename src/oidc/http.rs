//! The one outbound HTTP client: redirects off (a redirect from the provider would let it
//! point us anywhere, SSRF), a timeout on every call, and a cap on what we read back. Every
//! call is counted and timed by endpoint (`discovery`, `jwks`, `token`, `userinfo`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

use crate::telemetry::Metrics;

/// More than any discovery document, JWKS or token response needs.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// The provider's id, for the metrics' `provider` label.
    provider: &'static str,
}

/// The provider's endpoints, as metrics name them.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    Discovery,
    Jwks,
    Token,
    Userinfo,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::Token => "token",
            Self::Userinfo => "userinfo",
        }
    }
}

/// The client as `openidconnect` calls it, for one endpoint.
pub struct Labelled<'h> {
    http: &'h ProviderHttp,
    endpoint: Endpoint,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("the provider did not answer within the time limit")]
    Timeout,
    #[error("the provider's response was larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("could not reach the provider: {0}")]
    Transport(String),
}

impl ProviderHttp {
    pub fn new(
        timeout: Duration,
        metrics: Arc<Metrics>,
        provider: &'static str,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("doorman/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            timeout,
            metrics,
            provider,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The keys were fetched again, for `reason`.
    pub fn jwks_refreshed(&self, reason: &'static str) {
        self.metrics.provider().jwks_refresh(self.provider, reason);
    }

    /// This client, for `openidconnect` calls to `endpoint`.
    pub fn labelled(&self, endpoint: Endpoint) -> Labelled<'_> {
        Labelled {
            http: self,
            endpoint,
        }
    }

    /// `GET url` expecting JSON: the response (any status) with its headers and capped body.
    pub async fn get_json(
        &self,
        endpoint: Endpoint,
        url: &str,
    ) -> Result<HttpResponse, OutboundError> {
        let request = openidconnect::http::Request::builder()
            .uri(url)
            .method(openidconnect::http::Method::GET)
            .header(openidconnect::http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| OutboundError::Transport(e.to_string()))?;
        self.execute(endpoint, request).await
    }

    /// Sends `request`, and counts and times it.
    async fn execute(
        &self,
        endpoint: Endpoint,
        request: HttpRequest,
    ) -> Result<HttpResponse, OutboundError> {
        let started = Instant::now();
        let outcome = self.send(request).await;
        let result = match &outcome {
            Ok(response) if response.status().is_success() => "ok",
            Ok(_) => "error_status",
            Err(OutboundError::Timeout) => "timeout",
            Err(OutboundError::TooLarge) => "too_large",
            Err(OutboundError::Transport(_)) => "unreachable",
        };
        self.metrics.provider().request(
            (self.provider, endpoint.label()),
            result,
            started.elapsed(),
        );
        outcome
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, OutboundError> {
        let request = reqwest::Request::try_from(request)
            .map_err(|e| OutboundError::Transport(e.without_url().to_string()))?;
        let exchange = async {
            let mut response = self.client.execute(request).await.map_err(classify)?;
            if response
                .content_length()
                .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
            {
                return Err(OutboundError::TooLarge);
            }
            let mut builder = openidconnect::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(OutboundError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            builder
                .body(body)
                .map_err(|e| OutboundError::Transport(e.to_string()))
        };
        // reqwest's own timeout covers the body too; this bounds anything it might not.
        tokio::time::timeout(self.timeout + Duration::from_millis(250), exchange)
            .await
            .unwrap_or(Err(OutboundError::Timeout))
    }
}

fn classify(err: reqwest::Error) -> OutboundError {
    if err.is_timeout() {
        OutboundError::Timeout
    } else {
        OutboundError::Transport(err.without_url().to_string())
    }
}

impl<'c> AsyncHttpClient<'c> for Labelled<'_> {
    type Error = OutboundError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, OutboundError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.http.execute(self.endpoint, request))
    }
}
