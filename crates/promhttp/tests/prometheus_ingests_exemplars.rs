//! Exemplars from the instrumentation middleware reach a real Prometheus 2.42
//! (`--enable-feature=exemplar-storage`): served in OpenMetrics, read back through
//! its exemplar query API with the trace id the request carried.
#![cfg(feature = "axum")]

use promhttp_test_support as support;

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use promhttp::instrument::HttpMetrics;
use promhttp::model::Label;
use promhttp::MetricsHandler;
use support::Prometheus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_stores_the_middlewares_exemplars() {
    let http = HttpMetrics::builder()
        .exemplar(|req| {
            let id = req.headers.get("x-trace-id")?.to_str().ok()?;
            Some(vec![Label::new("trace_id", id.to_owned())])
        })
        .build()
        .unwrap();
    let metrics = MetricsHandler::builder(http.clone())
        .openmetrics(true)
        .build();
    let app = Router::new()
        .route("/work/{id}", get(|| async { "done" }))
        .layer(http.layer())
        .route_service("/metrics", metrics);
    // Served until the end of the test (stopped on drop).
    let server = support::serve(app).await;
    let addr = server.addr;

    let prom = Prometheus::builder(addr)
        .flag("--enable-feature=exemplar-storage")
        .start()
        .await;
    prom.expect_target_up(Duration::from_secs(30)).await;

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let url = format!("http://{addr}/work/1");
        support::http_get(&url, &[("x-trace-id", trace)]).await;
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let path = format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            support::url_encode("http_requests_total"),
            end - 600,
            end + 60
        );
        let answer = prom.api(&path).await.unwrap_or_default();
        let text = answer.to_string();
        if text.contains(trace) {
            assert!(text.contains("\"/work/{id}\""), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no exemplar stored: {text}\n{}",
            prom.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
