//! The recorder's storage: one cell per series, read at scrape time.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use metrics::{CounterFn, GaugeFn, HistogramFn, Key, KeyName, SharedString, Unit};

use crate::gather::Gathered;
use crate::model::{
    Bucket, CounterValue, HistogramValue, Label, Metric, MetricFamily, MetricType, Str, Value,
};
use crate::util::{read, write};

use super::DEFAULT_BUCKETS;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

pub(super) struct BucketConfig {
    pub(super) default: Arc<[f64]>,
    pub(super) exact: HashMap<String, Arc<[f64]>>,
    /// Longest prefix first.
    pub(super) prefix: Vec<(String, Arc<[f64]>)>,
}

impl Default for BucketConfig {
    fn default() -> Self {
        BucketConfig {
            default: Arc::from(&DEFAULT_BUCKETS[..]),
            exact: HashMap::new(),
            prefix: Vec::new(),
        }
    }
}

impl BucketConfig {
    fn for_name(&self, name: &str) -> Arc<[f64]> {
        if let Some(b) = self.exact.get(name) {
            return b.clone();
        }
        self.prefix
            .iter()
            .find(|(p, _)| name.starts_with(p.as_str()))
            .map_or_else(|| self.default.clone(), |(_, b)| b.clone())
    }
}

pub(super) struct CounterCell(AtomicU64);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

pub(super) struct GaugeCell(AtomicU64);

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let new = f(f64::from_bits(cur)).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(x) => cur = x,
            }
        }
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value)
    }
    fn decrement(&self, value: f64) {
        self.update(|v| v - value)
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed)
    }
}

pub(super) struct HistogramCell {
    pub(super) bounds: Arc<[f64]>,
    /// Per-bucket (not cumulative) counts; the last is `+Inf`.
    pub(super) buckets: Box<[AtomicU64]>,
    pub(super) sum: GaugeCell,
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        self.record_many(value, 1)
    }
    fn record_many(&self, value: f64, count: usize) {
        // NaN counts in +Inf, as in the Go client.
        let i = if value.is_nan() {
            self.bounds.len()
        } else {
            self.bounds.partition_point(|b| *b < value)
        };
        self.buckets[i].fetch_add(count as u64, Ordering::Relaxed);
        self.sum.update(|s| s + value * count as f64);
    }
}

#[derive(Clone)]
pub(super) enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

/// A series' identity once sanitized: family name (with `_total` for counters),
/// kind, labels sorted by name.
pub(super) type SeriesKey = (String, Kind, Vec<(String, String)>);

pub(super) struct Series {
    pub(super) cell: Cell,
    pub(super) created: SystemTime,
}

#[derive(Default)]
pub(super) struct Maps {
    /// Exact `metrics` keys seen, to their cell; one map per [`Kind`].
    pub(super) by_key: [HashMap<Key, Cell>; 3],
    /// Every series, in exposition order.
    pub(super) series: BTreeMap<SeriesKey, Series>,
}

/// A family's help and unit, from `describe_*`.
pub(super) type Description = (SharedString, Option<Unit>);

#[derive(Default)]
pub(super) struct Inner {
    pub(super) buckets: BucketConfig,
    pub(super) maps: RwLock<Maps>,
    /// Help and unit per (family name, kind).
    pub(super) descriptions: RwLock<HashMap<(String, Kind), Description>>,
}

/// `name` with characters outside `[a-zA-Z0-9_:]` replaced by `_`, and `_` before a
/// leading digit (or for an empty name).
pub(super) fn sanitize_metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// `name` with characters outside `[a-zA-Z0-9_]` replaced by `_`, `_` before a
/// leading digit (or for an empty name), and leading `__` reduced to `_`.
pub(super) fn sanitize_label_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    let extra = out.bytes().take_while(|b| *b == b'_').count();
    if extra > 1 {
        if out.len() == extra {
            // Only underscores: keep one.
            out.truncate(1);
        } else {
            out.drain(..extra - 1);
        }
    }
    out
}

