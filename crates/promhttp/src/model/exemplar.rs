//! [`Exemplar`]: a sample of what a counter or a histogram bucket observed.

use std::time::SystemTime;

use super::Label;

/// An exemplar: a sample of what was observed, usually with a trace id.
///
/// Only OpenMetrics and protobuf carry exemplars; text 0.0.4 never shows them.
/// OpenMetrics allows at most 128 Unicode code points in the label names and values
/// together: a longer exemplar is dropped by the encoder, the sample is kept.
///
/// ```
/// use std::time::SystemTime;
/// use promhttp::model::{CounterValue, Exemplar, Label};
///
/// let exemplar = Exemplar::new(vec![Label::new("trace_id", "4bf92f35")], 1.0)
///     .with_timestamp(SystemTime::now());
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
}
