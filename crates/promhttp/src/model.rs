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
//! ```
//! use promhttp::model::{Label, Metric, MetricFamily, MetricType, Value};
//!
//! let family = MetricFamily::new("jobs_done_total", "Jobs finished.", MetricType::Counter)
//!     .with_metric(Metric::new(vec![Label::new("queue", "mail")], Value::counter(7.0)));
//! assert_eq!(family.metrics.len(), 1);
//! ```

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// An immutable string that is owned, shared or static, so sources never copy.
#[derive(Clone)]
pub enum Str {
    /// A string moved in from its owner.
    Owned(String),
    /// A string shared with the source that keeps it.
    Shared(Arc<str>),
    /// A string known at compile time.
    Static(&'static str),
}

impl Str {
    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match self {
            Str::Owned(s) => s,
            Str::Shared(s) => s,
            Str::Static(s) => s,
        }
    }
}

impl Default for Str {
    fn default() -> Self {
        Str::Static("")
    }
}

impl Deref for Str {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Str {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str::Owned(s)
    }
}
impl From<&'static str> for Str {
    fn from(s: &'static str) -> Self {
        Str::Static(s)
    }
}
impl From<Arc<str>> for Str {
    fn from(s: Arc<str>) -> Self {
        Str::Shared(s)
    }
}

/// The type of a metric family, as the wire formats name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// An exemplar: a sample of what was observed, usually with a trace id.
///
/// Only OpenMetrics and protobuf carry exemplars; text 0.0.4 never shows them.
/// OpenMetrics allows at most 128 Unicode code points in the label names and values
/// together: a longer exemplar is dropped by the encoder, the sample is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// Labels such as `trace_id`.
    pub labels: Vec<Label>,
    /// The observed value.
    pub value: f64,
    /// When it was observed, in seconds since the Unix epoch.
    pub timestamp: Option<f64>,
}

/// A counter's state.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CounterValue {
    /// The total; never negative, never NaN.
    pub value: f64,
    /// The most recent exemplar, if any.
    pub exemplar: Option<Box<Exemplar>>,
}

/// One histogram bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    /// The inclusive upper bound (`le`).
    pub upper_bound: f64,
    /// Observations less than or equal to `upper_bound`.
    pub cumulative_count: u64,
    /// An exemplar that fell into this bucket.
    pub exemplar: Option<Box<Exemplar>>,
}

/// A histogram's state. The text encoders add the `+Inf` bucket when it is missing;
/// protobuf leaves it implicit, as the scraper derives it from `count`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct HistogramValue {
    /// Buckets in increasing `upper_bound` order, cumulative.
    pub buckets: Vec<Bucket>,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
}

/// One summary quantile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantile {
    /// The quantile, in `[0, 1]`.
    pub quantile: f64,
    /// Its value (`NaN` when nothing was observed).
    pub value: f64,
}

/// A summary's state.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SummaryValue {
    /// Quantiles in increasing order.
    pub quantiles: Vec<Quantile>,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
}

/// The value of one metric; its variant must match the family's [`MetricType`].
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// See [`MetricType::Counter`].
    Counter(CounterValue),
    /// See [`MetricType::Gauge`].
    Gauge(f64),
    /// See [`MetricType::Histogram`].
    Histogram(HistogramValue),
    /// See [`MetricType::Summary`].
    Summary(SummaryValue),
    /// See [`MetricType::Untyped`].
    Untyped(f64),
}

impl Value {
    /// A counter value without an exemplar.
    pub fn counter(value: f64) -> Self {
        Value::Counter(CounterValue {
            value,
            exemplar: None,
        })
    }

    /// The metric type this value belongs to.
    pub fn metric_type(&self) -> MetricType {
        match self {
            Value::Counter(_) => MetricType::Counter,
            Value::Gauge(_) => MetricType::Gauge,
            Value::Histogram(_) => MetricType::Histogram,
            Value::Summary(_) => MetricType::Summary,
            Value::Untyped(_) => MetricType::Untyped,
        }
    }
}

/// One series (or, for histograms and summaries, one group of series) of a family.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Labels, sorted by name once gathered.
    pub labels: Vec<Label>,
    /// The value.
    pub value: Value,
    /// An explicit timestamp in milliseconds since the Unix epoch. Exporters should
    /// leave it `None`; the scraper then uses the scrape time.
    pub timestamp_ms: Option<i64>,
    /// When the series was created, in seconds since the Unix epoch (OpenMetrics `_created`).
    pub created: Option<f64>,
}

impl Metric {
    /// A metric with labels and a value, no timestamp and no created time.
    pub fn new(labels: Vec<Label>, value: Value) -> Self {
        Metric {
            labels,
            value,
            timestamp_ms: None,
            created: None,
        }
    }
}

/// A metric family: every series that shares a name, help, unit and type.
#[derive(Clone, Debug, PartialEq)]
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
    /// An empty family.
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
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
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

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
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
    fn str_variants_compare_by_text() {
        let a = Str::from(String::from("x"));
        let b = Str::from(Arc::<str>::from("x"));
        let c = Str::from("x");
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.cmp(&Str::from("y")), Ordering::Less);
    }
}
