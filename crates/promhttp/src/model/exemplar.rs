//! [`Exemplar`]: a sample of what a counter or a histogram bucket observed, and the
//! one rule for which exemplars are written ([`Exemplar::validate`]).

use std::error::Error;
use std::fmt;
use std::time::SystemTime;

use super::time::{to_seconds, MAX_SECONDS};
use super::{is_valid_label_name, Label, Str};

/// An exemplar: a sample of what was observed, usually with a trace id.
///
/// Only OpenMetrics and protobuf carry exemplars; text 0.0.4 never shows them. Both
/// write an exemplar only when [`validate`](Exemplar::validate) accepts it, so the
/// formats never disagree: otherwise the exemplar is dropped (logged at `debug`),
/// and the sample is kept.
///
/// ```
/// use std::time::SystemTime;
/// use promhttp::model::{CounterValue, Exemplar, Label};
///
/// let exemplar = Exemplar::new(vec![Label::new("trace_id", "4bf92f35")], 1.0)
///     .with_timestamp(SystemTime::now());
/// assert!(exemplar.validate().is_ok());
/// let counter = CounterValue::new(17.0).with_exemplar(exemplar);
/// assert!(counter.exemplar.is_some());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Exemplar {
    /// Labels such as `trace_id`.
    pub labels: Vec<Label>,
    /// The observed value.
    pub value: f64,
    /// When it was observed (see [Time](super#time) for how each format writes it).
    pub timestamp: Option<SystemTime>,
}

impl Exemplar {
    /// The most Unicode code points the label names and values of one exemplar may
    /// have together: OpenMetrics' limit, applied to every format.
    pub const MAX_CODE_POINTS: usize = 128;

    /// An exemplar of `value` with `labels`, without a timestamp.
    pub fn new(labels: Vec<Label>, value: f64) -> Self {
        Exemplar {
            labels,
            value,
            timestamp: None,
        }
    }

    /// Sets when the value was observed.
    pub fn with_timestamp(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Checks that every format can carry this exemplar; the encoders write it only
    /// when this is `Ok`.
    ///
    /// An exemplar is valid when its label names are valid label names
    /// ([`is_valid_label_name`]) and distinct, its label names and values have at
    /// most [`MAX_CODE_POINTS`](Self::MAX_CODE_POINTS) code points together, its
    /// value is not NaN (infinities are allowed) and its timestamp, if any, lies
    /// between 1970 and the end of 9999 (what protobuf can hold). No labels at all
    /// is valid.
    ///
    /// ```
    /// use promhttp::model::{Exemplar, ExemplarError, Label};
    ///
    /// let long = Exemplar::new(vec![Label::new("trace_id", "x".repeat(121))], 0.5);
    /// assert_eq!(long.validate(), Err(ExemplarError::TooLong { code_points: 129 }));
    /// ```
    pub fn validate(&self) -> Result<(), ExemplarError> {
        check_labels(&self.labels)?;
        if self.value.is_nan() {
            return Err(ExemplarError::NanValue);
        }
        match self.timestamp {
            Some(t) if !in_range(t) => Err(ExemplarError::TimestampOutOfRange { timestamp: t }),
            _ => Ok(()),
        }
    }
}

/// The label part of [`Exemplar::validate`], for a source that checks labels before
/// it has a value.
pub(crate) fn check_labels(labels: &[Label]) -> Result<(), ExemplarError> {
    for (i, label) in labels.iter().enumerate() {
        if !is_valid_label_name(&label.name) {
            return Err(ExemplarError::InvalidLabelName {
                name: label.name.clone(),
            });
        }
        if labels[..i].iter().any(|prior| prior.name == label.name) {
            return Err(ExemplarError::DuplicateLabelName {
                name: label.name.clone(),
            });
        }
    }
    let bytes: usize = labels.iter().map(|l| l.name.len() + l.value.len()).sum();
    // A code point takes at least one byte: only long texts need counting.
    if bytes > Exemplar::MAX_CODE_POINTS {
        let code_points: usize = labels
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        if code_points > Exemplar::MAX_CODE_POINTS {
            return Err(ExemplarError::TooLong { code_points });
        }
    }
    Ok(())
}

/// Whether `t` is between 1970 and the end of 9999.
fn in_range(t: SystemTime) -> bool {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .is_ok_and(|since| since.as_secs() <= MAX_SECONDS)
}

/// What the encoders ask before writing an exemplar: [`Exemplar::validate`], with
/// the reason for a drop logged.
pub(crate) fn writable(exemplar: &Exemplar) -> bool {
    match exemplar.validate() {
        Ok(()) => true,
        Err(error) => {
            tracing::debug!(%error, "exemplar dropped, its sample is kept");
            false
        }
    }
}

/// Why an [`Exemplar`] cannot be written (see [`Exemplar::validate`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ExemplarError {
    /// A label name is not a valid label name.
    InvalidLabelName {
        /// The offending name.
        name: Str,
    },
    /// Two labels have the same name.
    DuplicateLabelName {
        /// The repeated name.
        name: Str,
    },
    /// The label names and values have more than [`Exemplar::MAX_CODE_POINTS`] code
    /// points together.
    TooLong {
        /// How many they have.
        code_points: usize,
    },
    /// The value is NaN.
    NanValue,
    /// The timestamp is before 1970 or after the end of 9999.
    TimestampOutOfRange {
        /// The offending timestamp.
        timestamp: SystemTime,
    },
}

