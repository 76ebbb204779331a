//! [`Registry`]: where metrics are registered to be served; the default registry.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

use super::MetricError;
use crate::gather::{Gather, Gathered};
use crate::util::{read, write};

/// Something a registry collects: one family.
pub trait Collect: Send + Sync + 'static {
    /// The family's name.
    fn name(&self) -> &str;
    /// Appends the family to `out`.
    fn collect_into(self: Arc<Self>, out: &mut Gathered);
}

/// What can be registered: every metric and family of [`metrics`](super)
/// (sealed: a source of your own is a [`Gather`] instead).
pub trait Register: sealed::Sealed {
    #[doc(hidden)]
    fn collector(&self) -> Result<Arc<dyn Collect>, MetricError>;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

impl<T: Register + ?Sized> sealed::Sealed for Box<T> {}
impl<T: Register + ?Sized> Register for Box<T> {
    fn collector(&self) -> Result<Arc<dyn Collect>, MetricError> {
        (**self).collector()
    }
}

impl<T: Register + ?Sized> sealed::Sealed for &T {}
impl<T: Register + ?Sized> Register for &T {
    fn collector(&self) -> Result<Arc<dyn Collect>, MetricError> {
        (**self).collector()
    }
}

/// A set of registered metrics, served as one source: the registry is a
/// [`Gather`], so it goes wherever a source goes (the handler, the exporter,
/// [`Gatherers`](crate::Gatherers) beside `prometheus` registries, push, remote write).
///
/// Names are unique within a registry; registering a second metric of the same
/// name is an error. Families are served in name order.
///
/// ```
/// use promhttp::metrics::{IntCounterVec, Opts, Registry};
///
/// let registry = Registry::new();
/// let requests = IntCounterVec::new(Opts::new("requests_total", "Requests."), &["code"]).unwrap();
/// registry.register(Box::new(requests.clone())).unwrap();
/// requests.with_label_values(&["200"]).inc();
///
/// let page = promhttp::gather::gather_all(&registry);
/// assert_eq!(page.families[0].name, "requests_total");
/// ```
#[derive(Default)]
pub struct Registry {
    families: RwLock<BTreeMap<String, Arc<dyn Collect>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("families", &read(&self.families).len())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers a metric or family; errors when one of the same name is
    /// registered already, or when `metric` is a series taken from a family.
    pub fn register(&self, metric: impl Register) -> Result<(), MetricError> {
        let collector = metric.collector()?;
        let mut families = write(&self.families);
        let name = collector.name().to_owned();
        if families.contains_key(&name) {
            return Err(MetricError::AlreadyRegistered { name });
        }
        families.insert(name, collector);
        Ok(())
    }

    /// Unregisters a metric or family registered before (the same one, not just one
    /// of the same name); its handles keep working but it is no longer served.
    pub fn unregister(&self, metric: impl Register) -> Result<(), MetricError> {
        let collector = metric.collector()?;
        let mut families = write(&self.families);
        match families.get(collector.name()) {
            Some(found) if same(found, &collector) => {
                families.remove(collector.name());
                Ok(())
            }
            _ => Err(MetricError::NotRegistered {
                name: collector.name().to_owned(),
            }),
        }
    }

    /// The registered families' collectors, in name order.
    pub(crate) fn collectors(&self) -> Vec<Arc<dyn Collect>> {
        read(&self.families).values().cloned().collect()
    }
}

fn same(a: &Arc<dyn Collect>, b: &Arc<dyn Collect>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

impl Gather for Registry {
    fn gather_into(&self, out: &mut Gathered) {
        for collector in self.collectors() {
            collector.collect_into(out);
        }
    }
}

/// The process-wide registry that [`register`], the `register_*!` macros and
/// [`DefaultRegistry`](crate::gather::DefaultRegistry) (what
/// [`handler()`](crate::handler()) serves) use.
pub fn default_registry() -> &'static Registry {
    static DEFAULT: OnceLock<Registry> = OnceLock::new();
    DEFAULT.get_or_init(Registry::new)
}

/// Registers `metric` in the [default registry](default_registry).
pub fn register(metric: impl Register) -> Result<(), MetricError> {
    default_registry().register(metric)
}

/// Unregisters `metric` from the [default registry](default_registry).
pub fn unregister(metric: impl Register) -> Result<(), MetricError> {
    default_registry().unregister(metric)
}
