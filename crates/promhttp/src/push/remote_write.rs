//! Prometheus remote write 1.0 sender (feature `remote-write`).
//!
//! A [`RemoteWriter`] snapshots a [`Gather`] source every
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
//! | summary | `name{quantile="..."}` per quantile, `name_sum`, `name_count` |
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
//! milliseconds; a metric that carries its own [`timestamp_ms`](crate::model::Metric::timestamp_ms)
//! keeps it. Two snapshots never share a timestamp.
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
//! a `prometheus::Registry` or used as a [`Gather`] source:
//!
//! | metric | meaning |
//! |---|---|
//! | `promhttp_remote_write_samples_sent_total` | samples the receiver accepted (`2xx`) |
//! | `promhttp_remote_write_samples_failed_total` | samples the receiver refused (non-retryable status) |
//! | `promhttp_remote_write_samples_dropped_total{reason}` | samples dropped unsent: `queue_full` (oldest dropped for newer) or `shutdown` (flush timed out) |
//! | `promhttp_remote_write_retries_total` | requests retried (`5xx`, `429`, connection errors, timeouts) |
//! | `promhttp_remote_write_queue_length` | samples waiting in the queue (not counting the batch being sent) |
//! | `promhttp_remote_write_queue_capacity` | the queue capacity, in samples |
//!
//! # Limits
//!
//! Only `http://` URLs are supported for now: `https://` is refused with
//! [`RemoteWriteError::HttpsNotSupported`] (use a TLS-terminating proxy meanwhile).
//! Remote write 2.0, metadata and exemplars are not sent.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::encode::float::write_float;
use crate::gather::{from_proto, gather_all, Gather, Gathered};
use crate::model::{is_valid_label_name, Label, MetricFamily, Str, Value};

/// Default [`interval`](RemoteWriterBuilder::interval): 15 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Default [`queue_capacity`](RemoteWriterBuilder::queue_capacity): 10 000 samples.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// The largest [`queue_capacity`](RemoteWriterBuilder::queue_capacity): `i64::MAX`
/// samples (as much as the `promhttp_remote_write_queue_capacity` gauge holds);
/// larger values are this.
const MAX_QUEUE_CAPACITY: usize = if (i64::MAX as u64) < usize::MAX as u64 {
    i64::MAX as usize
} else {
    usize::MAX
};
/// Default [`max_batch`](RemoteWriterBuilder::max_batch): 2 000 samples per request.
pub const DEFAULT_MAX_BATCH: usize = 2_000;
/// Default [`timeout`](RemoteWriterBuilder::timeout) of one request: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`min_backoff`](RemoteWriterBuilder::min_backoff): 30 ms.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(30);
/// Default [`max_backoff`](RemoteWriterBuilder::max_backoff): 5 s.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Default [`max_retry_after`](RemoteWriterBuilder::max_retry_after): 5 minutes.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Default [`shutdown_timeout`](RemoteWriterBuilder::shutdown_timeout): 10 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The `X-Prometheus-Remote-Write-Version` this sender speaks.
pub const REMOTE_WRITE_VERSION: &str = "0.1.0";

/// Largest part of an error response body quoted in logs.
const ERROR_BODY_LIMIT: usize = 1024;
/// Largest response body read at all (larger ones are cut off).
const RESPONSE_BODY_LIMIT: usize = 64 * 1024;
/// Largest uncompressed request: snappy's block format cannot compress more
/// (4 GiB - 1). Batches are cut to stay within it whatever
/// [`max_batch`](RemoteWriterBuilder::max_batch) allows.
const MAX_REQUEST_BYTES: usize = u32::MAX as usize;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a [`RemoteWriter`] could not be built or started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteWriteError {
    /// The URL does not parse, has no host, or has a scheme other than `http`.
    InvalidUrl(String),
    /// The URL is `https://`: TLS is not supported yet.
    HttpsNotSupported(String),
    /// An external label name is invalid or given twice.
    InvalidExternalLabel(String),
    /// A header name or value is invalid, or the header is one the protocol sets.
    InvalidHeader(String),
    /// An option is out of range (zero interval, zero capacity, ...).
    InvalidOption(String),
    /// [`RemoteWriter::start`] was called outside a Tokio runtime.
    NoRuntime,
}

impl fmt::Display for RemoteWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteWriteError::InvalidUrl(m) => write!(f, "invalid remote write URL: {m}"),
            RemoteWriteError::HttpsNotSupported(url) => write!(
                f,
                "remote write URL {url}: https is not supported yet; use http:// \
                 (for example through a TLS-terminating proxy)"
            ),
            RemoteWriteError::InvalidExternalLabel(m) => write!(f, "invalid external label: {m}"),
            RemoteWriteError::InvalidHeader(m) => write!(f, "invalid header: {m}"),
            RemoteWriteError::InvalidOption(m) => write!(f, "invalid option: {m}"),
            RemoteWriteError::NoRuntime => {
                f.write_str("RemoteWriter::start must be called within a Tokio runtime")
            }
        }
    }
}

impl std::error::Error for RemoteWriteError {}

// ---------------------------------------------------------------------------
// Series and their protobuf encoding
// ---------------------------------------------------------------------------

/// One sample of a remote write time series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// The value.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// One remote write time series: labels (`__name__` included, sorted by name) and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSeries {
    /// The labels, `__name__` included, sorted by name.
    pub labels: Vec<Label>,
    /// The samples, oldest first.
    pub samples: Vec<Sample>,
}

/// Turns gathered families into remote write series, one sample each (see the
/// [module docs](self#series) for names and labels).
///
/// `external_labels` are added to each series that has no label of the same name;
/// `timestamp_ms` is used for metrics without their own timestamp.
pub fn to_time_series(
    families: &[MetricFamily],
    external_labels: &[Label],
    timestamp_ms: i64,
) -> Vec<TimeSeries> {
    // Strings are shared (`Arc<str>`) so that the many series of one metric, and
    // the bucket bounds common to a page, cost a reference count, not a copy.
    let external: Vec<Label> = external_labels.iter().map(share_label).collect();
    let mut bounds: Vec<(u64, Str)> = Vec::new();
    let mut out = Vec::new();
    for family in families {
        let names = SuffixNames::new(family);
        for metric in &family.metrics {
            let ts = metric.timestamp_ms.unwrap_or(timestamp_ms);
            let mut base: Vec<Label> = metric
                .labels
                .iter()
                .filter(|l| !l.value.is_empty())
                .map(share_label)
                .collect();
            for ext in &external {
                if !base.iter().any(|l| l.name == ext.name) {
                    base.push(ext.clone());
                }
            }
            let mut push = |full_name: &Str, extra: Option<(&'static str, f64)>, value: f64| {
                let mut labels = Vec::with_capacity(base.len() + 2);
                labels.push(Label::new("__name__", full_name.clone()));
                for l in &base {
                    if extra.is_some_and(|(n, _)| l.name == n) {
                        continue;
                    }
                    labels.push(l.clone());
                }
                if let Some((n, bound)) = extra {
                    labels.push(Label::new(n, bound_text(&mut bounds, bound)));
                }
                labels.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
                out.push(TimeSeries {
                    labels,
                    samples: vec![Sample {
                        value,
                        timestamp_ms: ts,
                    }],
                });
            };
            match &metric.value {
                Value::Counter(c) => push(&names.plain, None, c.value),
                Value::Gauge(v) | Value::Untyped(v) => push(&names.plain, None, *v),
                Value::Histogram(h) => {
                    let mut has_inf = false;
                    for b in &h.buckets {
                        has_inf |= b.upper_bound == f64::INFINITY;
                        push(
                            &names.bucket,
                            Some(("le", b.upper_bound)),
                            b.cumulative_count as f64,
                        );
                    }
                    if !has_inf {
                        push(&names.bucket, Some(("le", f64::INFINITY)), h.count as f64);
                    }
                    push(&names.sum, None, h.sum);
                    push(&names.count, None, h.count as f64);
                }
                Value::Summary(s) => {
                    for q in &s.quantiles {
                        push(&names.plain, Some(("quantile", q.quantile)), q.value);
                    }
                    push(&names.sum, None, s.sum);
                    push(&names.count, None, s.count as f64);
                }
            }
        }
    }
    out
}

