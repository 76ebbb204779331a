//! Gathering: sources of metric families, merged and checked into one page.
//!
//! A source implements [`Gather`]. The `prometheus` crate's [`Registry`] is one
//! (its `gather()` output is moved, not copied, into the [model](crate::model)),
//! [`DefaultRegistry`] is the crate's global registry, and [`Gatherers`] merges
//! several sources into one page, like Go's `prometheus.Gatherers`.
//!
//! [`normalize`] turns what the sources produced into what encoders expect:
//! families sorted by name, same-named families merged, metrics sorted by labels,
//! and every problem reported as a [`GatherError`] naming the family:
//! invalid metric or label names, a value whose type is not the family's, the
//! same name with a different type or help, the same series twice, a histogram or
//! summary whose generated names clash with another family, a source that panicked.
//! The broken parts are left out; whether the rest is served is the handler's
//! [`ErrorHandling`](crate::ErrorHandling) decision.
//!
//! ```
//! use promhttp::gather::{gather_all, Gatherers, DefaultRegistry};
//! use promhttp::prometheus::{IntCounter, Registry};
//!
//! let mine = Registry::new();
//! let jobs = IntCounter::new("jobs_total", "Jobs run.").unwrap();
//! mine.register(Box::new(jobs.clone())).unwrap();
//! jobs.inc();
//!
//! // A custom registry and the default registry on one page.
//! let page = gather_all(&Gatherers::new().with(mine).with(DefaultRegistry));
//! assert!(page.errors.is_empty());
//! assert!(page.families.iter().any(|f| f.name == "jobs_total"));
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use prometheus::proto;
use prometheus::Registry;

use crate::model::{
    is_valid_label_name, is_valid_metric_name, Bucket, CounterValue, HistogramValue, Label, Metric,
    MetricFamily, MetricType, Quantile, Str, SummaryValue, Value,
};

/// A source of metric families.
///
/// Implementations append what they have to [`Gathered::families`] and report
/// problems in [`Gathered::errors`]; they need not sort, merge or check anything.
/// `gather` may block (it runs on a blocking thread when served by the handler) and
/// may panic: the panic is caught and reported as an error of that source.
pub trait Gather: Send + Sync {
    /// Appends this source's families to `out`.
    fn gather(&self, out: &mut Gathered);
}

/// What gathering produced: families, and the problems met on the way.
#[derive(Debug, Default)]
pub struct Gathered {
    /// The families, in the order sources produced them until [`normalize`]d.
    pub families: Vec<MetricFamily>,
    /// Problems; each names the family it concerns where there is one.
    pub errors: Vec<GatherError>,
}