impl fmt::Display for ExemplarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExemplarError::InvalidLabelName { name } => {
                write!(f, "exemplar label name {name:?} is not a valid label name")
            }
            ExemplarError::DuplicateLabelName { name } => {
                write!(f, "exemplar label name {name:?} appears twice")
            }
            ExemplarError::TooLong { code_points } => write!(
                f,
                "exemplar labels have {code_points} code points, more than {}",
                Exemplar::MAX_CODE_POINTS
            ),
            ExemplarError::NanValue => f.write_str("exemplar value is NaN"),
            ExemplarError::TimestampOutOfRange { timestamp } => write!(
                f,
                "exemplar timestamp {}s since the epoch is outside 1970 to 9999",
                to_seconds(*timestamp)
            ),
        }
    }
}

impl Error for ExemplarError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn labels(pairs: &[(&'static str, &str)]) -> Vec<Label> {
        pairs
            .iter()
            .map(|(n, v)| Label::new(*n, v.to_string()))
            .collect()
    }

    #[test]
    fn valid_exemplars() {
        for e in [
            Exemplar::new(vec![], 1.0),
            Exemplar::new(labels(&[("trace_id", "abc"), ("span_id", "d")]), -0.0),
            Exemplar::new(labels(&[("_", "")]), f64::INFINITY),
            // 128 code points, four bytes each.
            Exemplar::new(labels(&[("ab", &"😀".repeat(126))]), 1.0),
            Exemplar::new(vec![], 1.0).with_timestamp(UNIX_EPOCH),
            Exemplar::new(vec![], 1.0)
                .with_timestamp(UNIX_EPOCH + Duration::new(MAX_SECONDS, 999_999_999)),
        ] {
            assert_eq!(e.validate(), Ok(()), "{e:?}");
        }
    }

    #[test]
    fn each_rule_has_its_error() {
        let cases = [
            (
                Exemplar::new(labels(&[("a-b", "x")]), 1.0),
                ExemplarError::InvalidLabelName { name: "a-b".into() },
            ),
            (
                Exemplar::new(labels(&[("__trace", "x")]), 1.0),
                ExemplarError::InvalidLabelName {
                    name: "__trace".into(),
                },
            ),
            (
                Exemplar::new(labels(&[("a", "x"), ("b", "y"), ("a", "z")]), 1.0),
                ExemplarError::DuplicateLabelName { name: "a".into() },
            ),
            (
                Exemplar::new(labels(&[("abc", &"佖".repeat(126))]), 1.0),
                ExemplarError::TooLong { code_points: 129 },
            ),
            (
                Exemplar::new(
                    labels(&[("a", &"x".repeat(64)), ("b", &"y".repeat(63))]),
                    1.0,
                ),
                ExemplarError::TooLong { code_points: 129 },
            ),
            (Exemplar::new(vec![], f64::NAN), ExemplarError::NanValue),
            (
                Exemplar::new(vec![], 1.0).with_timestamp(UNIX_EPOCH - Duration::from_nanos(1)),
                ExemplarError::TimestampOutOfRange {
                    timestamp: UNIX_EPOCH - Duration::from_nanos(1),
                },
            ),
            (
                Exemplar::new(vec![], 1.0)
                    .with_timestamp(UNIX_EPOCH + Duration::from_secs(MAX_SECONDS + 1)),
                ExemplarError::TimestampOutOfRange {
                    timestamp: UNIX_EPOCH + Duration::from_secs(MAX_SECONDS + 1),
                },
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.validate(), Err(want), "{e:?}");
        }
    }

    #[test]
    fn messages_name_the_value() {
        let e = Exemplar::new(labels(&[("a b", "x")]), 1.0);
        assert_eq!(
            e.validate().unwrap_err().to_string(),
            "exemplar label name \"a b\" is not a valid label name"
        );
        let e = Exemplar::new(vec![], 1.0).with_timestamp(UNIX_EPOCH - Duration::from_secs(2));
        assert_eq!(
            e.validate().unwrap_err().to_string(),
            "exemplar timestamp -2s since the epoch is outside 1970 to 9999"
        );
        assert_eq!(
            ExemplarError::TooLong { code_points: 130 }.to_string(),
            "exemplar labels have 130 code points, more than 128"
        );
    }
}
