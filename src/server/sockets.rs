//! The listening sockets: one per serving thread, all bound to the same address with
//! `SO_REUSEPORT`, so that the kernel spreads new connections evenly between the threads
//! instead of letting whichever thread wakes first take a whole burst.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The backlog of each socket, as `tokio::net::TcpListener::bind` sets it.
const BACKLOG: u32 = 1024;

/// Listens on `addr` (port 0 picks a free port) with a socket that further serving threads
/// can join (see [`join`]). An address another process already listens on is refused, even
/// when that process also set `SO_REUSEPORT` (an older doorman left running would otherwise
/// silently take half the connections): a plain socket is bound first, then let go.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let addr = {
        let probe = std::net::TcpListener::bind(addr)?;
        probe.local_addr()?
    };
    shared(addr)
}

/// Another socket on `listener`'s address, for one more serving thread. `None` when the
/// listener cannot be joined (it was bound without `SO_REUSEPORT`, or the platform has no
/// such option): the threads then share the one socket.
pub(super) fn join(listener: &std::net::TcpListener) -> Option<std::net::TcpListener> {
    let addr = listener.local_addr().ok()?;
    let socket = shared(addr).ok()?;
    socket.into_std().ok()
}

fn shared(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Elsewhere the threads share the one socket (`join` fails).
    #[cfg(unix)]
    {
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
