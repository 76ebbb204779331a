//! The runner behind the `_blocking` calls: safe with or without a Tokio runtime.

use std::future::Future;

use super::PushError;

/// Runs `fut` to completion on a current-thread runtime: on this thread when it
/// is not inside a runtime, otherwise on a new thread (so no runtime is ever
/// blocked on from within itself).
pub(super) fn run_blocking<F>(fut: F) -> Result<(), PushError>
where
    F: Future<Output = Result<(), PushError>> + Send,
{
    let run = move || -> Result<(), PushError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PushError::Runtime {
                reason: format!("cannot start a Tokio runtime: {e}"),
            })?
            .block_on(fut)
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return run();
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("promhttp-push".into())
            .spawn_scoped(scope, run)
            .map_err(|e| PushError::Runtime {
                reason: format!("cannot start a thread: {e}"),
            })?
            .join()
            .unwrap_or_else(|panic| {
                Err(PushError::Runtime {
                    reason: format!(
                        "the push thread panicked: {}",
                        crate::util::panic_message(&*panic)
                    ),
                })
            })
    })
}
