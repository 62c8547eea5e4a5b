//! A WebSocket tunnel, once both sides have switched protocols: bytes copied both ways as they
//! come (never buffered), within bounds. It keeps its client connection's slot under
//! `MAX_CONNECTIONS` (a share of the connection's `Lease`), and it closes when its session
//! is revoked (sign-out, role change, deletion, on any instance: the revocation set is kept in
//! step) or expires, after `WEBSOCKET_IDLE_SECS` without a byte either way, and when the server
//! says so (the shutdown grace is over). Those limits are checked every `CHECK_EVERY` against
//! the application's clock. Each tunnel is counted open, then closed by reason.
//!
//! Who ended a tunnel is read from the WebSocket framing (RFC 6455 §5.2) as the bytes pass:
//! the side that sends the Close frame first, or whose connection ends first. After a close
//! handshake it is the server that ends the TCP connection, so the connection alone would
//! blame the upstream for every close a client asked for.

mod frames;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use self::frames::Frames;
use crate::clock::Clock;
use crate::error::context::Lease;
use crate::session::RevocationSet;
use crate::telemetry::Metrics;

/// How often an open tunnel looks at its session and its idle time: a revocation closes it
/// within this (plus the time the revocation takes to reach this instance).
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The session a tunnel was allowed for, as the upgrade's decision saw it.
#[derive(Clone, Copy, Debug)]
pub struct Session<'a> {
    /// What revoking the session is recorded under (`Claims::revocation_id`).
    pub revocation_id: &'a str,
    /// The token's expiry (seconds, the application's clock).
    pub exp: u64,
    /// When the token was issued: a change of the session after it closes the tunnel.
    pub iat: u64,
}

/// What an allowed request hands its tunnel, should it become one: borrowed, so a request
/// that does not upgrade copies nothing.
#[derive(Clone, Copy)]
pub struct Bounds<'a> {
    /// `None` for an anonymous caller of a public route: then only idleness and the server
    /// end the tunnel.
    pub session: Option<Session<'a>>,
    pub revocations: &'a Arc<RevocationSet>,
    pub clock: &'a Arc<dyn Clock>,
    pub metrics: &'a Arc<Metrics>,
    /// `WEBSOCKET_IDLE_SECS`.
    pub idle: Duration,
}

/// Why a tunnel closed: the metric's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closed {
    /// The client sent its Close frame first, or its connection ended first.
    Client,
    /// The same, from the upstream.
    Upstream,
    /// No byte either way for `WEBSOCKET_IDLE_SECS`.
    Idle,
    /// The session's token expired.
    Expired,
    /// The session was revoked.
    Revoked,
    /// The session's groups or roles changed at a recheck at the provider: the tunnel was
    /// allowed under the old ones (the client reconnects, and is judged again).
    Changed,
    /// The server stopped and its grace period is over.
    Shutdown,
    /// A read or write failed before either side had ended it.
    Error,
}

impl Closed {
    fn label(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Upstream => "upstream",
            Self::Idle => "idle",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Changed => "changed",
            Self::Shutdown => "shutdown",
            Self::Error => "error",
        }
    }
}

/// A tunnel about to be: what it watches, owned.
pub struct Tunnel {
    /// The session's revocation id, its change signal's id, and the token's expiry.
    session: Option<(Box<str>, Box<str>, u64)>,
    /// When the token it was allowed with was issued.
    issued_at: u64,
    revocations: Arc<RevocationSet>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    idle_secs: u64,
    /// `None` outside a served connection (the router called in-process).
    lease: Option<Lease>,
}

impl Bounds<'_> {
    /// The tunnel these bounds describe, with a share of the current connection's lease:
    /// called on the request's task, where the connection is known.
    pub fn tunnel(&self) -> Tunnel {
        Tunnel {
            session: self.session.map(|s| {
                let change = crate::session::change_id(s.revocation_id).into();
                (s.revocation_id.into(), change, s.exp)
            }),
            issued_at: self.session.map_or(0, |s| s.iat),
            revocations: self.revocations.clone(),
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
            idle_secs: self.idle.as_secs().max(1),
            lease: crate::error::context::lease(),
        }
    }
}

