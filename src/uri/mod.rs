//! The request target in one normal form, parsed at the edge so that everything after sees the
//! same thing: the path (`path`: decoded, dot segments resolved, ambiguous shapes refused), the
//! authority (`authority`: a host and an optional port, nothing else) and both checked together
//! for a request (`target`: one `Host`, an absolute-form target that agrees with it). Imports
//! nothing of ours.

mod authority;
mod path;
mod target;

pub use authority::{Authority, AuthorityError, MAX_HOST_LEN, authority_of_url, authority_span};
pub use path::{PathError, normalize};
pub use target::{Checked, TargetError, check, host, with_path};
