//! A family's series, keyed by their label values with exact equality.
//!
//! Lookups hash the values with the family's keyed hasher (foldhash, seeded per
//! family at random, so label values sent by a client cannot be chosen to collide)
//! to find candidates, then compare every value: two label sets are the same series
//! only when their values are equal, never because their hashes are. The lookup of
//! an existing series takes no lock and writes nothing shared ([`table`](super::table));
//! creating or removing one takes the table's mutex. Recording through a handle
//! takes no lock at all.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use foldhash::fast::RandomState;

use super::epoch::{self, Guard};
use super::labels::{hash_values, LabelValues, StoredValues};
use super::opts::Desc;
use super::table::Table;
use super::MetricError;
use crate::encode::blocks::BlockSlice;
use crate::encode::lines::LineTemplate;
use crate::model::{Label, Metric, MetricFamily, MetricType, Value};

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
    /// A handle to a series. It must only hold `series` (no clone, no drop, no
    /// panic): [`MetricVec::with_label_values_do`](super::MetricVec::with_label_values_do)
    /// lends a handle made from the table's own count and never drops it.
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
    /// Appends the series' lines in text 0.0.4 through its family's `lines`,
    /// with the series' label pairs `labels`, reading its numbers straight into
    /// them; `false` (nothing written) when this kind or series has no such path
    /// or the template does not fit (the caller then fills a value and writes
    /// that).
    fn write_text(
        config: &Self::Config,
        core: &Self::Core,
        lines: &LineTemplate,
        labels: BlockSlice<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        let _ = (config, core, lines, labels, out);
        false
    }
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
    pub(crate) fn new(values: StoredValues, core: C) -> Self {
        Series {
            values,
            created: SystemTime::now(),
            core,
            kept: OnceLock::new(),
        }
    }
}

/// The label name of the overflow series (OpenTelemetry's convention).
pub(crate) const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// A family: its description and its series.
pub(crate) struct Family<K: Kind> {
    pub(crate) desc: Desc,
    pub(crate) config: K::Config,
    series: Table<K::Core>,
    hasher: RandomState,
    overflow: OnceLock<Arc<Series<K::Core>>>,
    /// Changes whenever a series is added or removed.
    pub(crate) generation: AtomicU64,
    pub(crate) page: super::page::PageCache<K::Core>,
}

/// A series a lookup found: the table's own count lent within a read section, or
/// a counted `Arc` (a series just made, or found under the mutex).
pub(crate) struct Located<'f, C> {
    series: ManuallyDrop<Arc<Series<C>>>,
    /// `Some` when `series` is lent: the section that keeps it alive.
    section: Option<Guard>,
    /// A lent series lives no longer than the family's table.
    _family: PhantomData<&'f ()>,
}

impl<C> Located<'_, C> {
    /// The series, as an `Arc` (clone it to keep it).
    pub(crate) fn series(&self) -> &Arc<Series<C>> {
        &self.series
    }

    /// A counted `Arc` of the series.
    pub(crate) fn into_arc(self) -> Arc<Series<C>> {
        if self.section.is_some() {
            Arc::clone(&self.series)
        } else {
            let mut this = ManuallyDrop::new(self);
            // SAFETY: counted, and taken once: `this` is never dropped.
            unsafe { ManuallyDrop::take(&mut this.series) }
        }
    }
}

impl<C> Drop for Located<'_, C> {
    fn drop(&mut self) {
        if self.section.is_none() {
            // SAFETY: a counted `Arc` of ours, dropped once.
            unsafe { ManuallyDrop::drop(&mut self.series) }
        }
    }
}

impl<K: Kind> Family<K> {
    pub(crate) fn new(desc: Desc, config: K::Config) -> Self {
        Family {
            desc,
            config,
            series: Table::new(),
            hasher: RandomState::default(),
            overflow: OnceLock::new(),
            generation: AtomicU64::new(0),
            page: Default::default(),
        }
    }

