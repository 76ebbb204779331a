//! Handles of a running exporter: async and blocking, with the same verbs:
//! `shutdown` stops and waits, `wait` waits for the end, `detach` lets it run.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;

use super::ExporterError;
use crate::util::panic_message;

/// A running exporter, from [`ExporterBuilder::start`](super::ExporterBuilder::start).
///
/// - [`shutdown`](Self::shutdown)`.await` stops it gracefully and waits for the
///   end: no new connections, scrapes in flight get the drain timeout to finish,
///   then every connection is closed.
/// - [`wait`](Self::wait)`.await` waits for it to end on its own: when the
///   future given to [`graceful_shutdown`](super::ExporterBuilder::graceful_shutdown)
///   resolves (without one, it serves until the runtime stops).
/// - [`detach`](Self::detach) lets it serve until the runtime stops.
/// - Dropping the handle stops the exporter as `shutdown` does, but does not wait:
///   the drain goes on in the background as long as the runtime runs. Keep the
///   handle as long as the exporter should serve; dropping it unused is a
///   compile-time warning:
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
#[must_use = "dropping the handle stops the exporter: keep it, call .wait().await, or .detach()"]
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

    /// Stops gracefully and waits until the exporter has stopped: no new
    /// connections; scrapes in flight finish within the
    /// [drain timeout](super::ExporterBuilder::drain_timeout), then every
    /// connection is closed. So it returns within about the drain timeout.
    /// An error says the server task panicked or was cancelled.
    pub async fn shutdown(self) -> Result<(), ExporterError> {
        let _ = self.stop.send(true);
        self.wait().await
    }

    /// Waits until the exporter ends on its own: after the future given to
    /// [`graceful_shutdown`](super::ExporterBuilder::graceful_shutdown) resolves
    /// and the drain is done. Without one it serves for as long as the runtime
    /// runs (`Exporter::builder(r).start().await?.wait().await` is a program
    /// that only exports). An error says the server task panicked or was
    /// cancelled.
    pub async fn wait(self) -> Result<(), ExporterError> {
        let ExporterHandle { stop, task, .. } = self;
        let ended = task.await;
        drop(stop);
        ended.map_err(|e| {
            ExporterError::Task(if e.is_panic() {
                panic_message(&*e.into_panic())
            } else {
                "cancelled".to_owned()
            })
        })
    }

    /// Lets the exporter run without a handle, until the runtime it was started
    /// on shuts down (for `#[tokio::main]`, when `main` returns) or the
    /// [`graceful_shutdown`](super::ExporterBuilder::graceful_shutdown) future
    /// resolves. The program can no longer stop it otherwise.
    pub fn detach(self) {
        let ExporterHandle { stop, .. } = self;
        // The server stops when every sender is gone; this one is never dropped.
        std::mem::forget(stop);
    }
}

/// An exporter running on a thread of its own, from
/// [`ExporterBuilder::start_blocking`](super::ExporterBuilder::start_blocking):
/// the same verbs as [`ExporterHandle`], for code that is not async.
///
/// - [`shutdown`](Self::shutdown) stops it gracefully and waits for its thread.
/// - [`wait`](Self::wait) waits for it to end on its own (after the
///   [`graceful_shutdown`](super::ExporterBuilder::graceful_shutdown) future
///   resolves; without one, never).
/// - [`detach`](Self::detach) lets it serve until the process exits (what
///   `prometheus_exporter::start` does).
/// - Dropping it stops the exporter as `shutdown` does, but does not wait for its
///   thread: a process that exits right after may cut scrapes in flight short.
#[derive(Debug)]
#[must_use = "dropping the exporter stops it: keep it, call .wait(), or .detach()"]
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
                            handle.wait().await
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

    /// Stops gracefully and waits for the thread to end (about the drain
    /// timeout at most, as [`ExporterHandle::shutdown`]).
    pub fn shutdown(mut self) -> Result<(), ExporterError> {
        let _ = self.stop.send(true);
        self.join()
    }

    /// Waits for the exporter to end on its own: after the
    /// [`graceful_shutdown`](super::ExporterBuilder::graceful_shutdown) future
    /// resolves and the drain is done (without one, for ever).
    pub fn wait(mut self) -> Result<(), ExporterError> {
        self.join()
    }

    /// Lets the exporter serve on its thread until the process exits (what
    /// `prometheus_exporter::start` does).
    pub fn detach(mut self) {
        // A dropped JoinHandle detaches the thread; with no thread left, the
        // drop below does not ask it to stop.
        self.thread.take();
    }

    fn join(&mut self) -> Result<(), ExporterError> {
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
        // Still running and neither waited for nor detached: stop it, and let the
        // thread finish on its own.
        if self.thread.take().is_some() {
            let _ = self.stop.send(true);
        }
    }
}
