//! A [`metrics`] recorder whose metrics promhttp serves.
//!
//! Code instrumented with the [`metrics`] facade (`counter!`, `gauge!`,
//! `histogram!`) records into a [`PrometheusRecorder`]; the recorder implements
//! [`Gather`], so it is served by promhttp's [`MetricsHandler`](crate::MetricsHandler),
//! exporter and middleware like any other source, alone or in a
//! [`Gatherers`](crate::Gatherers) list next to a `prometheus::Registry`.
//!
//! # Mapping
//!
//! * **Counters** are `u64` totals: `increment` adds, `absolute` raises the total to
//!   at least the given value (as the `metrics` crate's own atomics do). The family
//!   name gets `_total` appended unless it already ends with `_total`, so
//!   `counter!("requests")` and `counter!("requests_total")` are the same family,
//!   `requests_total`.
//! * **Gauges** are `f64`: `set`, `increment` and `decrement`.
//! * **Histograms** are real Prometheus histograms, never summaries: cumulative
//!   buckets with a `+Inf` bucket, a sum and a count. The bucket bounds default to
//!   the Prometheus default buckets ([`DEFAULT_BUCKETS`]) and can be set for all
//!   histograms, or per name (exact name, or longest matching prefix, exact first)
//!   with [`PrometheusRecorderBuilder`]. Names are matched as given to `histogram!`,
//!   before sanitizing.
//! * **Descriptions** from `describe_counter!` (and friends) become the family's
//!   help. **Units** become the family's unit only when they are Prometheus base
//!   units — [`Unit::Seconds`] as `seconds`, [`Unit::Bytes`] as `bytes` — and the
//!   family name ends with `_seconds` / `_bytes` (before `_total` for counters), as
//!   OpenMetrics requires; other units are ignored and names are never rewritten.
//! * **Names**: invalid characters in metric names (outside `[a-zA-Z0-9_:]`) and in
//!   label names (outside `[a-zA-Z0-9_]`) become `_`; a name starting with a digit
//!   gets a leading `_`, an empty name becomes `_`, and a label name starting with
//!   `__` (reserved) has its leading underscores reduced to one. `http.requests`
//!   becomes `http_requests`, label `status-code` becomes `status_code`. Label values
//!   are kept as they are.
//! * **Series** are keyed by the exact sanitized name and label set (labels sorted
//!   by name, so their order at the call site does not matter). Two call sites whose
//!   names only differ in characters that sanitize alike share one series.
//!   A label named `le` on a histogram, or one name used for two kinds, is reported
//!   by gathering as an error naming the family, as for any other source.
//!
//! Values are atomics; the series map is behind a `RwLock` taken for reading on
//! each registration (the `metrics` macros register on every call) and for writing
//! only when a series is first seen. Handles kept from `counter!(..)` skip the map.
//!
//! ```
//! use promhttp::bridge::metrics_rs::PrometheusRecorder;
//! use promhttp::encode::{encode, EncodeOptions, Format};
//! use promhttp::gather::gather_all;
//!
//! let recorder = PrometheusRecorder::builder()
//!     .buckets_for_prefix("job_", &[0.5, 1.0])
//!     .build()
//!     .unwrap();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_counter!("jobs", "Jobs run.");
//!     metrics::counter!("jobs", "queue" => "mail").increment(2);
//!     metrics::histogram!("job_seconds").record(0.7);
//! });
//! let page = gather_all(&recorder);
//! let mut out = Vec::new();
//! encode(Format::Text, &page.families, &EncodeOptions::default(), &mut out);
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains("# HELP jobs_total Jobs run.\n"));
//! assert!(text.contains("jobs_total{queue=\"mail\"} 2\n"));
//! assert!(text.contains("job_seconds_bucket{le=\"1\"} 1\n"));
//! ```
//!
//! To record from everywhere, [`install`](PrometheusRecorder::install) the recorder
//! as the global one and serve the [`RecorderHandle`] it returns:
//!
//! ```no_run
//! use promhttp::bridge::metrics_rs::PrometheusRecorder;
//! use promhttp::MetricsHandler;
//!
//! let handle = PrometheusRecorder::new().install().expect("no other recorder");
//! let handler = MetricsHandler::builder(handle).build();
//! # let _ = handler;
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use crate::gather::{Gather, Gathered};
use crate::model::{
    Bucket, CounterValue, HistogramValue, Label, Metric, MetricFamily, MetricType, Str, Value,
};

