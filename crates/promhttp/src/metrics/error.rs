//! What can go wrong when a metric is made, looked up or registered.

use std::fmt;

/// An error making, labelling or registering a metric.
///
/// Each variant names the metric (or label) at fault; match with a `_` arm, as
/// variants may be added.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MetricError {
    /// The metric name is not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidName {
        /// The full name (namespace and subsystem joined).
        name: String,
    },
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`, or is reserved
    /// for the metric type (`le` for histograms, `quantile`).
    InvalidLabelName {
        /// The metric.
        metric: String,
        /// The label name.
        label: String,
    },
    /// A label name is given twice (as variable or constant labels).
    DuplicateLabelName {
        /// The metric.
        metric: String,
        /// The label name.
        label: String,
    },
    /// A lookup gave a different number of label values than the family has labels.
    LabelCount {
        /// The metric.
        metric: String,
        /// How many labels the family has.
        expected: usize,
        /// How many values were given.
        got: usize,
    },
    /// A lookup by name gave a label the family does not have (or left one out).
    UnknownLabel {
        /// The metric.
        metric: String,
        /// The label name given.
        label: String,
    },
    /// A label value is longer than 4 GiB.
    LabelValueTooLong {
        /// The metric.
        metric: String,
    },
    /// The family holds as many series as its [limit](crate::metrics::Opts::max_series)
    /// allows; `get_metric_with_label_values` reports it, `with_label_values` records
    /// into the family's overflow series instead.
    SeriesLimit {
        /// The metric.
        metric: String,
        /// The limit.
        limit: usize,
    },
    /// A metric of this name is already registered in the registry.
    AlreadyRegistered {
        /// The name.
        name: String,
    },
    /// [`Registry::unregister`](crate::metrics::Registry::unregister) was given a
    /// metric that is not registered.
    NotRegistered {
        /// The name.
        name: String,
    },
    /// `remove_label_values` was given a label set the family has no series for.
    NoSuchSeries {
        /// The metric.
        metric: String,
    },
    /// A series taken from a `*Vec` family was given to
    /// [`Registry::register`](crate::metrics::Registry::register): register the
    /// family instead.
    NotAFamily,
    /// A histogram setting is invalid.
    Histogram(super::HistogramConfigError),
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricError::InvalidName { name } => write!(f, "invalid metric name {name:?}"),
            MetricError::InvalidLabelName { metric, label } => {
                write!(f, "metric {metric}: invalid label name {label:?}")
            }
            MetricError::DuplicateLabelName { metric, label } => {
                write!(f, "metric {metric}: label {label:?} given twice")
            }
            MetricError::LabelCount {
                metric,
                expected,
                got,
            } => write!(
                f,
                "metric {metric}: {got} label values given, the family has {expected} labels"
            ),
            MetricError::UnknownLabel { metric, label } => {
                write!(
                    f,
                    "metric {metric}: label {label:?} is not one of the family's labels"
                )
            }
            MetricError::LabelValueTooLong { metric } => {
                write!(f, "metric {metric}: a label value is longer than 4 GiB")
            }
            MetricError::SeriesLimit { metric, limit } => {
                write!(
                    f,
                    "metric {metric}: the family already holds its limit of {limit} series"
                )
            }
            MetricError::AlreadyRegistered { name } => {
                write!(f, "a metric named {name} is already registered")
            }
            MetricError::NotRegistered { name } => {
                write!(f, "no metric named {name} is registered")
            }
            MetricError::NoSuchSeries { metric } => {
                write!(f, "metric {metric}: no series has these label values")
            }
            MetricError::Histogram(e) => write!(f, "histogram: {e}"),
            MetricError::NotAFamily => f.write_str(
                "a series taken from a family cannot be registered alone; register the family",
            ),
        }
    }
}

impl std::error::Error for MetricError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MetricError::Histogram(e) => Some(e),
            _ => None,
        }
    }
}

impl From<super::HistogramConfigError> for MetricError {
    fn from(e: super::HistogramConfigError) -> Self {
        MetricError::Histogram(e)
    }
}
