//! The recorder's storage: one cell per series, read at scrape time.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use metrics::{CounterFn, GaugeFn, HistogramFn, Key, KeyName, SharedString, Unit};

use crate::gather::Gathered;
use crate::metrics::{Buckets, HistogramCore};
use crate::model::{
    Bucket, CounterValue, HistogramValue, Label, Metric, MetricFamily, MetricType, Str, Value,
};
use crate::util::{read, write};

use super::config::{ByName, HistogramLayout};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
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

/// A histogram series: classic buckets counted here, or native (or dual) ones
/// recorded by promhttp's own histogram storage.
pub(super) enum HistogramCell {
    Classic(ClassicCell),
    /// Boxed: the storage is large, and most series are classic.
    Native(Box<HistogramCore>),
}

impl HistogramCell {
    fn new(layout: &HistogramLayout, buckets: &Buckets) -> Self {
        match layout {
            HistogramLayout::Classic => HistogramCell::Classic(ClassicCell {
                bounds: buckets.shared(),
                buckets: (0..=buckets.bounds().len())
                    .map(|_| AtomicU64::new(0))
                    .collect(),
                sum: GaugeCell(AtomicU64::new(0f64.to_bits())),
            }),
            HistogramLayout::Native(native) => {
                HistogramCell::Native(Box::new(HistogramCore::new(None, Some(native))))
            }
            HistogramLayout::Dual(native) => {
                HistogramCell::Native(Box::new(HistogramCore::new(Some(buckets), Some(native))))
            }
        }
    }

    /// The series' value, all from one moment for a native series.
    fn value(&self) -> HistogramValue {
        match self {
            HistogramCell::Classic(c) => c.value(),
            HistogramCell::Native(core) => core.collect(),
        }
    }
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        match self {
            HistogramCell::Classic(c) => c.record_many(value, 1),
            HistogramCell::Native(core) => core.observe(value),
        }
    }

    /// A native series records the value `count` times (its storage takes one
    /// observation at a time).
    fn record_many(&self, value: f64, count: usize) {
        match self {
            HistogramCell::Classic(c) => c.record_many(value, count),
            HistogramCell::Native(core) => {
                for _ in 0..count {
                    core.observe(value);
                }
            }
        }
    }
}

pub(super) struct ClassicCell {
    pub(super) bounds: Arc<[f64]>,
    /// Per-bucket (not cumulative) counts; the last is `+Inf`.
    pub(super) buckets: Box<[AtomicU64]>,
    pub(super) sum: GaugeCell,
}

impl ClassicCell {
    pub(super) fn record_many(&self, value: f64, count: usize) {
        // NaN counts in +Inf, as in the Go client.
        let i = if value.is_nan() {
            self.bounds.len()
        } else {
            self.bounds.partition_point(|b| *b < value)
        };
        self.buckets[i].fetch_add(count as u64, Ordering::Relaxed);
        self.sum.update(|s| s + value * count as f64);
    }

    fn value(&self) -> HistogramValue {
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            buckets.push(Bucket {
                upper_bound: self.bounds.get(i).copied().unwrap_or(f64::INFINITY),
                cumulative_count: cumulative,
                exemplar: None,
            });
        }
        // The count is the sum of the buckets read, so the two agree.
        HistogramValue {
            buckets,
            count: cumulative,
            sum: f64::from_bits(self.sum.0.load(Ordering::Relaxed)),
            native: None,
        }
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

pub(super) struct Inner {
    pub(super) buckets: ByName<Buckets>,
    pub(super) layouts: ByName<HistogramLayout>,
    pub(super) maps: RwLock<Maps>,
    /// Help and unit per (family name, kind).
    pub(super) descriptions: RwLock<HashMap<(String, Kind), Description>>,
}

impl Inner {
    pub(super) fn new(buckets: ByName<Buckets>, layouts: ByName<HistogramLayout>) -> Self {
        Inner {
            buckets,
            layouts,
            maps: RwLock::default(),
            descriptions: RwLock::default(),
        }
    }
}

impl Default for Inner {
    fn default() -> Self {
        Inner::new(
            ByName::only(Buckets::default()),
            ByName::only(HistogramLayout::Classic),
        )
    }
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
                    Kind::Histogram => Cell::Histogram(Arc::new(HistogramCell::new(
                        self.layouts.for_name(key.name()),
                        self.buckets.for_name(key.name()),
                    ))),
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
                Cell::Histogram(h) => Value::Histogram(h.value()),
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
    use crate::metrics::NativeBuckets;

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
        assert_eq!(b.for_name("a_b").bounds(), &[3.0]);
        assert_eq!(b.for_name("a_c").bounds(), &[5.0]);
        assert_eq!(b.for_name("ax").bounds(), &[4.0]);
        assert_eq!(b.for_name("x").bounds(), &[1.0]);
        let h = ClassicCell {
            bounds: Arc::from(&[1.0][..]),
            buckets: (0..2).map(|_| AtomicU64::new(0)).collect(),
            sum: GaugeCell(AtomicU64::new(0)),
        };
        h.record_many(f64::NAN, 1);
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

