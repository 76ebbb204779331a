//! The accept loop: slots, connections, updaters, and the bounded drain on stop.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::body::PageBudget;
use super::conn::{self, ConnConfig};
use super::hooks::{run_updater, Hook, ScrapeHook};
use super::limits::Limits;
use super::routes::{landing_html, Routes};
use super::security::Security;
use super::slots::{Refused, Slots};
use super::stopped;
use super::LandingPage;
use crate::handler::MetricsHandler;

/// How long the accept loop backs off when `accept` fails (out of file
/// descriptors, say) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

/// A future that stops the server when it resolves.
pub(super) type Signal = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What the builder hands the server, checked and built.
pub(super) struct Parts {
    pub handler: MetricsHandler,
    pub security: Security,
    pub metrics_path: String,
    pub landing: Option<LandingPage>,
    pub http2: bool,
    pub hook: Option<Hook>,
    pub hook_timeout: Duration,
    pub hook_failures: Option<prometheus::IntCounter>,
    pub updaters: Vec<(Duration, Hook)>,
    pub limits: Limits,
}

pub(super) struct Server {
    routes: Arc<Routes>,
    conn: Arc<ConnConfig>,
    limits: Limits,
    updaters: Vec<(Duration, Hook)>,
    hook_failures: Option<prometheus::IntCounter>,
}

impl Server {
    pub(super) fn new(b: Parts) -> Self {
        let landing = b
            .landing
            .as_ref()
            .map(|p| bytes::Bytes::from(landing_html(p, &b.metrics_path)));
        let h2_allowed = b.security.http2_allowed(b.http2);
        let conn = Arc::new(ConnConfig::new(
            &b.limits,
            h2_allowed,
            #[cfg(feature = "web-config")]
            b.security.tls.clone(),
        ));
        Server {
            routes: Arc::new(Routes {
                security: b.security,
                handler: b.handler,
                metrics_path: b.metrics_path,
                landing,
                hook: b.hook.map(|h| ScrapeHook::new(h, b.hook_failures.clone())),
                hook_timeout: b.hook_timeout,
                max_header_bytes: b.limits.max_header_bytes,
                budget: PageBudget::new(b.limits.max_unsent_bytes),
            }),
            conn,
            limits: b.limits,
            updaters: b.updaters,
            hook_failures: b.hook_failures,
        }
    }

    pub(super) fn metrics_path(&self) -> &str {
        &self.routes.metrics_path
    }

    /// The listen backlog: clients beyond the cap wait there, not in SYN drops.
    pub(super) fn backlog(&self) -> u32 {
        u32::try_from(self.limits.max_connections.max(1024)).unwrap_or(u32::MAX)
    }

    /// Serves until `stop` says so (or its sender is gone) or `graceful`
    /// resolves.
    pub(super) async fn serve_until(
        self,
        listener: TcpListener,
        mut stop: watch::Receiver<bool>,
        graceful: Option<Signal>,
    ) {
        let Some(graceful) = graceful else {
            return self.serve(listener, stop).await;
        };
        // Either cause stops the server through one channel of its own, which
        // every connection and updater watches.
        let (tx, rx) = watch::channel(false);
        let trigger = async move {
            tokio::select! {
                () = stopped(&mut stop) => {}
                () = graceful => tracing::info!("exporter shutdown signal resolved"),
            }
            let _ = tx.send(true);
            // Never ends: the server's own end ends the select below, and its
            // drain must not be cut short.
            std::future::pending::<()>().await
        };
        tokio::select! {
            () = self.serve(listener, rx) => {}
            () = trigger => {}
        }
    }

    async fn serve(self, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Slots::new(
            self.limits.max_connections,
            self.limits.max_connections_per_peer,
            self.limits.max_scrapes_per_connection.get(),
        ));
        let mut connections = tokio::task::JoinSet::new();
        let updaters: Vec<_> = self
            .updaters
            .iter()
            .map(|(every, hook)| {
                tokio::spawn(run_updater(
                    *every,
                    hook.clone(),
                    self.hook_failures.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        loop {
            while connections.try_join_next().is_some() {}
            tokio::select! {
                () = stopped(&mut stop) => break,
                () = slots.room() => {}
            }
            let (tcp, peer) = tokio::select! {
                () = stopped(&mut stop) => break,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            // The connection that made room may have taken a request since: then
            // this client waits (one accepted socket, no more) for the next room.
            let slot = loop {
                match slots.admit(peer.ip()) {
                    Ok(s) => break Some(s),
                    Err(Refused::PeerLimit) => {
                        tracing::debug!(%peer, "connection refused: too many connections from this address");
                        break None;
                    }
                    Err(Refused::Full) => tokio::select! {
                        () = stopped(&mut stop) => break None,
                        () = slots.room() => {}
                    },
                }
            };
            let Some(slot) = slot else { continue };
            let _ = tcp.set_nodelay(true);
            connections.spawn(conn::serve(
                tcp,
                peer,
                slot,
                self.routes.clone(),
                self.conn.clone(),
                stop.clone(),
            ));
        }
        drop(listener);
        for u in updaters {
            u.abort();
        }
        // Every connection saw the stop: idle ones close, busy ones finish their
        // requests. What is left at the drain timeout is closed.
        tracing::info!("exporter shutting down; draining connections");
        let drain = tokio::time::timeout(self.limits.drain_timeout, async {
            while connections.join_next().await.is_some() {}
        });
        if drain.await.is_err() {
            tracing::warn!(
                "connections still open after the drain timeout of {:?}; closing them",
                self.limits.drain_timeout
            );
        }
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}
