//! [`Opts`]: a metric's name, help, unit, labels and series limit; checked into a `Desc`.

use std::num::NonZeroUsize;
use std::sync::Arc;

use super::MetricError;
use crate::model::{is_valid_label_name, is_valid_metric_name, Label, Str};

/// What describes a metric: its name (with an optional namespace and subsystem),
/// help, unit, constant labels, variable labels (for the `*Vec` families) and the
/// family's series limit.
///
/// The same shape as the `prometheus` crate's `Opts`: `Opts::new(name, help)` and
/// setters that return `Self`. Nothing is checked until a metric is made from it.
///
/// ```
/// use std::num::NonZeroUsize;
/// use promhttp::metrics::{IntCounterVec, Opts};
///
/// let opts = Opts::new("requests_total", "Requests served.")
///     .namespace("shop")
///     .const_label("region", "eu")
///     .max_series(NonZeroUsize::new(1000));
/// let requests = IntCounterVec::new(opts, &["path"]).unwrap();
/// requests.with_label_values(&["/cart"]).inc();
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Opts {
    /// Prepended to the name with `_` when not empty.
    pub namespace: String,
    /// Put between namespace and name with `_` when not empty.
    pub subsystem: String,
    /// The name (counters keep their `_total`).
    pub name: String,
    /// The help text; any UTF-8.
    pub help: String,
    /// The unit (`seconds`, `bytes`); empty when unknown. OpenMetrics and protobuf
    /// show it when the name ends with `_<unit>` (before `_total` for counters).
    pub unit: String,
    /// Labels every series of the metric carries, with fixed values.
    pub const_labels: Vec<(String, String)>,
    /// The label names of a `*Vec` family, in the order values are given.
    pub variable_labels: Vec<String>,
    /// At most this many series in the family; `None` (the default) for no limit.
    pub max_series: Option<NonZeroUsize>,
}

impl Opts {
    /// A name and a help text; no namespace, unit, labels or limit.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Self {
        Opts {
            name: name.into(),
            help: help.into(),
            ..Opts::default()
        }
    }

    /// Sets the namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets the subsystem.
    pub fn subsystem(mut self, subsystem: impl Into<String>) -> Self {
        self.subsystem = subsystem.into();
        self
    }

    /// Sets the unit.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = unit.into();
        self
    }

    /// Adds a constant label.
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// Adds a variable label name (as the `*Vec` constructors' `label_names` do).
    pub fn variable_label(mut self, name: impl Into<String>) -> Self {
        self.variable_labels.push(name.into());
        self
    }

    /// Limits the family to `limit` series; `None` (the default) for no limit.
    ///
    /// When a new label set would exceed it, `get_metric_with_label_values` returns
    /// [`MetricError::SeriesLimit`] and `with_label_values` returns the family's
    /// *overflow series*: one series labelled `otel_metric_overflow="true"` (the
    /// OpenTelemetry convention for cardinality limits) that collects everything
    /// recorded for label sets that found no room, so totals stay right. The
    /// overflow series does not count against the limit. Removing series makes room
    /// again.
    pub fn max_series(mut self, limit: impl Into<Option<NonZeroUsize>>) -> Self {
        self.max_series = limit.into();
        self
    }

    /// The full name: namespace, subsystem and name joined with `_`.
    pub fn fq_name(&self) -> String {
        let mut out = String::with_capacity(
            self.namespace.len() + self.subsystem.len() + self.name.len() + 2,
        );
        for part in [&self.namespace, &self.subsystem, &self.name] {
            if part.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push('_');
            }
            out.push_str(part);
        }
        out
    }
}

/// A checked description of a family.
#[derive(Debug)]
pub(crate) struct Desc {
    pub name: Str,
    pub help: Str,
    pub unit: Str,
    pub const_labels: Box<[Label]>,
    pub label_names: Box<[Str]>,
    pub max_series: Option<NonZeroUsize>,
}

impl Desc {
    /// Checks `opts` (with `label_names` added to its variable labels); `reserved`
    /// lists label names the type writes itself (`le` for histograms).
    pub(crate) fn new(
        opts: Opts,
        label_names: &[&str],
        reserved: &[&str],
    ) -> Result<Desc, MetricError> {
        let name = opts.fq_name();
        if !is_valid_metric_name(&name) {
            return Err(MetricError::InvalidName { name });
        }
        let mut seen: Vec<&str> = Vec::new();
        let variable = opts
            .variable_labels
            .iter()
            .map(String::as_str)
            .chain(label_names.iter().copied());
        for label in opts
            .const_labels
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(variable)
        {
            if !is_valid_label_name(label) || reserved.contains(&label) {
                return Err(MetricError::InvalidLabelName {
                    metric: name,
                    label: label.to_owned(),
                });
            }
            if seen.contains(&label) {
                return Err(MetricError::DuplicateLabelName {
                    metric: name,
                    label: label.to_owned(),
                });
            }
            seen.push(label);
        }
        let label_names = opts
            .variable_labels
            .iter()
            .map(String::as_str)
            .chain(label_names.iter().copied())
            .map(shared)
            .collect();
        Ok(Desc {
            name: Str::from(name),
            help: Str::from(opts.help),
            unit: Str::from(opts.unit),
            const_labels: opts
                .const_labels
                .into_iter()
                .map(|(n, v)| Label::new(shared(&n), shared(&v)))
                .collect(),
            label_names,
            max_series: opts.max_series,
        })
    }
}

/// A string shared by every series that carries it.
pub(crate) fn shared(s: &str) -> Str {
    Str::Shared(Arc::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_joined_and_checked() {
        let o = Opts::new("requests_total", "h")
            .namespace("a")
            .subsystem("b");
        assert_eq!(o.fq_name(), "a_b_requests_total");
        assert_eq!(Opts::new("x", "").subsystem("s").fq_name(), "s_x");
        assert!(matches!(
            Desc::new(Opts::new("9x", ""), &[], &[]),
            Err(MetricError::InvalidName { name }) if name == "9x"
        ));
        assert!(matches!(
            Desc::new(Opts::new("x", "").const_label("a", "1"), &["a"], &[]),
            Err(MetricError::DuplicateLabelName { label, .. }) if label == "a"
        ));
        assert!(matches!(
            Desc::new(Opts::new("x", ""), &["le"], &["le"]),
            Err(MetricError::InvalidLabelName { label, .. }) if label == "le"
        ));
        assert!(matches!(
            Desc::new(Opts::new("x", ""), &["__x"], &[]),
            Err(MetricError::InvalidLabelName { .. })
        ));
        let d = Desc::new(Opts::new("x", "h").variable_label("a"), &["b"], &[]).unwrap();
        assert_eq!(&*d.label_names, [Str::from("a"), Str::from("b")]);
    }
}
