//! Prometheus remote write 1.0 sender (feature `remote-write`).
//!
//! A [`RemoteWriter`] snapshots a [`Gather`](crate::Gather) source every
//! [`interval`](RemoteWriterBuilder::interval), turns the snapshot into remote write
//! time series, and sends them to a receiver (Prometheus with
//! `--web.enable-remote-write-receiver`, VictoriaMetrics, Mimir, Thanos, ...) as
//! `POST`s of a snappy-compressed protobuf `WriteRequest`, with the headers the
//! [1.0 specification](https://prometheus.io/docs/concepts/remote_write_spec/)
//! requires: `Content-Type: application/x-protobuf`, `Content-Encoding: snappy`,
//! `X-Prometheus-Remote-Write-Version: 0.1.0`.
//!
//! ```no_run
//! # async fn run() -> Result<(), promhttp::push::remote_write::RemoteWriteError> {
//! use std::time::Duration;
//! use promhttp::prometheus::{IntCounter, Registry};
//! use promhttp::push::remote_write::RemoteWriter;
//!
//! let registry = Registry::new();
//! let jobs = IntCounter::new("jobs_total", "Jobs run.").unwrap();
//! registry.register(Box::new(jobs.clone())).unwrap();
//!
//! let writer = RemoteWriter::builder("http://127.0.0.1:9090/api/v1/write", registry.clone())
//!     .interval(Duration::from_secs(15))
//!     .external_label("instance", "db-1")
//!     .start()?;
//! // The writer's own metrics, exposed with everything else.
//! writer.metrics().register(&registry).unwrap();
//! // ... on the way out: send what is still queued, within the shutdown timeout.
//! let report = writer.shutdown().await;
//! assert!(report.flushed);
//! # Ok(()) }
//! ```
//!
//! # Series
//!
//! Every sample of a snapshot becomes one series with one sample, labelled with
//! `__name__`, the metric's labels and the external labels, sorted by name:
//!
//! | model | series |
//! |---|---|
//! | counter | `name` (the family name, which already ends in `_total`) |
//! | gauge, untyped | `name` |
//! | histogram | `name_bucket{le="..."}` per bucket, `+Inf` included (added from the count when missing), `name_sum`, `name_count` |
//! | dual histogram (classic and [native](crate::model::HistogramValue::native) buckets) | `name` holding a native histogram sample, and the classic series above |
//! | native-only histogram (no classic bucket but perhaps `+Inf`) | `name` holding a native histogram sample, `name_sum`, `name_count` |
//! | summary | `name{quantile="..."}` per quantile, `name_sum`, `name_count` |
//!
//! **Native histograms** go in `TimeSeries.histograms` (remote write 1.0's
//! `Histogram` message with integer counts, `reset_hint` `UNKNOWN`), their spans
//! and deltas as the model holds them; their exemplars are not sent. The float
//! series are sent too, so a receiver that ignores native histograms keeps every
//! classic bucket, `_sum` and `_count`: VictoriaMetrics 1.79, for one, skips the
//! histograms field and stores the rest of the request (tested). What such a
//! receiver cannot keep is the distribution of a native-only histogram: it gets
//! its `_sum` and `_count` (the text format would also show an `+Inf` bucket,
//! which is `_count` again).
//! Each native histogram counts as one sample (batches, queue, self-metrics).
//! Prometheus refuses a whole request for one native histogram it cannot store
//! (with a 5xx, which is retried): one whose buckets disagree with their spans or
//! count (see [`NativeHistogram`](crate::model::NativeHistogram)), or any when it
//! runs without `--enable-feature=native-histograms` (before 3.0). So an
//! inconsistent native histogram is sent as its float series only (logged at
//! `warn`), and [`native_histograms(false)`](RemoteWriterBuilder::native_histograms)
//! sends every histogram as its float series only (a native-only one as `+Inf`
//! bucket, `_sum` and `_count`, as the text format shows it).
//!
//! `le` and `quantile` values are formatted like the text format (`0.5`, `1`,
//! `+Inf`, `1e+06`), so the series match what a scrape of the same source would
//! store. Labels with an empty value are left out (Prometheus treats them as absent).
//! Exemplars, created timestamps, help and units are not sent.
//!
//! **External labels** are added to every series unless the series already has a
//! label of that name: *the metric's own label wins*, as in Prometheus's own remote
//! write. External label names must be valid label names (`__name__` and other
//! `__` names are refused by [`RemoteWriterBuilder::build`]).
//!
//! **Timestamps** are the time of the snapshot (when gathering started), in
//! milliseconds; a metric that carries its own [`timestamp`](crate::model::Metric::timestamp)
//! keeps it (as whole milliseconds, rounded toward the past). Two snapshots never share a timestamp.
//!
//! # Queue, retries, drops
//!
//! Each snapshot is cut into batches of at most [`max_batch`](RemoteWriterBuilder::max_batch)
//! samples (and under 4 GiB uncompressed, the most snappy compresses), each encoded and
//! compressed right away, and appended to a bounded queue
//! holding at most [`queue_capacity`](RemoteWriterBuilder::queue_capacity) *samples*.
//! One sender task takes batches from the front and sends them one at a time, in
//! order, so each series' samples arrive in time order (receivers such as Prometheus
//! reject out-of-order samples).
//!
//! * `2xx`: the batch is sent.
//! * `5xx`, `429`, a connection error or a timeout: the batch is retried after a
//!   capped exponential backoff — [`min_backoff`](RemoteWriterBuilder::min_backoff),
//!   doubled on each retry, at most [`max_backoff`](RemoteWriterBuilder::max_backoff) —
//!   or, when the response has a `Retry-After` header (seconds or an HTTP date),
//!   after that long (at least `min_backoff`, at most
//!   [`max_retry_after`](RemoteWriterBuilder::max_retry_after)).
//!   A batch is retried until it is sent, rejected, or the shutdown timeout runs out.
//! * any other status (`4xx`, also `1xx` and `3xx`: redirects are not followed): the
//!   receiver refused the data, retrying cannot help; the batch is dropped, logged
//!   as an error and counted in `promhttp_remote_write_samples_failed_total`.
//!
//! While the receiver is down the queue fills. **When a new batch does not fit, the
//! oldest queued batches are dropped** (counted in
//! `promhttp_remote_write_samples_dropped_total{reason="queue_full"}`) — recent data
//! is usually worth more than old data, and the receiver gets a gap rather than a
//! stale backlog. So memory stays flat during a long outage, and no sample is lost
//! during an outage that the queue can hold: sending resumes, in order, when the
//! receiver is back. The queue length counts the queued samples; the one batch being
//! sent (at most `max_batch` samples) is held by the sender on top of that.
//!
//! # Shutdown
//!
//! [`RemoteWriteHandle::shutdown`] stops the snapshots, takes a final snapshot
//! (unless [`final_snapshot(false)`](RemoteWriterBuilder::final_snapshot)), and sends
//! everything still queued, all within [`shutdown_timeout`](RemoteWriterBuilder::shutdown_timeout).
//! What could not be sent by then is counted as
//! `promhttp_remote_write_samples_dropped_total{reason="shutdown"}`. Dropping the
//! handle instead stops both tasks at once, without a flush (what was queued is
//! counted as dropped with `reason="shutdown"` too).
//!
//! # Self-metrics
//!
//! [`RemoteWriteMetrics`] (see [`RemoteWriteHandle::metrics`]) can be registered in
//! a `prometheus::Registry` or used as a [`Gather`](crate::Gather) source:
//!
//! | metric | meaning |
//! |---|---|
//! | `promhttp_remote_write_samples_sent_total` | samples the receiver accepted (`2xx`) |
//! | `promhttp_remote_write_samples_failed_total` | samples the receiver refused (non-retryable status) |
//! | `promhttp_remote_write_samples_dropped_total{reason}` | samples dropped unsent: `queue_full` (oldest dropped for newer) or `shutdown` (flush timed out) |
//! | `promhttp_remote_write_retries_total` | requests retried (`5xx`, `429`, connection errors, timeouts) |
//! | `promhttp_remote_write_queue_length` | samples waiting in the queue (not counting the batch being sent) |
//! | `promhttp_remote_write_queue_capacity` | the queue capacity, in samples (at most `i64::MAX`) |
//!
//! # Limits
//!
//! Only `http://` URLs are supported for now: `https://` is refused with
//! [`RemoteWriteError::UnsupportedScheme`] (use a TLS-terminating proxy meanwhile).
//! Remote write 2.0, metadata and exemplars are not sent.

mod builder;
mod config;
mod error;
mod handle;
mod metrics;
mod queue;
mod retry;
mod sender;
mod series;
mod snapshot;
mod wire;

pub use builder::{
    RemoteWriter, RemoteWriterBuilder, DEFAULT_INTERVAL, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_BATCH,
    DEFAULT_MAX_RETRY_AFTER, DEFAULT_MIN_BACKOFF, DEFAULT_QUEUE_CAPACITY, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use error::RemoteWriteError;
pub use handle::{RemoteWriteHandle, ShutdownReport};
pub use metrics::RemoteWriteMetrics;
pub use sender::REMOTE_WRITE_VERSION;
pub use series::{to_time_series, HistogramSample, Sample, TimeSeries};
