//! A real Prometheus 2.42 with `--enable-feature=native-histograms` scrapes a
//! handler serving an [`OtelSource`]: counters exact, the exponential histogram
//! stored as a native histogram (no classic series) with a 0.9-quantile within a
//! bucket of the true one, `target_info` present once.
#![cfg(feature = "opentelemetry")]

use promhttp_test_support as support;

use std::time::Duration;

use axum::Router;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use promhttp::bridge::opentelemetry::OtelSource;
use promhttp::gather::gather_all;
use promhttp::model::Value;
use promhttp::MetricsHandler;
use support::Prometheus;

#[path = "bridge_opentelemetry/view.rs"]
mod view;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_scrapes_the_opentelemetry_source() {
    let source = OtelSource::new();
    let provider = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_service_name("otel-test")
                .build(),
        )
        .with_view(view::exponential("work.duration", 20, true))
        .with_reader(source.clone())
        .build();
    let meter = provider.meter("prom-test");
    let requests = meter.u64_counter("test.requests").build();
    requests.add(42, &[KeyValue::new("route", "/a")]);
    requests.add(8, &[KeyValue::new("route", "/b")]);
    let duration = meter.f64_histogram("work.duration").with_unit("s").build();
    // 1000 evenly spread values from 0.010 to 1.009 s.
    let values: Vec<f64> = (0..1000).map(|i| 0.01 + f64::from(i) * 0.001).collect();
    for v in &values {
        duration.record(*v, &[]);
    }
    let true_q90 = values[899];

    // The schema served: the bucket of the true quantile in it is the tolerance.
    let page = gather_all(&source);
    let family = page
        .families
        .iter()
        .find(|f| f.name == "work_duration_seconds")
        .expect("the histogram family");
    let Value::Histogram(h) = &family.metrics[0].value else {
        panic!("{family:?}")
    };
    let schema = h.native.as_ref().expect("native buckets").schema;
    let (low, high) = support::within_a_native_bucket(schema, true_q90);

    let app = Router::new().route_service("/metrics", MetricsHandler::builder(source).build());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let prom = Prometheus::builder(addr).native_histograms().start().await;
    prom.expect_target_up(Duration::from_secs(30)).await;

    let counters = prom.wait_for_series("test_requests_total").await;
    let mut by_route: Vec<(String, f64)> = counters
        .iter()
        .map(|(l, v)| (l["route"].clone(), *v))
        .collect();
    by_route.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(by_route, [("/a".to_owned(), 42.0), ("/b".to_owned(), 8.0)]);
    assert_eq!(counters[0].0["otel_scope_name"], "prom-test");

    let count = prom
        .wait_for_series("histogram_count(work_duration_seconds)")
        .await;
    assert_eq!(count[0].1, 1000.0);
    let sum = prom
        .wait_for_series("histogram_sum(work_duration_seconds)")
        .await;
    let true_sum: f64 = values.iter().sum();
    assert!((sum[0].1 - true_sum).abs() < 1e-6, "{sum:?} vs {true_sum}");
    let q = prom
        .wait_for_series("histogram_quantile(0.9, work_duration_seconds)")
        .await;
    assert!(
        q[0].1 >= low && q[0].1 <= high,
        "0.9-quantile {} not within a bucket of {true_q90} (schema {schema}: {low}..{high})",
        q[0].1
    );
    // Stored as a native histogram: no classic series were made of it.
    let classic = prom
        .try_query_scalar_series("work_duration_seconds_count")
        .await
        .unwrap();
    assert!(classic.is_empty(), "{classic:?}");

    let info = prom.wait_for_series("count(target_info)").await;
    assert_eq!(info[0].1, 1.0);
    let info = prom.wait_for_series("target_info").await;
    assert_eq!(info[0].0["service_name"], "otel-test");
    drop(provider);
}
