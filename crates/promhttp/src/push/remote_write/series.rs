//! Gathered families turned into remote write [`TimeSeries`], one sample each.

use std::sync::Arc;

use crate::encode::float::write_float;
use crate::model::time::to_millis;
use crate::model::{HistogramValue, Label, MetricFamily, NativeHistogram, Str, Value};

/// One sample of a remote write time series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// The value.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// One native histogram sample of a remote write time series (a prompb
/// `Histogram` with integer counts).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HistogramSample {
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// The exponential buckets; their exemplars are not sent.
    pub native: NativeHistogram,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// One remote write time series: labels (`__name__` included, sorted by name) and
/// samples, float ones or native histograms (never both in one series).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TimeSeries {
    /// The labels, `__name__` included, sorted by name.
    pub labels: Vec<Label>,
    /// The float samples, oldest first.
    pub samples: Vec<Sample>,
    /// The native histogram samples, oldest first.
    pub histograms: Vec<HistogramSample>,
}

/// Turns gathered families into remote write series, one sample each (see the
/// [module docs](super#series) for names and labels), native histograms included
/// (as a writer with [`native_histograms(true)`](super::RemoteWriterBuilder::native_histograms),
/// the default, sends them).
///
/// `external_labels` are added to each series that has no label of the same name;
/// `timestamp_ms` is used for metrics without their own timestamp.
pub fn to_time_series(
    families: &[MetricFamily],
    external_labels: &[Label],
    timestamp_ms: i64,
) -> Vec<TimeSeries> {
    series_of(families, external_labels, timestamp_ms, true)
}

/// [`to_time_series`], with native histograms sent as such or only as float series.
pub(super) fn series_of(
    families: &[MetricFamily],
    external_labels: &[Label],
    timestamp_ms: i64,
    native_histograms: bool,
) -> Vec<TimeSeries> {
    // Strings are shared (`Arc<str>`) so that the many series of one metric, and
    // the bucket bounds common to a page, cost a reference count, not a copy.
    let external: Vec<Label> = external_labels.iter().map(share_label).collect();
    let mut bounds: Vec<(u64, Str)> = Vec::new();
    let mut out = Vec::new();
    for family in families {
        let names = SuffixNames::new(family);
        for metric in &family.metrics {
            let ts = metric.timestamp.map_or(timestamp_ms, to_millis);
            let mut base: Vec<Label> = metric
                .labels
                .iter()
                .filter(|l| !l.value.is_empty())
                .map(share_label)
                .collect();
            for ext in &external {
                if !base.iter().any(|l| l.name == ext.name) {
                    base.push(ext.clone());
                }
            }
            let mut push = |full_name: &Str, extra: Option<(&'static str, f64)>, value: Point| {
                let mut labels = Vec::with_capacity(base.len() + 2);
                labels.push(Label::new("__name__", full_name.clone()));
                for l in &base {
                    if extra.is_some_and(|(n, _)| l.name == n) {
                        continue;
                    }
                    labels.push(l.clone());
                }
                if let Some((n, bound)) = extra {
                    labels.push(Label::new(n, bound_text(&mut bounds, bound)));
                }
                labels.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
                let (samples, histograms) = match value {
                    Point::Float(value) => (
                        vec![Sample {
                            value,
                            timestamp_ms: ts,
                        }],
                        Vec::new(),
                    ),
                    Point::Native(h) => (
                        Vec::new(),
                        vec![HistogramSample {
                            count: h.count,
                            sum: h.sum,
                            native: h.native,
                            timestamp_ms: ts,
                        }],
                    ),
                };
                out.push(TimeSeries {
                    labels,
                    samples,
                    histograms,
                });
            };
            match &metric.value {
                Value::Counter(c) => push(&names.plain, None, Point::Float(c.value)),
                Value::Gauge(v) | Value::Untyped(v) => push(&names.plain, None, Point::Float(*v)),
                Value::Histogram(h) => {
                    let native = h
                        .native
                        .as_deref()
                        .filter(|_| native_histograms)
                        .filter(|native| sendable(native, h, &family.name));
                    // A native-only histogram's classic side is just its count.
                    let native_only = native.is_some()
                        && h.buckets.iter().all(|b| b.upper_bound == f64::INFINITY);
                    if let Some(native) = native {
                        let point = NativePoint {
                            count: h.count,
                            sum: h.sum,
                            native: without_exemplars(native),
                        };
                        push(&names.plain, None, Point::Native(point));
                    }
                    if !native_only {
                        let mut has_inf = false;
                        for b in &h.buckets {
                            has_inf |= b.upper_bound == f64::INFINITY;
                            let count = Point::Float(b.cumulative_count as f64);
                            push(&names.bucket, Some(("le", b.upper_bound)), count);
                        }
                        if !has_inf {
                            let count = Point::Float(h.count as f64);
                            push(&names.bucket, Some(("le", f64::INFINITY)), count);
                        }
                    }
                    push(&names.sum, None, Point::Float(h.sum));
                    push(&names.count, None, Point::Float(h.count as f64));
                }
                Value::Summary(s) => {
                    for q in &s.quantiles {
                        let value = Point::Float(q.value);
                        push(&names.plain, Some(("quantile", q.quantile)), value);
                    }
                    push(&names.sum, None, Point::Float(s.sum));
                    push(&names.count, None, Point::Float(s.count as f64));
                }
            }
        }
    }
    out
}

