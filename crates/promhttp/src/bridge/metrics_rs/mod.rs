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
//! * **Native histograms**: a histogram can instead have native (exponential)
//!   buckets, or both kinds ([`HistogramLayout`]), chosen with the same rules
//!   (default, exact name, longest prefix) by
//!   [`histogram_for`](PrometheusRecorderBuilder::histogram_for) and friends;
//!   classic only by default. Native buckets are recorded by promhttp's own
//!   histogram storage, as [`crate::metrics::Histogram`] records them, and reach a
//!   Prometheus that scrapes protobuf with native histograms enabled.
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
//! use promhttp::bridge::metrics_rs::{HistogramLayout, PrometheusRecorder};
//! use promhttp::encode::{encode, EncodeOptions, Format};
//! use promhttp::gather::gather_all;
//! use promhttp::metrics::NativeBuckets;
//! use promhttp::model::Value;
//!
//! let recorder = PrometheusRecorder::builder()
//!     .buckets_for_prefix("job_", &[0.5, 1.0])
//!     .histogram_for("rpc_seconds", HistogramLayout::Dual(NativeBuckets::default()))
//!     .build()
//!     .unwrap();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_counter!("jobs", "Jobs run.");
//!     metrics::counter!("jobs", "queue" => "mail").increment(2);
//!     metrics::histogram!("job_seconds").record(0.7);
//!     metrics::histogram!("rpc_seconds").record(0.03);
//! });
//! let page = gather_all(&recorder);
//! let rpc = page.families.iter().find(|f| f.name == "rpc_seconds").unwrap();
//! let Value::Histogram(h) = &rpc.metrics[0].value else { unreachable!() };
//! assert_eq!(h.native.as_ref().unwrap().schema, 3); // NativeBuckets::default()
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

use std::fmt;
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use crate::gather::{Gather, Gathered};
use crate::metrics::Buckets;

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

/// Configures a [`PrometheusRecorder`]: histogram buckets and layouts. Made by
/// [`PrometheusRecorder::builder`], which starts from the defaults.
#[must_use]
#[derive(Clone, Debug)]
pub struct PrometheusRecorderBuilder {
    default: Option<Vec<f64>>,
    exact: Vec<(String, Vec<f64>)>,
    prefix: Vec<(String, Vec<f64>)>,
    default_layout: HistogramLayout,
    layout_exact: Vec<(String, HistogramLayout)>,
    layout_prefix: Vec<(String, HistogramLayout)>,
}

/// Bucket bounds that cannot make a histogram, from [`PrometheusRecorderBuilder::build`].
///
/// Each variant names the histograms the bounds were given for
/// ([`histograms`](Self::histograms)).
///
/// ```
/// use promhttp::bridge::metrics_rs::{InvalidBuckets, PrometheusRecorder};
///
/// let err = PrometheusRecorder::builder()
///     .buckets_for("job_seconds", &[1.0, 0.5])
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, InvalidBuckets::NotIncreasing { bound, .. } if bound == 0.5));
/// assert_eq!(err.histograms(), Some("job_seconds"));
/// assert_eq!(
///     err.to_string(),
///     r#"invalid histogram buckets for "job_seconds": 0.5 is not above the bound before it, 1"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum InvalidBuckets {
    /// No finite bound: the list is empty, or only `+Inf`.
    NoFiniteBound {
        /// The name or prefix they were given for; `None` for the default buckets.
        histograms: Option<String>,
    },
    /// A bound is NaN.
    NanBound {
        /// The name or prefix they were given for; `None` for the default buckets.
        histograms: Option<String>,
    },
    /// The bounds are not strictly increasing.
    NotIncreasing {
        /// The name or prefix they were given for; `None` for the default buckets.
        histograms: Option<String>,
        /// The first bound not above the one before it.
        bound: f64,
        /// The bound before it.
        previous: f64,
    },
}

impl InvalidBuckets {
    /// The name or prefix the bounds were given for; `None` for the default buckets.
    pub fn histograms(&self) -> Option<&str> {
        match self {
            InvalidBuckets::NoFiniteBound { histograms }
            | InvalidBuckets::NanBound { histograms }
            | InvalidBuckets::NotIncreasing { histograms, .. } => histograms.as_deref(),
        }
    }
}

