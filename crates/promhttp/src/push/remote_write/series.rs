//! Gathered families turned into remote write [`TimeSeries`], one sample each.

use std::sync::Arc;

use crate::encode::float::write_float;
use crate::model::time::to_millis;
use crate::model::{Label, MetricFamily, Str, Value};

/// One sample of a remote write time series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// The value.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// One remote write time series: labels (`__name__` included, sorted by name) and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSeries {
    /// The labels, `__name__` included, sorted by name.
    pub labels: Vec<Label>,
    /// The samples, oldest first.
    pub samples: Vec<Sample>,
}

/// Turns gathered families into remote write series, one sample each (see the
/// [module docs](super#series) for names and labels).
///
/// `external_labels` are added to each series that has no label of the same name;
/// `timestamp_ms` is used for metrics without their own timestamp.
pub fn to_time_series(
    families: &[MetricFamily],
    external_labels: &[Label],
    timestamp_ms: i64,
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
            let mut push = |full_name: &Str, extra: Option<(&'static str, f64)>, value: f64| {
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
                out.push(TimeSeries {
                    labels,
                    samples: vec![Sample {
                        value,
                        timestamp_ms: ts,
                    }],
                });
            };
            match &metric.value {
                Value::Counter(c) => push(&names.plain, None, c.value),
                Value::Gauge(v) | Value::Untyped(v) => push(&names.plain, None, *v),
                Value::Histogram(h) => {
                    let mut has_inf = false;
                    for b in &h.buckets {
                        has_inf |= b.upper_bound == f64::INFINITY;
                        push(
                            &names.bucket,
                            Some(("le", b.upper_bound)),
                            b.cumulative_count as f64,
                        );
                    }
                    if !has_inf {
                        push(&names.bucket, Some(("le", f64::INFINITY)), h.count as f64);
                    }
                    push(&names.sum, None, h.sum);
                    push(&names.count, None, h.count as f64);
                }
                Value::Summary(s) => {
                    for q in &s.quantiles {
                        push(&names.plain, Some(("quantile", q.quantile)), q.value);
                    }
                    push(&names.sum, None, s.sum);
                    push(&names.count, None, s.count as f64);
                }
            }
        }
    }
    out
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