/// What one series carries.
enum Point {
    Float(f64),
    Native(NativePoint),
}

struct NativePoint {
    count: u64,
    sum: f64,
    native: NativeHistogram,
}

/// Whether `native` can be sent ([`NativeHistogram::is_consistent`]): Prometheus
/// refuses a whole request for one bad histogram (with a 5xx, retried), so a bad
/// one is sent only as its float series, and logged.
fn sendable(native: &NativeHistogram, histogram: &HistogramValue, name: &str) -> bool {
    let ok = native.is_consistent(histogram.count);
    if !ok {
        tracing::warn!(
            metric = name,
            "remote write: native histogram buckets are inconsistent; sent as float series only"
        );
    }
    ok
}

fn without_exemplars(native: &NativeHistogram) -> NativeHistogram {
    NativeHistogram {
        schema: native.schema,
        zero_threshold: native.zero_threshold,
        zero_count: native.zero_count,
        positive_spans: native.positive_spans.clone(),
        positive_deltas: native.positive_deltas.clone(),
        negative_spans: native.negative_spans.clone(),
        negative_deltas: native.negative_deltas.clone(),
        exemplars: Vec::new(),
    }
}

/// The sample names of one family, made once.
struct SuffixNames {
    plain: Str,
    bucket: Str,
    sum: Str,
    count: Str,
}

impl SuffixNames {
    fn new(family: &MetricFamily) -> Self {
        let name = family.name.as_str();
        let made = |suffix: &str| Str::Shared(Arc::from(format!("{name}{suffix}")));
        let (bucket, sum, count) = match &family.metrics.first().map(|m| &m.value) {
            Some(Value::Histogram(_)) => (made("_bucket"), made("_sum"), made("_count")),
            Some(Value::Summary(_)) => (Str::default(), made("_sum"), made("_count")),
            _ => (Str::default(), Str::default(), Str::default()),
        };
        SuffixNames {
            plain: share(&family.name),
            bucket,
            sum,
            count,
        }
    }
}

fn share(s: &Str) -> Str {
    match s {
        Str::Owned(o) => Str::Shared(Arc::from(o.as_str())),
        other => other.clone(),
    }
}

fn share_label(l: &Label) -> Label {
    Label {
        name: share(&l.name),
        value: share(&l.value),
    }
}

