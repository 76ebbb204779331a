//! The metric store: one cell of atomics per label set, found by an exact-match map,
//! read into the [model](crate::model) by [`Gather`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use crate::gather::{Gather, Gathered};
use crate::model::{
    Bucket, CounterValue, Exemplar, HistogramValue, Label, Metric, MetricFamily, MetricType, Str,
    Value,
};

use super::labels::{code_value, Interner, Methods};
use crate::util::{lock, read, write};

/// The most request-derived labels (besides `route`) one set of metrics may have.
pub const MAX_REQUEST_LABELS: usize = 4;

/// The histograms the store can keep, in cell order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HistKind {
    Duration = 0,
    RequestSize = 1,
    ResponseSize = 2,
    TimeToWriteHeader = 3,
}

pub(crate) const HIST_KINDS: usize = 4;

/// A histogram family's definition.
#[derive(Clone, Debug)]
pub(crate) struct HistSpec {
    pub name: Arc<str>,
    pub help: Arc<str>,
    pub bounds: Arc<[f64]>,
}

/// The counter of label values recorded as the overflow value: one series per
/// bounded label, its name as the value of `label`.
#[derive(Clone, Debug)]
pub(crate) struct OverflowCounter {
    pub name: Arc<str>,
    pub help: Arc<str>,
    pub label: Arc<str>,
}

/// Where one label's value comes from.
#[derive(Clone, Debug)]
pub(crate) enum LabelSource {
    Const(Arc<str>),
    Method,
    Code,
    Route,
    Request(usize),
}

/// The series key: ids only, so the lookup hashes a few integers and compares them
/// exactly. Ids come from exact-match interners, never from a hash of the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub method: u16,
    pub code: u16,
    pub route: u32,
    pub request: [u32; MAX_REQUEST_LABELS],
}

/// A fast hasher for [`Key`]s: a few integers, bounded in number by the label limits,
/// so flooding is not a concern and SipHash's cost is not needed. Equality still
/// decides: the map compares whole keys.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type Cells = HashMap<Key, Arc<Cell>, std::hash::BuildHasherDefault<KeyHasher>>;

/// One histogram's atomics: per-bucket (not cumulative) counts, the last for `+Inf`.
#[derive(Debug)]
pub(crate) struct Hist {
    buckets: Box<[AtomicU64]>,
    sum_bits: AtomicU64,
}

impl Hist {
    fn new(bounds: usize) -> Self {
        Hist {
            buckets: (0..=bounds).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Counts `v` in its bucket; returns the bucket index.
    #[inline]
    fn observe(&self, bounds: &[f64], v: f64) -> usize {
        let i = bounds.partition_point(|b| *b < v);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let mut cur = self.sum_bits.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + v).to_bits();
            match self.sum_bits.compare_exchange_weak(
                cur,
                new,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(x) => cur = x,
            }
        }
        i
    }
}

/// The last exemplar of one sample: labels, value, time.
#[derive(Clone, Debug)]
struct Ex {
    labels: Arc<[Label]>,
    value: f64,
    time: SystemTime,
}

impl Ex {
    fn to_model(&self) -> Box<Exemplar> {
        Box::new(Exemplar {
            labels: self.labels.to_vec(),
            value: self.value,
            timestamp: Some(self.time),
        })
    }
}

#[derive(Debug, Default)]
struct CellExemplars {
    counter: Option<Ex>,
    /// Per histogram kind, per bucket.
    hists: [Vec<Option<Ex>>; HIST_KINDS],
}

/// Every metric of one label set.
#[derive(Debug)]
pub(crate) struct Cell {
    requests: AtomicU64,
    hists: [Option<Hist>; HIST_KINDS],
    exemplars: Mutex<Option<Box<CellExemplars>>>,
    created: SystemTime,
}

/// One finished request, ready to record.
#[derive(Debug)]
pub(crate) struct Observation<'a> {
    pub duration: f64,
    pub request_size: u64,
    pub response_size: u64,
    pub time_to_write_header: Option<f64>,
    pub exemplar: Option<&'a Arc<[Label]>>,
}

/// The definition and the data of a set of HTTP metrics.
#[derive(Debug)]
pub(crate) struct Store {
    pub counter: Option<(Arc<str>, Arc<str>)>,
    pub hists: [Option<HistSpec>; HIST_KINDS],
    pub in_flight: Option<(Arc<str>, Arc<str>)>,
    /// Labels of every metric but the in-flight gauge, sorted by name.
    pub labels: Vec<(Arc<str>, LabelSource)>,
    /// Constant labels only, sorted by name (the in-flight gauge's).
    pub const_labels: Vec<(Arc<str>, Arc<str>)>,
    pub use_method: bool,
    pub use_code: bool,
    pub methods: Methods,
    pub route: Option<Interner>,
    pub request_labels: Vec<Interner>,
    /// The overflow counter (present when there are bounded labels, unless disabled).
    pub overflow_counter: Option<OverflowCounter>,
    pub error_code: u16,
    pub in_flight_value: AtomicI64,
    cells: RwLock<Cells>,
}

