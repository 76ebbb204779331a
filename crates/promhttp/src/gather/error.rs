//! [`GatherError`]: a problem met while gathering, with a [`GatherErrorKind`] to match on.

use std::fmt;

use crate::encode::Escaping;
use crate::model::MetricType;

/// A problem met while gathering: what is wrong ([`kind`](Self::kind)) and the
/// family it concerns ([`family`](Self::family)), where there is one.
///
/// Its text is what the handler shows a scraper when gathering fails, e.g.
/// `metric family "x": invalid label name "__x"`. Match on the kind, not the text:
///
/// ```
/// use promhttp::gather::{gather_all, from_fn, GatherErrorKind};
/// use promhttp::model::{Label, Metric, MetricFamily, MetricType, Value};
///
/// let source = from_fn(|out| {
///     out.families.push(
///         MetricFamily::new("jobs", "Jobs.", MetricType::Gauge)
///             .with_metric(Metric::new(vec![Label::new("__x", "1")], Value::Gauge(1.0))),
///     )
/// });
/// let page = gather_all(&source);
/// let error = &page.errors[0];
/// assert_eq!(error.family(), Some("jobs"));
/// assert!(matches!(
///     error.kind(),
///     GatherErrorKind::InvalidLabelName { label } if label == "__x"
/// ));
/// assert_eq!(error.to_string(), r#"metric family "jobs": invalid label name "__x""#);
/// ```
///
/// A source of one's own reports its failures with [`GatherError::new`]:
///
/// ```
/// use promhttp::gather::{from_fn, GatherError, GatherErrorKind};
///
/// let source = from_fn(|out| {
///     out.errors.push(
///         GatherError::new(GatherErrorKind::SourceFailed {
///             message: "the queue database is unreachable".into(),
///         })
///         .with_family("queue_length"),
///     )
/// });
/// # let _ = source;
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GatherError {
    family: Option<String>,
    kind: GatherErrorKind,
}

impl GatherError {
    /// An error of `kind`, concerning no family in particular (see
    /// [`with_family`](Self::with_family)).
    pub fn new(kind: GatherErrorKind) -> Self {
        GatherError { family: None, kind }
    }

    /// The same error, concerning the family named `family`.
    pub fn with_family(mut self, family: impl Into<String>) -> Self {
        self.family = Some(family.into());
        self
    }

    pub(crate) fn in_family(family: &str, kind: GatherErrorKind) -> Self {
        GatherError::new(kind).with_family(family)
    }

    /// The name of the family concerned, if the error concerns one.
    pub fn family(&self) -> Option<&str> {
        self.family.as_deref()
    }

    /// What is wrong.
    pub fn kind(&self) -> &GatherErrorKind {
        &self.kind
    }
}