/// `le` / `quantile` text, formatted once per distinct value of a page.
fn bound_text(cache: &mut Vec<(u64, Str)>, v: f64) -> Str {
    let bits = v.to_bits();
    if let Some((_, s)) = cache.iter().find(|(b, _)| *b == bits) {
        return s.clone();
    }
    let mut buf = Vec::with_capacity(24);
    write_float(&mut buf, v);
    let text = Str::Shared(Arc::from(String::from_utf8(buf).unwrap_or_default()));
    if cache.len() < 256 {
        cache.push((bits, text.clone()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bucket, HistogramValue, Metric, MetricType, Quantile, SummaryValue};

    #[test]
    fn families_become_sorted_series_with_external_labels() {
        let families = vec![
            MetricFamily::new("jobs_total", "h", MetricType::Counter).with_metric(Metric::new(
                vec![
                    Label::new("A", "up"),
                    Label::new("env", "mine"),
                    Label::new("q", ""),
                ],
                Value::counter(3.0),
            )),
            MetricFamily::new("lat_seconds", "h", MetricType::Histogram).with_metric(Metric {
                timestamp: Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(42)),
                ..Metric::new(
                    vec![],
                    Value::Histogram(HistogramValue {
                        buckets: vec![
                            Bucket {
                                upper_bound: 0.5,
                                cumulative_count: 1,
                                exemplar: None,
                            },
                            Bucket {
                                upper_bound: 1e6,
                                cumulative_count: 2,
                                exemplar: None,
                            },
                        ],
                        count: 3,
                        sum: 2.5,
                        native: None,
                    }),
                )
            }),
            MetricFamily::new("rpc", "h", MetricType::Summary).with_metric(Metric::new(
                vec![],
                Value::Summary(SummaryValue {
                    quantiles: vec![Quantile {
                        quantile: 0.99,
                        value: 7.0,
                    }],
                    count: 4,
                    sum: 9.0,
                }),
            )),
            MetricFamily::new("temp", "h", MetricType::Gauge)
                .with_metric(Metric::new(vec![], Value::Gauge(-1.5))),
        ];
        let ext = [Label::new("env", "prod"), Label::new("region", "eu")];
        let got = to_time_series(&families, &ext, 1000);
        let flat: Vec<(String, f64, i64)> = got
            .iter()
            .map(|s| {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                (
                    labels.join(","),
                    s.samples[0].value,
                    s.samples[0].timestamp_ms,
                )
            })
            .collect();
        let expect = |l: &str, v: f64, t: i64| (l.to_owned(), v, t);
        assert_eq!(
            flat,
            vec![
                // Uppercase sorts before "__name__"; the metric's env wins; empty q is absent.
                expect("A=up,__name__=jobs_total,env=mine,region=eu", 3.0, 1000),
                expect(
                    "__name__=lat_seconds_bucket,env=prod,le=0.5,region=eu",
                    1.0,
                    42
                ),
                expect(
                    "__name__=lat_seconds_bucket,env=prod,le=1e+06,region=eu",
                    2.0,
                    42
                ),
                expect(
                    "__name__=lat_seconds_bucket,env=prod,le=+Inf,region=eu",
                    3.0,
                    42
                ),
                expect("__name__=lat_seconds_sum,env=prod,region=eu", 2.5, 42),
                expect("__name__=lat_seconds_count,env=prod,region=eu", 3.0, 42),
                expect("__name__=rpc,env=prod,quantile=0.99,region=eu", 7.0, 1000),
                expect("__name__=rpc_sum,env=prod,region=eu", 9.0, 1000),
                expect("__name__=rpc_count,env=prod,region=eu", 4.0, 1000),
                expect("__name__=temp,env=prod,region=eu", -1.5, 1000),
            ]
        );
    }
}

#[cfg(test)]
mod native_tests {
    use super::*;
    use crate::model::{Bucket, BucketSpan, Exemplar, Metric, MetricType};

    fn native() -> NativeHistogram {
        NativeHistogram::from_counts(0, 0.0, 1, [(1, 3), (2, 1)], [(0, 2)])
            .with_exemplars([Exemplar::new(vec![Label::new("trace_id", "a")], 1.5)
                .with_timestamp(std::time::UNIX_EPOCH)])
    }

    fn family(histograms: Vec<(&'static str, HistogramValue)>) -> Vec<MetricFamily> {
        let mut f = MetricFamily::new("lat", "h", MetricType::Histogram);
        for (kind, h) in histograms {
            f = f.with_metric(Metric::new(vec![Label::new("kind", kind)], h.into()));
        }
        vec![f]
    }

    /// `name{labels}` and what the series carries: a float or `native(count)`.
    fn flat(series: &[TimeSeries]) -> Vec<String> {
        series
            .iter()
            .map(|s| {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                let value = match (&s.samples[..], &s.histograms[..]) {
                    ([sample], []) => sample.value.to_string(),
                    ([], [h]) => format!("native({})", h.count),
                    other => panic!("one sample per series, got {other:?}"),
                };
                format!("{} {value}", labels.join(","))
            })
            .collect()
    }

    #[test]
    fn dual_and_native_only_histograms() {
        let dual = HistogramValue::new(vec![Bucket::new(1.0, 2), Bucket::new(4.0, 7)], 7, 9.5)
            .with_native(native());
        let native_only = HistogramValue::new(vec![], 7, 9.5).with_native(native());
        let families = family(vec![("dual", dual), ("native", native_only)]);
        let series = to_time_series(&families, &[], 5);
        assert_eq!(
            flat(&series),
            [
                "__name__=lat,kind=dual native(7)",
                "__name__=lat_bucket,kind=dual,le=1 2",
                "__name__=lat_bucket,kind=dual,le=4 7",
                "__name__=lat_bucket,kind=dual,le=+Inf 7",
                "__name__=lat_sum,kind=dual 9.5",
                "__name__=lat_count,kind=dual 7",
                "__name__=lat,kind=native native(7)",
                "__name__=lat_sum,kind=native 9.5",
                "__name__=lat_count,kind=native 7",
            ]
        );
        let h = &series[0].histograms[0];
        assert_eq!((h.sum, h.timestamp_ms), (9.5, 5));
        // The buckets as given, the exemplars left out (remote write 1.0 sends none).
        assert_eq!(h.native, without_exemplars(&native()));
        assert!(h.native.exemplars.is_empty());
    }

    #[test]
    fn without_native_histograms_a_histogram_is_its_float_series() {
        let native_only = HistogramValue::new(vec![], 7, 9.5).with_native(native());
        let series = series_of(&family(vec![("native", native_only)]), &[], 5, false);
        assert_eq!(
            flat(&series),
            [
                "__name__=lat_bucket,kind=native,le=+Inf 7",
                "__name__=lat_sum,kind=native 9.5",
                "__name__=lat_count,kind=native 7",
            ]
        );
    }

    #[test]
    fn inconsistent_native_buckets_are_sent_as_floats_only() {
        let good = native();
        let mut too_few_deltas = good.clone();
        too_few_deltas.positive_deltas.pop();
        let mut negative_count = good.clone();
        negative_count.positive_deltas = vec![1, -2];
        let mut negative_later_offset = good.clone();
        negative_later_offset.positive_spans = vec![BucketSpan::new(1, 1), BucketSpan::new(-1, 1)];
        let mut bad_schema = good.clone();
        bad_schema.schema = 9;
        let mut nan_threshold = good.clone();
        nan_threshold.zero_threshold = f64::NAN;
        let mut overflow = good.clone();
        overflow.positive_deltas = vec![i64::MAX, 1];
        let cases = [
            (good, 7, true),
            (native(), 6, false), // more in the buckets (1 + 4 + 2) than the count
            (too_few_deltas, 7, false),
            (negative_count, 7, false),
            (negative_later_offset, 7, false),
            (bad_schema, 7, false),
            (nan_threshold, 7, false),
            (overflow, u64::MAX, false),
        ];
        for (i, (native, count, sent)) in cases.into_iter().enumerate() {
            let h = HistogramValue::new(vec![], count, 1.0).with_native(native);
            let series = to_time_series(&family(vec![("x", h)]), &[], 5);
            let natives = series.iter().filter(|s| !s.histograms.is_empty()).count();
            assert_eq!(natives, usize::from(sent), "case {i}");
            // Never lost: the classic side is sent either way.
            let names: Vec<&str> = series.iter().map(|s| s.labels[0].value.as_str()).collect();
            assert!(names.contains(&"lat_count"), "case {i}: {names:?}");
        }
    }
}
