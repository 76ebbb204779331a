//! [`MetricVec`]: a family of series of one kind, keyed by label values.

use std::collections::HashMap;
use std::sync::Arc;

use super::family::{Family, Kind};
use super::labels::LabelValues;
use super::MetricError;

/// A family of metrics that share a name and label names, one series per
/// distinct set of label values (`CounterVec`, `IntGaugeVec`, `HistogramVec`, ...).
///
/// A lookup (`with_label_values`, `with_labels`, `with`) finds the series whose values
/// are *exactly* the ones given, creating it the first time; keep what it returns
/// to record without any lookup afterwards. Label values may be any UTF-8 text,
/// the empty string included.
///
/// Cloning gives another handle to the same family.
///
/// # Series limit and overflow
///
/// With [`Opts::max_series`](super::Opts::max_series) set, a label set that would
/// exceed the limit gets no series of its own:
/// [`get_metric_with_label_values`](Self::get_metric_with_label_values) returns
/// [`MetricError::SeriesLimit`], and [`with_label_values`](Self::with_label_values)
/// returns the family's *overflow series* (labelled `otel_metric_overflow="true"`),
/// so what is recorded still counts in the family's totals. `with_label_values`
/// also returns the overflow series, and logs an error, when given the wrong number
/// of values: it never panics.
///
/// ```
/// use promhttp::metrics::{IntCounterVec, Opts};
///
/// let requests = IntCounterVec::new(Opts::new("requests_total", "Requests."), &["method", "code"])
///     .unwrap();
/// let ok = requests.with_label_values(&["GET", "200"]); // keep this for the hot path
/// ok.inc();
/// requests.with_labels(&("GET", "200")).inc();
/// assert_eq!(ok.get(), 2);
/// // Exact equality: joined, these two would both read "abc".
/// requests.with_label_values(&["ab", "c"]).inc();
/// assert_eq!(requests.with_label_values(&["a", "bc"]).get(), 0);
/// requests.remove_label_values(&["ab", "c"]).unwrap();
/// ```
pub struct MetricVec<K: Kind> {
    pub(crate) family: Arc<Family<K>>,
}

impl<K: Kind> Clone for MetricVec<K> {
    fn clone(&self) -> Self {
        MetricVec {
            family: self.family.clone(),
        }
    }
}

impl<K: Kind> std::fmt::Debug for MetricVec<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricVec")
            .field("name", &self.family.desc.name)
            .field("series", &self.family.len())
            .finish()
    }
}

impl<K: Kind> MetricVec<K> {
    pub(crate) fn from_family(family: Family<K>) -> Self {
        MetricVec {
            family: Arc::new(family),
        }
    }

    /// The series with these label values (in the order of the label names),
    /// created if needed; the overflow series when the limit is reached or the
    /// number of values is wrong (see the [type documentation](Self)).
    #[inline]
    pub fn with_label_values(&self, values: &[&str]) -> K::Handle {
        K::handle(self.family.get_or_overflow(values))
    }

    /// As [`with_label_values`](Self::with_label_values), with an error instead of
    /// the overflow series.
    pub fn get_metric_with_label_values(&self, values: &[&str]) -> Result<K::Handle, MetricError> {
        self.family.get(values).map(K::handle)
    }

    /// The series for a typed label set (a tuple, an array, or a struct
    /// implementing [`LabelValues`]); as `with_label_values` otherwise.
    #[inline]
    pub fn with_labels(&self, values: &(impl LabelValues + ?Sized)) -> K::Handle {
        K::handle(self.family.get_or_overflow(values))
    }

    /// As [`with_labels`](Self::with_labels), with an error instead of the overflow
    /// series.
    pub fn get_metric_with_labels(
        &self,
        values: &(impl LabelValues + ?Sized),
    ) -> Result<K::Handle, MetricError> {
        self.family.get(values).map(K::handle)
    }

    /// The series for label values given by name (every label exactly once).
    pub fn get_metric_with(&self, labels: &HashMap<&str, &str>) -> Result<K::Handle, MetricError> {
        let values = self.by_name(labels)?;
        self.family.get(&values).map(K::handle)
    }

    /// As [`get_metric_with`](Self::get_metric_with), with the overflow series
    /// instead of an error.
    pub fn with(&self, labels: &HashMap<&str, &str>) -> K::Handle {
        match self.by_name(labels) {
            Ok(values) => K::handle(self.family.get_or_overflow(&values)),
            Err(e) => {
                tracing::warn!(error = %e, "recording into the family's overflow series");
                K::handle(self.family.overflow().clone())
            }
        }
    }

    fn by_name<'a>(&self, labels: &HashMap<&str, &'a str>) -> Result<Vec<&'a str>, MetricError> {
        let names = &self.family.desc.label_names;
        if labels.len() != names.len() {
            return Err(MetricError::LabelCount {
                metric: self.family.desc.name.to_string(),
                expected: names.len(),
                got: labels.len(),
            });
        }
        names
            .iter()
            .map(|name| {
                labels
                    .get(name.as_str())
                    .copied()
                    .ok_or_else(|| MetricError::UnknownLabel {
                        metric: self.family.desc.name.to_string(),
                        label: labels
                            .keys()
                            .find(|k| !names.iter().any(|n| n.as_str() == **k))
                            .map_or_else(|| name.to_string(), |k| (*k).to_owned()),
                    })
            })
            .collect()
    }

    /// Removes the series with these label values; a handle still held keeps
    /// working but is no longer exposed. Errors when there is no such series.
    pub fn remove_label_values(&self, values: &[&str]) -> Result<(), MetricError> {
        self.family.remove(values)
    }

    /// Removes the series of a typed label set.
    pub fn remove_labels(&self, values: &(impl LabelValues + ?Sized)) -> Result<(), MetricError> {
        self.family.remove(values)
    }

    /// Removes the series with these label values given by name.
    pub fn remove(&self, labels: &HashMap<&str, &str>) -> Result<(), MetricError> {
        let values = self.by_name(labels)?;
        self.family.remove(&values)
    }

    /// Removes every series (the overflow series, once made, stays).
    pub fn reset(&self) {
        self.family.clear()
    }

    /// How many series the family holds, the overflow series aside.
    pub fn len(&self) -> usize {
        self.family.len()
    }

    /// Whether the family holds no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Kind> super::registry::sealed::Sealed for MetricVec<K> {}
impl<K: Kind> super::Register for MetricVec<K> {
    fn collector(&self) -> Result<Arc<dyn super::registry::Collect>, MetricError> {
        Ok(self.family.clone())
    }
}