/// A problem met while gathering, naming the family where there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatherError {
    /// The family concerned.
    pub family: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl GatherError {
    fn new(family: Option<&str>, message: impl Into<String>) -> Self {
        GatherError {
            family: family.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for GatherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.family {
            Some(name) => write!(f, "metric family {name:?}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for GatherError {}

impl Gather for Registry {
    fn gather(&self, out: &mut Gathered) {
        let families = match catch_unwind(AssertUnwindSafe(|| Registry::gather(self))) {
            Ok(f) => f,
            Err(panic) => {
                out.errors.push(GatherError::new(
                    None,
                    format!(
                        "a collector of a prometheus::Registry panicked: {}",
                        panic_message(&*panic)
                    ),
                ));
                return;
            }
        };
        from_proto(families, out);
    }
}

/// The `prometheus` crate's global registry (`prometheus::default_registry()`),
/// which holds the process metrics when the `process` feature is on.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRegistry;

impl Gather for DefaultRegistry {
    fn gather(&self, out: &mut Gathered) {
        Gather::gather(prometheus::default_registry(), out)
    }
}

impl<G: Gather + ?Sized> Gather for std::sync::Arc<G> {
    fn gather(&self, out: &mut Gathered) {
        (**self).gather(out)
    }
}

impl<G: Gather + ?Sized> Gather for Box<G> {
    fn gather(&self, out: &mut Gathered) {
        (**self).gather(out)
    }
}

impl<G: Gather + ?Sized> Gather for &'static G {
    fn gather(&self, out: &mut Gathered) {
        (**self).gather(out)
    }
}

/// A source from a function, for families computed at scrape time.
///
/// ```
/// use promhttp::gather::{from_fn, gather_all};
/// use promhttp::model::{Metric, MetricFamily, MetricType, Value};
///
/// let source = from_fn(|out| {
///     out.families.push(MetricFamily::new("queue_length", "Jobs waiting.", MetricType::Gauge)
///         .with_metric(Metric::new(vec![], Value::Gauge(3.0))));
/// });
/// assert_eq!(gather_all(&source).families.len(), 1);
/// ```
pub fn from_fn<F>(f: F) -> FnGather<F>
where
    F: Fn(&mut Gathered) + Send + Sync,
{
    FnGather(f)
}

/// See [`from_fn`].
#[derive(Clone)]
pub struct FnGather<F>(F);

impl<F> Gather for FnGather<F>
where
    F: Fn(&mut Gathered) + Send + Sync,
{
    fn gather(&self, out: &mut Gathered) {
        (self.0)(out)
    }
}

impl<F> fmt::Debug for FnGather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnGather")
    }
}

/// Several sources on one page (Go's `prometheus.Gatherers`).
///
/// Each source is gathered in turn; one that panics is reported as an error and the
/// others are still gathered. Same-named families from different sources are merged
/// by [`normalize`] when their type and help agree.
#[derive(Default)]
pub struct Gatherers {
    sources: Vec<Box<dyn Gather>>,
}

impl Gatherers {
    /// No sources yet.
    pub fn new() -> Self {
        Gatherers::default()
    }

    /// Adds a source.
    pub fn with(mut self, source: impl Gather + 'static) -> Self {
        self.sources.push(Box::new(source));
        self
    }

    /// Adds a source.
    pub fn push(&mut self, source: impl Gather + 'static) {
        self.sources.push(Box::new(source));
    }

    /// How many sources there are.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are no sources.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

impl fmt::Debug for Gatherers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gatherers")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl Gather for Gatherers {
    fn gather(&self, out: &mut Gathered) {
        for (i, source) in self.sources.iter().enumerate() {
            gather_caught(&**source, out, i);
        }
    }
}

fn gather_caught(source: &dyn Gather, out: &mut Gathered, index: usize) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| source.gather(out))) {
        out.errors.push(GatherError::new(
            None,
            format!("source #{index} panicked: {}", panic_message(&*panic)),
        ));
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Gathers `source` (catching a panic) and [`normalize`]s the result.
pub fn gather_all(source: &dyn Gather) -> Gathered {
    let mut out = Gathered::default();
    gather_caught(source, &mut out, 0);
    normalize(&mut out);
    out
}

/// Moves what `prometheus` `gather()` returned into the model.
pub fn from_proto(families: Vec<proto::MetricFamily>, out: &mut Gathered) {
    out.families.reserve(families.len());
    for mut mf in families {
        let name = mf.name.take().unwrap_or_default();
        let metric_type = match mf.type_.map(|t| t.enum_value()) {
            None | Some(Ok(proto::MetricType::COUNTER)) => MetricType::Counter,
            Some(Ok(proto::MetricType::GAUGE)) => MetricType::Gauge,
            Some(Ok(proto::MetricType::HISTOGRAM)) => MetricType::Histogram,
            Some(Ok(proto::MetricType::SUMMARY)) => MetricType::Summary,
            Some(Ok(proto::MetricType::UNTYPED)) => MetricType::Untyped,
            Some(Err(n)) => {
                out.errors.push(GatherError::new(
                    Some(&name),
                    format!("unknown metric type {n}"),
                ));
                continue;
            }
        };
        let mut family = MetricFamily {
            name: Str::Owned(name),
            help: Str::Owned(mf.help.take().unwrap_or_default()),
            unit: Str::default(),
            metric_type,
            metrics: Vec::with_capacity(mf.metric.len()),
        };
        for m in std::mem::take(&mut mf.metric) {
            match metric_from_proto(m, metric_type) {
                Some(metric) => family.metrics.push(metric),
                None => out.errors.push(GatherError::new(
                    Some(&family.name),
                    format!("a metric has no {metric_type} value"),
                )),
            }
        }
        out.families.push(family);
    }
}

fn metric_from_proto(mut m: proto::Metric, t: MetricType) -> Option<Metric> {
    let labels = std::mem::take(&mut m.label)
        .into_iter()
        .map(|mut lp| Label {
            name: Str::Owned(lp.name.take().unwrap_or_default()),
            value: Str::Owned(lp.value.take().unwrap_or_default()),
        })
        .collect();
    let value = match t {
        MetricType::Counter => Value::Counter(CounterValue {
            value: m.counter.take()?.value.unwrap_or(0.0),
            exemplar: None,
        }),
        MetricType::Gauge => Value::Gauge(m.gauge.take()?.value.unwrap_or(0.0)),
        MetricType::Untyped => Value::Untyped(m.untyped.take()?.value.unwrap_or(0.0)),
        MetricType::Histogram => {
            let mut h = m.histogram.take()?;
            Value::Histogram(HistogramValue {
                buckets: std::mem::take(&mut h.bucket)
                    .into_iter()
                    .map(|b| Bucket {
                        upper_bound: b.upper_bound.unwrap_or(f64::INFINITY),
                        cumulative_count: b.cumulative_count.unwrap_or(0),
                        exemplar: None,
                    })
                    .collect(),
                count: h.sample_count.unwrap_or(0),
                sum: h.sample_sum.unwrap_or(0.0),
            })
        }
        MetricType::Summary => {
            let mut s = m.summary.take()?;
            Value::Summary(SummaryValue {
                quantiles: std::mem::take(&mut s.quantile)
                    .into_iter()
                    .map(|q| Quantile {
                        quantile: q.quantile.unwrap_or(0.0),
                        value: q.value.unwrap_or(f64::NAN),
                    })
                    .collect(),
                count: s.sample_count.unwrap_or(0),
                sum: s.sample_sum.unwrap_or(0.0),
            })
        }
    };
    Some(Metric {
        labels,
        value,
        timestamp_ms: m.timestamp_ms,
        created: None,
    })
}

/// Sorts, merges and checks gathered families in place (see the module docs).
///
/// Afterwards `families` are sorted by name with no duplicates and no empty family,
/// each family's metrics are sorted by label values with no duplicate series, and
/// labels are sorted by name. What could not be kept is described in `errors`.
pub fn normalize(g: &mut Gathered) {
    let errors = &mut g.errors;
    // 1. Names, types and labels of each family on its own.
    g.families.retain_mut(|f| {
        if !is_valid_metric_name(&f.name) {
            errors.push(GatherError::new(Some(&f.name), "invalid metric name"));
            return false;
        }
        let t = f.metric_type;
        let name = &f.name;
        // Label names repeat from metric to metric: check each distinct one once.
        let mut checked: Vec<Str> = Vec::new();
        f.metrics
            .retain_mut(|m| match check_metric(m, t, &mut checked) {
                Ok(()) => true,
                Err(msg) => {
                    errors.push(GatherError::new(Some(name), msg));
                    false
                }
            });
        true
    });

    // 2. Merge same-named families; a stable sort keeps the sources' order.
    if !g.families.is_sorted_by(|a, b| a.name <= b.name) {
        g.families.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let mut merged: Vec<MetricFamily> = Vec::with_capacity(g.families.len());
    for f in g.families.drain(..) {
        match merged.last_mut() {
            Some(prev) if prev.name == f.name => {
                if prev.metric_type != f.metric_type {
                    errors.push(GatherError::new(
                        Some(&f.name),
                        format!(
                            "collected as {} and as {}: its {} metrics are left out",
                            prev.metric_type,
                            f.metric_type,
                            f.metrics.len()
                        ),
                    ));
                } else if prev.help != f.help {
                    errors.push(GatherError::new(
                        Some(&f.name),
                        format!(
                            "collected with help {:?} and with help {:?}: the second one's metrics are left out",
                            prev.help.as_str(),
                            f.help.as_str()
                        ),
                    ));
                } else {
                    if prev.unit.is_empty() {
                        prev.unit = f.unit;
                    }
                    prev.metrics.extend(f.metrics);
                }
            }
            _ => merged.push(f),
        }
    }

    // 3. Sort series and drop duplicates and empty families.
    merged.retain_mut(|f| {
        // Sources such as `prometheus::Registry` already sort: one pass proves it.
        let strictly_sorted = f
            .metrics
            .windows(2)
            .all(|w| cmp_labels(&w[0].labels, &w[1].labels).is_lt());
        if !strictly_sorted {
            f.metrics.sort_by(|a, b| cmp_labels(&a.labels, &b.labels));
            let before = f.metrics.len();
            f.metrics.dedup_by(|b, a| a.labels == b.labels);
            if f.metrics.len() != before {
                errors.push(GatherError::new(
                    Some(&f.name),
                    format!(
                        "{} series were collected more than once with the same labels; the repeats are left out",
                        before - f.metrics.len()
                    ),
                ));
            }
        }
        !f.metrics.is_empty()
    });

    // 4. Generated sample names (`x_bucket`, `x_sum`, `x_count`) must not clash.
    let mut clashes: Vec<usize> = Vec::new();
    for f in &merged {
        // A counter `x_total` is the OpenMetrics family `x`: no other family may be `x`.
        if f.metric_type == MetricType::Counter {
            if let Some(base) = f.name.strip_suffix("_total").filter(|b| !b.is_empty()) {
                if let Ok(i) = merged.binary_search_by(|x| x.name.as_str().cmp(base)) {
                    errors.push(GatherError::new(
                        Some(base),
                        format!(
                            "clashes with counter {:?}, which OpenMetrics names {base:?}: it is left out",
                            f.name.as_str()
                        ),
                    ));
                    clashes.push(i);
                }
            }
        }
        let suffixes: &[&str] = match f.metric_type {
            MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            MetricType::Summary => &["_count", "_sum", "_created"],
            MetricType::Counter => &["_created"],
            _ => continue,
        };
        for s in suffixes {
            let base = match f.metric_type {
                MetricType::Counter => f.name.strip_suffix("_total").unwrap_or(&f.name),
                _ => &f.name,
            };
            let clash = format!("{base}{s}");
            if let Ok(i) = merged.binary_search_by(|x| x.name.as_str().cmp(&clash)) {
                errors.push(GatherError::new(
                    Some(&clash),
                    format!(
                        "clashes with the samples of {} {:?}: it is left out",
                        f.metric_type,
                        f.name.as_str()
                    ),
                ));
                clashes.push(i);
            }
        }
    }
    if !clashes.is_empty() {
        let mut i = 0;
        merged.retain(|_| {
            i += 1;
            !clashes.contains(&(i - 1))
        });
    }
    g.families = merged;
}

fn check_metric(m: &mut Metric, t: MetricType, checked: &mut Vec<Str>) -> Result<(), String> {
    if m.value.metric_type() != t {
        return Err(format!(
            "a metric has a {} value in a {t} family",
            m.value.metric_type()
        ));
    }
    for l in &m.labels {
        if checked.contains(&l.name) {
            continue;
        }
        if !is_valid_label_name(&l.name) {
            return Err(format!("invalid label name {:?}", l.name.as_str()));
        }
        let reserved = match t {
            MetricType::Histogram => l.name == "le",
            MetricType::Summary => l.name == "quantile",
            _ => false,
        };
        if reserved {
            return Err(format!("label {:?} is reserved for {t}s", l.name.as_str()));
        }
        if checked.len() < 16 {
            checked.push(l.name.clone());
        }
    }
    check_value(&m.value)?;
    if !m.labels.is_sorted_by(|a, b| a.name <= b.name) {
        m.labels.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if m.labels.windows(2).any(|w| w[0].name == w[1].name) {
        return Err("a metric has two or more labels with the same name".to_owned());
    }
    Ok(())
}

/// The shape rules of each type (OpenMetrics, and Prometheus' own parser for
/// histograms): what breaks them would be rejected by the scraper or poison rates.
fn check_value(v: &Value) -> Result<(), String> {
    match v {
        Value::Counter(c) if c.value.is_nan() || c.value < 0.0 => Err(format!(
            "a counter has the value {}: counters are never negative or NaN",
            c.value
        )),
        Value::Histogram(h) => {
            let mut prev_bound = f64::NEG_INFINITY;
            let mut prev_count = 0;
            for (i, b) in h.buckets.iter().enumerate() {
                if b.upper_bound.is_nan() || (i > 0 && b.upper_bound <= prev_bound) {
                    return Err(format!(
                        "histogram bucket bounds must increase: {} after {prev_bound}",
                        b.upper_bound
                    ));
                }
                if b.cumulative_count < prev_count {
                    return Err(format!(
                        "histogram bucket counts must not decrease: {} (le={}) after {prev_count}",
                        b.cumulative_count, b.upper_bound
                    ));
                }
                prev_bound = b.upper_bound;
                prev_count = b.cumulative_count;
            }
            if h.count < prev_count {
                return Err(format!(
                    "histogram count {} is below its largest bucket count {prev_count}",
                    h.count
                ));
            }
            if prev_bound == f64::INFINITY && prev_count != h.count {
                return Err(format!(
                    "histogram +Inf bucket {prev_count} differs from its count {}",
                    h.count
                ));
            }
            Ok(())
        }
        Value::Summary(s) => match s
            .quantiles
            .iter()
            .find(|q| !(0.0..=1.0).contains(&q.quantile))
        {
            Some(q) => Err(format!(
                "summary quantile {} is not within [0, 1]",
                q.quantile
            )),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Orders label sets by their values, then by their names, then by length, so that
/// equal sets end up next to each other.
fn cmp_labels(a: &[Label], b: &[Label]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.value.cmp(&y.value) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().map(|l| &l.name).cmp(b.iter().map(|l| &l.name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{CounterVec, Gauge, HistogramOpts, HistogramVec, IntCounter, Opts};

    fn fam(
        name: &'static str,
        help: &'static str,
        t: MetricType,
        metrics: Vec<Metric>,
    ) -> MetricFamily {
        MetricFamily {
            name: name.into(),
            help: help.into(),
            unit: Str::default(),
            metric_type: t,
            metrics,
        }
    }

    fn gauge(labels: &[(&'static str, &'static str)], v: f64) -> Metric {
        Metric::new(
            labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
            Value::Gauge(v),
        )
    }

    fn run(families: Vec<MetricFamily>) -> Gathered {
        let mut g = Gathered {
            families,
            errors: vec![],
        };
        normalize(&mut g);
        g
    }

    #[test]
    fn registry_is_moved_into_the_model() {
        let r = Registry::new();
        let c = CounterVec::new(Opts::new("req_total", "Requests."), &["code"]).unwrap();
        let h = HistogramVec::new(
            HistogramOpts::new("lat_seconds", "Latency.").buckets(vec![0.1, 1.0]),
            &["m"],
        )
        .unwrap();
        let g = Gauge::new("temp", "Temp.").unwrap();
        r.register(Box::new(c.clone())).unwrap();
        r.register(Box::new(h.clone())).unwrap();
        r.register(Box::new(g.clone())).unwrap();
        c.with_label_values(&["500"]).inc_by(2.0);
        c.with_label_values(&["200"]).inc();
        h.with_label_values(&["GET"]).observe(0.5);
        g.set(-1.5);
        let out = gather_all(&r);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let names: Vec<&str> = out.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["lat_seconds", "req_total", "temp"]);
        let req = &out.families[1];
        assert_eq!(req.metric_type, MetricType::Counter);
        assert_eq!(req.metrics[0].labels, vec![Label::new("code", "200")]);
        assert_eq!(req.metrics[1].value, Value::counter(2.0));
        match &out.families[0].metrics[0].value {
            Value::Histogram(h) => {
                assert_eq!(h.count, 1);
                assert_eq!(h.sum, 0.5);
                let counts: Vec<u64> = h.buckets.iter().map(|b| b.cumulative_count).collect();
                assert_eq!(counts, [0, 1]);
            }
            v => panic!("{v:?}"),
        }
        assert_eq!(out.families[2].metrics[0].value, Value::Gauge(-1.5));
    }

    #[test]
    fn merges_consistent_families_from_several_sources() {
        let a = Registry::new();
        let b = Registry::new();
        let ca = IntCounter::with_opts(Opts::new("x_total", "X.").const_label("src", "a")).unwrap();
        let cb = IntCounter::with_opts(Opts::new("x_total", "X.").const_label("src", "b")).unwrap();
        a.register(Box::new(ca)).unwrap();
        b.register(Box::new(cb)).unwrap();
        let out = gather_all(&Gatherers::new().with(b).with(a));
        assert!(out.errors.is_empty());
        assert_eq!(out.families.len(), 1);
        let values: Vec<&str> = out.families[0]
            .metrics
            .iter()
            .map(|m| m.labels[0].value.as_str())
            .collect();
        assert_eq!(values, ["a", "b"]);
    }

    #[test]
    fn duplicate_series_are_reported_and_dropped() {
        let out = run(vec![
            fam(
                "g",
                "G.",
                MetricType::Gauge,
                vec![gauge(&[("a", "1")], 1.0)],
            ),
            fam(
                "g",
                "G.",
                MetricType::Gauge,
                vec![gauge(&[("a", "1")], 2.0), gauge(&[("a", "2")], 3.0)],
            ),
        ]);
        assert_eq!(out.families[0].metrics.len(), 2);
        assert_eq!(out.families[0].metrics[0].value, Value::Gauge(1.0));
        assert_eq!(out.errors.len(), 1);
        assert!(
            out.errors[0].to_string().contains("\"g\""),
            "{}",
            out.errors[0]
        );
    }

    #[test]
    fn type_and_help_mismatches_are_reported() {
        let out = run(vec![
            fam("g", "G.", MetricType::Gauge, vec![gauge(&[], 1.0)]),
            fam(
                "g",
                "G.",
                MetricType::Untyped,
                vec![Metric::new(vec![], Value::Untyped(1.0))],
            ),
            fam(
                "g",
                "Other.",
                MetricType::Gauge,
                vec![gauge(&[("a", "b")], 1.0)],
            ),
        ]);
        assert_eq!(out.families.len(), 1);
        assert_eq!(out.families[0].metrics.len(), 1);
        assert_eq!(out.errors.len(), 2);
        assert!(out.errors[0].message.contains("untyped"));
        assert!(out.errors[1].message.contains("Other."));
    }

    #[test]
    fn invalid_names_and_labels_are_reported() {
        let out = run(vec![
            fam("bad-name", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
            fam(
                "g",
                "",
                MetricType::Gauge,
                vec![
                    gauge(&[("__x", "1")], 1.0),
                    gauge(&[("a", "1"), ("a", "2")], 1.0),
                    gauge(&[("b", "1"), ("a", "2")], 1.0),
                    Metric::new(vec![], Value::counter(1.0)),
                ],
            ),
            fam(
                "h",
                "",
                MetricType::Histogram,
                vec![Metric::new(
                    vec![Label::new("le", "1")],
                    Value::Histogram(HistogramValue::default()),
                )],
            ),
        ]);
        assert_eq!(out.families.len(), 1);
        // The unsorted label set was kept, sorted.
        assert_eq!(out.families[0].metrics[0].labels[0].name, "a");
        let text: Vec<String> = out.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 5, "{text:#?}");
        assert!(text[0].contains("bad-name") && text[0].contains("invalid metric name"));
        assert!(text[1].contains("__x"));
        assert!(text[2].contains("same name"));
        assert!(text[3].contains("counter value in a gauge family"));
        assert!(text[4].contains("reserved"));
    }

    #[test]
    fn broken_shapes_are_reported() {
        let hist = |buckets: &[(f64, u64)], count| {
            Metric::new(
                vec![],
                Value::Histogram(HistogramValue {
                    buckets: buckets
                        .iter()
                        .map(|(b, c)| Bucket {
                            upper_bound: *b,
                            cumulative_count: *c,
                            exemplar: None,
                        })
                        .collect(),
                    count,
                    sum: 1.0,
                }),
            )
        };
        let cases = vec![
            (
                MetricType::Counter,
                Metric::new(vec![], Value::counter(-1.0)),
                "negative",
            ),
            (
                MetricType::Counter,
                Metric::new(vec![], Value::counter(f64::NAN)),
                "negative or NaN",
            ),
            (
                MetricType::Histogram,
                hist(&[(1.0, 5), (0.5, 5)], 5),
                "must increase",
            ),
            (
                MetricType::Histogram,
                hist(&[(f64::NAN, 1)], 1),
                "must increase",
            ),
            (
                MetricType::Histogram,
                hist(&[(1.0, 5), (2.0, 3)], 5),
                "must not decrease",
            ),
            (MetricType::Histogram, hist(&[(1.0, 5)], 4), "below"),
            (
                MetricType::Histogram,
                hist(&[(1.0, 1), (f64::INFINITY, 3)], 4),
                "+Inf",
            ),
            (
                MetricType::Summary,
                Metric::new(
                    vec![],
                    Value::Summary(SummaryValue {
                        quantiles: vec![Quantile {
                            quantile: 1.5,
                            value: 1.0,
                        }],
                        count: 1,
                        sum: 1.0,
                    }),
                ),
                "[0, 1]",
            ),
        ];
        for (t, m, want) in cases {
            let out = run(vec![fam("x", "", t, vec![m])]);
            assert!(out.families.is_empty());
            assert!(
                out.errors[0].message.contains(want),
                "{want}: {:?}",
                out.errors
            );
        }
        // Good shapes pass, including a histogram without buckets.
        let out = run(vec![fam(
            "x",
            "",
            MetricType::Histogram,
            vec![hist(&[(0.5, 1), (f64::INFINITY, 2)], 2)],
        )]);
        assert!(out.errors.is_empty());
    }

    #[test]
    fn suffix_clashes_are_reported() {
        let hist = Metric::new(vec![], Value::Histogram(HistogramValue::default()));
        let out = run(vec![
            fam("x", "", MetricType::Histogram, vec![hist]),
            fam("x_count", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
            fam("x_total", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
        ]);
        let names: Vec<&str> = out.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["x", "x_total"]);
        assert!(out.errors[0].to_string().contains("x_count"));
    }

    #[test]
    fn openmetrics_name_clashes_are_reported() {
        let out = run(vec![
            fam(
                "x_total",
                "",
                MetricType::Counter,
                vec![Metric::new(vec![], Value::counter(1.0))],
            ),
            fam("x", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
            fam("x_created", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
        ]);
        let names: Vec<&str> = out.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["x_total"]);
        assert_eq!(out.errors.len(), 2, "{:?}", out.errors);
    }

    #[test]
    fn panicking_source_is_contained() {
        let ok = from_fn(|out| {
            out.families
                .push(fam("ok", "", MetricType::Gauge, vec![gauge(&[], 1.0)]));
        });
        let bad = from_fn(|_| panic!("collector exploded"));
        let out = gather_all(&Gatherers::new().with(ok).with(bad));
        assert_eq!(out.families.len(), 1);
        assert!(out.errors[0].message.contains("collector exploded"));
    }

    #[test]
    fn equal_label_sets_sort_together() {
        let out = run(vec![fam(
            "g",
            "",
            MetricType::Gauge,
            vec![
                gauge(&[("a", "1")], 1.0),
                gauge(&[("b", "1")], 2.0),
                gauge(&[("a", "1")], 3.0),
            ],
        )]);
        assert_eq!(out.families[0].metrics.len(), 2);
        assert_eq!(out.errors.len(), 1);
    }

    #[test]
    fn empty_families_are_dropped() {
        let out = run(vec![fam("g", "", MetricType::Gauge, vec![])]);
        assert!(out.families.is_empty());
        assert!(out.errors.is_empty());
    }
}

#[cfg(all(test, feature = "process", target_os = "linux"))]
mod process_tests {
    use super::*;

    #[test]
    fn custom_and_default_registry_with_process_metrics_on_one_page() {
        let mine = Registry::new();
        let c = prometheus::IntCounter::new("mine_total", "Mine.").unwrap();
        mine.register(Box::new(c)).unwrap();
        let page = gather_all(&Gatherers::new().with(mine).with(DefaultRegistry));
        assert!(page.errors.is_empty(), "{:?}", page.errors);
        for name in [
            "mine_total",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
        ] {
            assert!(
                page.families.iter().any(|f| f.name == name),
                "{name} missing"
            );
        }
    }
}