#[allow(clippy::too_many_arguments)]
impl Store {
    pub(crate) fn new(
        counter: Option<(Arc<str>, Arc<str>)>,
        hists: [Option<HistSpec>; HIST_KINDS],
        in_flight: Option<(Arc<str>, Arc<str>)>,
        labels: Vec<(Arc<str>, LabelSource)>,
        const_labels: Vec<(Arc<str>, Arc<str>)>,
        methods: Methods,
        route: Option<Interner>,
        request_labels: Vec<Interner>,
        overflow_counter: Option<OverflowCounter>,
        error_code: u16,
    ) -> Self {
        let use_method = labels.iter().any(|(_, s)| matches!(s, LabelSource::Method));
        let use_code = labels.iter().any(|(_, s)| matches!(s, LabelSource::Code));
        Store {
            counter,
            hists,
            in_flight,
            labels,
            const_labels,
            use_method,
            use_code,
            methods,
            route,
            request_labels,
            overflow_counter,
            error_code,
            in_flight_value: AtomicI64::new(0),
            cells: RwLock::new(Cells::default()),
        }
    }

    /// The number of label sets seen.
    pub(crate) fn series(&self) -> usize {
        read(&self.cells).len()
    }

    /// Whether anything is recorded when a request finishes.
    pub(crate) fn records(&self) -> bool {
        self.counter.is_some() || self.hists.iter().any(Option::is_some)
    }

    fn cell(&self, key: &Key) -> Arc<Cell> {
        if let Some(c) = read(&self.cells).get(key) {
            return c.clone();
        }
        let mut cells = write(&self.cells);
        cells
            .entry(*key)
            .or_insert_with(|| {
                Arc::new(Cell {
                    requests: AtomicU64::new(0),
                    hists: std::array::from_fn(|i| {
                        self.hists[i].as_ref().map(|s| Hist::new(s.bounds.len()))
                    }),
                    exemplars: Mutex::new(None),
                    created: SystemTime::now(),
                })
            })
            .clone()
    }

    /// Records one finished request under `key`.
    pub(crate) fn record(&self, key: &Key, o: &Observation<'_>) {
        if !self.records() {
            return;
        }
        // The common case: the series exists; observe under the read lock, without
        // touching the cell's reference count.
        {
            let cells = read(&self.cells);
            if let Some(cell) = cells.get(key) {
                self.observe(cell, o);
                return;
            }
        }
        let cell = self.cell(key);
        self.observe(&cell, o);
    }

    fn observe(&self, cell: &Cell, o: &Observation<'_>) {
        let mut hit = [None; HIST_KINDS];
        if self.counter.is_some() {
            cell.requests.fetch_add(1, Ordering::Relaxed);
        }
        let values = [
            Some(o.duration),
            Some(o.request_size as f64),
            Some(o.response_size as f64),
            o.time_to_write_header,
        ];
        for (i, (h, spec)) in cell.hists.iter().zip(&self.hists).enumerate() {
            if let (Some(h), Some(spec), Some(v)) = (h, spec, values[i]) {
                hit[i] = Some((h.observe(&spec.bounds, v), v));
            }
        }
        if let Some(labels) = o.exemplar {
            let time = SystemTime::now();
            let mut slot = lock(&cell.exemplars);
            let ex = slot.get_or_insert_with(Default::default);
            if self.counter.is_some() {
                ex.counter = Some(Ex {
                    labels: labels.clone(),
                    value: 1.0,
                    time,
                });
            }
            for (i, hit) in hit.iter().enumerate() {
                if let (Some((b, v)), Some(spec)) = (hit, &self.hists[i]) {
                    let per_bucket = &mut ex.hists[i];
                    if per_bucket.is_empty() {
                        per_bucket.resize(spec.bounds.len() + 1, None);
                    }
                    if let Some(s) = per_bucket.get_mut(*b) {
                        *s = Some(Ex {
                            labels: labels.clone(),
                            value: *v,
                            time,
                        });
                    }
                }
            }
        }
    }

    fn series_labels(&self, key: &Key) -> Vec<Label> {
        self.labels
            .iter()
            .map(|(name, source)| {
                let value = match source {
                    LabelSource::Const(v) => Str::Shared(v.clone()),
                    LabelSource::Method => self.methods.value(key.method),
                    LabelSource::Code => code_value(key.code),
                    LabelSource::Route => match &self.route {
                        Some(r) => Str::Shared(r.value(key.route)),
                        None => Str::Static(""),
                    },
                    LabelSource::Request(i) => match self.request_labels.get(*i) {
                        Some(r) => Str::Shared(r.value(key.request[*i])),
                        None => Str::Static(""),
                    },
                };
                Label {
                    name: Str::Shared(name.clone()),
                    value,
                }
            })
            .collect()
    }
}

