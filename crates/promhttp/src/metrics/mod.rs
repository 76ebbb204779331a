//! Metric storage of promhttp's own: counters, gauges and histograms (classic and
//! native) recorded without locks, served by the handler like any other source.
//!
//! The nouns and verbs are the `prometheus` crate's: [`IntCounter`], [`Counter`],
//! [`IntGauge`], [`Gauge`], [`Histogram`], their `*Vec` families with
//! `with_label_values`, `inc`, `inc_by`, `set`, `observe`, [`Opts`] and
//! [`HistogramOpts`], a [`Registry`], a [default registry](default_registry) and
//! `register_*!` macros ([coming from `prometheus`](crate::coming_from#the-prometheus-crates-metrics)).
//! A [`Registry`] is a [`Gather`](crate::Gather) source: it goes to the handler, the
//! exporter, the Pingora service, [`Gatherers`](crate::Gatherers) beside
//! `prometheus` registries, the Pushgateway client and the remote write sender.
//!
//! ```
//! use promhttp::metrics::{HistogramOpts, HistogramVec, IntCounterVec, NativeBuckets, Opts, Registry};
//!
//! let registry = Registry::new();
//! let requests = IntCounterVec::new(
//!     Opts::new("http_requests_total", "Requests served."),
//!     &["method", "code"],
//! )
//! .unwrap();
//! let latency = HistogramVec::new(
//!     HistogramOpts::new("http_request_duration_seconds", "Latency.")
//!         .unit("seconds")
//!         .native(NativeBuckets::default()), // classic and native buckets
//!     &["method"],
//! )
//! .unwrap();
//! registry.register(requests.clone()).unwrap();
//! registry.register(latency.clone()).unwrap();
//!
//! // Look the series up once, keep the handle: recording is one atomic add.
//! let ok = requests.with_label_values(&["GET", "200"]);
//! ok.inc();
//! latency.with_labels(&["GET"]).observe(0.042);
//!
//! let handler = promhttp::MetricsHandler::builder(registry).build();
//! # let _ = handler;
//! ```
//!
//! # What a scrape sees
//!
//! - **Consistent values.** A histogram's buckets, `+Inf`, `_count` and `_sum` come
//!   from one moment, however many threads observe meanwhile; a counter never goes
//!   backwards from one page to the next. Recording never waits for a scrape.
//! - **A page kept rendered.** Each family's `# HELP`/`# TYPE` lines and each
//!   series' escaped label block are laid out once per format, at the first scrape
//!   in that format; the series stay sorted until one is added or removed. A scrape
//!   reads the numbers and writes them between bytes it already has, straight into
//!   the page: no model is built for these families (unless another source serves a
//!   family of the same name, which the model path then merges and checks).
//! - **Start timestamps and exemplars.** Every series knows when it was created
//!   (OpenMetrics `_created` and protobuf's created timestamp when the handler's
//!   `created` option is on); counters keep their latest exemplar, histograms one per
//!   classic bucket and a few recent ones for native buckets.
//!
//! # No summaries
//!
//! There is no `Summary`. Its quantiles are computed in each process and cannot be
//! aggregated across instances; a histogram can, and a native histogram answers
//! `histogram_quantile` with a known relative error (about 4.5 % at the default
//! factor) without choosing buckets. Summaries are what the Prometheus
//! documentation advises against for new code, `prometheus-client` has none either,
//! and we found no user asking for them for new instrumentation. Sources that have
//! summaries (the `prometheus` crate) are still served as they are.

mod callback;
mod counter;
mod epoch;
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
mod table;
#[cfg(test)]
mod tests;
mod vec;

pub use callback::{CounterFunc, GaugeFunc, Info};
pub use counter::{Counter, CounterVec, GenericCounter, IntCounter, IntCounterVec};
pub use error::MetricError;
pub use gauge::{Gauge, GaugeVec, GenericGauge, IntGauge, IntGaugeVec};
#[cfg(feature = "metrics-rs")]
pub(crate) use histogram::HistogramCore;
pub use histogram::{
    Buckets, Histogram, HistogramConfigError, HistogramOpts, HistogramTimer, HistogramVec,
    NativeBuckets,
};
pub use labels::LabelValues;
pub use number::Number;
pub use opts::Opts;
pub use registry::{default_registry, register, unregister, Register, Registry};
pub use vec::MetricVec;