impl fmt::Display for InvalidBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.histograms() {
            Some(n) => write!(f, "invalid histogram buckets for {n:?}: ")?,
            None => f.write_str("invalid default histogram buckets: ")?,
        }
        match self {
            InvalidBuckets::NoFiniteBound { .. } => f.write_str("no finite bound"),
            InvalidBuckets::NanBound { .. } => f.write_str("a bound is NaN"),
            InvalidBuckets::NotIncreasing {
                bound, previous, ..
            } => write!(f, "{bound} is not above the bound before it, {previous}"),
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

    /// The layout of every histogram without its own (default:
    /// [`HistogramLayout::Classic`]).
    pub fn default_histogram(mut self, layout: HistogramLayout) -> Self {
        self.default_layout = layout;
        self
    }

    /// The layout of the histogram named exactly `name` (as given to `histogram!`).
    ///
    /// ```
    /// use promhttp::bridge::metrics_rs::{HistogramLayout, PrometheusRecorder};
    /// use promhttp::metrics::NativeBuckets;
    ///
    /// let recorder = PrometheusRecorder::builder()
    ///     // Every histogram native, except the classic ones of `legacy_`.
    ///     .default_histogram(HistogramLayout::Native(NativeBuckets::default()))
    ///     .histogram_for_prefix("legacy_", HistogramLayout::Classic)
    ///     .histogram_for("legacy_rpc_seconds", HistogramLayout::Dual(NativeBuckets::new(1.1)?))
    ///     .build()
    ///     .unwrap();
    /// # Ok::<(), promhttp::metrics::HistogramConfigError>(())
    /// ```
    pub fn histogram_for(mut self, name: impl Into<String>, layout: HistogramLayout) -> Self {
        self.layout_exact.push((name.into(), layout));
        self
    }

    /// The layout of histograms whose name starts with `prefix`; the longest
    /// matching prefix wins, an exact name ([`histogram_for`](Self::histogram_for)) first.
    pub fn histogram_for_prefix(
        mut self,
        prefix: impl Into<String>,
        layout: HistogramLayout,
    ) -> Self {
        self.layout_prefix.push((prefix.into(), layout));
        self
    }

    /// The recorder, or the first invalid bucket list.
    pub fn build(self) -> Result<PrometheusRecorder, InvalidBuckets> {
        let default = match self.default {
            Some(b) => check_buckets(None, b)?,
            None => Buckets::default(),
        };
        let buckets = ByName::new(default, self.exact, self.prefix, |name, b| {
            check_buckets(Some(name), b)
        })?;
        let layouts = ByName::new(
            self.default_layout,
            self.layout_exact,
            self.layout_prefix,
            |_, layout| Ok::<_, InvalidBuckets>(layout),
        )?;
        Ok(PrometheusRecorder {
            inner: Arc::new(Inner::new(buckets, layouts)),
        })
    }
}

impl PrometheusRecorder {
    /// A recorder with the default buckets ([`DEFAULT_BUCKETS`] for every
    /// histogram): what `PrometheusRecorder::builder().build()` makes.
    pub fn new() -> Self {
        PrometheusRecorder::default()
    }

    /// A builder starting from the defaults ([`new`](Self::new)), to configure
    /// histogram buckets and layouts.
    pub fn builder() -> PrometheusRecorderBuilder {
        PrometheusRecorderBuilder {
            default: None,
            exact: Vec::new(),
            prefix: Vec::new(),
            default_layout: HistogramLayout::Classic,
            layout_exact: Vec::new(),
            layout_prefix: Vec::new(),
        }
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

mod config;
mod store;

pub use config::HistogramLayout;
use config::{check_buckets, ByName};
use store::{Cell, Inner, Kind};

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
    fn gather_into(&self, out: &mut Gathered) {
        self.inner.gather(out)
    }
}

impl Gather for RecorderHandle {
    /// Families in name order, metrics in label order.
    fn gather_into(&self, out: &mut Gathered) {
        self.inner.gather(out)
    }
}
