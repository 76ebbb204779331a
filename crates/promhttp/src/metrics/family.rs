//! A family's series, keyed by their label values with exact equality.
//!
//! Lookups hash the values with the family's keyed hasher (foldhash, seeded per
//! family at random, so label values sent by a client cannot be chosen to collide)
//! to find candidates, then compare every value: two label sets are the same series
//! only when their values are equal, never because their hashes are. A read lock
//! covers the lookup of an existing series; creating or removing one takes the write
//! lock. Recording through a handle takes no lock at all.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::SystemTime;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use super::labels::{hash_values, LabelValues, StoredValues};
use super::opts::Desc;
use super::MetricError;
use crate::model::{Label, Metric, MetricFamily, MetricType, Value};
use crate::util::{read, write};

/// One kind of metric: what a series stores and how it is read.
pub trait Kind: Send + Sync + 'static {
    /// The state of one series.
    type Core: Send + Sync + 'static;
    /// What every series of a family is made with (a histogram's buckets).
    type Config: Send + Sync + 'static;
    /// What a lookup returns.
    type Handle;
    /// The family's type.
    const TYPE: MetricType;
    /// A handle to a series.
    fn handle(series: Arc<Series<Self::Core>>) -> Self::Handle;
    /// A new series' state.
    fn core(config: &Self::Config) -> Self::Core;
    /// Sets `value` to the series' value now, reusing what it holds (a
    /// histogram's buckets) where it can.
    fn fill(config: &Self::Config, core: &Self::Core, value: &mut Value) {
        let _ = config;
        *value = Self::value(core);
    }
    /// The series' value now.
    fn value(core: &Self::Core) -> Value;
}

/// One series: its label values (in the family's label order), when it was
/// created, and its state.
pub struct Series<C> {
    pub(crate) values: StoredValues,
    pub(crate) created: SystemTime,
    pub(crate) core: C,
    pub(crate) kept: OnceLock<Box<super::page::Kept>>,
}

impl<C> Series<C> {
    fn new(values: StoredValues, core: C) -> Self {
        Series {
            values,
            created: SystemTime::now(),
            core,
            kept: OnceLock::new(),
        }
    }
}

type Map<C> = HashTable<Arc<Series<C>>>;

/// The label name of the overflow series (OpenTelemetry's convention).
pub(crate) const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// A family: its description and its series.
pub(crate) struct Family<K: Kind> {
    pub(crate) desc: Desc,
    pub(crate) config: K::Config,
    series: RwLock<Map<K::Core>>,
    hasher: RandomState,
    len: AtomicUsize,
    overflow: OnceLock<Arc<Series<K::Core>>>,
    /// Changes whenever a series is added or removed.
    pub(crate) generation: AtomicU64,
    pub(crate) page: super::page::PageCache<K::Core>,
}

impl<K: Kind> Family<K> {
    pub(crate) fn new(desc: Desc, config: K::Config) -> Self {
        Family {
            desc,
            config,
            series: RwLock::new(Map::new()),
            hasher: RandomState::default(),
            len: AtomicUsize::new(0),
            overflow: OnceLock::new(),
            generation: AtomicU64::new(0),
            page: Default::default(),
        }
    }