/// The Prometheus client libraries' default histogram buckets (seconds).
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A [`metrics::Recorder`] storing into a source promhttp serves.
///
/// Cheap to clone; clones share the metrics. See the [module](self) documentation
/// for how `metrics` concepts map to Prometheus.
#[derive(Clone, Default)]
pub struct PrometheusRecorder {
    inner: Arc<Inner>,
}

/// A handle to the metrics of a [`PrometheusRecorder`], to serve them (it implements
/// [`Gather`]) after the recorder was [installed](PrometheusRecorder::install).
#[derive(Clone)]
pub struct RecorderHandle {
    inner: Arc<Inner>,
}

impl fmt::Debug for PrometheusRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusRecorder").finish_non_exhaustive()
    }
}

impl fmt::Debug for RecorderHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecorderHandle").finish_non_exhaustive()
    }
}

/// Configures a [`PrometheusRecorder`]: histogram buckets.
#[derive(Clone, Debug, Default)]
pub struct PrometheusRecorderBuilder {
    default: Option<Vec<f64>>,
    exact: Vec<(String, Vec<f64>)>,
    prefix: Vec<(String, Vec<f64>)>,
}

/// Bucket bounds that cannot make a histogram: empty, NaN, or not strictly increasing.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidBuckets {
    /// The name or prefix they were given for; `None` for the default buckets.
    pub name: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InvalidBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "invalid histogram buckets for {n:?}: {}", self.message),
            None => write!(f, "invalid default histogram buckets: {}", self.message),
        }
    }
}

impl std::error::Error for InvalidBuckets {}

/// Another recorder was already installed as the global `metrics` recorder.
pub struct InstallError {
    recorder: PrometheusRecorder,
}

impl InstallError {
    /// The recorder that could not be installed.
    pub fn into_inner(self) -> PrometheusRecorder {
        self.recorder
    }
}

impl fmt::Debug for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallError").finish_non_exhaustive()
    }
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a global metrics recorder is already installed")
    }
}

impl std::error::Error for InstallError {}

impl PrometheusRecorderBuilder {
    /// The buckets of every histogram without its own (default: [`DEFAULT_BUCKETS`]).
    /// A trailing `+Inf` is allowed and dropped: the `+Inf` bucket is always there.
    pub fn default_buckets(mut self, bounds: &[f64]) -> Self {
        self.default = Some(bounds.to_vec());
        self
    }

    /// The buckets of the histogram named exactly `name` (as given to `histogram!`).
    pub fn buckets_for(mut self, name: impl Into<String>, bounds: &[f64]) -> Self {
        self.exact.push((name.into(), bounds.to_vec()));
        self
    }

    /// The buckets of histograms whose name starts with `prefix`; the longest
    /// matching prefix wins, an exact name ([`buckets_for`](Self::buckets_for)) first.
    pub fn buckets_for_prefix(mut self, prefix: impl Into<String>, bounds: &[f64]) -> Self {
        self.prefix.push((prefix.into(), bounds.to_vec()));
        self
    }

    /// The recorder, or the first invalid bucket list.
    pub fn build(self) -> Result<PrometheusRecorder, InvalidBuckets> {
        let default = match self.default {
            Some(b) => check_buckets(None, b)?,
            None => Arc::from(&DEFAULT_BUCKETS[..]),
        };
        let mut exact = HashMap::new();
        for (name, b) in self.exact {
            let b = check_buckets(Some(&name), b)?;
            exact.insert(name, b);
        }
        let mut prefix = Vec::new();
        for (p, b) in self.prefix {
            let b = check_buckets(Some(&p), b)?;
            prefix.push((p, b));
        }
        // Longest first, so the first match is the longest.
        prefix.sort_by_key(|p: &(String, Arc<[f64]>)| std::cmp::Reverse(p.0.len()));
        Ok(PrometheusRecorder {
            inner: Arc::new(Inner {
                buckets: BucketConfig {
                    default,
                    exact,
                    prefix,
                },
                ..Inner::default()
            }),
        })
    }
}

