//! A real Prometheus 2.42 scrapes one page made of a prometheus-client registry, a
//! metrics-rs recorder and a `prometheus` crate registry, and reads every value
//! back.
#![cfg(all(feature = "metrics-rs", feature = "prometheus-client"))]

use promhttp_test_support as support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use prometheus_client::metrics::counter::Counter;
use promhttp::bridge::metrics_rs::PrometheusRecorder;
use promhttp::{Gatherers, MetricsHandler};
use support::Prometheus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_scrapes_every_bridge_on_one_page() {
    // prometheus-client
    let mut pc = prometheus_client::registry::Registry::default();
    let jobs: Counter = Counter::default();
    pc.register("pc_jobs", "Jobs from prometheus-client", jobs.clone());
    jobs.inc_by(11);

    // metrics-rs
    let recorder = PrometheusRecorder::new();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("mrs_events", "kind" => "a").increment(5);
        metrics::histogram!("mrs_latency_seconds").record(0.2);
    });

    // prometheus crate
    let reg = promhttp::prometheus::Registry::new();
    let c = promhttp::prometheus::IntCounter::new("tikv_things_total", "Things.").unwrap();
    c.inc_by(3);
    reg.register(Box::new(c)).unwrap();

    let page = Gatherers::new().with(Arc::new(pc)).with(handle).with(reg);
    let metrics = MetricsHandler::builder(page).openmetrics(true).build();
    let app = Router::new().route_service("/metrics", metrics);
    // Served until the end of the test (stopped on drop).
    let server = support::serve(app).await;
    let addr = server.addr;

    let prom = Prometheus::builder(addr).start().await;
    prom.expect_target_up(Duration::from_secs(30)).await;
    for (expr, want) in [
        ("pc_jobs_total", 11.0),
        ("mrs_events_total{kind=\"a\"}", 5.0),
        ("mrs_latency_seconds_count", 1.0),
        ("tikv_things_total", 3.0),
    ] {
        let r = prom
            .wait_for_query(
                expr,
                |s| s.iter().any(|(_, v)| *v == want),
                Duration::from_secs(30),
            )
            .await;
        assert!(r.is_ok(), "{expr}: {r:?}");
    }
}
