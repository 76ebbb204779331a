//! Metric storage of promhttp's own: counters, gauges and histograms (classic and
//! native) recorded without locks, served by the handler like any other source.
//!
//! The nouns and verbs are the `prometheus` crate's: [`IntCounter`], [`Counter`],
//! [`IntGauge`], [`Gauge`], their `*Vec` families with `with_label_values`, `inc`,
//! `inc_by`, `set`, `observe`, a [`Registry`], a [default registry](default_registry)
//! and `register_*!` macros. A [`Registry`] is a [`Gather`](crate::Gather) source.
//!
//! ```
//! use promhttp::metrics::{IntCounterVec, Opts, Registry};
//!
//! let registry = Registry::new();
//! let requests = IntCounterVec::new(
//!     Opts::new("http_requests_total", "Requests served."),
//!     &["method", "code"],
//! )
//! .unwrap();
//! registry.register(Box::new(requests.clone())).unwrap();
//!
//! // Look the series up once, keep the handle: recording is one atomic add.
//! let ok = requests.with_label_values(&["GET", "200"]);
//! ok.inc();
//! ```

mod callback;
mod counter;
mod error;
mod family;
mod gauge;
mod histogram;
mod labels;
mod macros;
mod number;
mod opts;
mod page;
mod registry;
#[cfg(test)]
mod tests;
mod vec;

pub use callback::{CounterFunc, GaugeFunc, Info};
pub use counter::{Counter, CounterVec, GenericCounter, IntCounter, IntCounterVec};
pub use error::MetricError;
pub use gauge::{Gauge, GaugeVec, GenericGauge, IntGauge, IntGaugeVec};
pub use histogram::{
    Buckets, Histogram, HistogramConfigError, HistogramOpts, HistogramTimer, HistogramVec,
    NativeBuckets,
};
pub use labels::LabelValues;
pub use number::Number;
pub use opts::Opts;
pub use registry::{default_registry, register, unregister, Register, Registry};
pub use vec::MetricVec;