    /// The series with these values, created if needed.
    #[inline]
    pub(crate) fn locate(
        &self,
        values: &(impl LabelValues + ?Sized),
    ) -> Result<Located<'_, K::Core>, MetricError> {
        let expected = self.desc.label_names.len();
        if values.count() != expected {
            return Err(MetricError::LabelCount {
                metric: self.desc.name.to_string(),
                expected,
                got: values.count(),
            });
        }
        let hash = hash_values(&self.hasher, values);
        if let Some(section) = epoch::enter() {
            if let Some(found) = self
                .series
                .find(&section, hash, |s| s.values.equals(values))
            {
                // SAFETY: the lent `Arc` is never dropped (`Located` drops it only
                // when it is counted) and lives no longer than `section`, which
                // `Located` holds.
                let series = unsafe { found.borrowed_arc() };
                return Ok(Located {
                    series,
                    section: Some(section),
                    _family: PhantomData,
                });
            }
        }
        self.create(values, hash).map(|series| Located {
            series: ManuallyDrop::new(series),
            section: None,
            _family: PhantomData,
        })
    }

    /// The series with these values, looked up again under the mutex and made when
    /// it is not there.
    #[cold]
    fn create(
        &self,
        values: &(impl LabelValues + ?Sized),
        hash: u64,
    ) -> Result<Arc<Series<K::Core>>, MetricError> {
        let mut table = self.series.write();
        if let Some(found) = table.find(hash, |s| s.values.equals(values)) {
            return Ok(found);
        }
        if let Some(limit) = self.desc.max_series {
            if self.series.len() >= limit.get() {
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
        table.insert(hash, series.clone(), |s| s.values.hash_with(hasher));
        self.generation.fetch_add(1, Ordering::Release);
        Ok(series)
    }

    /// The series with these values, created if needed.
    pub(crate) fn get(
        &self,
        values: &(impl LabelValues + ?Sized),
    ) -> Result<Arc<Series<K::Core>>, MetricError> {
        self.locate(values).map(Located::into_arc)
    }

    /// The series with these values; on any error, the overflow series (logged).
    #[inline]
    pub(crate) fn get_or_overflow(
        &self,
        values: &(impl LabelValues + ?Sized),
    ) -> Arc<Series<K::Core>> {
        match self.locate(values) {
            Ok(found) => found.into_arc(),
            Err(e) => self.overflow_after(&e).clone(),
        }
    }

    /// Runs `f` on a handle of the series with these values (created if needed),
    /// or of the overflow series on any error (logged); an existing series is lent
    /// without touching its count.
    #[inline]
    pub(crate) fn with_handle<R>(
        &self,
        values: &(impl LabelValues + ?Sized),
        f: impl FnOnce(&K::Handle) -> R,
    ) -> R {
        match self.locate(values) {
            Ok(found) => {
                // SAFETY: a bitwise copy of the `Arc` that `found` holds (counted or
                // lent), made into a handle that is never dropped and does not
                // outlive `found` (`Kind::handle` only wraps it).
                let handle =
                    ManuallyDrop::new(K::handle(unsafe { std::ptr::read(found.series()) }));
                let out = f(&handle);
                drop(found);
                out
            }
            Err(e) => f(&K::handle(self.overflow_after(&e).clone())),
        }
    }

    #[cold]
    fn overflow_after(&self, e: &MetricError) -> &Arc<Series<K::Core>> {
        tracing::warn!(error = %e, "recording into the family's overflow series");
        self.overflow()
    }

    pub(crate) fn overflow(&self) -> &Arc<Series<K::Core>> {
        let mut made = false;
        let series = self.overflow.get_or_init(|| {
            made = true;
            Arc::new(Series::new(StoredValues::empty(), K::core(&self.config)))
        });
        // Only once the series can be seen: a scrape that reads the new generation
        // must find it (the kept page's order is keyed by the generation).
        if made {
            self.generation.fetch_add(1, Ordering::Release);
        }
        series
    }

    /// Removes the series with these values.
    pub(crate) fn remove(&self, values: &(impl LabelValues + ?Sized)) -> Result<(), MetricError> {
        let hash = hash_values(&self.hasher, values);
        if !self
            .series
            .write()
            .remove(hash, |s| s.values.equals(values))
        {
            return Err(MetricError::NoSuchSeries {
                metric: self.desc.name.to_string(),
            });
        }
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Removes every series but the overflow series.
    pub(crate) fn clear(&self) {
        self.series.write().clear();
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many series the family holds (the overflow series aside).
    pub(crate) fn len(&self) -> usize {
        self.series.len()
    }

    /// Every series, unordered (the overflow series last, when it exists).
    pub(crate) fn all(&self) -> Vec<Arc<Series<K::Core>>> {
        let mut out = self.series.all();
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