fn check_buckets(name: Option<&str>, mut b: Vec<f64>) -> Result<Arc<[f64]>, InvalidBuckets> {
    let err = |m: &str| InvalidBuckets {
        name: name.map(str::to_owned),
        message: m.to_owned(),
    };
    if b.last() == Some(&f64::INFINITY) {
        b.pop();
    }
    if b.is_empty() {
        return Err(err("no finite bound"));
    }
    if b.iter().any(|x| x.is_nan()) {
        return Err(err("a bound is NaN"));
    }
    if b.windows(2).any(|w| w[0] >= w[1]) {
        return Err(err("bounds must be strictly increasing"));
    }
    Ok(b.into())
}

impl PrometheusRecorder {
    /// A recorder with the default buckets.
    pub fn new() -> Self {
        PrometheusRecorder::default()
    }

    /// A builder, to configure histogram buckets.
    pub fn builder() -> PrometheusRecorderBuilder {
        PrometheusRecorderBuilder::default()
    }

    /// A handle to serve this recorder's metrics.
    pub fn handle(&self) -> RecorderHandle {
        RecorderHandle {
            inner: self.inner.clone(),
        }
    }

    /// Installs this recorder as the global `metrics` recorder and returns a handle
    /// to serve it; fails, without panicking, when a global recorder is already set.
    pub fn install(self) -> Result<RecorderHandle, InstallError> {
        let handle = self.handle();
        metrics::set_global_recorder(self).map_err(|e| InstallError {
            recorder: e.into_inner(),
        })?;
        Ok(handle)
    }
}

// ---------------------------------------------------------------------------------
// Storage.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

struct BucketConfig {
    default: Arc<[f64]>,
    exact: HashMap<String, Arc<[f64]>>,
    /// Longest prefix first.
    prefix: Vec<(String, Arc<[f64]>)>,
}

impl Default for BucketConfig {
    fn default() -> Self {
        BucketConfig {
            default: Arc::from(&DEFAULT_BUCKETS[..]),
            exact: HashMap::new(),
            prefix: Vec::new(),
        }
    }
}

impl BucketConfig {
    fn for_name(&self, name: &str) -> Arc<[f64]> {
        if let Some(b) = self.exact.get(name) {
            return b.clone();
        }
        self.prefix
            .iter()
            .find(|(p, _)| name.starts_with(p.as_str()))
            .map_or_else(|| self.default.clone(), |(_, b)| b.clone())
    }
}

struct CounterCell(AtomicU64);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

struct GaugeCell(AtomicU64);

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let new = f(f64::from_bits(cur)).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(x) => cur = x,
            }
        }
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value)
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value)
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed)
    }
}

struct HistogramCell {
    bounds: Arc<[f64]>,
    /// Per-bucket (not cumulative) counts; the last is `+Inf`.
    buckets: Box<[AtomicU64]>,
    sum: GaugeCell,
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        self.record_many(value, 1)
    }
    fn record_many(&self, value: f64, count: usize) {
        // NaN counts in +Inf, as in the Go client.
        let i = if value.is_nan() {
            self.bounds.len()
        } else {
            self.bounds.partition_point(|b| *b < value)
        };
        self.buckets[i].fetch_add(count as u64, Ordering::Relaxed);
        self.sum.update(|s| s + value * count as f64);
    }
}

#[derive(Clone)]
enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

/// A series' identity once sanitized: family name (with `_total` for counters),
/// kind, labels sorted by name.
type SeriesKey = (String, Kind, Vec<(String, String)>);

struct Series {
    cell: Cell,
    created: f64,
}

#[derive(Default)]
struct Maps {
    /// Exact `metrics` keys seen, to their cell; one map per [`Kind`].
    by_key: [HashMap<Key, Cell>; 3],
    /// Every series, in exposition order.
    series: BTreeMap<SeriesKey, Series>,
}

/// A family's help and unit, from `describe_*`.
type Description = (SharedString, Option<Unit>);

