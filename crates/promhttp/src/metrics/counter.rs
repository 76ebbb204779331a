//! Counters: [`Counter`] (`f64`) and [`IntCounter`] (`u64`), alone or in a family.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use super::family::{single, Family, Kind, Series};
use super::labels::exemplar_labels;
use super::number::Number;
use super::opts::{Desc, Opts};
use super::vec::MetricVec;
use super::MetricError;
use crate::encode::blocks::BlockSlice;
use crate::encode::lines::LineTemplate;
use crate::model::{CounterValue, Exemplar, MetricType, Value};
use crate::util::{lock, try_lock};

/// A counter's state: the total and the most recent exemplar.
pub struct CounterCore<N: Number> {
    pub(crate) value: N::Atomic,
    /// Made at the first exemplar: a counter without one costs a scrape no lock.
    exemplar: OnceLock<Mutex<Option<Box<Exemplar>>>>,
}

impl<N: Number> CounterCore<N> {
    pub(crate) fn get(&self) -> N {
        N::load(&self.value)
    }
}

/// The counter kind of a family (unnameable outside the crate).
pub struct CounterKind<N>(PhantomData<N>);

impl<N: Number> Kind for CounterKind<N> {
    type Core = CounterCore<N>;
    type Config = ();
    type Handle = GenericCounter<N>;
    const TYPE: MetricType = MetricType::Counter;

    fn handle(series: Arc<Series<CounterCore<N>>>) -> GenericCounter<N> {
        GenericCounter {
            series,
            family: None,
        }
    }

    fn core(_: &()) -> CounterCore<N> {
        CounterCore {
            value: N::atomic(N::ZERO),
            exemplar: OnceLock::new(),
        }
    }

    fn value(core: &CounterCore<N>) -> Value {
        let mut value = CounterValue::new(N::to_f64(core.get()));
        if let Some(exemplar) = core.exemplar.get() {
            value.exemplar = lock(exemplar).clone();
        }
        Value::Counter(value)
    }

    /// Text 0.0.4 has no place for the exemplar: the line is the total alone.
    #[inline]
    fn write_text(
        _: &(),
        core: &CounterCore<N>,
        lines: &LineTemplate,
        labels: BlockSlice<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        lines.write_single(out, labels, N::to_f64(core.get()))
    }
}

/// A counter: a total that only goes up, from 0 when created.
///
/// Cloning gives another handle to the same counter. Recording (`inc`, `inc_by`)
/// is one atomic operation: no lock, no allocation.
///
/// ```
/// use promhttp::metrics::{IntCounter, Registry};
///
/// let jobs = IntCounter::new("jobs_total", "Jobs run.").unwrap();
/// let registry = Registry::new();
/// registry.register(Box::new(jobs.clone())).unwrap();
/// jobs.inc();
/// jobs.inc_by(2);
/// assert_eq!(jobs.get(), 3);
/// ```
pub struct GenericCounter<N: Number> {
    series: Arc<Series<CounterCore<N>>>,
    family: Option<Arc<Family<CounterKind<N>>>>,
}

/// A counter of `f64`s.
pub type Counter = GenericCounter<f64>;
/// A counter of `u64`s.
pub type IntCounter = GenericCounter<u64>;
/// A family of [`Counter`]s keyed by label values.
pub type CounterVec = MetricVec<CounterKind<f64>>;
/// A family of [`IntCounter`]s keyed by label values.
pub type IntCounterVec = MetricVec<CounterKind<u64>>;

impl<N: Number> Clone for GenericCounter<N> {
    fn clone(&self) -> Self {
        GenericCounter {
            series: self.series.clone(),
            family: self.family.clone(),
        }
    }
}

impl<N: Number> std::fmt::Debug for GenericCounter<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenericCounter")
            .field("value", &N::to_f64(self.series.core.get()))
            .finish()
    }
}

impl<N: Number> GenericCounter<N> {
    /// A counter with a name and help; errors when the name is not valid.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Result<Self, MetricError> {
        Self::with_opts(Opts::new(name, help))
    }

    /// A counter described by `opts` (its variable labels must be empty: use a
    /// [`CounterVec`] for labels).
    pub fn with_opts(opts: Opts) -> Result<Self, MetricError> {
        let family = Arc::new(Family::new(Desc::new(opts, &[], &[])?, ()));
        Ok(GenericCounter {
            series: single(&family),
            family: Some(family),
        })
    }

    /// Adds 1.
    #[inline]
    pub fn inc(&self) {
        N::add(&self.series.core.value, N::ONE);
    }

    /// Adds `v`. A negative or NaN `v` is ignored (a counter never goes down);
    /// it is logged at debug level.
    #[inline]
    pub fn inc_by(&self, v: N) {
        if N::is_increase(v) {
            N::add(&self.series.core.value, v);
        } else {
            tracing::debug!(
                value = N::to_f64(v),
                "counter increment ignored: not an increase"
            );
        }
    }

    /// Adds `v` and keeps an exemplar of it (with these labels, timestamped now),
    /// replacing the previous one. When another thread is storing an exemplar at
    /// the same moment, this one is not kept (the increment always is): the
    /// recording path never waits. Labels longer than OpenMetrics allows
    /// (128 characters of names and values) are kept but not written
    /// ([`Exemplar::validate`]).
    pub fn inc_by_with_exemplar(&self, v: N, labels: &[(&str, &str)]) {
        self.inc_by(v);
        if !N::is_increase(v) {
            return;
        }
        let slot = self.series.core.exemplar.get_or_init(|| Mutex::new(None));
        if let Some(mut slot) = try_lock(slot) {
            let labels = exemplar_labels(labels);
            *slot = Some(Box::new(
                Exemplar::new(labels, N::to_f64(v)).with_timestamp(SystemTime::now()),
            ));
        }
    }

    /// The current total.
    pub fn get(&self) -> N {
        self.series.core.get()
    }

    /// Sets the total back to 0 (as a process restart would).
    pub fn reset(&self) {
        N::store(&self.series.core.value, N::ZERO);
    }

    /// When this counter's series was created (its start timestamp).
    pub fn created(&self) -> SystemTime {
        self.series.created
    }
}

impl<N: Number> super::registry::sealed::Sealed for GenericCounter<N> {}
impl<N: Number> super::Register for GenericCounter<N> {
    fn collector(&self) -> Result<Arc<dyn super::registry::Collect>, MetricError> {
        super::family::collector(self.family.as_ref())
    }
}

impl<N: Number> MetricVec<CounterKind<N>> {
    /// A counter family described by `opts` with these label names (after any
    /// variable labels `opts` has); errors on an invalid or repeated name.
    pub fn new(opts: Opts, label_names: &[&str]) -> Result<Self, MetricError> {
        Ok(MetricVec::from_family(Family::new(
            Desc::new(opts, label_names, &[])?,
            (),
        )))
    }
}
