//! [`ConfigError`], and the checks the server and client builders share.

use std::fmt;
use std::sync::Arc;

use http::StatusCode;

use super::labels::STANDARD_METHODS;
use super::store::MAX_REQUEST_LABELS;
use crate::model::{is_valid_label_name, is_valid_metric_name};

/// A configuration that cannot work, found by
/// [`HttpMetricsBuilder::build`](super::HttpMetricsBuilder::build) or
/// [`ClientMetricsBuilder::build`](super::client::ClientMetricsBuilder::build).
///
/// Each variant names the setter at fault (`option`) or the offending value.
///
/// ```
/// use promhttp::instrument::{ConfigError, HttpLabel, HttpMetrics};
///
/// let err = HttpMetrics::builder()
///     .label_name(HttpLabel::Route, "handler-name")
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ConfigError::InvalidLabelName { ref name, .. } if name == "handler-name"));
/// assert_eq!(
///     err.to_string(),
///     "label_name: \"handler-name\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A metric name is not a Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    InvalidMetricName {
        /// The setter that named it (`requests_total`, `prefix`, …).
        option: &'static str,
        /// The name.
        name: String,
    },
    /// A counter's name does not end in `_total`.
    CounterWithoutTotal {
        /// The setter that named it.
        option: &'static str,
        /// The name.
        name: String,
    },
    /// Two metrics have the same name, or one's samples would carry the other's
    /// name (`d` and `d_count`, `r` and `r_total`).
    MetricNameClash {
        /// The later of the two names.
        name: String,
        /// The name it clashes with.
        other: String,
    },
    /// A label name is not a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not
    /// starting with `__`).
    InvalidLabelName {
        /// The setter that named it (`label_name`, `const_label`, …).
        option: &'static str,
        /// The name.
        name: String,
    },
    /// `le` on a histogram, where it holds the bucket bound.
    ReservedLabelName {
        /// The name.
        name: String,
    },
    /// Two labels of one metric have the same name (a constant label named like the
    /// `method` label, two request labels alike, …).
    DuplicateLabel {
        /// The name.
        name: String,
    },
    /// A histogram's bucket bounds: none, or not finite and strictly increasing.
    InvalidBuckets {
        /// The histogram.
        metric: String,
        /// The bounds as given (a final `+Inf` removed).
        bounds: Vec<f64>,
    },
    /// Every request metric is disabled: nothing would be recorded.
    NoMetric,
    /// More request labels than [`MAX_REQUEST_LABELS`].
    TooManyRequestLabels {
        /// How many were given.
        count: usize,
    },
    /// A label limited to zero distinct values (`max_routes(0)`, a request label
    /// with `max_values` 0): every value would overflow.
    ZeroLimit {
        /// The label.
        label: String,
    },
    /// The `route` value of unmatched requests is also the overflow value: the two
    /// could not be told apart.
    AmbiguousRouteValue {
        /// The value both have.
        value: String,
    },
    /// The overflow value is empty while there are request labels, whose requests
    /// without a value have the empty value.
    EmptyOverflowValue,
    /// An extra method is not an HTTP method token.
    InvalidMethod {
        /// The method as given.
        method: String,
    },
    /// The extra method `unknown` would be confused with the value of unknown
    /// methods.
    ReservedMethod {
        /// The method as given.
        method: String,
    },
    /// More extra methods than the 1000 allowed.
    TooManyExtraMethods {
        /// How many distinct ones were given.
        count: usize,
    },
    /// The error code is outside 100–599, the range the `code` label keeps.
    ErrorCodeOutOfRange {
        /// The code.
        code: StatusCode,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidMetricName { option, name } => write!(
                f,
                "{option}: {name:?} is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
            ),
            ConfigError::CounterWithoutTotal { option, name } => {
                write!(f, "{option}: counter name {name:?} does not end in _total")
            }
            ConfigError::MetricNameClash { name, other } => {
                write!(f, "metric name {name:?} clashes with metric {other:?}")
            }
            ConfigError::InvalidLabelName { option, name } => write!(
                f,
                "{option}: {name:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
            ),
            ConfigError::ReservedLabelName { name } => {
                write!(f, "label name {name:?} is reserved for histogram buckets")
            }
            ConfigError::DuplicateLabel { name } => {
                write!(f, "label {name:?} is defined twice on one metric")
            }
            ConfigError::InvalidBuckets { metric, bounds } if bounds.is_empty() => {
                write!(f, "histogram {metric:?}: no bucket bounds")
            }
            ConfigError::InvalidBuckets { metric, bounds } => write!(
                f,
                "histogram {metric:?}: bucket bounds must be finite and strictly increasing, got {bounds:?}"
            ),
            ConfigError::NoMetric => f.write_str("no metric: every request metric is disabled"),
            ConfigError::TooManyRequestLabels { count } => write!(
                f,
                "label_from_request: {count} request labels, at most {MAX_REQUEST_LABELS}"
            ),
            ConfigError::ZeroLimit { label } => {
                write!(f, "label {label:?}: the limit of distinct values must be at least 1")
            }
            ConfigError::AmbiguousRouteValue { value } => write!(
                f,
                "unmatched_route and overflow_value are both {value:?}: they must differ"
            ),
            ConfigError::EmptyOverflowValue => f.write_str(
                "overflow_value: must not be empty, the empty value is that of requests without one",
            ),
            ConfigError::InvalidMethod { method } => {
                write!(f, "extra_methods: {method:?} is not a method token")
            }
            ConfigError::ReservedMethod { method } => write!(
                f,
                "extra_methods: {method:?} would be confused with the value of unknown methods"
            ),
            ConfigError::TooManyExtraMethods { count } => {
                write!(f, "extra_methods: {count} methods, at most 1000")
            }
            ConfigError::ErrorCodeOutOfRange { code } => {
                write!(f, "error_code: {} is not within 100-599", code.as_u16())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Checks a histogram's bucket bounds: finite, increasing, at least one (a final
/// `+Inf` is implied and dropped).
pub(crate) fn check_buckets(metric: &str, mut bounds: Vec<f64>) -> Result<Arc<[f64]>, ConfigError> {
    if bounds.last() == Some(&f64::INFINITY) {
        bounds.pop();
    }
    if bounds.is_empty()
        || bounds.iter().any(|b| !b.is_finite())
        || bounds.windows(2).any(|w| w[0] >= w[1])
    {
        return Err(ConfigError::InvalidBuckets {
            metric: metric.to_owned(),
            bounds,
        });
    }
    Ok(bounds.into())
}

/// Checks a label name given to `option`.
pub(crate) fn check_label_name(option: &'static str, name: &str) -> Result<(), ConfigError> {
    if is_valid_label_name(name) {
        Ok(())
    } else {
        Err(ConfigError::InvalidLabelName {
            option,
            name: name.to_owned(),
        })
    }
}

/// The metric names of one set of metrics, checked as they are added: valid, and
/// no two alike or sharing a sample name.
#[derive(Default)]
pub(crate) struct MetricNames(Vec<String>);

impl MetricNames {
    /// Checks `name`, given to `option`, and keeps it.
    pub(crate) fn add(
        &mut self,
        option: &'static str,
        name: &str,
    ) -> Result<Arc<str>, ConfigError> {
        if !is_valid_metric_name(name) {
            return Err(ConfigError::InvalidMetricName {
                option,
                name: name.to_owned(),
            });
        }
        // Histogram samples are `_bucket`, `_sum`, `_count`: compare bases too.
        const SUFFIXES: [&str; 5] = ["_bucket", "_sum", "_count", "_created", "_total"];
        let clash = |a: &str, b: &str| {
            a.strip_prefix(b)
                .is_some_and(|rest| SUFFIXES.contains(&rest))
        };
        if let Some(other) = self
            .0
            .iter()
            .find(|m| **m == name || clash(m, name) || clash(name, m))
        {
            return Err(ConfigError::MetricNameClash {
                name: name.to_owned(),
                other: other.clone(),
            });
        }
        self.0.push(name.to_owned());
        Ok(Arc::from(name))
    }

    /// Checks a counter's name: as [`add`](Self::add), ending in `_total`.
    pub(crate) fn add_counter(
        &mut self,
        option: &'static str,
        name: &str,
    ) -> Result<Arc<str>, ConfigError> {
        if is_valid_metric_name(name) && !name.ends_with("_total") {
            return Err(ConfigError::CounterWithoutTotal {
                option,
                name: name.to_owned(),
            });
        }
        self.add(option, name)
    }
}

/// The extra methods, lower-cased and without duplicates or standard methods.
pub(crate) fn check_extra_methods(methods: &[String]) -> Result<Vec<Arc<str>>, ConfigError> {
    let mut extra: Vec<Arc<str>> = Vec::new();
    for m in methods {
        if m.is_empty() || http::Method::from_bytes(m.as_bytes()).is_err() {
            return Err(ConfigError::InvalidMethod { method: m.clone() });
        }
        let lower = m.to_ascii_lowercase();
        if lower == "unknown" {
            return Err(ConfigError::ReservedMethod { method: m.clone() });
        }
        if STANDARD_METHODS.contains(&lower.as_str()) || extra.iter().any(|e| **e == *lower) {
            continue;
        }
        extra.push(Arc::from(lower));
    }
    if extra.len() > 1000 {
        return Err(ConfigError::TooManyExtraMethods { count: extra.len() });
    }
    Ok(extra)
}
