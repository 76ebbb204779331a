//! The signals that ask a server to stop.

/// Resolves when the process is asked to stop: on `SIGTERM` (what systemd,
/// Kubernetes and `docker stop` send) or `SIGINT` (Ctrl-C) on Unix, on Ctrl-C
/// elsewhere. Give it to the exporter's `ExporterBuilder::run`, or to your own
/// server's graceful shutdown (`axum::serve(..).with_graceful_shutdown(..)` —
/// then bound the drain yourself, axum waits for every connection — or
/// hyper-util's `GracefulShutdown`), so both signals drain in-flight requests
/// instead of killing the process (the default action of `SIGTERM`).
///
/// Installing a handler can fail (no signal driver, say): that is logged at
/// `warn` and the future then waits for the other signal only; if no handler
/// could be installed at all it never resolves, so the caller's other stop
/// paths still work.
///
/// ```no_run
/// # #[cfg(feature = "exporter")]
/// # async fn run() -> Result<(), promhttp::exporter::ExporterError> {
/// use promhttp::exporter::Exporter;
/// use promhttp::shutdown_signal;
///
/// Exporter::builder(promhttp::prometheus::Registry::new())
///     .run(shutdown_signal())
///     .await
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received; stopping"),
        () = terminate => tracing::info!("SIGTERM received; stopping"),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn sigterm_resolves_it() {
        let stop = super::shutdown_signal();
        tokio::pin!(stop);
        // The first poll installs the handlers.
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut stop)
            .await
            .is_err());
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(10), stop)
            .await
            .expect("SIGTERM stops it within 10 s");
    }
}
