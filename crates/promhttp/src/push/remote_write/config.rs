//! A writer's settings, fixed at `start()` and shared by its tasks.

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Uri;

use crate::gather::Gather;
use crate::model::Label;

/// What [`RemoteWriterBuilder`](super::RemoteWriterBuilder) checked and built.
pub(super) struct Config {
    pub(super) uri: Uri,
    pub(super) url: String,
    pub(super) gatherer: Arc<dyn Gather>,
    pub(super) interval: Duration,
    pub(super) external_labels: Vec<Label>,
    pub(super) queue_capacity: usize,
    pub(super) max_batch: usize,
    pub(super) timeout: Duration,
    pub(super) min_backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) max_retry_after: Duration,
    pub(super) shutdown_timeout: Duration,
    pub(super) final_snapshot: bool,
    pub(super) native_histograms: bool,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
}