/// The sample names of one family, made once.
struct SuffixNames {
    plain: Str,
    bucket: Str,
    sum: Str,
    count: Str,
}

impl SuffixNames {
    fn new(family: &MetricFamily) -> Self {
        let name = family.name.as_str();
        let made = |suffix: &str| Str::Shared(Arc::from(format!("{name}{suffix}")));
        let (bucket, sum, count) = match &family.metrics.first().map(|m| &m.value) {
            Some(Value::Histogram(_)) => (made("_bucket"), made("_sum"), made("_count")),
            Some(Value::Summary(_)) => (Str::default(), made("_sum"), made("_count")),
            _ => (Str::default(), Str::default(), Str::default()),
        };
        SuffixNames {
            plain: share(&family.name),
            bucket,
            sum,
            count,
        }
    }
}

fn share(s: &Str) -> Str {
    match s {
        Str::Owned(o) => Str::Shared(Arc::from(o.as_str())),
        other => other.clone(),
    }
}

fn share_label(l: &Label) -> Label {
    Label {
        name: share(&l.name),
        value: share(&l.value),
    }
}

/// `le` / `quantile` text, formatted once per distinct value of a page.
fn bound_text(cache: &mut Vec<(u64, Str)>, v: f64) -> Str {
    let bits = v.to_bits();
    if let Some((_, s)) = cache.iter().find(|(b, _)| *b == bits) {
        return s.clone();
    }
    let mut buf = Vec::with_capacity(24);
    write_float(&mut buf, v);
    let text = Str::Shared(Arc::from(String::from_utf8(buf).unwrap_or_default()));
    if cache.len() < 256 {
        cache.push((bits, text.clone()));
    }
    text
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Length of a length-delimited field with a one-byte tag.
fn delimited_len(inner: usize) -> usize {
    1 + varint_len(inner as u64) + inner
}

fn label_len(l: &Label) -> usize {
    delimited_len(l.name.len()) + delimited_len(l.value.len())
}

fn sample_len(s: &Sample) -> usize {
    // value: tag + fixed64; timestamp: tag + varint.
    1 + 8 + 1 + varint_len(s.timestamp_ms as u64)
}

fn series_len(ts: &TimeSeries) -> usize {
    ts.labels
        .iter()
        .map(|l| delimited_len(label_len(l)))
        .sum::<usize>()
        + ts.samples
            .iter()
            .map(|s| delimited_len(sample_len(s)))
            .sum::<usize>()
}

/// Appends the protobuf encoding of `WriteRequest { timeseries: series }` to `out`.
///
/// The messages (from Prometheus's `prompb`), all fields written even when zero:
///
/// ```text
/// WriteRequest { repeated TimeSeries timeseries = 1; }
/// TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
/// Label        { string name = 1; string value = 2; }
/// Sample       { double value = 1; int64 timestamp = 2; }
/// ```
pub fn encode_write_request(series: &[TimeSeries], out: &mut Vec<u8>) {
    let total: usize = series.iter().map(|s| delimited_len(series_len(s))).sum();
    out.reserve(total);
    for ts in series {
        out.push(0x0a); // WriteRequest.timeseries, length-delimited
        put_varint(out, series_len(ts) as u64);
        for l in &ts.labels {
            out.push(0x0a); // TimeSeries.labels
            put_varint(out, label_len(l) as u64);
            out.push(0x0a); // Label.name
            put_varint(out, l.name.len() as u64);
            out.extend_from_slice(l.name.as_bytes());
            out.push(0x12); // Label.value
            put_varint(out, l.value.len() as u64);
            out.extend_from_slice(l.value.as_bytes());
        }
        for s in &ts.samples {
            out.push(0x12); // TimeSeries.samples
            put_varint(out, sample_len(s) as u64);
            out.push(0x09); // Sample.value, fixed64
            out.extend_from_slice(&s.value.to_bits().to_le_bytes());
            out.push(0x10); // Sample.timestamp, varint (two's complement for negatives)
            put_varint(out, s.timestamp_ms as u64);
        }
    }
}

/// [`encode_write_request`] compressed with snappy's block format (not the framed
/// format), as remote write sends it.
///
/// # Panics
///
/// When the uncompressed request is larger than snappy's block format allows
/// (4 GiB - 1). The writer itself never asks for that: it cuts its batches
/// below the limit.
pub fn encode_compressed(series: &[TimeSeries]) -> Vec<u8> {
    try_encode_compressed(series).expect("snappy compression of a remote write request")
}

/// [`encode_compressed`], with an error instead of a panic for requests over 4 GiB.
fn try_encode_compressed(series: &[TimeSeries]) -> Result<Vec<u8>, snap::Error> {
    let mut raw = Vec::new();
    encode_write_request(series, &mut raw);
    // Compression of an in-memory buffer only fails for inputs over 4 GiB.
    snap::raw::Encoder::new().compress_vec(&raw)
}

/// Cuts `series` into batches of at most `max_samples` samples and at most
/// `max_bytes` bytes of uncompressed request, in order: each batch is a range of
/// `series` and its number of samples. A series over either limit on its own
/// makes a batch of its own (never an empty one).
fn cut_batches(
    series: &[TimeSeries],
    max_samples: usize,
    max_bytes: usize,
) -> Vec<(std::ops::Range<usize>, usize)> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < series.len() {
        let (mut end, mut samples, mut bytes) = (start, 0usize, 0usize);
        while let Some(s) = series.get(end) {
            let (n, b) = (s.samples.len(), delimited_len(series_len(s)));
            if end > start
                && (samples.saturating_add(n) > max_samples || bytes.saturating_add(b) > max_bytes)
            {
                break;
            }
            samples = samples.saturating_add(n);
            bytes = bytes.saturating_add(b);
            end += 1;
        }
        batches.push((start..end, samples));
        start = end;
    }
    batches
}

// ---------------------------------------------------------------------------
// Backoff and Retry-After
// ---------------------------------------------------------------------------