#[derive(Default)]
struct Inner {
    buckets: BucketConfig,
    maps: RwLock<Maps>,
    /// Help and unit per (family name, kind).
    descriptions: RwLock<HashMap<(String, Kind), Description>>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `name` with characters outside `[a-zA-Z0-9_:]` replaced by `_`, and `_` before a
/// leading digit (or for an empty name).
fn sanitize_metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// `name` with characters outside `[a-zA-Z0-9_]` replaced by `_`, `_` before a
/// leading digit (or for an empty name), and leading `__` reduced to `_`.
fn sanitize_label_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    let extra = out.bytes().take_while(|b| *b == b'_').count();
    if extra > 1 {
        if out.len() == extra {
            // Only underscores: keep one.
            out.truncate(1);
        } else {
            out.drain(..extra - 1);
        }
    }
    out
}

fn family_name(kind: Kind, name: &str) -> String {
    let mut n = sanitize_metric_name(name);
    if kind == Kind::Counter && !n.ends_with("_total") {
        n.push_str("_total");
    }
    n
}

impl Inner {
    fn register(&self, kind: Kind, key: &Key) -> Cell {
        if let Some(c) = read(&self.maps).by_key[kind as usize].get(key) {
            return c.clone();
        }
        let name = family_name(kind, key.name());
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (sanitize_label_name(l.key()), l.value().to_owned()))
            .collect();
        labels.sort();
        let skey = (name, kind, labels);
        let mut maps = write(&self.maps);
        let cell = match maps.series.get(&skey) {
            Some(s) => s.cell.clone(),
            None => {
                let cell = match kind {
                    Kind::Counter => Cell::Counter(Arc::new(CounterCell(AtomicU64::new(0)))),
                    Kind::Gauge => Cell::Gauge(Arc::new(GaugeCell(AtomicU64::new(0)))),
                    Kind::Histogram => {
                        let bounds = self.buckets.for_name(key.name());
                        Cell::Histogram(Arc::new(HistogramCell {
                            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                            bounds,
                            sum: GaugeCell(AtomicU64::new(0f64.to_bits())),
                        }))
                    }
                };
                maps.series.insert(
                    skey,
                    Series {
                        cell: cell.clone(),
                        created: now(),
                    },
                );
                cell
            }
        };
        maps.by_key[kind as usize].insert(key.clone(), cell.clone());
        cell
    }

    fn describe(&self, kind: Kind, key: KeyName, unit: Option<Unit>, help: SharedString) {
        let name = family_name(kind, key.as_str());
        write(&self.descriptions).insert((name, kind), (help, unit));
    }

    fn gather(&self, out: &mut Gathered) {
        let descriptions = read(&self.descriptions);
        let maps = read(&self.maps);
        let mut current: Option<MetricFamily> = None;
        let mut current_key: Option<(&str, Kind)> = None;
        for ((name, kind, labels), series) in &maps.series {
            if current_key != Some((name.as_str(), *kind)) {
                out.families.extend(current.take());
                current_key = Some((name.as_str(), *kind));
                let metric_type = match kind {
                    Kind::Counter => MetricType::Counter,
                    Kind::Gauge => MetricType::Gauge,
                    Kind::Histogram => MetricType::Histogram,
                };
                let mut f = MetricFamily::new(name.clone(), Str::default(), metric_type);
                if let Some((help, unit)) = descriptions.get(&(name.clone(), *kind)) {
                    f.help = Str::Owned(help.to_string());
                    let base = name
                        .strip_suffix("_total")
                        .filter(|_| *kind == Kind::Counter);
                    let base = base.unwrap_or(name);
                    f.unit = match unit {
                        Some(Unit::Seconds) if base.ends_with("_seconds") => Str::Static("seconds"),
                        Some(Unit::Bytes) if base.ends_with("_bytes") => Str::Static("bytes"),
                        _ => Str::default(),
                    };
                }
                current = Some(f);
            }
            let labels: Vec<Label> = labels
                .iter()
                .map(|(n, v)| Label::new(n.clone(), v.clone()))
                .collect();
            let value = match &series.cell {
                Cell::Counter(c) => Value::Counter(CounterValue {
                    value: c.0.load(Ordering::Relaxed) as f64,
                    exemplar: None,
                }),
                Cell::Gauge(g) => Value::Gauge(f64::from_bits(g.0.load(Ordering::Relaxed))),
                Cell::Histogram(h) => {
                    let mut cumulative = 0u64;
                    let mut buckets = Vec::with_capacity(h.buckets.len());
                    for (i, b) in h.buckets.iter().enumerate() {
                        cumulative += b.load(Ordering::Relaxed);
                        buckets.push(Bucket {
                            upper_bound: h.bounds.get(i).copied().unwrap_or(f64::INFINITY),
                            cumulative_count: cumulative,
                            exemplar: None,
                        });
                    }
                    // The count is the sum of the buckets read, so the two agree.
                    Value::Histogram(HistogramValue {
                        buckets,
                        count: cumulative,
                        sum: f64::from_bits(h.sum.0.load(Ordering::Relaxed)),
                    })
                }
            };
            let mut m = Metric::new(labels, value);
            if *kind != Kind::Gauge {
                m.created = Some(series.created);
            }
            if let Some(f) = current.as_mut() {
                f.metrics.push(m);
            }
        }
        out.families.extend(current);
    }
}

