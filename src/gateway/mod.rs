//! The gateway: everything about a request for *another* service, in one wing. doorman
//! decides for a reverse proxy (nginx `auth_request`, Traefik and Caddy forward-auth:
//! `forward_auth`) or as one (the front door: `proxy`) whether the request may pass, answers
//! a refusal the same way for both (`answer`), and tells the service who is calling (the
//! identity headers, `identity`, and the ES256 assertion, `assertion`).
//!
//! - `service`: the `Gateway` every part runs on (policies, sessions, signer, cache, clock);
//! - `request`: the original request rebuilt from a proxy's headers, browser or program;
//! - `decide`: the decision, a pure function, its reasons typed (`reason`);
//! - `answer`: the refusals (sign in, 401, 403, 400, 503) as `AppError`s;
//! - `forward_auth`: decide → count → answer, with `passthrough` (the service's `Cookie` and
//!   `Authorization`);
//! - `proxy`: the front door's routes and its phases (match, judge, prepare, exchange,
//!   answer).
//!
//! The HTTP handlers are thin (`routes::gateway`); the envelope hands proxied requests to
//! `proxy::Front`.

pub mod answer;
pub mod assertion;
pub mod decide;
pub mod forward_auth;
pub mod identity;
pub mod passthrough;
pub mod proxy;
pub mod reason;
pub mod request;
pub mod service;

pub use assertion::Signer;
pub use decide::{Allow, Ask, Decision, Refusal, decide, decide_target};
pub use reason::{Allowed, DenyReason, NoSession, Unjudgeable};
pub use request::{Endpoint, Target};
pub use service::Gateway;
