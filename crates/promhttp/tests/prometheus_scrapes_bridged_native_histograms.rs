//! A real Prometheus 2.42 with `--enable-feature=native-histograms` scrapes one page
//! whose native histograms come from a prometheus-client registry (through the
//! bridge) and from the metrics-rs recorder (native and dual layouts): the query
//! API returns them as histograms, and `histogram_quantile(0.9, ..)` over each is
//! within one bucket's width of the true 0.9 quantile.
#![cfg(all(
    feature = "metrics-rs",
    feature = "prometheus-client",
    feature = "axum"
))]

use promhttp_test_support as support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use prometheus_client::metrics::histogram::{Histogram, NativeHistogramConfig};
use promhttp::bridge::metrics_rs::{HistogramLayout, PrometheusRecorder};
use promhttp::metrics::NativeBuckets;
use promhttp::{Gatherers, MetricsHandler};
use support::Prometheus;

/// 1000 observations, 0.001 to 1.000: the 0.9 quantile is 0.9.
fn observations() -> impl Iterator<Item = f64> {
    (1..=1000).map(|i| f64::from(i) / 1000.0)
}
const TRUE_QUANTILE: f64 = 0.9;

/// The width of the native bucket holding `v` at `schema`: bucket `i` is
/// `(2^((i-1)/2^s), 2^(i/2^s)]`.
fn bucket_width(v: f64, schema: i32) -> f64 {
    let per_power = 2f64.powi(schema);
    let index = (v.log2() * per_power).ceil();
    2f64.powf(index / per_power) - 2f64.powf((index - 1.0) / per_power)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_stores_bridged_native_histograms() {
    // prometheus-client: a native-only histogram at schema 3.
    let mut pc = prometheus_client::registry::Registry::default();
    let latency = Histogram::new_native(NativeHistogramConfig::with_schema(3));
    pc.register(
        "pc_latency_seconds",
        "From prometheus-client",
        latency.clone(),
    );
    for v in observations() {
        latency.observe(v);
    }

    // metrics-rs: one native histogram, one dual, at the default schema (3).
    let recorder = PrometheusRecorder::builder()
        .histogram_for(
            "mrs_native_seconds",
            HistogramLayout::Native(NativeBuckets::default()),
        )
        .histogram_for_prefix("mrs_dual_", HistogramLayout::Dual(NativeBuckets::default()))
        .build()
        .unwrap();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for v in observations() {
            metrics::histogram!("mrs_native_seconds").record(v);
            metrics::histogram!("mrs_dual_seconds").record(v);
        }
    });

    let page = Gatherers::new().with(Arc::new(pc)).with(handle);
    let app = Router::new().route_service("/metrics", MetricsHandler::builder(page).build());
    // Served until the end of the test (stopped on drop).
    let server = support::serve(app).await;
    let addr = server.addr;

    let prom = Prometheus::builder(addr).native_histograms().start().await;
    prom.expect_target_up(Duration::from_secs(30)).await;

    for name in [
        "pc_latency_seconds",
        "mrs_native_seconds",
        "mrs_dual_seconds",
    ] {
        // The count only a native histogram answers.
        let count = format!("histogram_count({name})");
        prom.wait_for_query(
            &count,
            |r| r.len() == 1 && r[0].1 == 1000.0,
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{count}: {e}\n{}", prom.log_tail(30)));

        // The raw series is a histogram sample, not a float one.
        let raw = prom.query(name).await;
        let result = raw["result"].as_array().expect("a vector");
        assert_eq!(result.len(), 1, "{name}: {raw}");
        assert!(result[0].get("histogram").is_some(), "{name}: {raw}");
        assert!(result[0].get("value").is_none(), "{name}: {raw}");

        let expr = format!("histogram_quantile(0.9, {name})");
        let got = prom.query_scalar_series(&expr).await;
        assert_eq!(got.len(), 1, "{expr}: {got:?}");
        let (q, width) = (got[0].1, bucket_width(TRUE_QUANTILE, 3));
        assert!(
            (q - TRUE_QUANTILE).abs() <= width,
            "{expr} = {q}, true {TRUE_QUANTILE}, bucket width {width}"
        );
    }

    // Stored as native histograms: this Prometheus (without
    // `always_scrape_classic_histograms`) made no classic series of them, the
    // dual one included.
    for name in [
        "pc_latency_seconds",
        "mrs_native_seconds",
        "mrs_dual_seconds",
    ] {
        let classic = format!("{name}_count");
        let none = prom.try_query_scalar_series(&classic).await.unwrap();
        assert!(none.is_empty(), "{classic}: {none:?}");
    }
}