impl Recorder for PrometheusRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe(Kind::Counter, key, unit, description)
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe(Kind::Gauge, key, unit, description)
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe(Kind::Histogram, key, unit, description)
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        match self.inner.register(Kind::Counter, key) {
            Cell::Counter(c) => Counter::from_arc(c),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        match self.inner.register(Kind::Gauge, key) {
            Cell::Gauge(g) => Gauge::from_arc(g),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        match self.inner.register(Kind::Histogram, key) {
            Cell::Histogram(h) => Histogram::from_arc(h),
            _ => Histogram::noop(),
        }
    }
}

impl Gather for PrometheusRecorder {
    /// Families in name order, metrics in label order.
    fn gather(&self, out: &mut Gathered) {
        self.inner.gather(out)
    }
}

impl Gather for RecorderHandle {
    /// Families in name order, metrics in label order.
    fn gather(&self, out: &mut Gathered) {
        self.inner.gather(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize_metric_name("http.requests-x"), "http_requests_x");
        assert_eq!(sanitize_metric_name("9lives"), "_9lives");
        assert_eq!(sanitize_metric_name(""), "_");
        assert_eq!(sanitize_metric_name("a:b"), "a:b");
        assert_eq!(sanitize_metric_name("Björn"), "Bj_rn");
        assert_eq!(sanitize_label_name("status-code"), "status_code");
        assert_eq!(sanitize_label_name("a:b"), "a_b");
        assert_eq!(sanitize_label_name("__name__"), "_name__");
        assert_eq!(sanitize_label_name("___"), "_");
        assert_eq!(sanitize_label_name("1x"), "_1x");
        for n in ["http.requests-x", "9lives", "", "Björn"] {
            assert!(crate::model::is_valid_metric_name(&sanitize_metric_name(n)));
        }
        for n in ["__name__", "___", "1x", "", "é", "_"] {
            assert!(
                crate::model::is_valid_label_name(&sanitize_label_name(n)),
                "{n}"
            );
        }
    }

    #[test]
    fn bucket_selection() {
        let r = PrometheusRecorder::builder()
            .default_buckets(&[1.0, f64::INFINITY])
            .buckets_for("a_b", &[3.0])
            .buckets_for_prefix("a", &[4.0])
            .buckets_for_prefix("a_", &[5.0])
            .build()
            .unwrap();
        let b = &r.inner.buckets;
        assert_eq!(&*b.for_name("a_b"), &[3.0]);
        assert_eq!(&*b.for_name("a_c"), &[5.0]);
        assert_eq!(&*b.for_name("ax"), &[4.0]);
        assert_eq!(&*b.for_name("x"), &[1.0]);
        let h = HistogramCell {
            bounds: Arc::from(&[1.0][..]),
            buckets: (0..2).map(|_| AtomicU64::new(0)).collect(),
            sum: GaugeCell(AtomicU64::new(0)),
        };
        h.record(f64::NAN);
        h.record_many(0.5, 3);
        assert_eq!(h.buckets[0].load(Ordering::Relaxed), 3);
        assert_eq!(h.buckets[1].load(Ordering::Relaxed), 1);
        for bad in [&[][..], &[1.0, 1.0], &[2.0, 1.0], &[f64::NAN]] {
            assert!(PrometheusRecorder::builder()
                .buckets_for("x", bad)
                .build()
                .is_err());
        }
    }
}
