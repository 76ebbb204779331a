//! The exposition model: what sources write and encoders read.
//!
//! A scrape is a list of [`MetricFamily`]: a name, help, unit and type, and the
//! [`Metric`]s of that family, each a label set and a [`Value`]. The model can carry
//! everything the three wire formats can: exemplars on counters and histogram
//! buckets, units, created timestamps, summaries and explicit timestamps.
//!
//! Strings are [`Str`]s so a source hands its data over without copying it: the
//! `prometheus` crate adapter moves the `String`s out of what `gather()` returned,
//! and a source that keeps its label values in `Arc<str>` shares them.
//!
//! # Building values
//!
//! The structs and enums that the formats will grow (native histograms, start
//! timestamps) are `#[non_exhaustive]`: outside this crate they are built with their
//! constructors and `with_*` methods, read and changed through their public fields,
//! and matched with a `..` or `_` arm.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use promhttp::model::{
//!     Bucket, Exemplar, HistogramValue, Label, Metric, MetricFamily, MetricType, Value,
//! };
//!
//! let observed = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
//! let exemplar = Exemplar::new(vec![Label::new("trace_id", "4bf92f35")], 0.3)
//!     .with_timestamp(observed);
//! let latency = HistogramValue::new(
//!     vec![Bucket::new(0.1, 2), Bucket::new(0.5, 5).with_exemplar(exemplar)],
//!     6,
//!     2.7,
//! );
//! let family = MetricFamily::new("job_seconds", "Job latency.", MetricType::Histogram)
//!     .with_unit("seconds")
//!     .with_metric(Metric::new(vec![Label::new("queue", "mail")], latency.into()));
//! assert_eq!(family.metrics.len(), 1);
//! // `Value` may grow: a match needs a `_` arm.
//! let count = match &family.metrics[0].value {
//!     Value::Histogram(h) => h.count,
//!     _ => 0,
//! };
//! assert_eq!(count, 6);
//! ```
//!
//! # Time
//!
//! Every time in the model is a [`SystemTime`]: a metric's
//! explicit [`timestamp`](Metric::timestamp), its [`created`](Metric::created) time
//! and an exemplar's [`timestamp`](Exemplar::timestamp). The encoders convert at the
//! edge, as each format requires:
//!
//! | time | text 0.0.4 | OpenMetrics | protobuf |
//! |---|---|---|---|
//! | [`Metric::timestamp`] | whole milliseconds since the epoch, rounded down | seconds, exact to those milliseconds (`1700000000.25`) | `timestamp_ms`, the same milliseconds |
//! | [`Metric::created`] | not written | `_created` sample, seconds as an `f64` ([`Duration::as_secs_f64`](std::time::Duration::as_secs_f64), negative before 1970) | `created_timestamp`, to the nanosecond |
//! | [`Exemplar::timestamp`] | not written | seconds as an `f64`, as for `_created` | `timestamp`, to the nanosecond |
//!
//! Protobuf writes times from 1970 to the end of 9999 (a `google.protobuf.Timestamp`
//! could go back to year 1, Prometheus never needs it): it leaves out a created time
//! outside that range, the sample is kept. An exemplar whose timestamp is outside it
//! is not valid ([`Exemplar::validate`]), and no format writes it.

pub(crate) mod exemplar;
mod native;
mod string;
pub(crate) mod time;
mod value;

pub use exemplar::{Exemplar, ExemplarError};
pub use native::{BucketSpan, NativeHistogram};
pub use string::Str;
pub use value::{Bucket, CounterValue, HistogramValue, Quantile, SummaryValue, Value};

use std::fmt;
use std::time::SystemTime;

/// The type of a metric family, as the wire formats name it.
///
/// New types (OpenMetrics' gauge histograms, state sets, info) may be added: match
/// with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// A monotonic total; the family name should end in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets with a sum and a count.
    Histogram,
    /// Quantiles with a sum and a count.
    Summary,
    /// A value of unknown type (`untyped` in text 0.0.4, `unknown` in OpenMetrics).
    Untyped,
}

impl MetricType {
    /// The name text 0.0.4 uses in `# TYPE`.
    pub fn as_text(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_text())
    }
}

/// One label: a name and a value.
///
/// A label is a pair and stays one, so its fields may be written out directly.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// The label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`).
    pub name: Str,
    /// Any UTF-8 text, empty included.
    pub value: Str,
}