    /// The series with these values, created if needed.
    pub(crate) fn get(
        &self,
        values: &(impl LabelValues + ?Sized),
    ) -> Result<Arc<Series<K::Core>>, MetricError> {
        let expected = self.desc.label_names.len();
        if values.count() != expected {
            return Err(MetricError::LabelCount {
                metric: self.desc.name.to_string(),
                expected,
                got: values.count(),
            });
        }
        let hash = hash_values(&self.hasher, values);
        if let Some(found) = read(&self.series).find(hash, |s| s.values.equals(values)) {
            return Ok(found.clone());
        }
        let mut map = write(&self.series);
        if let Some(found) = map.find(hash, |s| s.values.equals(values)) {
            return Ok(found.clone());
        }
        if let Some(limit) = self.desc.max_series {
            if self.len.load(Ordering::Relaxed) >= limit.get() {
                return Err(MetricError::SeriesLimit {
                    metric: self.desc.name.to_string(),
                    limit: limit.get(),
                });
            }
        }
        let owned = StoredValues::new(values).ok_or_else(|| MetricError::LabelValueTooLong {
            metric: self.desc.name.to_string(),
        })?;
        let series = Arc::new(Series::new(owned, K::core(&self.config)));
        let hasher = &self.hasher;
        map.insert_unique(hash, series.clone(), |s| s.values.hash_with(hasher));
        self.len.fetch_add(1, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(series)
    }

    /// The series with these values; on any error, the overflow series (logged).
    pub(crate) fn get_or_overflow(
        &self,
        values: &(impl LabelValues + ?Sized),
    ) -> Arc<Series<K::Core>> {
        match self.get(values) {
            Ok(series) => series,
            Err(e) => {
                tracing::warn!(error = %e, "recording into the family's overflow series");
                self.overflow().clone()
            }
        }
    }

    pub(crate) fn overflow(&self) -> &Arc<Series<K::Core>> {
        self.overflow.get_or_init(|| {
            self.generation.fetch_add(1, Ordering::Release);
            Arc::new(Series::new(StoredValues::empty(), K::core(&self.config)))
        })
    }

    /// Removes the series with these values.
    pub(crate) fn remove(&self, values: &(impl LabelValues + ?Sized)) -> Result<(), MetricError> {
        let hash = hash_values(&self.hasher, values);
        let mut map = write(&self.series);
        match map.find_entry(hash, |s| s.values.equals(values)) {
            Ok(entry) => {
                entry.remove();
            }
            Err(_) => {
                return Err(MetricError::NoSuchSeries {
                    metric: self.desc.name.to_string(),
                })
            }
        }
        self.len.fetch_sub(1, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Removes every series but the overflow series.
    pub(crate) fn clear(&self) {
        write(&self.series).clear();
        self.len.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many series the family holds (the overflow series aside).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Every series, unordered (the overflow series last, when it exists).
    pub(crate) fn all(&self) -> Vec<Arc<Series<K::Core>>> {
        let map = read(&self.series);
        let mut out = Vec::with_capacity(map.len() + 1);
        out.extend(map.iter().cloned());
        drop(map);
        out.extend(self.overflow.get().cloned());
        out
    }

    /// The series' start time as the formats carry it: counters and histograms
    /// have one, gauges none.
    pub(crate) fn start_time(series: &Series<K::Core>) -> Option<SystemTime> {
        matches!(K::TYPE, MetricType::Counter | MetricType::Histogram).then_some(series.created)
    }

    /// The family in the model.
    pub(crate) fn collect(&self) -> MetricFamily {
        let all = self.all();
        let mut family = MetricFamily::new(self.desc.name.clone(), self.desc.help.clone(), K::TYPE)
            .with_unit(self.desc.unit.clone());
        family.metrics.reserve(all.len());
        for series in all {
            let labels = self.labels(&series.values);
            let mut metric = Metric::new(labels, K::value(&series.core));
            metric.created = Self::start_time(&series);
            family.metrics.push(metric);
        }
        family
    }

    /// A series' labels: the constant ones, then the variable ones; the overflow
    /// series (no values) carries only the overflow label besides the constant ones.
    fn labels(&self, values: &StoredValues) -> Vec<Label> {
        let names = &self.desc.label_names;
        let mut labels = Vec::with_capacity(self.desc.const_labels.len() + names.len().max(1));
        labels.extend(self.desc.const_labels.iter().cloned());
        if values.is_empty() && !names.is_empty() {
            labels.push(Label::new(OVERFLOW_LABEL, "true"));
        }
        for (name, value) in names.iter().zip(values.iter()) {
            labels.push(Label::new(name.clone(), value.to_owned()));
        }
        labels
    }
}

/// What a standalone metric registers: its family; a series taken from a
/// `*Vec` family has none of its own.
pub(crate) fn collector<K: Kind>(
    family: Option<&Arc<Family<K>>>,
) -> Result<Arc<dyn super::registry::Collect>, MetricError> {
    match family {
        Some(family) => Ok(family.clone()),
        None => Err(MetricError::NotAFamily),
    }
}

/// The value of a family with no labels: its one series, made at once.
pub(crate) fn single<K: Kind>(family: &Family<K>) -> Arc<Series<K::Core>> {
    // No labels: the lookup cannot fail; the overflow series stands in if it did.
    family.get_or_overflow(&[] as &[&str])
}

impl<K: Kind> super::registry::Collect for Family<K> {
    fn name(&self) -> &str {
        &self.desc.name
    }

    fn collect_into(self: Arc<Self>, out: &mut crate::gather::Gathered) {
        out.push_direct(self);
    }
}
