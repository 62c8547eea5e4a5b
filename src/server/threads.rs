//! Serving on one single-threaded runtime per core, each accepting from its own socket, so
//! that a connection's requests are read, answered and logged on one thread and the kernel
//! spreads connections between the threads; what each thread served is logged at stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::served::{self, Served, Shares};
use super::sockets;
use super::{AppService, Connections, serve};
use crate::config::ServerConfig;

/// As [`serve`], on `cores` threads, each with a single-threaded runtime: no work stealing and
/// no wakeups across threads (on two cores, 3–12% more requests per second than one shared
/// runtime, measured). Each thread accepts from its own `SO_REUSEPORT` socket on the
/// listener's address when the listener came from [`super::bind`]: with one shared socket,
/// the thread that wakes first accepts a whole burst of connections (all 64 of a load test's,
/// in some runs) and the other thread idles. The cap on connections, the stop and the drain
/// are shared.
pub async fn serve_per_core<S>(
    listener: TcpListener,
    service: S,
    server: &ServerConfig,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    cores: usize,
) -> std::io::Result<()>
where
    S: AppService,
{
    if cores <= 1 {
        return serve(listener, service, server, shutdown, grace).await;
    }
    let connections = Arc::new(Connections::new(server));
    let socket = listener.into_std()?;
    // Both signals also fire when this future is dropped (their senders go with it), so the
    // threads never outlive the server.
    let (stop_accepting, stop_rx) = tokio::sync::watch::channel(false);
    // Raised once the drain is over: until then each runtime keeps its connections running.
    let (drained, drained_rx) = tokio::sync::watch::channel(false);
    let mut threads = Vec::with_capacity(cores);
    for core in 0..cores {
        threads.push(spawn_serving_thread(
            core,
            if core == 0 {
                socket.try_clone()?
            } else {
                match sockets::join(&socket) {
                    Some(own) => own,
                    None => socket.try_clone()?,
                }
            },
            connections.clone(),
            service.clone(),
            (stop_rx.clone(), drained_rx.clone()),
        )?);
    }
    drop(socket);
    shutdown.await;
    let _ = stop_accepting.send(true);
    connections.drain(grace).await;
    let _ = drained.send(true);
    let mut result = Ok(());
    let mut counts = Vec::with_capacity(cores);
    for done in threads {
        match done.await {
            Ok(Ok(served)) => counts.push(served),
            Ok(Err(err)) => result = Err(err),
            Err(_) => {}
        }
    }
    tracing::info!(shares = %Shares(&counts), "requests per serving thread");
    result
}

/// One serving thread: a single-threaded runtime accepting from `socket` until `stop` turns
/// `true`, then keeping its connections running until `drained` does. What it served arrives
/// on the returned channel when the thread ends.
fn spawn_serving_thread<S>(
    core: usize,
    socket: std::net::TcpListener,
    connections: Arc<Connections>,
    service: S,
    (mut stop, mut drained): (
        tokio::sync::watch::Receiver<bool>,
        tokio::sync::watch::Receiver<bool>,
    ),
) -> std::io::Result<tokio::sync::oneshot::Receiver<std::io::Result<Served>>>
where
    S: AppService,
{
    let (done, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("doorman-http-{core}"))
        .spawn(move || {
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|runtime| {
                    runtime.block_on(async move {
                        let listener = TcpListener::from_std(socket)?;
                        let stopping = async move {
                            let _ = stop.wait_for(|stopping| *stopping).await;
                        };
                        tokio::pin!(stopping);
                        while let Some((permit, stream, peer)) =
                            connections.accept(&listener, stopping.as_mut()).await
                        {
                            connections.spawn(stream, peer, permit, service.clone());
                        }
                        drop(listener);
                        let _ = drained.wait_for(|done| *done).await;
                        Ok(served::so_far())
                    })
                });
            let _ = done.send(served);
        })?;
    Ok(done_rx)
}
