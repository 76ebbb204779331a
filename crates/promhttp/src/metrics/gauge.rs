//! Gauges: [`Gauge`] (`f64`) and [`IntGauge`] (`i64`), alone or in a family.

use std::marker::PhantomData;
use std::sync::Arc;

use super::family::{single, Family, Kind, Series};
use super::number::Number;
use super::opts::{Desc, Opts};
use super::vec::MetricVec;
use super::MetricError;
use crate::encode::blocks::BlockSlice;
use crate::encode::lines::LineTemplate;
use crate::model::{MetricType, Value};

/// A gauge's state.
pub struct GaugeCore<N: Number>(pub(crate) N::Atomic);

/// The gauge kind of a family (unnameable outside the crate).
pub struct GaugeKind<N>(PhantomData<N>);

impl<N: Number> Kind for GaugeKind<N> {
    type Core = GaugeCore<N>;
    type Config = ();
    type Handle = GenericGauge<N>;
    const TYPE: MetricType = MetricType::Gauge;

    fn handle(series: Arc<Series<GaugeCore<N>>>) -> GenericGauge<N> {
        GenericGauge {
            series,
            family: None,
        }
    }

    fn core(_: &()) -> GaugeCore<N> {
        GaugeCore(N::atomic(N::ZERO))
    }

    fn value(core: &GaugeCore<N>) -> Value {
        Value::Gauge(N::to_f64(N::load(&core.0)))
    }

    #[inline]
    fn write_text(
        _: &(),
        core: &GaugeCore<N>,
        lines: &LineTemplate,
        labels: BlockSlice<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        lines.write_single(out, labels, N::to_f64(N::load(&core.0)))
    }
}

/// A gauge: a value that goes up and down, 0 when created.
///
/// Cloning gives another handle to the same gauge. Every operation is one atomic
/// operation (a compare-and-swap loop for `f64` additions): no lock, no allocation.
///
/// ```
/// use promhttp::metrics::IntGauge;
///
/// let queued = IntGauge::new("queue_length", "Jobs waiting.").unwrap();
/// queued.set(4);
/// queued.dec();
/// queued.add(3);
/// assert_eq!(queued.get(), 6);
/// ```
pub struct GenericGauge<N: Number> {
    series: Arc<Series<GaugeCore<N>>>,
    family: Option<Arc<Family<GaugeKind<N>>>>,
}

/// A gauge of `f64`s.
pub type Gauge = GenericGauge<f64>;
/// A gauge of `i64`s.
pub type IntGauge = GenericGauge<i64>;
/// A family of [`Gauge`]s keyed by label values.
pub type GaugeVec = MetricVec<GaugeKind<f64>>;
/// A family of [`IntGauge`]s keyed by label values.
pub type IntGaugeVec = MetricVec<GaugeKind<i64>>;

impl<N: Number> Clone for GenericGauge<N> {
    fn clone(&self) -> Self {
        GenericGauge {
            series: self.series.clone(),
            family: self.family.clone(),
        }
    }
}

impl<N: Number> std::fmt::Debug for GenericGauge<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenericGauge")
            .field("value", &N::to_f64(self.get()))
            .finish()
    }
}

impl<N: Number> GenericGauge<N> {
    /// A gauge with a name and help; errors when the name is not valid.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Result<Self, MetricError> {
        Self::with_opts(Opts::new(name, help))
    }

    /// A gauge described by `opts` (its variable labels must be empty: use a
    /// [`GaugeVec`] for labels).
    pub fn with_opts(opts: Opts) -> Result<Self, MetricError> {
        let family = Arc::new(Family::new(Desc::new(opts, &[], &[])?, ()));
        Ok(GenericGauge {
            series: single(&family),
            family: Some(family),
        })
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: N) {
        N::store(&self.series.core.0, v);
    }

    /// Adds 1.
    #[inline]
    pub fn inc(&self) {
        N::add(&self.series.core.0, N::ONE);
    }

    /// Subtracts 1.
    #[inline]
    pub fn dec(&self) {
        N::sub(&self.series.core.0, N::ONE);
    }

    /// Adds `v` (which may be negative).
    #[inline]
    pub fn add(&self, v: N) {
        N::add(&self.series.core.0, v);
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: N) {
        N::sub(&self.series.core.0, v);
    }

    /// The current value.
    pub fn get(&self) -> N {
        N::load(&self.series.core.0)
    }
}

impl<N: Number> super::registry::sealed::Sealed for GenericGauge<N> {}
impl<N: Number> super::Register for GenericGauge<N> {
    fn collector(&self) -> Result<Arc<dyn super::registry::Collect>, MetricError> {
        super::family::collector(self.family.as_ref())
    }
}

impl<N: Number> MetricVec<GaugeKind<N>> {
    /// A gauge family described by `opts` with these label names (after any
    /// variable labels `opts` has); errors on an invalid or repeated name.
    pub fn new(opts: Opts, label_names: &[&str]) -> Result<Self, MetricError> {
        Ok(MetricVec::from_family(Family::new(
            Desc::new(opts, label_names, &[])?,
            (),
        )))
    }
}