impl Label {
    /// A label from anything that converts into [`Str`].
    pub fn new(name: impl Into<Str>, value: impl Into<Str>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// One series (or, for histograms and summaries, one group of series) of a family.
///
/// Built with [`Metric::new`] and the `with_*` methods; the fields stay public.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Metric {
    /// Labels, sorted by name once gathered.
    pub labels: Vec<Label>,
    /// The value.
    pub value: Value,
    /// An explicit sample timestamp (see [Time](self#time) for how each format
    /// writes it). Exporters should leave it `None`: the scraper then uses the
    /// scrape time.
    pub timestamp: Option<SystemTime>,
    /// When the series was created (OpenMetrics `_created`, protobuf
    /// `created_timestamp`); written only when
    /// [`EncodeOptions::created`](crate::encode::EncodeOptions::created) is set.
    /// Gauges and untyped metrics have no place for it.
    pub created: Option<SystemTime>,
}

impl Metric {
    /// A metric with labels and a value, no timestamp and no created time.
    pub fn new(labels: Vec<Label>, value: Value) -> Self {
        Metric {
            labels,
            value,
            timestamp: None,
            created: None,
        }
    }

    /// Sets the explicit sample timestamp.
    pub fn with_timestamp(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the created time.
    pub fn with_created(mut self, created: SystemTime) -> Self {
        self.created = Some(created);
        self
    }
}

/// A metric family: every series that shares a name, help, unit and type.
///
/// Built with [`MetricFamily::new`] and the `with_*` methods; the fields stay public.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MetricFamily {
    /// The family name (`[a-zA-Z_:][a-zA-Z0-9_:]*`). Counters keep their `_total`.
    pub name: Str,
    /// Help text; any UTF-8.
    pub help: Str,
    /// The unit (OpenMetrics `# UNIT`); empty when unknown. Shown only when the
    /// name ends with `_<unit>` (before `_total` for counters).
    pub unit: Str,
    /// The type; every metric's [`Value`] must be of this type.
    pub metric_type: MetricType,
    /// The series.
    pub metrics: Vec<Metric>,
}

impl MetricFamily {
    /// An empty family without a unit.
    pub fn new(name: impl Into<Str>, help: impl Into<Str>, metric_type: MetricType) -> Self {
        MetricFamily {
            name: name.into(),
            help: help.into(),
            unit: Str::default(),
            metric_type,
            metrics: Vec::new(),
        }
    }

    /// Sets the unit.
    pub fn with_unit(mut self, unit: impl Into<Str>) -> Self {
        self.unit = unit.into();
        self
    }

    /// Adds a metric.
    pub fn with_metric(mut self, metric: Metric) -> Self {
        self.metrics.push(metric);
        self
    }

    /// Adds metrics, in order.
    pub fn with_metrics(mut self, metrics: impl IntoIterator<Item = Metric>) -> Self {
        self.metrics.extend(metrics);
        self
    }
}

/// Whether `name` is a legacy metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
///
/// The model accepts any non-empty UTF-8 metric name; normalization escapes the
/// others for scrapers that read only legacy names (see
/// [`normalize_with`](crate::gather::normalize_with)). promhttp's own metrics and
/// the middleware ask for legacy names.
pub fn is_valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Whether `name` is a legacy label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting
/// with `__`. The model accepts any non-empty UTF-8 label name not starting with
/// `__` (see [`is_valid_metric_name`]).
pub fn is_valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    if b.starts_with(b"__") {
        return false;
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn names() {
        assert!(is_valid_metric_name("a:b_c9"));
        assert!(is_valid_metric_name("_x"));
        assert!(!is_valid_metric_name("9a"));
        assert!(!is_valid_metric_name(""));
        assert!(!is_valid_metric_name("a-b"));
        assert!(!is_valid_metric_name("Björn"));
        assert!(is_valid_label_name("_a"));
        assert!(!is_valid_label_name("__name__"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name(""));
    }

    #[test]
    fn builders_set_what_they_name() {
        let t = UNIX_EPOCH + Duration::from_secs(5);
        let m = Metric::new(vec![], Value::Gauge(1.0))
            .with_timestamp(t)
            .with_created(t + Duration::from_secs(1));
        assert_eq!(m.timestamp, Some(t));
        assert_eq!(m.created, Some(t + Duration::from_secs(1)));
        let f = MetricFamily::new("g", "", MetricType::Gauge)
            .with_metrics([m.clone(), m.clone()])
            .with_metric(m)
            .with_unit("bytes");
        assert_eq!((f.metrics.len(), f.unit.as_str()), (3, "bytes"));
    }
}
