//! Gathering: sources of metric families, merged and checked into one page.
//!
//! A source implements [`Gather`]. The `prometheus` crate's [`Registry`] is one
//! (its `gather()` output is moved, not copied, into the [model](crate::model)),
//! [`DefaultRegistry`] is the crate's global registry, and [`Gatherers`] merges
//! several sources into one page, like Go's `prometheus.Gatherers`.
//!
//! [`normalize`] turns what the sources produced into what encoders expect:
//! families sorted by name, same-named families merged, metrics sorted by labels,
//! and every problem reported as a [`GatherError`] naming the family, with a
//! [`GatherErrorKind`] to match on:
//! invalid metric or label names, a value whose type is not the family's, the
//! same name with a different type or help, the same series twice, a histogram or
//! summary whose generated names clash with another family, a source that panicked.
//! The broken parts are left out; whether the rest is served is the handler's
//! [`ErrorHandling`](crate::ErrorHandling) decision.
//!
//! ```
//! use promhttp::gather::{gather_all, Gatherers, DefaultRegistry};
//! use promhttp::prometheus::{IntCounter, Registry};
//!
//! let mine = Registry::new();
//! let jobs = IntCounter::new("jobs_total", "Jobs run.").unwrap();
//! mine.register(Box::new(jobs.clone())).unwrap();
//! jobs.inc();
//!
//! // A custom registry and the default registry on one page.
//! let page = gather_all(&Gatherers::new().with(mine).with(DefaultRegistry));
//! assert!(page.errors.is_empty());
//! assert!(page.families.iter().any(|f| f.name == "jobs_total"));
//! ```
//!
//! [`Registry`]: ::prometheus::Registry

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::model::MetricFamily;
use crate::util::panic_message;

pub(crate) mod direct;
mod error;
mod escaping;
mod normalize;
mod prometheus;
#[cfg(test)]
mod tests;

pub use self::error::{GatherError, GatherErrorKind};
pub(crate) use self::normalize::normalize_keeping_direct;
#[cfg(feature = "prometheus-client")]
pub(crate) use self::normalize::{check_value, is_valid_label_name, presort_series};
pub use self::normalize::{normalize, normalize_with};
#[cfg(feature = "remote-write")]
pub(crate) use self::prometheus::from_proto;
pub use self::prometheus::DefaultRegistry;

/// A source of metric families.
///
/// Implementations append what they have to [`Gathered::families`] and report
/// problems in [`Gathered::errors`]; they need not sort, merge or check anything.
/// `gather` may block (it runs on a blocking thread when served by the handler) and
/// may panic: the panic is caught and reported as an error of that source.
pub trait Gather: Send + Sync {
    /// Appends this source's families to `out`.
    fn gather_into(&self, out: &mut Gathered);
}

/// What gathering produced: families, and the problems met on the way.
///
/// Made with `Gathered::default()`, then filled through its public fields: it
/// also carries, privately, the families that encode themselves (promhttp's own
/// storage's, the prometheus-client bridge's), which [`normalize`] and
/// [`gather_all`] move into [`families`](Self::families).
#[derive(Debug, Default)]
pub struct Gathered {
    /// The families, in the order sources produced them until [`normalize`]d.
    pub families: Vec<MetricFamily>,
    /// Problems; each names the family it concerns where there is one.
    pub errors: Vec<GatherError>,
    /// Families of promhttp's own storage that encode themselves; turned into
    /// `families` wherever the model is needed.
    pub(crate) direct: Vec<direct::Direct>,
}

impl<G: Gather + ?Sized> Gather for std::sync::Arc<G> {
    fn gather_into(&self, out: &mut Gathered) {
        (**self).gather_into(out)
    }
}

impl<G: Gather + ?Sized> Gather for Box<G> {
    fn gather_into(&self, out: &mut Gathered) {
        (**self).gather_into(out)
    }
}

impl<G: Gather + ?Sized> Gather for &'static G {
    fn gather_into(&self, out: &mut Gathered) {
        (**self).gather_into(out)
    }
}

/// A source from a function, for families computed at scrape time.
///
/// ```
/// use promhttp::gather::{from_fn, gather_all};
/// use promhttp::model::{Metric, MetricFamily, MetricType, Value};
///
/// let source = from_fn(|out| {
///     out.families.push(MetricFamily::new("queue_length", "Jobs waiting.", MetricType::Gauge)
///         .with_metric(Metric::new(vec![], Value::Gauge(3.0))));
/// });
/// assert_eq!(gather_all(&source).families.len(), 1);
/// ```
pub fn from_fn<F>(f: F) -> FnGather<F>
where
    F: Fn(&mut Gathered) + Send + Sync,
{
    FnGather(f)
}

/// See [`from_fn`].
#[derive(Clone)]
pub struct FnGather<F>(F);

impl<F> Gather for FnGather<F>
where
    F: Fn(&mut Gathered) + Send + Sync,
{
    fn gather_into(&self, out: &mut Gathered) {
        (self.0)(out)
    }
}

impl<F> fmt::Debug for FnGather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnGather")
    }
}

/// Several sources on one page (Go's `prometheus.Gatherers`).
///
/// Each source is gathered in turn; one that panics is reported as an error and the
/// others are still gathered. Same-named families from different sources are merged
/// by [`normalize`] when their type and help agree.
#[derive(Default)]
pub struct Gatherers {
    sources: Vec<Box<dyn Gather>>,
}

impl Gatherers {
    /// No sources yet.
    pub fn new() -> Self {
        Gatherers::default()
    }

    /// Adds a source.
    pub fn with(mut self, source: impl Gather + 'static) -> Self {
        self.sources.push(Box::new(source));
        self
    }

    /// Adds a source.
    pub fn push(&mut self, source: impl Gather + 'static) {
        self.sources.push(Box::new(source));
    }

    /// How many sources there are.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are no sources.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

impl fmt::Debug for Gatherers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gatherers")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl Gather for Gatherers {
    fn gather_into(&self, out: &mut Gathered) {
        for (i, source) in self.sources.iter().enumerate() {
            gather_caught(&**source, out, i);
        }
    }
}

fn gather_caught(source: &dyn Gather, out: &mut Gathered, index: usize) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| source.gather_into(out))) {
        out.errors
            .push(GatherError::new(GatherErrorKind::SourcePanicked {
                origin: format!("source #{index}"),
                message: panic_message(&*panic),
            }));
    }
}

/// Gathers `source` (catching a panic) and [`normalize`]s the result: every
/// family is in [`Gathered::families`].
pub fn gather_all(source: &dyn Gather) -> Gathered {
    let mut out = Gathered::default();
    gather_caught(source, &mut out, 0);
    out.materialize();
    normalize(&mut out);
    out
}
