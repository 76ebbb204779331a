//! The sender task: sends queued batches in order, retrying until sent, refused or out of time.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::Request;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::Config;
use super::error::RemoteWriteError;
use super::queue::{Batch, Shared};
use super::retry::{backoff_delay, parse_retry_after};

/// The `X-Prometheus-Remote-Write-Version` this sender speaks.
pub const REMOTE_WRITE_VERSION: &str = "0.1.0";

/// Largest part of an error response body quoted in logs.
const ERROR_BODY_LIMIT: usize = 1024;
/// Largest response body read at all (larger ones are cut off).
const RESPONSE_BODY_LIMIT: usize = 64 * 1024;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub(super) struct Sender {
    pub(super) config: Arc<Config>,
    pub(super) shared: Arc<Shared>,
    pub(super) client: HttpClient,
    pub(super) deadline: watch::Receiver<Option<Instant>>,
}

/// Resolves when the shutdown deadline has passed (never, before shutdown).
async fn deadline_passed(rx: &mut watch::Receiver<Option<Instant>>) {
    loop {
        let deadline = *rx.borrow_and_update();
        if let Some(d) = deadline {
            tokio::time::sleep_until(d).await;
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Sender {
    pub(super) async fn run(mut self) {
        loop {
            let batch = match self.shared.pop() {
                Ok(Some(b)) => b,
                Ok(None) => {
                    self.shared.notify.notified().await;
                    continue;
                }
                Err(()) => return, // closed and empty
            };
            if !self.deliver(&batch).await {
                // The shutdown deadline passed while this batch was still unsent:
                // `shutdown` counts it (still `in_flight`) with the rest of the queue.
                return;
            }
            self.shared.done();
        }
    }

    /// Sends one batch until it is sent or refused (`true`), or the shutdown
    /// deadline passes (`false`).
    async fn deliver(&mut self, batch: &Batch) -> bool {
        let mut retry = 0u32;
        loop {
            let result = {
                let attempt = tokio::time::timeout(self.config.timeout, self.attempt(batch));
                let mut rx = self.deadline.clone();
                tokio::select! {
                    r = attempt => r.unwrap_or_else(|_| Err(RemoteWriteError::Timeout {
                        url: self.config.url.clone(),
                        timeout: self.config.timeout,
                    })),
                    _ = deadline_passed(&mut rx) => return false,
                }
            };
            let m = &self.shared.metrics;
            match result {
                Ok(()) => {
                    m.sent.inc_by(batch.samples as u64);
                    if retry > 0 {
                        tracing::info!(retries = retry, "remote write: batch sent after retries");
                    }
                    return true;
                }
                Err(e) if !e.is_retryable() => {
                    m.failed.inc_by(batch.samples as u64);
                    tracing::error!(
                        samples = batch.samples,
                        "remote write refused, batch dropped: {e}"
                    );
                    return true;
                }
                Err(e) => {
                    let delay = match e.retry_after() {
                        // Never below min_backoff: `Retry-After: 0` must not spin.
                        Some(d) => d
                            .min(self.config.max_retry_after)
                            .max(self.config.min_backoff),
                        None => {
                            backoff_delay(self.config.min_backoff, self.config.max_backoff, retry)
                        }
                    };
                    m.retries.inc();
                    tracing::warn!(
                        retry = retry.saturating_add(1),
                        delay = ?delay,
                        "remote write failed, retrying: {e}"
                    );
                    retry = retry.saturating_add(1);
                    let mut rx = self.deadline.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = deadline_passed(&mut rx) => return false,
                    }
                }
            }
        }
    }

    /// One request: `Ok` for a `2xx`, otherwise the error (whose
    /// [`is_retryable`](RemoteWriteError::is_retryable) decides what follows).
    async fn attempt(&self, batch: &Batch) -> Result<(), RemoteWriteError> {
        let mut req = Request::post(self.config.uri.clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .header(CONTENT_ENCODING, "snappy")
            .header("x-prometheus-remote-write-version", REMOTE_WRITE_VERSION)
            .header(
                http::header::USER_AGENT,
                concat!("promhttp/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(batch.body.clone()))
            .expect("static request parts are valid");
        for (name, value) in &self.config.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| RemoteWriteError::Transport {
                url: self.config.url.clone(),
                source: Box::new(e),
            })?;
        let (parts, body) = resp.into_parts();
        // Read (part of) the body: for error messages, and so the connection is reusable.
        let text = match Limited::new(body, RESPONSE_BODY_LIMIT).collect().await {
            Ok(b) => answer_text(&b.to_bytes()),
            Err(_) => String::from("<unreadable body>"),
        };
        let status = parts.status;
        if status.is_success() {
            return Ok(());
        }
        let retry_after = parts
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        Err(RemoteWriteError::Status {
            url: self.config.url.clone(),
            status,
            body: text,
            retry_after,
        })
    }
}

/// The receiver's answer as an error keeps it: its first [`ERROR_BODY_LIMIT`]
/// bytes, lossy UTF-8 (the error's text escapes control characters).
fn answer_text(body: &[u8]) -> String {
    let cut = &body[..body.len().min(ERROR_BODY_LIMIT)];
    String::from_utf8_lossy(cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_text_is_cut() {
        // Cut at ERROR_BODY_LIMIT bytes, even inside a character.
        let long = format!("x{}", "é".repeat(ERROR_BODY_LIMIT));
        let cut = answer_text(long.as_bytes());
        assert_eq!(
            cut,
            format!("x{}\u{fffd}", "é".repeat(ERROR_BODY_LIMIT / 2 - 1))
        );
    }
}