pub(super) fn family_name(kind: Kind, name: &str) -> String {
    let mut n = sanitize_metric_name(name);
    if kind == Kind::Counter && !n.ends_with("_total") {
        n.push_str("_total");
    }
    n
}

impl Inner {
    pub(super) fn register(&self, kind: Kind, key: &Key) -> Cell {
        if let Some(c) = read(&self.maps).by_key[kind as usize].get(key) {
            return c.clone();
        }
        let name = family_name(kind, key.name());
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (sanitize_label_name(l.key()), l.value().to_owned()))
            .collect();
        labels.sort();
        let skey = (name, kind, labels);
        let mut maps = write(&self.maps);
        let cell = match maps.series.get(&skey) {
            Some(s) => s.cell.clone(),
            None => {
                let cell = match kind {
                    Kind::Counter => Cell::Counter(Arc::new(CounterCell(AtomicU64::new(0)))),
                    Kind::Gauge => Cell::Gauge(Arc::new(GaugeCell(AtomicU64::new(0)))),
                    Kind::Histogram => {
                        let bounds = self.buckets.for_name(key.name());
                        Cell::Histogram(Arc::new(HistogramCell {
                            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                            bounds,
                            sum: GaugeCell(AtomicU64::new(0f64.to_bits())),
                        }))
                    }
                };
                maps.series.insert(
                    skey,
                    Series {
                        cell: cell.clone(),
                        created: SystemTime::now(),
                    },
                );
                cell
            }
        };
        maps.by_key[kind as usize].insert(key.clone(), cell.clone());
        cell
    }

    pub(super) fn describe(
        &self,
        kind: Kind,
        key: KeyName,
        unit: Option<Unit>,
        help: SharedString,
    ) {
        let name = family_name(kind, key.as_str());
        write(&self.descriptions).insert((name, kind), (help, unit));
    }

    pub(super) fn gather(&self, out: &mut Gathered) {
        let descriptions = read(&self.descriptions);
        let maps = read(&self.maps);
        let mut current: Option<MetricFamily> = None;
        let mut current_key: Option<(&str, Kind)> = None;
        for ((name, kind, labels), series) in &maps.series {
            if current_key != Some((name.as_str(), *kind)) {
                out.families.extend(current.take());
                current_key = Some((name.as_str(), *kind));
                let metric_type = match kind {
                    Kind::Counter => MetricType::Counter,
                    Kind::Gauge => MetricType::Gauge,
                    Kind::Histogram => MetricType::Histogram,
                };
                let mut f = MetricFamily::new(name.clone(), Str::default(), metric_type);
                if let Some((help, unit)) = descriptions.get(&(name.clone(), *kind)) {
                    f.help = Str::Owned(help.to_string());
                    let base = name
                        .strip_suffix("_total")
                        .filter(|_| *kind == Kind::Counter);
                    let base = base.unwrap_or(name);
                    f.unit = match unit {
                        Some(Unit::Seconds) if base.ends_with("_seconds") => Str::Static("seconds"),
                        Some(Unit::Bytes) if base.ends_with("_bytes") => Str::Static("bytes"),
                        _ => Str::default(),
                    };
                }
                current = Some(f);
            }
            let labels: Vec<Label> = labels
                .iter()
                .map(|(n, v)| Label::new(n.clone(), v.clone()))
                .collect();
            let value = match &series.cell {
                Cell::Counter(c) => Value::Counter(CounterValue {
                    value: c.0.load(Ordering::Relaxed) as f64,
                    exemplar: None,
                }),
                Cell::Gauge(g) => Value::Gauge(f64::from_bits(g.0.load(Ordering::Relaxed))),
                Cell::Histogram(h) => {
                    let mut cumulative = 0u64;
                    let mut buckets = Vec::with_capacity(h.buckets.len());
                    for (i, b) in h.buckets.iter().enumerate() {
                        cumulative += b.load(Ordering::Relaxed);
                        buckets.push(Bucket {
                            upper_bound: h.bounds.get(i).copied().unwrap_or(f64::INFINITY),
                            cumulative_count: cumulative,
                            exemplar: None,
                        });
                    }
                    // The count is the sum of the buckets read, so the two agree.
                    Value::Histogram(HistogramValue {
                        buckets,
                        count: cumulative,
                        sum: f64::from_bits(h.sum.0.load(Ordering::Relaxed)),
                        native: None,
                    })
                }
            };
            let mut m = Metric::new(labels, value);
            if *kind != Kind::Gauge {
                m.created = Some(series.created);
            }
            if let Some(f) = current.as_mut() {
                f.metrics.push(m);
            }
        }
        out.families.extend(current);
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize_metric_name("http.requests-x"), "http_requests_x");
        assert_eq!(sanitize_metric_name("9lives"), "_9lives");
        assert_eq!(sanitize_metric_name(""), "_");
        assert_eq!(sanitize_metric_name("a:b"), "a:b");
        assert_eq!(sanitize_metric_name("Björn"), "Bj_rn");
        assert_eq!(sanitize_label_name("status-code"), "status_code");
        assert_eq!(sanitize_label_name("a:b"), "a_b");
        assert_eq!(sanitize_label_name("__name__"), "_name__");
        assert_eq!(sanitize_label_name("___"), "_");
        assert_eq!(sanitize_label_name("1x"), "_1x");
        for n in ["http.requests-x", "9lives", "", "Björn"] {
            assert!(crate::model::is_valid_metric_name(&sanitize_metric_name(n)));
        }
        for n in ["__name__", "___", "1x", "", "é", "_"] {
            assert!(
                crate::model::is_valid_label_name(&sanitize_label_name(n)),
                "{n}"
            );
        }
    }

    #[test]
    fn bucket_selection() {
        let r = PrometheusRecorder::builder()
            .default_buckets(&[1.0, f64::INFINITY])
            .buckets_for("a_b", &[3.0])
            .buckets_for_prefix("a", &[4.0])
            .buckets_for_prefix("a_", &[5.0])
            .build()
            .unwrap();
        let b = &r.inner.buckets;
        assert_eq!(&*b.for_name("a_b"), &[3.0]);
        assert_eq!(&*b.for_name("a_c"), &[5.0]);
        assert_eq!(&*b.for_name("ax"), &[4.0]);
        assert_eq!(&*b.for_name("x"), &[1.0]);
        let h = HistogramCell {
            bounds: Arc::from(&[1.0][..]),
            buckets: (0..2).map(|_| AtomicU64::new(0)).collect(),
            sum: GaugeCell(AtomicU64::new(0)),
        };
        h.record(f64::NAN);
        h.record_many(0.5, 3);
        assert_eq!(h.buckets[0].load(Ordering::Relaxed), 3);
        assert_eq!(h.buckets[1].load(Ordering::Relaxed), 1);
        let x = || Some("x".to_owned());
        let cases = [
            (&[][..], InvalidBuckets::NoFiniteBound { histograms: x() }),
            (
                &[f64::INFINITY],
                InvalidBuckets::NoFiniteBound { histograms: x() },
            ),
            (
                &[1.0, 1.0],
                InvalidBuckets::NotIncreasing {
                    histograms: x(),
                    bound: 1.0,
                    previous: 1.0,
                },
            ),
            (
                &[2.0, 3.0, 1.0],
                InvalidBuckets::NotIncreasing {
                    histograms: x(),
                    bound: 1.0,
                    previous: 3.0,
                },
            ),
            (&[f64::NAN], InvalidBuckets::NanBound { histograms: x() }),
        ];
        for (bad, want) in cases {
            let err = PrometheusRecorder::builder()
                .buckets_for("x", bad)
                .build()
                .err();
            assert_eq!(err, Some(want), "{bad:?}");
        }
        let err = PrometheusRecorder::builder()
            .default_buckets(&[])
            .build()
            .err()
            .unwrap();
        assert_eq!(err.histograms(), None);
        assert_eq!(
            err.to_string(),
            "invalid default histogram buckets: no finite bound"
        );
    }
}
