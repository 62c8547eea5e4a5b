//! A service's answer that is still streaming (server-sent events, a long download) ends when
//! the session it was allowed for does: sign-out, a provider's back-channel logout, a role
//! change, deletion, on any instance (the revocation set is kept in step). The body is checked
//! at every frame, and every `CHECK_EVERY` while it waits for one, so a quiet event stream
//! closes within that (plus the time the revocation takes to reach this instance). It ends as
//! a body error: hyper closes the connection before the end of the body, so the client sees
//! the stream cut short, never a complete answer (an `EventSource` reconnects and meets 401).
//! A token's expiry alone never cuts a download short. A change of the session's groups or
//! roles found at a recheck at the provider cuts it too: it was allowed under the old ones.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::clock::Clock;
use crate::session::RevocationSet;
use crate::telemetry::Metrics;

/// How often a waiting stream looks at its session.
const CHECK_EVERY: Duration = Duration::from_millis(250);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The session an answer's stream belongs to.
pub(super) struct StreamGuard {
    /// What revoking the session is recorded under (`Claims::revocation_id`).
    pub(super) revocation_id: Box<str>,
    /// When the token the answer was allowed with was issued.
    pub(super) issued_at: u64,
    /// The session's change signal id, made the first time it is needed.
    pub(super) change_id: std::sync::OnceLock<String>,
    pub(super) revocations: Arc<RevocationSet>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) metrics: Arc<Metrics>,
}

impl StreamGuard {
    /// Revoked, or its groups or roles changed since the answer was allowed (at a recheck
    /// at the provider: the client's next request is judged again).
    fn ended(&self) -> bool {
        if self.revocations.is_empty() {
            return false;
        }
        let now = self.clock.now();
        self.revocations.is_revoked(&self.revocation_id, now)
            || self.revocations.changed_since(
                self.change_id
                    .get_or_init(|| crate::session::change_id(&self.revocation_id)),
                self.issued_at,
                now,
            )
    }
}

/// Why a stream was cut.
#[derive(Debug, thiserror::Error)]
#[error("the session of this answer ended")]
struct SessionEnded;

pin_project_lite::pin_project! {
    /// `inner`, cut when its session ends.
    pub(super) struct Guarded<B> {
        #[pin]
        inner: B,
        guard: StreamGuard,
        // Armed the first time the body has to wait, so an answer that never waits
        // costs no timer.
        check: Option<Pin<Box<tokio::time::Sleep>>>,
        cut: bool,
    }
}

impl<B> Guarded<B> {
    pub(super) fn new(inner: B, guard: StreamGuard) -> Self {
        Self {
            inner,
            guard,
            check: None,
            cut: false,
        }
    }
}

impl<B> Body for Guarded<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if *this.cut {
            return Poll::Ready(None);
        }
        let cut = |cut: &mut bool, guard: &StreamGuard| {
            *cut = true;
            guard.metrics.tunnels().stream_cut();
            tracing::debug!("a streaming answer was cut: its session ended");
            Poll::Ready(Some(Err(Box::new(SessionEnded) as BoxError)))
        };
        if this.guard.ended() {
            return cut(this.cut, this.guard);
        }
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        loop {
            let check = this
                .check
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(CHECK_EVERY)));
            if check.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if this.guard.ended() {
                return cut(this.cut, this.guard);
            }
            check
                .as_mut()
                .reset(tokio::time::Instant::now() + CHECK_EVERY);
        }
    }

    fn is_end_stream(&self) -> bool {
        self.cut || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
