//! The connection a request arrived on, as the server set it up: its TCP peer, and its slot
//! under `MAX_CONNECTIONS` with the server's word to close (a [`Lease`]), which a WebSocket
//! tunnel takes over when the connection upgrades. A task-local set once per connection, so
//! no request pays for it; outside a served connection (the router called in-process) there
//! is none, and nothing here invents one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, watch};

/// What the server knows about the connection being served.
pub struct Connection {
    peer: SocketAddr,
    lease: Lease,
}

impl Connection {
    pub fn new(peer: SocketAddr, lease: Lease) -> Self {
        Self { peer, lease }
    }
}

/// A share of a connection's slot under `MAX_CONNECTIONS`, and the server's signal that what
/// holds it must close now (the grace period after a stop is over). The slot is free again
/// once the connection and every tunnel it became have let go.
#[derive(Clone)]
pub struct Lease {
    _slot: Arc<OwnedSemaphorePermit>,
    closing: watch::Receiver<bool>,
}

impl Lease {
    /// `closing` turns `true` when holders must close; its sender going away means so too.
    pub fn new(slot: OwnedSemaphorePermit, closing: watch::Receiver<bool>) -> Self {
        Self {
            _slot: Arc::new(slot),
            closing,
        }
    }

    /// Resolves once the server says to close.
    pub async fn closing(&mut self) {
        let _ = self.closing.wait_for(|closing| *closing).await;
    }
}

tokio::task_local! {
    /// The connection being served, set once per connection by the server.
    pub static CONNECTION: Connection;
}

/// The TCP peer of the current connection; `None` outside a served connection (a test calling
/// the router directly), which is never a trusted proxy.
pub fn peer() -> Option<IpAddr> {
    CONNECTION.try_with(|c| c.peer.ip()).ok()
}

/// A share of the current connection's lease, for a tunnel that outlives the request; `None`
/// outside a served connection.
pub fn lease() -> Option<Lease> {
    CONNECTION.try_with(|c| c.lease.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    #[tokio::test]
    async fn there_is_no_peer_outside_a_served_connection_and_the_served_one_inside() {
        assert_eq!(peer(), None);
        assert!(lease().is_none());
        let slots = Arc::new(Semaphore::new(1));
        let (_close, closing) = watch::channel(false);
        let slot = slots.clone().try_acquire_owned().expect("a slot");
        let connection = Connection::new(
            "192.0.2.7:4431".parse().expect("addr"),
            Lease::new(slot, closing),
        );
        let (inside, kept) = CONNECTION
            .scope(connection, async { (peer(), lease()) })
            .await;
        assert_eq!(inside, Some("192.0.2.7".parse().expect("ip")));
        assert_eq!(
            slots.available_permits(),
            0,
            "a share of the lease keeps the slot"
        );
        drop(kept);
        assert_eq!(slots.available_permits(), 1, "freed once nobody holds it");
    }

    #[tokio::test]
    async fn a_lease_hears_the_close_and_also_when_the_server_is_gone() {
        let slots = Arc::new(Semaphore::new(2));
        let (close, closing) = watch::channel(false);
        let slot = slots.clone().try_acquire_owned().expect("a slot");
        let mut lease = Lease::new(slot, closing);
        let _ = close.send(true);
        lease.closing().await;
        let (gone, closing) = watch::channel(false);
        let slot = slots.clone().try_acquire_owned().expect("a slot");
        let mut orphan = Lease::new(slot, closing);
        drop(gone);
        orphan.closing().await;
    }
}