    #[test]
    fn layouts_by_name_and_prefix() {
        let native = NativeBuckets::new(2.0).unwrap(); // schema 0
        let r = PrometheusRecorder::builder()
            .buckets_for_prefix("d", &[1.0])
            .default_histogram(HistogramLayout::Native(native.clone()))
            .histogram_for_prefix("c", HistogramLayout::Classic)
            .histogram_for_prefix("d", HistogramLayout::Dual(native.clone()))
            .histogram_for("c_native", HistogramLayout::Native(native.clone()))
            .build()
            .unwrap();
        let layouts = &r.inner.layouts;
        assert_eq!(layouts.for_name("c_x"), &HistogramLayout::Classic);
        assert_eq!(
            layouts.for_name("c_native"),
            &HistogramLayout::Native(native.clone())
        );
        assert_eq!(
            layouts.for_name("dx"),
            &HistogramLayout::Dual(native.clone())
        );
        assert_eq!(layouts.for_name("x"), &HistogramLayout::Native(native));
        // The default stays classic.
        let plain = PrometheusRecorder::new();
        assert_eq!(plain.inner.layouts.for_name("x"), &HistogramLayout::Classic);

        metrics::with_local_recorder(&r, || {
            for name in ["c_x", "c_native", "dx"] {
                let h = metrics::histogram!(name);
                h.record(1.5);
                h.record(3.0);
                // Three more of 0.75, and a NaN (count and sum, no native bucket).
                metrics::histogram!(name).record_many(0.75, 3);
                h.record(f64::NAN);
            }
        });
        let mut out = Gathered::default();
        r.inner.gather(&mut out);
        let value = |name: &str| match &out
            .families
            .iter()
            .find(|f| f.name == name)
            .unwrap()
            .metrics[0]
            .value
        {
            Value::Histogram(h) => h.clone(),
            other => panic!("{other:?}"),
        };
        let classic = value("c_x");
        assert!(classic.native.is_none());
        assert_eq!(
            (classic.count, classic.buckets.len()),
            (6, DEFAULT_BUCKETS.len() + 1)
        );
        assert!(classic.sum.is_nan());

        // Schema 0: 0.75 in bucket 0, (0.5, 1]; 1.5 in bucket 1; 3 in bucket 2.
        let native = value("c_native");
        assert!(native.buckets.is_empty());
        assert_eq!(native.count, 6);
        let n = native.native.as_ref().unwrap();
        assert_eq!(n.schema, 0);
        assert_eq!(
            n.positive_counts().collect::<Vec<_>>(),
            [(0, 3), (1, 1), (2, 1)]
        );

        let dual = value("dx");
        assert_eq!(dual.buckets, [Bucket::new(1.0, 3)]);
        assert_eq!(dual.count, 6);
        assert_eq!(
            dual.native
                .as_ref()
                .unwrap()
                .positive_counts()
                .collect::<Vec<_>>(),
            [(0, 3), (1, 1), (2, 1)]
        );
    }
}