/// The delay before retry number `retry` (0 for the first retry): `min * 2^retry`,
/// at most `max`.
fn backoff_delay(min: Duration, max: Duration, retry: u32) -> Duration {
    let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
    min.checked_mul(factor).unwrap_or(max).min(max)
}

/// Parses a `Retry-After` value: delay-seconds, or an IMF-fixdate HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) relative to `now` (a date in the past is a
/// zero delay). `None` when it is neither.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurd values; the caller caps them anyway.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX / 2),
        ));
    }
    let when = parse_imf_fixdate(value)?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

fn parse_imf_fixdate(s: &str) -> Option<SystemTime> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let day = num(5..7)?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| s.get(8..11) == Some(*m))? as u64 + 1;
    let year = num(12..16)?;
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    let (hour, min, sec) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 || year < 1970 {
        return None;
    }
    // Days since the epoch (Howard Hinnant's days_from_civil).
    let (y, m) = if month <= 2 {
        (year as i64 - 1, month as i64 + 9)
    } else {
        (year as i64, month as i64 - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (hour * 3600 + min * 60 + sec) as i64;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

// ---------------------------------------------------------------------------
// Self-metrics
// ---------------------------------------------------------------------------

/// The remote writer's own metrics (names in the [module docs](self#self-metrics)).
///
/// Clones share the same metrics. Each writer has its own unless given one with
/// [`RemoteWriterBuilder::metrics`]; two writers sharing an instance add up.
#[derive(Clone, Debug)]
pub struct RemoteWriteMetrics {
    sent: IntCounter,
    failed: IntCounter,
    dropped: IntCounterVec,
    retries: IntCounter,
    queue_length: IntGauge,
    queue_capacity: IntGauge,
}

impl Default for RemoteWriteMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RemoteWriteMetrics {
    /// New, unregistered metrics.
    pub fn new() -> Self {
        // Fixed, valid names: construction cannot fail.
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("static metric definition");
        let gauge =
            |name: &str, help: &str| IntGauge::new(name, help).expect("static metric definition");
        let dropped = IntCounterVec::new(
            Opts::new(
                "promhttp_remote_write_samples_dropped_total",
                "Samples dropped without being sent, by reason (queue_full, shutdown).",
            ),
            &["reason"],
        )
        .expect("static metric definition");
        for reason in ["queue_full", "shutdown"] {
            dropped.with_label_values(&[reason]);
        }
        RemoteWriteMetrics {
            sent: counter(
                "promhttp_remote_write_samples_sent_total",
                "Samples the remote write receiver accepted.",
            ),
            failed: counter(
                "promhttp_remote_write_samples_failed_total",
                "Samples the remote write receiver refused with a non-retryable status.",
            ),
            dropped,
            retries: counter(
                "promhttp_remote_write_retries_total",
                "Remote write requests retried after a 5xx, 429, connection error or timeout.",
            ),
            queue_length: gauge(
                "promhttp_remote_write_queue_length",
                "Samples waiting in the remote write queue.",
            ),
            queue_capacity: gauge(
                "promhttp_remote_write_queue_capacity",
                "Capacity of the remote write queue, in samples.",
            ),
        }
    }

    fn collectors(&self) -> [Box<dyn Collector>; 6] {
        [
            Box::new(self.sent.clone()),
            Box::new(self.failed.clone()),
            Box::new(self.dropped.clone()),
            Box::new(self.retries.clone()),
            Box::new(self.queue_length.clone()),
            Box::new(self.queue_capacity.clone()),
        ]
    }

    /// Registers the metrics in `registry`; on a conflict nothing stays registered.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        for (i, c) in self.collectors().into_iter().enumerate() {
            if let Err(e) = registry.register(c) {
                for done in self.collectors().into_iter().take(i) {
                    let _ = registry.unregister(done);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Samples accepted by the receiver so far.
    pub fn samples_sent(&self) -> u64 {
        self.sent.get()
    }

    /// Samples refused by the receiver so far.
    pub fn samples_failed(&self) -> u64 {
        self.failed.get()
    }

    /// Samples dropped unsent so far (queue full and shutdown together).
    pub fn samples_dropped(&self) -> u64 {
        ["queue_full", "shutdown"]
            .iter()
            .map(|r| self.dropped.with_label_values(&[r]).get())
            .sum()
    }

    /// Requests retried so far.
    pub fn retries(&self) -> u64 {
        self.retries.get()
    }

    /// Samples in the queue now (the batch being sent not included).
    pub fn queue_length(&self) -> u64 {
        self.queue_length.get().max(0) as u64
    }
}

impl Gather for RemoteWriteMetrics {
    fn gather(&self, out: &mut Gathered) {
        let families = self.collectors().iter().flat_map(|c| c.collect()).collect();
        from_proto(families, out);
    }
}

// ---------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------

/// Options of a [`RemoteWriter`]; see [`RemoteWriter::builder`].
#[must_use]
pub struct RemoteWriterBuilder {
    url: String,
    gatherer: Arc<dyn Gather>,
    interval: Duration,
    external_labels: Vec<(String, String)>,
    queue_capacity: usize,
    max_batch: usize,
    timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    shutdown_timeout: Duration,
    final_snapshot: bool,
    basic_auth: Option<(String, String)>,
    headers: Vec<(String, String)>,
    metrics: Option<RemoteWriteMetrics>,
}

impl fmt::Debug for RemoteWriterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriterBuilder")
            .field("url", &self.url)
            .field("interval", &self.interval)
            .field("external_labels", &self.external_labels)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl RemoteWriterBuilder {
    /// How often to snapshot the source (default [`DEFAULT_INTERVAL`]); the first
    /// snapshot is taken at start.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Adds a label to every series that does not have one of that name (the
    /// metric's own label wins). Setting the same name again replaces the value.
    pub fn external_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.external_labels.retain(|(n, _)| *n != name);
        self.external_labels.push((name, value));
        self
    }

    /// The most samples the queue holds (default [`DEFAULT_QUEUE_CAPACITY`]);
    /// when a new batch does not fit, the oldest batches are dropped. Must not be
    /// zero; values over `i64::MAX` (`usize::MAX` for "no limit") are `i64::MAX`.
    pub fn queue_capacity(mut self, samples: usize) -> Self {
        self.queue_capacity = samples;
        self
    }

    /// The most samples in one request (default [`DEFAULT_MAX_BATCH`]); capped at
    /// the queue capacity, and requests are also cut below 4 GiB uncompressed (the
    /// most snappy compresses). Must not be zero.
    pub fn max_batch(mut self, samples: usize) -> Self {
        self.max_batch = samples;
        self
    }

    /// Time limit of one request, connecting included (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The first retry delay (default [`DEFAULT_MIN_BACKOFF`]); doubled on each retry.
    pub fn min_backoff(mut self, backoff: Duration) -> Self {
        self.min_backoff = backoff;
        self
    }

    /// The longest retry delay (default [`DEFAULT_MAX_BACKOFF`]).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The longest `Retry-After` honoured (default [`DEFAULT_MAX_RETRY_AFTER`]);
    /// longer ones wait this long.
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = limit;
        self
    }

    /// How long [`RemoteWriteHandle::shutdown`] may take to send what is queued
    /// (default [`DEFAULT_SHUTDOWN_TIMEOUT`]). `Duration::MAX` (or anything over
    /// about 30 years) waits until everything is sent or refused.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether shutdown takes one last snapshot before flushing (default `true`).
    pub fn final_snapshot(mut self, enabled: bool) -> Self {
        self.final_snapshot = enabled;
        self
    }

    /// Sends `Authorization: Basic base64(user:password)`.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Adds a request header (e.g. `Authorization: Bearer ...` or a tenant id).
    /// The headers remote write itself sets (`Content-Type`, `Content-Encoding`,
    /// `Content-Length`, `X-Prometheus-Remote-Write-Version`, `Host`) are refused.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Counts into `metrics` instead of a fresh [`RemoteWriteMetrics`].
    pub fn metrics(mut self, metrics: RemoteWriteMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Checks the options.
    pub fn build(self) -> Result<RemoteWriter, RemoteWriteError> {
        let uri = parse_url(&self.url)?;
        let mut external_labels = Vec::with_capacity(self.external_labels.len());
        for (name, value) in self.external_labels {
            if !is_valid_label_name(&name) {
                return Err(RemoteWriteError::InvalidExternalLabel(format!(
                    "{name:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                )));
            }
            if value.is_empty() {
                continue; // an empty value is an absent label
            }
            external_labels.push(Label::new(name, value));
        }
        if self.interval.is_zero() {
            return Err(RemoteWriteError::InvalidOption(
                "interval must not be zero".into(),
            ));
        }
        if self.queue_capacity == 0 {
            return Err(RemoteWriteError::InvalidOption(
                "queue_capacity must be at least 1 sample".into(),
            ));
        }
        if self.max_batch == 0 {
            return Err(RemoteWriteError::InvalidOption(
                "max_batch must be at least 1 sample".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(RemoteWriteError::InvalidOption(
                "timeout must not be zero".into(),
            ));
        }
        if self.min_backoff.is_zero() || self.min_backoff > self.max_backoff {
            return Err(RemoteWriteError::InvalidOption(format!(
                "min_backoff ({:?}) must be positive and at most max_backoff ({:?})",
                self.min_backoff, self.max_backoff
            )));
        }
        let mut headers = Vec::new();
        for (name, value) in self.headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| RemoteWriteError::InvalidHeader(format!("{name:?}: {e}")))?;
            if [
                "content-type",
                "content-encoding",
                "content-length",
                "x-prometheus-remote-write-version",
                "host",
                "transfer-encoding",
            ]
            .contains(&n.as_str())
            {
                return Err(RemoteWriteError::InvalidHeader(format!(
                    "{name}: set by remote write itself"
                )));
            }
            let v = HeaderValue::from_str(&value)
                .map_err(|e| RemoteWriteError::InvalidHeader(format!("{name}: {e}")))?;
            headers.push((n, v));
        }
        if let Some((user, password)) = self.basic_auth {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let mut v = HeaderValue::from_str(&format!("Basic {token}"))
                .map_err(|e| RemoteWriteError::InvalidHeader(format!("basic auth: {e}")))?;
            v.set_sensitive(true);
            headers.retain(|(n, _)| *n != AUTHORIZATION);
            headers.push((AUTHORIZATION, v));
        }
        // Beyond i64::MAX (the gauge's range), "unbounded" either way.
        let queue_capacity = self.queue_capacity.min(MAX_QUEUE_CAPACITY);
        Ok(RemoteWriter {
            config: Arc::new(Config {
                uri,
                url: self.url,
                gatherer: self.gatherer,
                interval: self.interval,
                external_labels,
                queue_capacity,
                max_batch: self.max_batch.min(queue_capacity),
                timeout: self.timeout,
                min_backoff: self.min_backoff,
                max_backoff: self.max_backoff,
                max_retry_after: self.max_retry_after,
                shutdown_timeout: self.shutdown_timeout,
                final_snapshot: self.final_snapshot,
                headers,
            }),
            metrics: self.metrics.unwrap_or_default(),
        })
    }

    /// [`build`](Self::build), then [`RemoteWriter::start`].
    pub fn start(self) -> Result<RemoteWriteHandle, RemoteWriteError> {
        self.build()?.start()
    }
}

fn parse_url(url: &str) -> Result<Uri, RemoteWriteError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| RemoteWriteError::InvalidUrl(format!("{url:?}: {e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(s) if s.eq_ignore_ascii_case("https") => {
            return Err(RemoteWriteError::HttpsNotSupported(url.to_owned()))
        }
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(s) => {
            return Err(RemoteWriteError::InvalidUrl(format!(
                "{url:?}: scheme {s:?} is not http"
            )))
        }
        None => {
            return Err(RemoteWriteError::InvalidUrl(format!(
                "{url:?}: needs a scheme and host, e.g. http://host:9090/api/v1/write"
            )))
        }
    }
    match uri.authority() {
        None => Err(RemoteWriteError::InvalidUrl(format!("{url:?}: no host"))),
        Some(a) if a.as_str().contains('@') => Err(RemoteWriteError::InvalidUrl(format!(
            "{url:?}: credentials in the URL are not supported; use basic_auth"
        ))),
        Some(a) if a.host().is_empty() => {
            Err(RemoteWriteError::InvalidUrl(format!("{url:?}: no host")))
        }
        Some(_) => Ok(uri),
    }
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

struct Config {
    uri: Uri,
    url: String,
    gatherer: Arc<dyn Gather>,
    interval: Duration,
    external_labels: Vec<Label>,
    queue_capacity: usize,
    max_batch: usize,
    timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    shutdown_timeout: Duration,
    final_snapshot: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// A configured, not yet started remote write sender.
///
/// See the [module docs](self) for what it sends and how.
pub struct RemoteWriter {
    config: Arc<Config>,
    metrics: RemoteWriteMetrics,
}

impl fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriter")
            .field("url", &self.config.url)
            .field("interval", &self.config.interval)
            .field("queue_capacity", &self.config.queue_capacity)
            .field("max_batch", &self.config.max_batch)
            .finish_non_exhaustive()
    }
}

impl RemoteWriter {
    /// Options for a writer sending snapshots of `gatherer` to `url` (an `http://`
    /// remote write endpoint, such as Prometheus's `/api/v1/write`).
    pub fn builder(url: impl Into<String>, gatherer: impl Gather + 'static) -> RemoteWriterBuilder {
        RemoteWriterBuilder {
            url: url.into(),
            gatherer: Arc::new(gatherer),
            interval: DEFAULT_INTERVAL,
            external_labels: Vec::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            timeout: DEFAULT_TIMEOUT,
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            final_snapshot: true,
            basic_auth: None,
            headers: Vec::new(),
            metrics: None,
        }
    }

    /// The writer's metrics.
    pub fn metrics(&self) -> &RemoteWriteMetrics {
        &self.metrics
    }

    /// Starts the snapshot and sender tasks on the current Tokio runtime.
    pub fn start(self) -> Result<RemoteWriteHandle, RemoteWriteError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RemoteWriteError::NoRuntime)?;
        let config = self.config;
        let metrics = self.metrics;
        metrics
            .queue_capacity
            .add(gauge_value(config.queue_capacity));
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            capacity: config.queue_capacity,
            metrics: metrics.clone(),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (deadline_tx, deadline_rx) = watch::channel(None);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeout));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let snapshot_task = runtime.spawn(snapshot_loop(config.clone(), shared.clone(), stop_rx));
        let sender = Sender {
            config: config.clone(),
            shared: shared.clone(),
            client,
            deadline: deadline_rx,
        };
        let sender_task = runtime.spawn(sender.run());
        tracing::info!(
            url = %config.url,
            interval = ?config.interval,
            queue_capacity = config.queue_capacity,
            "remote write started"
        );
        Ok(RemoteWriteHandle {
            config,
            shared,
            stop: stop_tx,
            deadline: deadline_tx,
            snapshot_task: Some(snapshot_task),
            sender_task: Some(sender_task),
        })
    }
}

/// A count for an `IntGauge`, saturated at `i64::MAX`.
fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------

struct Batch {
    body: Bytes,
    samples: usize,
}

#[derive(Default)]
struct Queue {
    batches: VecDeque<Batch>,
    samples: usize,
    closed: bool,
    /// Whether the last push had to drop (to log the start of an overflow once).
    overflowing: bool,
    /// Samples of the batch the sender holds (taken from the queue, not yet done).
    in_flight: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    notify: Notify,
    capacity: usize,
    metrics: RemoteWriteMetrics,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a batch, dropping the oldest ones while it does not fit.
    fn push(&self, batch: Batch) {
        let mut q = self.lock();
        let mut dropped = 0usize;
        while q.samples + batch.samples > self.capacity {
            let Some(old) = q.batches.pop_front() else {
                break;
            };
            q.samples -= old.samples;
            dropped += old.samples;
        }
        let pushed = batch.samples;
        q.samples += pushed;
        q.batches.push_back(batch);
        self.metrics
            .queue_length
            .add(pushed as i64 - dropped as i64);
        if dropped > 0 {
            self.metrics
                .dropped
                .with_label_values(&["queue_full"])
                .inc_by(dropped as u64);
            if !q.overflowing {
                tracing::warn!(
                    dropped,
                    capacity = self.capacity,
                    "remote write queue full: dropping the oldest samples"
                );
            }
        }
        q.overflowing = dropped > 0;
        drop(q);
        self.notify.notify_one();
    }

    fn pop(&self) -> Result<Option<Batch>, ()> {
        let mut q = self.lock();
        match q.batches.pop_front() {
            Some(b) => {
                q.samples -= b.samples;
                q.in_flight = b.samples;
                self.metrics.queue_length.sub(b.samples as i64);
                Ok(Some(b))
            }
            None if q.closed => Err(()),
            None => Ok(None),
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    fn done(&self) {
        self.lock().in_flight = 0;
    }

    /// Empties the queue, returning how many samples it held, the batch the
    /// sender was holding included.
    fn drain(&self) -> usize {
        let mut q = self.lock();
        let queued = q.samples;
        let n = queued + q.in_flight;
        q.batches.clear();
        q.samples = 0;
        q.in_flight = 0;
        self.metrics.queue_length.sub(queued as i64);
        n
    }

    fn len(&self) -> usize {
        self.lock().samples
    }
}

// ---------------------------------------------------------------------------
// Snapshot task
// ---------------------------------------------------------------------------

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn snapshot_loop(config: Arc<Config>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ts = i64::MIN;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        snapshot(&config, &shared, &mut last_ts).await;
    }
    if config.final_snapshot {
        snapshot(&config, &shared, &mut last_ts).await;
    }
    shared.close();
}

async fn snapshot(config: &Arc<Config>, shared: &Shared, last_ts: &mut i64) {
    // Strictly increasing: receivers refuse a second, different value at one timestamp.
    let ts = now_ms().max(last_ts.saturating_add(1));
    *last_ts = ts;
    let cfg = config.clone();
    let batches = tokio::task::spawn_blocking(move || {
        let gathered = gather_all(&*cfg.gatherer);
        if !gathered.errors.is_empty() {
            tracing::warn!(
                errors = gathered.errors.len(),
                first = %gathered.errors[0],
                "remote write: gathering reported problems; the broken families are left out"
            );
        }
        let series = to_time_series(&gathered.families, &cfg.external_labels, ts);
        let mut batches = Vec::new();
        let mut unsendable = 0;
        for (range, samples) in cut_batches(&series, cfg.max_batch, MAX_REQUEST_BYTES) {
            match try_encode_compressed(&series[range]) {
                Ok(body) => batches.push(Batch {
                    body: Bytes::from(body),
                    samples,
                }),
                // Only a single series over 4 GiB gets here.
                Err(e) => {
                    tracing::error!(samples, "remote write: a series cannot be sent: {e}");
                    unsendable += samples;
                }
            }
        }
        (batches, unsendable)
    })
    .await;
    match batches {
        Ok((batches, unsendable)) => {
            if unsendable > 0 {
                shared.metrics.failed.inc_by(unsendable as u64);
            }
            tracing::debug!(batches = batches.len(), "remote write snapshot taken");
            for b in batches {
                shared.push(b);
            }
        }
        Err(e) => tracing::error!("remote write snapshot failed: {e}"),
    }
}

// ---------------------------------------------------------------------------
// Sender task
// ---------------------------------------------------------------------------

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Sender {
    config: Arc<Config>,
    shared: Arc<Shared>,
    client: HttpClient,
    deadline: watch::Receiver<Option<Instant>>,
}

enum Outcome {
    Sent,
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Refused(String),
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
    async fn run(mut self) {
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
            let outcome = {
                let attempt = tokio::time::timeout(self.config.timeout, self.attempt(batch));
                let mut rx = self.deadline.clone();
                tokio::select! {
                    r = attempt => r.unwrap_or_else(|_| Outcome::Retry {
                        reason: format!("no response within {:?}", self.config.timeout),
                        retry_after: None,
                    }),
                    _ = deadline_passed(&mut rx) => return false,
                }
            };
            let m = &self.shared.metrics;
            match outcome {
                Outcome::Sent => {
                    m.sent.inc_by(batch.samples as u64);
                    if retry > 0 {
                        tracing::info!(retries = retry, "remote write: batch sent after retries");
                    }
                    return true;
                }
                Outcome::Refused(reason) => {
                    m.failed.inc_by(batch.samples as u64);
                    tracing::error!(
                        url = %self.config.url,
                        samples = batch.samples,
                        "remote write refused, batch dropped: {reason}"
                    );
                    return true;
                }
                Outcome::Retry {
                    reason,
                    retry_after,
                } => {
                    let delay = match retry_after {
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
                        url = %self.config.url,
                        retry = retry.saturating_add(1),
                        delay = ?delay,
                        "remote write failed, retrying: {reason}"
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

    async fn attempt(&self, batch: &Batch) -> Outcome {
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
        let resp = match self.client.request(req).await {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    reason: format!("request failed: {}", error_chain(&e)),
                    retry_after: None,
                }
            }
        };
        let (parts, body) = resp.into_parts();
        // Read (part of) the body: for error messages, and so the connection is reusable.
        let text = match Limited::new(body, RESPONSE_BODY_LIMIT).collect().await {
            Ok(b) => answer_text(&b.to_bytes()),
            Err(_) => String::from("<unreadable body>"),
        };
        let status = parts.status;
        if status.is_success() {
            return Outcome::Sent;
        }
        let reason = format!("{status}: {text}");
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = parts
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            Outcome::Retry {
                reason,
                retry_after,
            }
        } else {
            Outcome::Refused(reason)
        }
    }
}

/// The receiver's answer as logged: its first [`ERROR_BODY_LIMIT`] bytes, lossy
/// UTF-8, trimmed, on one line with control characters escaped.
fn answer_text(body: &[u8]) -> String {
    let cut = &body[..body.len().min(ERROR_BODY_LIMIT)];
    super::escape_control(String::from_utf8_lossy(cut).trim())
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

// ---------------------------------------------------------------------------
// Handle
// ---------------------------------------------------------------------------

/// What [`RemoteWriteHandle::shutdown`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Everything queued was sent (or refused by the receiver) before the timeout.
    pub flushed: bool,
    /// Samples left unsent when the timeout ran out.
    pub dropped_samples: u64,
}

/// A running remote writer. Call [`shutdown`](Self::shutdown) to flush and stop;
/// dropping the handle stops the writer at once without flushing.
#[must_use = "dropping the handle stops the remote writer"]
pub struct RemoteWriteHandle {
    config: Arc<Config>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    deadline: watch::Sender<Option<Instant>>,
    snapshot_task: Option<JoinHandle<()>>,
    sender_task: Option<JoinHandle<()>>,
}

impl fmt::Debug for RemoteWriteHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriteHandle")
            .field("url", &self.config.url)
            .field("queue_length", &self.shared.len())
            .finish_non_exhaustive()
    }
}

impl RemoteWriteHandle {
    /// The writer's metrics (register them to expose them).
    pub fn metrics(&self) -> &RemoteWriteMetrics {
        &self.shared.metrics
    }

    /// Samples in the queue now (the batch being sent not included).
    pub fn queue_length(&self) -> usize {
        self.shared.len()
    }

    /// Stops snapshotting, takes a final snapshot (unless disabled), and sends
    /// what is queued, retrying as usual, for at most the
    /// [shutdown timeout](RemoteWriterBuilder::shutdown_timeout). What is left
    /// then is dropped and counted.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let deadline = super::deadline_after(self.config.shutdown_timeout);
        let _ = self.deadline.send(Some(deadline));
        let _ = self.stop.send(true);
        if let Some(mut task) = self.snapshot_task.take() {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                tracing::warn!(
                    "remote write: final snapshot did not finish before the shutdown timeout"
                );
            }
        }
        // Whether or not the final snapshot made it, no more batches come.
        self.shared.close();
        let mut flushed = true;
        if let Some(mut task) = self.sender_task.take() {
            // The sender gives up at the deadline by itself; the grace is for safety.
            let grace = deadline
                .checked_add(Duration::from_millis(500))
                .unwrap_or(deadline);
            if tokio::time::timeout_at(grace, &mut task).await.is_err() {
                task.abort();
                flushed = false;
            }
        }
        let left = self.shared.drain();
        if left > 0 {
            self.shared
                .metrics
                .dropped
                .with_label_values(&["shutdown"])
                .inc_by(left as u64);
        }
        let dropped_samples = left as u64;
        flushed &= left == 0;
        self.shared
            .metrics
            .queue_capacity
            .sub(gauge_value(self.config.queue_capacity));
        if flushed {
            tracing::info!(url = %self.config.url, "remote write stopped, queue flushed");
        } else {
            tracing::warn!(
                url = %self.config.url,
                dropped = dropped_samples,
                "remote write stopped before the queue was flushed"
            );
        }
        ShutdownReport {
            flushed,
            dropped_samples,
        }
    }
}

