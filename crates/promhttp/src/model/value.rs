//! The value of one metric: a number, or the state of a counter, histogram or summary.

use super::{Exemplar, MetricType, NativeHistogram};

/// The value of one metric; its variant must match the family's [`MetricType`].
///
/// New kinds of value (native histograms) may be added: match with a `_` arm.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
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
        Value::Counter(CounterValue::new(value))
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

impl From<CounterValue> for Value {
    fn from(counter: CounterValue) -> Self {
        Value::Counter(counter)
    }
}

impl From<HistogramValue> for Value {
    fn from(histogram: HistogramValue) -> Self {
        Value::Histogram(histogram)
    }
}

impl From<SummaryValue> for Value {
    fn from(summary: SummaryValue) -> Self {
        Value::Summary(summary)
    }
}

/// A counter's state.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct CounterValue {
    /// The total; never negative, never NaN.
    pub value: f64,
    /// The most recent exemplar, if any.
    pub exemplar: Option<Box<Exemplar>>,
}

impl CounterValue {
    /// A counter at `value`, without an exemplar.
    pub fn new(value: f64) -> Self {
        CounterValue {
            value,
            exemplar: None,
        }
    }

    /// Sets the exemplar.
    pub fn with_exemplar(mut self, exemplar: Exemplar) -> Self {
        self.exemplar = Some(Box::new(exemplar));
        self
    }
}

/// One histogram bucket.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Bucket {
    /// The inclusive upper bound (`le`).
    pub upper_bound: f64,
    /// Observations less than or equal to `upper_bound`.
    pub cumulative_count: u64,
    /// An exemplar that fell into this bucket.
    pub exemplar: Option<Box<Exemplar>>,
}

impl Bucket {
    /// A bucket with its inclusive upper bound and cumulative count, without an exemplar.
    pub fn new(upper_bound: f64, cumulative_count: u64) -> Self {
        Bucket {
            upper_bound,
            cumulative_count,
            exemplar: None,
        }
    }

    /// Sets the exemplar.
    pub fn with_exemplar(mut self, exemplar: Exemplar) -> Self {
        self.exemplar = Some(Box::new(exemplar));
        self
    }
}

/// A histogram's state: classic buckets, native buckets, or both.
///
/// The text encoders add the `+Inf` bucket when it is missing; protobuf leaves it
/// implicit, as the scraper derives it from `count`. A histogram with
/// [`native`](Self::native) buckets is a native histogram where the format has them
/// (protobuf, remote write); the text formats have no place for native buckets and
/// show only the classic ones, so a native-only histogram appears there as its
/// `+Inf` bucket, `_sum` and `_count` (as Go's client writes it).
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct HistogramValue {
    /// Buckets in increasing `upper_bound` order, cumulative.
    pub buckets: Vec<Bucket>,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// The exponential buckets, for a native histogram.
    pub native: Option<Box<NativeHistogram>>,
}

impl HistogramValue {
    /// A histogram from its buckets (increasing bounds, cumulative counts), its
    /// number of observations and their sum.
    pub fn new(buckets: Vec<Bucket>, count: u64, sum: f64) -> Self {
        HistogramValue {
            buckets,
            count,
            sum,
            native: None,
        }
    }

    /// Sets the native buckets.
    pub fn with_native(mut self, native: NativeHistogram) -> Self {
        self.native = Some(Box::new(native));
        self
    }
}

/// One summary quantile.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Quantile {
    /// The quantile, in `[0, 1]`.
    pub quantile: f64,
    /// Its value (`NaN` when nothing was observed).
    pub value: f64,
}

impl Quantile {
    /// The value at `quantile` (in `[0, 1]`).
    pub fn new(quantile: f64, value: f64) -> Self {
        Quantile { quantile, value }
    }
}

/// A summary's state.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct SummaryValue {
    /// Quantiles in increasing order.
    pub quantiles: Vec<Quantile>,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
}

impl SummaryValue {
    /// A summary from its quantiles (increasing), its number of observations and their sum.
    pub fn new(quantiles: Vec<Quantile>, count: u64, sum: f64) -> Self {
        SummaryValue {
            quantiles,
            count,
            sum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Label;

    #[test]
    fn constructors_and_conversions() {
        let e = Exemplar::new(vec![Label::new("trace_id", "a")], 1.0);
        let c = CounterValue::new(2.0).with_exemplar(e.clone());
        assert_eq!(c.exemplar.as_deref(), Some(&e));
        assert_eq!(Value::from(c).metric_type(), MetricType::Counter);
        let b = Bucket::new(0.5, 3).with_exemplar(e);
        assert_eq!((b.upper_bound, b.cumulative_count), (0.5, 3));
        let h = HistogramValue::new(vec![b], 4, 1.5);
        assert_eq!((h.buckets.len(), h.count, h.sum), (1, 4, 1.5));
        assert_eq!(Value::from(h).metric_type(), MetricType::Histogram);
        let s = SummaryValue::new(vec![Quantile::new(0.5, 7.0)], 2, 3.0);
        assert_eq!(s.quantiles[0], Quantile::new(0.5, 7.0));
        assert_eq!(Value::from(s).metric_type(), MetricType::Summary);
        assert_eq!(Value::counter(1.0), Value::Counter(CounterValue::new(1.0)));
    }
}