impl Tunnel {
    /// Copies bytes both ways between the client and the upstream once both have switched,
    /// until one side ends it or a bound does.
    pub async fn run(mut self, client: OnUpgrade, upstream: OnUpgrade) {
        let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else {
            tracing::debug!("a WebSocket upgrade did not complete on both sides");
            return;
        };
        self.metrics.tunnels().opened();
        self.carry(TokioIo::new(client), TokioIo::new(upstream))
            .await;
    }

    /// Copies until the tunnel closes, counts why, then lets go of both connections and of
    /// the slot (so whoever sees it closed sees it counted).
    async fn carry<C, U>(&mut self, client: C, upstream: U)
    where
        C: AsyncRead + AsyncWrite + Unpin,
        U: AsyncRead + AsyncWrite + Unpin,
    {
        let activity = Activity {
            clock: &*self.clock,
            last_active: AtomicU64::new(self.clock.now()),
            ended_by: AtomicU8::new(0),
        };
        let mut client = Watched::new(client, Side::Client, &activity);
        let mut upstream = Watched::new(upstream, Side::Upstream, &activity);
        let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
        tokio::pin!(copy);
        let mut lease = self.lease.take();
        let closing = async {
            match lease.as_mut() {
                Some(lease) => lease.closing().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(closing);
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let closed = loop {
            tokio::select! {
                copied = &mut copy => break match (copied, activity.ended_by()) {
                    (_, Some(side)) => side,
                    (Ok(_), None) => Closed::Client,
                    (Err(err), None) => {
                        tracing::debug!(error = %err, "a WebSocket tunnel failed");
                        Closed::Error
                    }
                },
                () = &mut closing => break Closed::Shutdown,
                _ = tick.tick() => {
                    let now = self.clock.now();
                    let last_active = activity.last_active.load(Ordering::Relaxed);
                    if let Some(limit) = self.limit_reached(now, last_active) {
                        break limit;
                    }
                }
            }
        };
        tracing::debug!(reason = closed.label(), "a WebSocket tunnel closed");
        self.metrics.tunnels().closed(closed.label());
    }

    /// Which bound, if any, ends the tunnel at `now`.
    fn limit_reached(&self, now: u64, last_active: u64) -> Option<Closed> {
        if let Some((revocation_id, change_id, exp)) = &self.session {
            if self.revocations.is_revoked(revocation_id, now) {
                return Some(Closed::Revoked);
            }
            if self
                .revocations
                .changed_since(change_id, self.issued_at, now)
            {
                return Some(Closed::Changed);
            }
            if now >= *exp {
                return Some(Closed::Expired);
            }
        }
        (now.saturating_sub(last_active) >= self.idle_secs).then_some(Closed::Idle)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Side {
    Client = 1,
    Upstream = 2,
}

/// What both directions of a tunnel report to its loop.
struct Activity<'a> {
    clock: &'a dyn Clock,
    /// When a byte last went through, either way (the application's clock).
    last_active: AtomicU64,
    /// The side that ended the tunnel first (0: neither yet).
    ended_by: AtomicU8,
}

impl Activity<'_> {
    fn ended(&self, side: Side) {
        let _ = self
            .ended_by
            .compare_exchange(0, side as u8, Ordering::Relaxed, Ordering::Relaxed);
    }

    fn ended_by(&self) -> Option<Closed> {
        match self.ended_by.load(Ordering::Relaxed) {
            1 => Some(Closed::Client),
            2 => Some(Closed::Upstream),
            _ => None,
        }
    }
}

/// One side's connection, reporting what it reads: activity, its Close frame, its end.
struct Watched<'a, T> {
    io: T,
    side: Side,
    activity: &'a Activity<'a>,
    frames: Frames,
}

impl<'a, T> Watched<'a, T> {
    fn new(io: T, side: Side, activity: &'a Activity<'a>) -> Self {
        Self {
            io,
            side,
            activity,
            frames: Frames::default(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<'_, T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if read.is_empty() {
                    this.activity.ended(this.side);
                } else {
                    let now = this.activity.clock.now();
                    this.activity.last_active.store(now, Ordering::Relaxed);
                    if this.frames.sees_close(read) {
                        this.activity.ended(this.side);
                    }
                }
            }
            Poll::Ready(Err(_)) | Poll::Pending => {}
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<'_, T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