impl Drop for RemoteWriteHandle {
    fn drop(&mut self) {
        if let Some(t) = self.snapshot_task.take() {
            t.abort();
        }
        if let Some(t) = self.sender_task.take() {
            t.abort();
            self.shared
                .metrics
                .queue_capacity
                .sub(gauge_value(self.config.queue_capacity));
            // Dropped without shutdown: what was queued is discarded, and counted.
            let left = self.shared.drain();
            if left > 0 {
                self.shared
                    .metrics
                    .dropped
                    .with_label_values(&["shutdown"])
                    .inc_by(left as u64);
                tracing::warn!(
                    url = %self.config.url,
                    dropped = left,
                    "remote write handle dropped without shutdown: queued samples discarded"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bucket, HistogramValue, Metric, MetricType, Quantile, SummaryValue};

    fn series(labels: &[(&'static str, &'static str)], value: f64, ts: i64) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
            samples: vec![Sample {
                value,
                timestamp_ms: ts,
            }],
        }
    }

    #[test]
    fn protobuf_of_a_tiny_write_request_by_hand() {
        let mut out = Vec::new();
        encode_write_request(&[series(&[("__name__", "a")], 1.0, 2)], &mut out);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[0x0a, 28][..],                 // WriteRequest.timeseries, 28 bytes
            &[0x0a, 13],                     //   TimeSeries.labels, 13 bytes
            &[0x0a, 8], b"__name__",         //     Label.name
            &[0x12, 1], b"a",                //     Label.value
            &[0x12, 11],                     //   TimeSeries.samples, 11 bytes
            &[0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f], // Sample.value = 1.0 (fixed64 LE)
            &[0x10, 2],                      //     Sample.timestamp = 2
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(out.len(), 30);
    }

    #[test]
    fn protobuf_two_series_long_strings_and_negative_timestamp() {
        let long: &'static str = Box::leak("x".repeat(200).into_boxed_str());
        let mut out = Vec::new();
        encode_write_request(
            &[
                series(&[("__name__", "b"), ("job", "")], -0.5, -1),
                series(&[("__name__", long)], 0.0, 300),
            ],
            &mut out,
        );
        // First series: labels 12 + 8 = 20 and an empty value is still written.
        // Label{__name__,b} = 10 + 3 = 13 -> 15 on the wire; Label{job,""} = 5 + 2 = 7 -> 9.
        // Sample: 1 + 8 + 1 + 10 (varint of -1) = 20 -> 22. Series = 15 + 9 + 22 = 46.
        assert_eq!(&out[..2], &[0x0a, 46]);
        assert_eq!(&out[2..4], &[0x0a, 13]);
        assert_eq!(&out[17..21], &[0x0a, 7, 0x0a, 3]);
        assert_eq!(&out[21..24], b"job");
        assert_eq!(&out[24..26], &[0x12, 0]);
        assert_eq!(&out[26..29], &[0x12, 20, 0x09]);
        assert_eq!(&out[29..37], &(-0.5f64).to_bits().to_le_bytes());
        assert_eq!(
            &out[37..48],
            &[0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        // Second series: a name of 200 bytes needs a two-byte length (0xc8 0x01).
        let rest = &out[48..];
        // Label{__name__, long}: 10 + (1 + 2 + 200) = 213 -> 0x0a 0xd5 0x01 + 213 = 216.
        // Sample{0.0, 300}: 1 + 8 + 1 + 2 = 12 -> 14. Series = 230 -> 0xe6 0x01.
        assert_eq!(&rest[..3], &[0x0a, 0xe6, 0x01]);
        assert_eq!(&rest[3..6], &[0x0a, 0xd5, 0x01]);
        assert_eq!(&rest[16..19], &[0x12, 0xc8, 0x01]);
        assert_eq!(&rest[19..219], long.as_bytes());
        assert_eq!(
            &rest[219..],
            &[0x12, 12, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0xac, 0x02]
        );
    }

    #[test]
    fn snappy_round_trip_uses_the_block_format() {
        let many: Vec<TimeSeries> = (0..500)
            .map(|i| {
                series(
                    &[("__name__", "requests_total"), ("path", "/a/b/c")],
                    i as f64,
                    1_700_000_000_000 + i,
                )
            })
            .collect();
        let mut raw = Vec::new();
        encode_write_request(&many, &mut raw);
        let compressed = encode_compressed(&many);
        assert!(
            compressed.len() < raw.len() / 2,
            "{} vs {}",
            compressed.len(),
            raw.len()
        );
        // Block format: starts with the varint of the uncompressed length, no stream header.
        assert_ne!(&compressed[..4], b"\xff\x06\x00\x00");
        assert_eq!(snap::raw::decompress_len(&compressed).unwrap(), raw.len());
        let back = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .unwrap();
        assert_eq!(back, raw);
    }

    #[test]
    fn families_become_sorted_series_with_external_labels() {
        let families = vec![
            MetricFamily::new("jobs_total", "h", MetricType::Counter).with_metric(Metric::new(
                vec![
                    Label::new("A", "up"),
                    Label::new("env", "mine"),
                    Label::new("q", ""),
                ],
                Value::counter(3.0),
            )),
            MetricFamily::new("lat_seconds", "h", MetricType::Histogram).with_metric(Metric {
                timestamp_ms: Some(42),
                ..Metric::new(
                    vec![],
                    Value::Histogram(HistogramValue {
                        buckets: vec![
                            Bucket {
                                upper_bound: 0.5,
                                cumulative_count: 1,
                                exemplar: None,
                            },
                            Bucket {
                                upper_bound: 1e6,
                                cumulative_count: 2,
                                exemplar: None,
                            },
                        ],
                        count: 3,
                        sum: 2.5,
                    }),
                )
            }),
            MetricFamily::new("rpc", "h", MetricType::Summary).with_metric(Metric::new(
                vec![],
                Value::Summary(SummaryValue {
                    quantiles: vec![Quantile {
                        quantile: 0.99,
                        value: 7.0,
                    }],
                    count: 4,
                    sum: 9.0,
                }),
            )),
            MetricFamily::new("temp", "h", MetricType::Gauge)
                .with_metric(Metric::new(vec![], Value::Gauge(-1.5))),
        ];
        let ext = [Label::new("env", "prod"), Label::new("region", "eu")];
        let got = to_time_series(&families, &ext, 1000);
        let flat: Vec<(String, f64, i64)> = got
            .iter()
            .map(|s| {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                (
                    labels.join(","),
                    s.samples[0].value,
                    s.samples[0].timestamp_ms,
                )
            })
            .collect();
        let expect = |l: &str, v: f64, t: i64| (l.to_owned(), v, t);
        assert_eq!(
            flat,
            vec![
                // Uppercase sorts before "__name__"; the metric's env wins; empty q is absent.
                expect("A=up,__name__=jobs_total,env=mine,region=eu", 3.0, 1000),
                expect(
                    "__name__=lat_seconds_bucket,env=prod,le=0.5,region=eu",
                    1.0,
                    42
                ),
                expect(
                    "__name__=lat_seconds_bucket,env=prod,le=1e+06,region=eu",
                    2.0,
                    42
                ),
                expect(
                    "__name__=lat_seconds_bucket,env=prod,le=+Inf,region=eu",
                    3.0,
                    42
                ),
                expect("__name__=lat_seconds_sum,env=prod,region=eu", 2.5, 42),
                expect("__name__=lat_seconds_count,env=prod,region=eu", 3.0, 42),
                expect("__name__=rpc,env=prod,quantile=0.99,region=eu", 7.0, 1000),
                expect("__name__=rpc_sum,env=prod,region=eu", 9.0, 1000),
                expect("__name__=rpc_count,env=prod,region=eu", 4.0, 1000),
                expect("__name__=temp,env=prod,region=eu", -1.5, 1000),
            ]
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let ms = Duration::from_millis;
        let got: Vec<Duration> = (0..10)
            .map(|r| backoff_delay(ms(30), ms(5000), r))
            .collect();
        assert_eq!(
            got,
            [30, 60, 120, 240, 480, 960, 1920, 3840, 5000, 5000].map(ms)
        );
        assert_eq!(backoff_delay(ms(30), ms(5000), 40), ms(5000));
        assert_eq!(backoff_delay(ms(30), ms(5000), u32::MAX), ms(5000));
        assert_eq!(
            backoff_delay(Duration::from_secs(u64::MAX / 4), Duration::MAX, 10),
            Duration::MAX
        );
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
        let date = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let now = date - Duration::from_secs(10);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(10))
        );
        // A date in the past: retry now.
        assert_eq!(
            parse_retry_after(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                date + Duration::from_secs(5)
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_imf_fixdate("Thu, 29 Feb 2024 23:59:59 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(1_709_251_199))
        );
        assert_eq!(
            parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn full_queue_drops_the_oldest_batches() {
        let metrics = RemoteWriteMetrics::new();
        let shared = Shared {
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            capacity: 10,
            metrics: metrics.clone(),
        };
        let batch = |n: usize, tag: u8| Batch {
            body: Bytes::from(vec![tag]),
            samples: n,
        };
        shared.push(batch(4, 1));
        shared.push(batch(4, 2));
        assert_eq!(shared.len(), 8);
        shared.push(batch(4, 3));
        assert_eq!(shared.len(), 8);
        assert_eq!(metrics.samples_dropped(), 4);
        assert_eq!(metrics.queue_length(), 8);
        shared.push(batch(10, 4));
        assert_eq!(shared.len(), 10);
        assert_eq!(metrics.samples_dropped(), 12);
        let b = shared.pop().unwrap().unwrap();
        assert_eq!(b.body[0], 4);
        assert_eq!(metrics.queue_length(), 0);
        assert!(shared.pop().unwrap().is_none());
        shared.close();
        assert!(shared.pop().is_err());
    }

    #[test]
    fn options_are_checked() {
        let src = || crate::gather::from_fn(|_: &mut Gathered| {});
        let err = |b: RemoteWriterBuilder| b.build().unwrap_err();
        assert!(matches!(
            err(RemoteWriter::builder(
                "https://example.com/api/v1/write",
                src()
            )),
            RemoteWriteError::HttpsNotSupported(_)
        ));
        let msg = err(RemoteWriter::builder(
            "https://example.com/api/v1/write",
            src(),
        ))
        .to_string();
        assert!(msg.contains("https is not supported yet"), "{msg}");
        for url in [
            "example.com/write",
            "ftp://x/y",
            "http://",
            "not a url",
            "http://u:p@h/w",
        ] {
            assert!(
                matches!(
                    err(RemoteWriter::builder(url, src())),
                    RemoteWriteError::InvalidUrl(_)
                ),
                "{url}"
            );
        }
        let ok = || RemoteWriter::builder("http://127.0.0.1:9/api/v1/write", src());
        assert!(matches!(
            err(ok().external_label("__name__", "x")),
            RemoteWriteError::InvalidExternalLabel(_)
        ));
        assert!(matches!(
            err(ok().external_label("a-b", "x")),
            RemoteWriteError::InvalidExternalLabel(_)
        ));
        assert!(matches!(
            err(ok().header("Content-Encoding", "gzip")),
            RemoteWriteError::InvalidHeader(_)
        ));
        assert!(matches!(
            err(ok().header("X-Bad", "a\nb")),
            RemoteWriteError::InvalidHeader(_)
        ));
        assert!(matches!(
            err(ok().queue_capacity(0)),
            RemoteWriteError::InvalidOption(_)
        ));
        assert!(matches!(
            err(ok().interval(Duration::ZERO)),
            RemoteWriteError::InvalidOption(_)
        ));
        assert!(matches!(
            err(ok()
                .min_backoff(Duration::from_secs(9))
                .max_backoff(Duration::from_secs(1))),
            RemoteWriteError::InvalidOption(_)
        ));
        let w = ok()
            .queue_capacity(5)
            .max_batch(100)
            .external_label("env", "a")
            .external_label("env", "b")
            .build()
            .unwrap();
        assert_eq!(w.config.max_batch, 5);
        assert_eq!(w.config.external_labels, vec![Label::new("env", "b")]);
        assert!(matches!(ok().start(), Err(RemoteWriteError::NoRuntime)));
    }

    /// A source with no series that counts how often it was gathered.
    fn counting_source() -> (impl Gather, Arc<std::sync::atomic::AtomicUsize>) {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        let source = crate::gather::from_fn(move |_: &mut Gathered| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        (source, count)
    }

    // Nothing is ever sent in these (the source has no series): no I/O.
    const NOWHERE: &str = "http://127.0.0.1:9/api/v1/write";

    #[tokio::test]
    async fn the_longest_interval_does_not_panic() {
        let (source, gathers) = counting_source();
        let writer = RemoteWriter::builder(NOWHERE, source)
            .interval(Duration::MAX)
            .start()
            .unwrap();
        // The first snapshot is taken at start.
        let waited = std::time::Instant::now();
        while gathers.load(std::sync::atomic::Ordering::SeqCst) == 0
            && waited.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let report = writer.shutdown().await;
        assert!(report.flushed, "{report:?}");
        assert_eq!(
            gathers.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "the first and the final snapshot"
        );
    }

    #[tokio::test]
    async fn the_longest_shutdown_timeout_does_not_panic() {
        let (source, gathers) = counting_source();
        let writer = RemoteWriter::builder(NOWHERE, source)
            .shutdown_timeout(Duration::MAX)
            .start()
            .unwrap();
        let report = tokio::time::timeout(Duration::from_secs(10), writer.shutdown())
            .await
            .expect("an empty queue flushes at once");
        assert!(report.flushed, "{report:?}");
        assert!(gathers.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }

    #[tokio::test]
    async fn the_largest_queue_capacity_is_a_positive_gauge() {
        let (source, _) = counting_source();
        let writer = RemoteWriter::builder(NOWHERE, source)
            .queue_capacity(usize::MAX)
            .max_batch(usize::MAX)
            .start()
            .unwrap();
        let metrics = writer.metrics().clone();
        assert_eq!(metrics.queue_capacity.get(), i64::MAX);
        assert!(writer.shutdown().await.flushed);
        assert_eq!(metrics.queue_capacity.get(), 0);
    }

    #[test]
    fn batches_are_cut_by_samples_and_by_bytes() {
        let many: Vec<TimeSeries> = (0..10)
            .map(|i| series(&[("__name__", "a"), ("i", "0123456789")], 1.0, i))
            .collect();
        let each = delimited_len(series_len(&many[0]));
        let cut = |max_samples, max_bytes| -> Vec<(usize, usize)> {
            cut_batches(&many, max_samples, max_bytes)
                .into_iter()
                .map(|(r, samples)| {
                    assert_eq!(r.len(), samples);
                    (r.start, r.end)
                })
                .collect()
        };
        assert_eq!(cut(4, usize::MAX), [(0, 4), (4, 8), (8, 10)]);
        assert_eq!(cut(usize::MAX, usize::MAX), [(0, 10)]);
        assert_eq!(cut(usize::MAX, 3 * each), [(0, 3), (3, 6), (6, 9), (9, 10)]);
        assert_eq!(cut(2, 3 * each), [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]);
        // A series larger than the byte limit goes alone, never in an empty batch.
        assert_eq!(
            cut(usize::MAX, 1),
            (0..10).map(|i| (i, i + 1)).collect::<Vec<_>>()
        );
        assert!(cut_batches(&[], 5, 5).is_empty());
        // Each batch encodes to at most the byte limit.
        for (r, _) in cut_batches(&many, usize::MAX, 3 * each) {
            let mut raw = Vec::new();
            encode_write_request(&many[r], &mut raw);
            assert!(raw.len() <= 3 * each);
        }
    }

    #[test]
    fn receiver_text_is_one_escaped_line() {
        let text =
            answer_text("\u{1b}[31mred\u{1b}[0m\r\nforged line\u{7}\0 Προμηθεύς ✓\n".as_bytes());
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert_eq!(
            text,
            "\\x1b[31mred\\x1b[0m\\r\\nforged line\\x07\\x00 Προμηθεύς ✓"
        );
        // Cut at ERROR_BODY_LIMIT bytes, even inside a character.
        let long = format!("x{}", "é".repeat(ERROR_BODY_LIMIT));
        let cut = answer_text(long.as_bytes());
        assert_eq!(
            cut,
            format!("x{}\u{fffd}", "é".repeat(ERROR_BODY_LIMIT / 2 - 1))
        );
    }

    #[test]
    fn self_metrics_register_and_gather() {
        let m = RemoteWriteMetrics::new();
        let r = Registry::new();
        m.register(&r).unwrap();
        assert!(RemoteWriteMetrics::new().register(&r).is_err());
        let page = gather_all(&m);
        let names: Vec<&str> = page.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "promhttp_remote_write_queue_capacity",
                "promhttp_remote_write_queue_length",
                "promhttp_remote_write_retries_total",
                "promhttp_remote_write_samples_dropped_total",
                "promhttp_remote_write_samples_failed_total",
                "promhttp_remote_write_samples_sent_total",
            ]
        );
        assert_eq!(r.gather().len(), 6);
    }
}