impl fmt::Display for GatherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.family {
            Some(name) => write!(f, "metric family {name:?}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for GatherError {}

/// What is wrong, in a [`GatherError`].
///
/// The checks of [`normalize`](super::normalize) (names, labels, value shapes,
/// merging, name clashes), the sources' own (the `prometheus` adapter, the
/// bridges) and a caught panic each have their variant; what was left out is
/// said in the text. More kinds may come: match with a `_` arm.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GatherErrorKind {
    /// The family's name is empty (any other UTF-8 string is a valid name; see
    /// [`normalize`](super::normalize) for how names outside the legacy set are
    /// served); the family is left out.
    InvalidMetricName,
    /// A metric has a label name that is empty or starts with `__` (reserved); the
    /// metric is left out.
    InvalidLabelName {
        /// The label name.
        label: String,
    },
    /// Two families whose names differ are written under the same name once
    /// escaped for the scraper (`a.b` and `a_b` under `underscores`); the second
    /// (the one whose name changed, or the later in name order) is left out.
    NameEscapingCollision {
        /// The name both are written as.
        escaped: String,
        /// The family that is kept.
        kept: String,
        /// The family that is left out.
        dropped: String,
        /// The scheme in use.
        escaping: Escaping,
    },
    /// Two label names of one metric are the same once escaped for the scraper;
    /// the metric is left out.
    LabelNameEscapingCollision {
        /// The name both are written as.
        escaped: String,
        /// One of the two label names.
        first: String,
        /// The other.
        second: String,
        /// The scheme in use.
        escaping: Escaping,
    },
    /// A metric has a label its family's type reserves (`le` in a histogram,
    /// `quantile` in a summary); the metric is left out.
    ReservedLabelName {
        /// The label name.
        label: String,
        /// The family's type.
        family_type: MetricType,
    },
    /// A metric has two or more labels with the same name; the metric is left out.
    DuplicateLabelName {
        /// The label name.
        label: String,
    },
    /// A metric's value is not of its family's type; the metric is left out.
    ValueTypeMismatch {
        /// The family's type.
        family_type: MetricType,
        /// The value's type.
        value_type: MetricType,
    },
    /// A metric from a `prometheus` registry has no value of its family's type;
    /// the metric is left out.
    MissingValue {
        /// The family's type.
        family_type: MetricType,
    },
    /// A family from a `prometheus` registry has a type this crate does not know;
    /// the family is left out.
    UnknownMetricType {
        /// The protobuf type number.
        code: i32,
    },
    /// A counter's value is negative or NaN; the metric is left out.
    InvalidCounterValue {
        /// The value.
        value: f64,
    },
    /// A histogram's bucket bounds do not increase (or one is NaN); the metric is
    /// left out.
    BucketBoundsNotIncreasing {
        /// The bound that is not above the one before.
        bound: f64,
        /// The bound before it (`-Inf` for the first).
        previous: f64,
    },
    /// A histogram's cumulative bucket counts decrease; the metric is left out.
    BucketCountsDecreasing {
        /// The upper bound of the bucket whose count is lower.
        bound: f64,
        /// Its count.
        count: u64,
        /// The count of the bucket before it.
        previous: u64,
    },
    /// A histogram's count is below its largest bucket count; the metric is left out.
    HistogramCountBelowBuckets {
        /// The histogram's count.
        count: u64,
        /// The largest bucket count.
        bucket_count: u64,
    },
    /// A histogram's `+Inf` bucket differs from its count; the metric is left out.
    InfBucketMismatch {
        /// The `+Inf` bucket's count.
        inf_bucket: u64,
        /// The histogram's count.
        count: u64,
    },
    /// A summary has a quantile outside `[0, 1]`; the metric is left out.
    QuantileOutOfRange {
        /// The quantile.
        quantile: f64,
    },
    /// The family was collected twice with different types; the metrics of the
    /// second are left out.
    TypeMismatch {
        /// The type it was first collected with (the one served).
        first: MetricType,
        /// The other type.
        second: MetricType,
        /// How many metrics were left out.
        dropped: usize,
    },
    /// The family was collected twice with different help texts; the metrics of
    /// the second are left out.
    HelpMismatch {
        /// The help it was first collected with (the one served).
        first: String,
        /// The other help.
        second: String,
    },
    /// Series with the same labels were collected more than once; the first of
    /// each is kept, the repeats are left out.
    DuplicateSeries {
        /// How many repeats were left out.
        repeats: usize,
    },
    /// The family's name is one of the sample names another family generates
    /// (`x_bucket`, `x_count`, `x_sum`, `x_created` of a histogram `x`, ...);
    /// this family is left out.
    NameClash {
        /// The other family.
        other: String,
        /// Its type.
        other_type: MetricType,
    },
    /// The family's name is the OpenMetrics name of a counter (`x` for the
    /// counter `x_total`); this family is left out.
    OpenMetricsNameClash {
        /// The counter.
        counter: String,
    },
    /// A source (or a collector inside one) panicked; what it had not yet
    /// added is missing.
    SourcePanicked {
        /// Which source: `source #1` of a [`Gatherers`](super::Gatherers), `a
        /// collector of a prometheus::Registry`, ...
        origin: String,
        /// The panic's message.
        message: String,
    },
    /// What a bridge reads (prometheus-client's protobuf messages) has something
    /// the model cannot hold, such as a histogram with float counts; that metric
    /// is left out.
    Malformed {
        /// What wrote it, e.g. `prometheus-client`.
        origin: String,
        /// What could not be read.
        detail: String,
    },
    /// A source reported a failure of its own (the bridge's encoder failed, a
    /// database was unreachable, ...).
    SourceFailed {
        /// What failed.
        message: String,
    },
}

impl fmt::Display for GatherErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use GatherErrorKind::*;
        match self {
            InvalidMetricName => f.write_str("invalid metric name"),
            InvalidLabelName { label } => write!(f, "invalid label name {label:?}"),
            NameEscapingCollision {
                escaped,
                kept,
                dropped,
                escaping,
            } => write!(
                f,
                "metric names {kept:?} and {dropped:?} are both {escaped:?} with escaping={}: {dropped:?} left out",
                escaping.as_str()
            ),
            LabelNameEscapingCollision {
                escaped,
                first,
                second,
                escaping,
            } => write!(
                f,
                "label names {first:?} and {second:?} of one metric are both {escaped:?} with escaping={}",
                escaping.as_str()
            ),
            ReservedLabelName { label, family_type } => {
                write!(f, "label {label:?} is reserved for {family_type}s")
            }
            DuplicateLabelName { label } => {
                write!(f, "a metric has two or more labels named {label:?}")
            }
            ValueTypeMismatch {
                family_type,
                value_type,
            } => write!(f, "a metric has a {value_type} value in a {family_type} family"),
            MissingValue { family_type } => write!(f, "a metric has no {family_type} value"),
            UnknownMetricType { code } => write!(f, "unknown metric type {code}"),
            InvalidCounterValue { value } => write!(
                f,
                "a counter has the value {value}: counters are never negative or NaN"
            ),
            BucketBoundsNotIncreasing { bound, previous } => write!(
                f,
                "histogram bucket bounds must increase: {bound} after {previous}"
            ),
            BucketCountsDecreasing {
                bound,
                count,
                previous,
            } => write!(
                f,
                "histogram bucket counts must not decrease: {count} (le={bound}) after {previous}"
            ),
            HistogramCountBelowBuckets {
                count,
                bucket_count,
            } => write!(
                f,
                "histogram count {count} is below its largest bucket count {bucket_count}"
            ),
            InfBucketMismatch { inf_bucket, count } => write!(
                f,
                "histogram +Inf bucket {inf_bucket} differs from its count {count}"
            ),
            QuantileOutOfRange { quantile } => {
                write!(f, "summary quantile {quantile} is not within [0, 1]")
            }
            TypeMismatch {
                first,
                second,
                dropped,
            } => write!(
                f,
                "collected as {first} and as {second}: the {second} one's {dropped} metrics are left out"
            ),
            HelpMismatch { first, second } => write!(
                f,
                "collected with help {first:?} and with help {second:?}: the second one's metrics are left out"
            ),
            DuplicateSeries { repeats } => write!(
                f,
                "{repeats} series were collected more than once with the same labels; the repeats are left out"
            ),
            NameClash { other, other_type } => write!(
                f,
                "clashes with the samples of {other_type} {other:?}: it is left out"
            ),
            OpenMetricsNameClash { counter } => {
                let base = counter.strip_suffix("_total").unwrap_or(counter);
                write!(
                    f,
                    "clashes with counter {counter:?}, which OpenMetrics names {base:?}: it is left out"
                )
            }
            SourcePanicked { origin, message } => write!(f, "{origin} panicked: {message}"),
            Malformed { origin, detail } => write!(f, "malformed {origin} output: {detail}"),
            SourceFailed { message } => f.write_str(message),
        }
    }
}
