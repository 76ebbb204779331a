//! [prometheus-client](https://docs.rs/prometheus-client) (the Prometheus project's
//! Rust client) as a [`Gather`] source.
//!
//! [`Gather`] is implemented for [`Registry`], and for `Mutex<Registry>` and
//! `RwLock<Registry>` when metrics are still registered after the handler is built.
//! Share a registry with an [`Arc`](std::sync::Arc) (the blanket `Arc<G>` impl
//! applies), or hand it over by value. Its families then go through the same checks,
//! content negotiation and encoders as a `prometheus::Registry`, and merge with
//! other sources on one page through [`Gatherers`](crate::Gatherers):
//!
//! ```
//! use std::sync::Arc;
//! use prometheus_client::metrics::counter::Counter;
//! use promhttp::gather::{gather_all, Gatherers};
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! let logins: Counter = Counter::default();
//! registry.register("logins", "Logins", logins.clone());
//! logins.inc();
//!
//! let page = gather_all(&Gatherers::new().with(Arc::new(registry)).with(promhttp::prometheus::Registry::new()));
//! assert!(page.errors.is_empty());
//! assert_eq!(page.families[0].name, "logins_total");
//! ```
//!
//! # How
//!
//! prometheus-client hands its registry over as `io.prometheus.client` protobuf
//! messages: [`prometheus_protobuf::encode`](prometheus_client::encoding::prometheus_protobuf::encode)
//! returns them as prost structs (nothing serialized or parsed). When the handler
//! serves them, a family that needs no merging and that
//! [`normalize`](crate::gather::normalize) would pass as it is (a legacy name,
//! the same legacy label names on every series, no duplicate series, values of
//! valid shape) is written straight from those structs, sorted through an index;
//! any other family, and every family wherever the [model](crate::model) is
//! needed ([`gather_all`](crate::gather::gather_all), push, remote write), is moved
//! into the model (strings moved, not copied) and checked there. The page is the
//! same either way.
//! Native histograms, exemplars and start times arrive as prometheus-client keeps
//! them, and leave through whichever format the scraper negotiated: a Prometheus
//! scraping protobuf with native histograms enabled stores the native buckets.
//!
//! Versions: prometheus-client 0.26, and 0.25.2 or a later 0.25 (their protobuf
//! encoders are the same). The feature builds prometheus-client with its
//! `prometheus_protobuf` and `protobuf-protox` features: the messages are generated
//! at build time by prost-build from a `.proto` compiled by protox, a pure-Rust
//! compiler, so no `protoc` is needed. That build costs about a minute of
//! compile time once (a one-job debug build: prost-build, protox and their
//! dependencies, some shared with other features).
//!
//! Mapping:
//!
//! | prometheus-client | model |
//! |---|---|
//! | `Counter`, `CounterWithExemplar` `x` | [`MetricType::Counter`](crate::model::MetricType::Counter) family `x_total`, its exemplar kept |
//! | `Gauge` | [`MetricType::Gauge`](crate::model::MetricType::Gauge) |
//! | `Histogram`, `HistogramWithExemplars` (classic) | [`MetricType::Histogram`](crate::model::MetricType::Histogram), bucket exemplars kept |
//! | `Histogram::new_native`, `new_classic_and_native` | a histogram with [`native`](crate::model::HistogramValue::native) buckets (and the classic ones for the dual kind), its start time as [`created`](crate::model::Metric::created) |
//! | `Info` `x` | [`MetricType::Gauge`](crate::model::MetricType::Gauge) family `x_info`, value 1 |
//! | unknown (custom collectors) | [`MetricType::Untyped`](crate::model::MetricType::Untyped) |
//! | a unit | [`MetricFamily::unit`](crate::model::MetricFamily::unit) |
//!
//! What prometheus-client does not write does not arrive: its protobuf encoder
//! gives counters and classic histograms no start time and native histograms no
//! exemplars of their own (a dual histogram's exemplars are on its classic
//! buckets). The text formats have no native buckets: a native-only histogram
//! appears there as its `+Inf` bucket, `_sum` and `_count` (see
//! [`HistogramValue`](crate::model::HistogramValue)).
//!
//! A metric the model cannot hold (a float histogram, a value of another type than
//! its family's) is left out and reported as a [`GatherError`] naming its family;
//! the bridge never panics. If prometheus-client's encoder itself fails (a custom
//! metric's encoding fails, a start time before 1970), the registry contributes
//! nothing and one error is reported.
//!
//! Cost: prometheus-client's own protobuf encoding into its structs, then the move
//! into the model; see BENCHMARKS.md for the figures beside prometheus-client's
//! text encoder.

use std::sync::{Mutex, RwLock};

use prometheus_client::registry::Registry;

use crate::gather::{Gather, GatherError, GatherErrorKind, Gathered};

mod convert;
mod direct;
#[cfg(test)]
mod direct_tests;

impl Gather for Registry {
    fn gather_into(&self, out: &mut Gathered) {
        gather_registry(self, out)
    }
}

impl Gather for Mutex<Registry> {
    fn gather_into(&self, out: &mut Gathered) {
        let registry = crate::util::lock(self);
        gather_registry(&registry, out)
    }
}

impl Gather for RwLock<Registry> {
    fn gather_into(&self, out: &mut Gathered) {
        let registry = crate::util::read(self);
        gather_registry(&registry, out)
    }
}

/// Reads `registry` through prometheus-client's protobuf messages and appends its
/// families to `out`: in [`Gathered::families`], or, for those written directly
/// (see the module docs), privately until [`normalize`](crate::gather::normalize)
/// moves them there.
///
/// This is what the [`Gather`] impls call; it is public for sources that hold a
/// registry some other way.
pub fn gather_registry(registry: &Registry, out: &mut Gathered) {
    match prometheus_client::encoding::prometheus_protobuf::encode(registry) {
        Ok(families) => convert::families_into(families, out),
        Err(_) => out
            .errors
            .push(GatherError::new(GatherErrorKind::SourceFailed {
                message: "prometheus-client failed to encode its registry".to_owned(),
            })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::MetricType;

    /// A custom metric whose encoding fails.
    #[derive(Debug)]
    struct Failing;

    impl EncodeMetric for Failing {
        fn encode(&self, _: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
            Err(std::fmt::Error)
        }
        fn metric_type(&self) -> MetricType {
            MetricType::Gauge
        }
    }

    #[test]
    fn a_failing_encoder_gives_one_error_and_nothing_else() {
        let mut registry = Registry::default();
        let ok: Counter = Counter::default();
        registry.register("ok", "Fine", ok);
        registry.register("failing", "Fails", Failing);
        let mut out = Gathered::default();
        gather_registry(&registry, &mut out);
        assert!(out.families.is_empty(), "{:?}", out.families);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(
            out.errors[0].to_string(),
            "prometheus-client failed to encode its registry"
        );
        assert_eq!(out.errors[0].family(), None);
    }
}
