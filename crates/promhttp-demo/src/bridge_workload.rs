//! The benchmark workload of `workload.rs` (same families, labels and values),
//! recorded through the two APIs promhttp bridges: the `metrics` facade and a
//! prometheus-client `Registry`. Needs `mod workload` next to it.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::workload::{
    counter_value, gauge_value, observations, path_label, paths, BUCKETS, CODES, COUNTER, GAUGE,
    HISTOGRAM, METHODS, OBS,
};

/// Records the workload through the `metrics` macros into `recorder` (any
/// `metrics::Recorder`: ours or another exporter's). Histograms need the workload's
/// buckets configured in the recorder.
pub fn record_metrics_rs(recorder: &dyn metrics::Recorder, series: usize) {
    metrics::with_local_recorder(recorder, || {
        metrics::describe_counter!(COUNTER.0, COUNTER.1);
        metrics::describe_gauge!(GAUGE.0, GAUGE.1);
        metrics::describe_histogram!(HISTOGRAM.0, HISTOGRAM.1);
        for i in 0..paths(series) {
            let path = path_label(i);
            for (m, method) in METHODS.into_iter().enumerate() {
                for (c, code) in CODES.into_iter().enumerate() {
                    metrics::counter!(COUNTER.0, "method" => method, "path" => path.clone(), "code" => code)
                        .increment(counter_value(i, m, c));
                }
            }
            metrics::gauge!(GAUGE.0, "path" => path.clone()).set(gauge_value(i));
            for (m, method) in METHODS.into_iter().enumerate() {
                let h =
                    metrics::histogram!(HISTOGRAM.0, "method" => method, "path" => path.clone());
                for (j, obs) in OBS.into_iter().enumerate() {
                    for _ in 0..observations(i, m, j) {
                        h.record(obs);
                    }
                }
            }
        }
    });
}

/// promhttp's metrics-rs recorder with the workload's histogram buckets.
pub fn promhttp_recorder() -> promhttp::bridge::metrics_rs::PrometheusRecorder {
    promhttp::bridge::metrics_rs::PrometheusRecorder::builder()
        .buckets_for(HISTOGRAM.0, &BUCKETS)
        .build()
        .expect("valid buckets")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestKey {
    method: &'static str,
    path: String,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathKey {
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteKey {
    method: &'static str,
    path: String,
}

type GaugeF64 = Gauge<f64, AtomicU64>;

/// A prometheus-client registry holding the workload. prometheus-client appends
/// `_total` to counter names and a `.` to help texts itself, so both are given
/// without them.
pub fn prometheus_client_registry(series: usize) -> Registry {
    let requests = Family::<RequestKey, Counter>::default();
    let inflight = Family::<PathKey, GaugeF64>::default();
    let durations: Family<RouteKey, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(|| Histogram::new(BUCKETS));
    let mut registry = Registry::default();
    let bare = |help: &'static str| help.strip_suffix('.').unwrap_or(help);
    registry.register(
        COUNTER.0.strip_suffix("_total").unwrap_or(COUNTER.0),
        bare(COUNTER.1),
        requests.clone(),
    );
    registry.register(GAUGE.0, bare(GAUGE.1), inflight.clone());
    registry.register(HISTOGRAM.0, bare(HISTOGRAM.1), durations.clone());
    for i in 0..paths(series) {
        let path = path_label(i);
        for (m, method) in METHODS.into_iter().enumerate() {
            for (c, code) in CODES.into_iter().enumerate() {
                let key = RequestKey {
                    method,
                    path: path.clone(),
                    code,
                };
                requests.get_or_create(&key).inc_by(counter_value(i, m, c));
            }
        }
        inflight
            .get_or_create(&PathKey { path: path.clone() })
            .set(gauge_value(i));
        for (m, method) in METHODS.into_iter().enumerate() {
            let key = RouteKey {
                method,
                path: path.clone(),
            };
            let h = durations.get_or_create(&key);
            for (j, obs) in OBS.into_iter().enumerate() {
                for _ in 0..observations(i, m, j) {
                    h.observe(obs);
                }
            }
        }
    }
    registry
}
