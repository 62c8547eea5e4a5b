//! The gateway: doorman deciding for a reverse proxy (nginx `auth_request`, Traefik and Caddy
//! forward-auth) whether a request to another service may pass, and telling that service who
//! is calling. `request` rebuilds the original request and tells browsers from programs,
//! `decide` applies a named policy, `identity` writes the headers and `assertion` signs the
//! ES256 identity the service can verify. Handlers are in `routes::gateway`.

pub mod assertion;
pub mod decide;
pub mod identity;
pub mod proxy;
pub mod request;

pub use assertion::Signer;
pub use decide::{Ask, Decision, decide, decide_target};
pub use request::{Endpoint, Target};
