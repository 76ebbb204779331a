//! The app's own listener (`/some`, `/ws`), protected the way promhttp's exporter
//! protects the metrics listener.
//!
//! This is your application's listener too, so copy it: `axum::serve` is fine on
//! a laptop, but it has no header-read timeout and no connection cap, and its
//! graceful shutdown waits for every connection for ever. One client that sends
//! half a request (`printf 'GET / HTTP/1.1\r\n' | nc host 8080`, kept open) then
//! holds a connection, and a SIGTERM from systemd or Kubernetes, indefinitely;
//! thousands of them (slowloris) exhaust the server. Here:
//!
//! - **header-read timeout**: a request's headers must arrive within
//!   [`Limits::header_read_timeout`] (counted from the start of the connection, or
//!   from the previous response on a keep-alive connection), or the connection is
//!   closed. That also ends idle keep-alive connections after that time.
//! - **connection cap**: at most [`Limits::max_connections`] connections are served
//!   at once; a slot is taken *before* `accept`, so clients beyond the cap wait in
//!   the kernel's backlog instead of costing memory and tasks.
//! - **bounded graceful shutdown**: once `stop` resolves, the listener closes,
//!   requests in progress get [`Limits::drain_timeout`] to finish (idle connections
//!   close at once), then the remaining connections are dropped.
//!
//! It serves HTTP/1.1 only, with upgrades (the `/ws` websocket): hyper's
//! header-read timeout is an HTTP/1 setting, and a protocol-sniffing server
//! (`hyper_util`'s auto builder) reads the first bytes with no timeout at all.
//! To serve HTTP/2 as well, also give connections an idle timeout (promhttp's
//! exporter does, for the metrics listener). Routes that read large request
//! bodies or stream large responses want read and write timeouts of their own
//! (`tower_http::timeout`, say); the demo's routes do neither.
//!
//! A websocket leaves hyper once upgraded: it no longer counts against the cap and
//! is not drained; it ends with the process (axum runs it on its own task).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// How the app listener defends itself, and how long it drains.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request's headers must be complete within this time. Default 10 s.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the accept backlog. Default 1024.
    pub max_connections: usize,
    /// After `stop`: how long requests in progress may take. Default 10 s.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `stop` resolves, then drains within
/// `limits.drain_timeout` and returns; it never waits longer than that for a client.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // hyper needs a timer for its timeouts; without one, header_read_timeout panics.
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Flips to `true` when the drain starts; every connection task watches it.
    let (draining, watch_draining) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);

    loop {
        // Forget finished connections, so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        // A slot first, then accept: beyond the cap, clients wait in the backlog.
        let permit = tokio::select! {
            () = &mut stop => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break, // only if the semaphore were closed; it is not
            },
        };
        let (tcp, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!("app listener: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let conn = http1
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        let mut draining = watch_draining.clone();
        connections.spawn(async move {
            let _permit = permit; // the slot is free again when this task ends
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = async { draining.wait_for(|d| *d).await.is_ok() } => {
                    // Close when idle, or after the request in progress.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                // Header-read timeouts, clients gone mid-request, bad requests.
                tracing::debug!(%peer, "app connection ended: {e}");
            }
        });
    }

    drop(listener); // new connections are refused from here on
    let _ = draining.send(true);
    let open = connections.len();
    tracing::info!(
        "app listener: draining {open} connection(s) for at most {:?}",
        limits.drain_timeout
    );
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.drain_timeout, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            "app listener: {} connection(s) still open after {:?}; closing them",
            connections.len(),
            limits.drain_timeout
        );
    }
    // Aborts what is left and waits for the tasks to end (at their next await).
    connections.shutdown().await;
}
