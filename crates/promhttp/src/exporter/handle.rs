//! Handles of a running exporter: async and blocking.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;

use super::ExporterError;
use crate::gather::panic_message;

/// A running exporter.
///
/// Dropping the handle stops the exporter (gracefully, as
/// [`shutdown`](Self::shutdown) does): keep it as long as the exporter should
/// serve, or call [`detach`](Self::detach) to let it run until its runtime stops.
/// Dropping it unused is a compile-time warning:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # async fn run() {
/// use promhttp::exporter::Exporter;
/// // A line-by-line port of `prometheus_exporter::start(addr)`: serves nothing.
/// Exporter::builder(promhttp::prometheus::Registry::new()).start().await.unwrap();
/// # }
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// # async fn run() {
/// use promhttp::exporter::Exporter;
/// Exporter::builder(promhttp::prometheus::Registry::new())
///     .start()
///     .await
///     .unwrap()
///     .detach(); // serves until the runtime stops
/// # }
/// ```
#[derive(Debug)]
#[must_use = "dropping the handle stops the exporter: keep it, or call .detach()"]
pub struct ExporterHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ExporterHandle {
    pub(super) fn new(
        local_addr: SocketAddr,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    ) -> Self {
        ExporterHandle {
            local_addr,
            stop,
            task,
        }
    }

    /// The address the listener is bound to (the real port when port 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts a graceful shutdown: no new connections; scrapes in flight finish
    /// within the drain timeout, then every connection is closed.
    /// [`join`](Self::join) waits for the end.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Lets the exporter run without a handle, until the runtime it was started
    /// on shuts down (for `#[tokio::main]`, when `main` returns). The exporter can
    /// no longer be stopped gracefully from the program.
    pub fn detach(self) {
        let ExporterHandle { stop, .. } = self;
        // The server stops when every sender is gone; this one is never dropped.
        std::mem::forget(stop);
    }

    /// Waits until the server has stopped.
    pub async fn join(self) -> Result<(), ExporterError> {
        self.task.await.map_err(|e| {
            ExporterError::Task(if e.is_panic() {
                panic_message(&*e.into_panic())
            } else {
                "cancelled".to_owned()
            })
        })
    }
}

/// An exporter running on its own thread; see
/// [`ExporterBuilder::start_blocking`](super::ExporterBuilder::start_blocking).
///
/// Dropping it stops the exporter and waits for its thread, as
/// [`stop`](Self::stop) does: keep it as long as the exporter should serve, or
/// call [`detach`](Self::detach) to let it serve until the process exits.
#[derive(Debug)]
#[must_use = "dropping the exporter stops it: keep it, or call .detach()"]
pub struct BlockingExporter {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<Result<(), ExporterError>>>,
}

impl BlockingExporter {
    /// Runs `start` on a new thread with a current-thread runtime; returns once it
    /// has bound (or failed to).
    pub(super) fn spawn<F, Fut>(drain: Duration, start: F) -> Result<Self, ExporterError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<ExporterHandle, ExporterError>>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("promhttp-exporter")
            .build()
            .map_err(ExporterError::Runtime)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("promhttp-exporter".to_owned())
            .spawn(move || {
                let served = rt.block_on(async move {
                    match start().await {
                        Ok(handle) => {
                            let stop = handle.stop.clone();
                            let _ = tx.send(Ok((handle.local_addr, stop)));
                            handle.join().await
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            Ok(())
                        }
                    }
                });
                // A collector stuck on a blocking thread must not hang the caller.
                rt.shutdown_timeout(drain);
                served
            })
            .map_err(ExporterError::Runtime)?;
        match rx.recv() {
            Ok(Ok((local_addr, stop))) => Ok(BlockingExporter {
                local_addr,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(ExporterError::Task(match thread.join() {
                Err(p) => panic_message(&*p),
                Ok(_) => "the exporter thread ended before binding".to_owned(),
            })),
        }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Lets the exporter serve on its thread until the process exits (what
    /// `prometheus_exporter::start` does).
    pub fn detach(mut self) {
        if let Some(thread) = self.thread.take() {
            drop(thread); // a dropped JoinHandle detaches the thread
        }
        let stop = std::mem::replace(&mut self.stop, watch::channel(false).0);
        // The server stops when every sender is gone; this one is never dropped.
        std::mem::forget(stop);
    }

    /// Shuts down gracefully and waits for the thread to end.
    pub fn stop(mut self) -> Result<(), ExporterError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), ExporterError> {
        let _ = self.stop.send(true);
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|p| ExporterError::Task(panic_message(&*p)))?,
            None => Ok(()),
        }
    }
}

impl Drop for BlockingExporter {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::error!("exporter stopped with an error: {e}");
        }
    }
}