fn consts(labels: &[(Arc<str>, Arc<str>)]) -> Vec<Label> {
    labels
        .iter()
        .map(|(n, v)| Label {
            name: Str::Shared(n.clone()),
            value: Str::Shared(v.clone()),
        })
        .collect()
}

impl Gather for Store {
    fn gather_into(&self, out: &mut Gathered) {
        let mut cells: Vec<(Key, Arc<Cell>)> = read(&self.cells)
            .iter()
            .map(|(k, c)| (*k, c.clone()))
            .collect();
        let mut families: Vec<MetricFamily> = Vec::new();
        let labelled: Vec<(Vec<Label>, Arc<Cell>)> = {
            let mut v: Vec<(Vec<Label>, Arc<Cell>)> = cells
                .drain(..)
                .map(|(k, c)| (self.series_labels(&k), c))
                .collect();
            v.sort_by(|a, b| {
                a.0.iter()
                    .map(|l| l.value.as_str())
                    .cmp(b.0.iter().map(|l| l.value.as_str()))
            });
            v
        };
        if let Some((name, help)) = &self.counter {
            let mut f = MetricFamily::new(
                Str::Shared(name.clone()),
                Str::Shared(help.clone()),
                MetricType::Counter,
            );
            for (labels, cell) in &labelled {
                let exemplar = exemplars(cell, |e| e.counter.as_ref().map(Ex::to_model));
                let mut m = Metric::new(
                    labels.clone(),
                    Value::Counter(CounterValue {
                        value: cell.requests.load(Ordering::Relaxed) as f64,
                        exemplar: exemplar.flatten(),
                    }),
                );
                m.created = Some(cell.created);
                f.metrics.push(m);
            }
            families.push(f);
        }
        for (kind, spec) in self.hists.iter().enumerate() {
            let Some(spec) = spec else { continue };
            let mut f = MetricFamily::new(
                Str::Shared(spec.name.clone()),
                Str::Shared(spec.help.clone()),
                MetricType::Histogram,
            );
            if spec.name.ends_with("_seconds") {
                f.unit = Str::Static("seconds");
            } else if spec.name.ends_with("_bytes") {
                f.unit = Str::Static("bytes");
            }
            for (labels, cell) in &labelled {
                let Some(h) = &cell.hists[kind] else { continue };
                let ex: Vec<Option<Box<Exemplar>>> = exemplars(cell, |e| {
                    e.hists[kind]
                        .iter()
                        .map(|x| x.as_ref().map(Ex::to_model))
                        .collect()
                })
                .unwrap_or_default();
                let mut cumulative = 0u64;
                let mut buckets = Vec::with_capacity(h.buckets.len());
                for (i, b) in h.buckets.iter().enumerate() {
                    cumulative += b.load(Ordering::Relaxed);
                    buckets.push(Bucket {
                        upper_bound: spec.bounds.get(i).copied().unwrap_or(f64::INFINITY),
                        cumulative_count: cumulative,
                        exemplar: ex.get(i).cloned().flatten(),
                    });
                }
                // The count is the sum of the buckets read, so the two always agree.
                let mut m = Metric::new(
                    labels.clone(),
                    Value::Histogram(HistogramValue {
                        buckets,
                        count: cumulative,
                        sum: f64::from_bits(h.sum_bits.load(Ordering::Relaxed)),
                        native: None,
                    }),
                );
                m.created = Some(cell.created);
                f.metrics.push(m);
            }
            families.push(f);
        }
        if let Some((name, help)) = &self.in_flight {
            families.push(
                MetricFamily::new(
                    Str::Shared(name.clone()),
                    Str::Shared(help.clone()),
                    MetricType::Gauge,
                )
                .with_metric(Metric::new(
                    consts(&self.const_labels),
                    Value::Gauge(self.in_flight_value.load(Ordering::Relaxed) as f64),
                )),
            );
        }
        if let Some(overflows) = &self.overflow_counter {
            let mut f = MetricFamily::new(
                Str::Shared(overflows.name.clone()),
                Str::Shared(overflows.help.clone()),
                MetricType::Counter,
            );
            for interner in self.route.iter().chain(&self.request_labels) {
                let mut labels = consts(&self.const_labels);
                labels.push(Label::new(
                    Str::Shared(overflows.label.clone()),
                    Str::Shared(interner.name.clone()),
                ));
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                f.metrics.push(Metric::new(
                    labels,
                    Value::counter(interner.overflows.load(Ordering::Relaxed) as f64),
                ));
            }
            f.metrics.sort_by(|a, b| {
                a.labels
                    .iter()
                    .map(|l| l.value.as_str())
                    .cmp(b.labels.iter().map(|l| l.value.as_str()))
            });
            families.push(f);
        }
        families.sort_by(|a, b| a.name.cmp(&b.name));
        out.families.extend(families);
    }
}

fn exemplars<T>(cell: &Cell, f: impl FnOnce(&CellExemplars) -> T) -> Option<T> {
    let slot = lock(&cell.exemplars);
    slot.as_deref().map(f)
}
