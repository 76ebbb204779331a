//! An axum app instrumented with OpenTelemetry metrics, its `/metrics` served by
//! promhttp on the same listener through [`OtelSource`].
//!
//! ```text
//! cargo run --release -p promhttp --example opentelemetry -- --listen 127.0.0.1:3002
//! curl -s http://127.0.0.1:3002/metrics
//! curl -s -H 'Accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited' http://127.0.0.1:3002/metrics | wc -c
//! ```
//!
//! Instruments: a request counter (`http_server_requests_total`), an
//! explicit-bucket histogram (`http_server_request_duration_seconds`), an
//! exponential histogram (`http_server_response_body_size_bytes`, a native
//! histogram in protobuf), an up-down counter (`http_server_active_requests`) and an
//! observable gauge (`app_uptime_seconds`). At start the app sends a few requests to
//! its own routes, so the first scrape already shows every kind.
//!
//! Exemplars: none. `opentelemetry_sdk` 0.33 builds every data point with
//! `exemplars: vec![]` (`src/metrics/internal/`) and has no exemplar reservoir, so
//! wiring traces in would add nothing to the page; the [`OtelSource`] module docs
//! say what will be mapped once the SDK fills them.
//!
//! The example needs promhttp's `opentelemetry` feature, which promhttp's own
//! dev-dependency on itself turns on for its examples, hence no `--features`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _, UpDownCounter};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{Aggregation, Instrument, SdkMeterProvider, Stream};
use opentelemetry_sdk::Resource;
use promhttp::bridge::opentelemetry::OtelSource;
use promhttp::MetricsHandler;

/// The app's instruments.
struct Metrics {
    requests: Counter<u64>,
    duration: Histogram<f64>,
    body_size: Histogram<u64>,
    active: UpDownCounter<i64>,
}

impl Metrics {
    fn new(provider: &SdkMeterProvider) -> Self {
        let meter = provider.meter("otel-example");
        let started = Instant::now();
        meter
            .f64_observable_gauge("app.uptime")
            .with_unit("s")
            .with_description("Time since the app started.")
            .with_callback(move |o| o.observe(started.elapsed().as_secs_f64(), &[]))
            .build();
        Metrics {
            requests: meter
                .u64_counter("http.server.requests")
                .with_unit("{request}")
                .with_description("HTTP requests served.")
                .build(),
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("HTTP request duration.")
                .with_boundaries(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0])
                .build(),
            body_size: meter
                .u64_histogram("http.server.response.body.size")
                .with_unit("By")
                .with_description("HTTP response body size.")
                .build(),
            active: meter
                .i64_up_down_counter("http.server.active_requests")
                .with_unit("{request}")
                .with_description("HTTP requests in flight.")
                .build(),
        }
    }

    /// Records one request of `route` that took from `start` until now.
    fn observe(&self, route: &'static str, start: Instant, body: &[u8]) {
        let attributes = [
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", 200),
        ];
        self.requests.add(1, &attributes);
        self.duration
            .record(start.elapsed().as_secs_f64(), &attributes);
        self.body_size.record(body.len() as u64, &attributes);
    }
}

/// `/api/items/{n}`: `n` items (at most 10 000) of 16 bytes each.
async fn items(State(m): State<Arc<Metrics>>, Path(n): Path<usize>) -> Vec<u8> {
    let start = Instant::now();
    m.active.add(1, &[]);
    let body = b"item-0123456789\n".repeat(n.min(10_000));
    m.observe("/api/items/{n}", start, &body);
    m.active.add(-1, &[]);
    body
}

/// `/api/slow`: answers after 20 ms.
async fn slow(State(m): State<Arc<Metrics>>) -> &'static str {
    let start = Instant::now();
    m.active.add(1, &[]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    m.observe("/api/slow", start, b"done\n");
    m.active.add(-1, &[]);
    "done\n"
}

/// A few requests against the app's own routes.
async fn drive_traffic(base: String) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut paths: Vec<String> = [1, 3, 10, 40, 100, 400, 1000]
        .iter()
        .map(|n| format!("/api/items/{n}"))
        .collect();
    paths.extend(["/api/slow".to_owned(), "/api/slow".to_owned()]);
    for path in paths {
        let response = client.get(format!("{base}{path}").parse()?).await?;
        response.into_body().collect().await?;
    }
    Ok(())
}

/// The source to serve, the provider recording into it, and the app.
fn setup() -> (OtelSource, SdkMeterProvider, Router) {
    let source = OtelSource::new();
    let provider = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("otel-example")
                .build(),
        )
        // Response sizes as an exponential histogram: a native histogram on the page.
        .with_view(|i: &Instrument| {
            (i.name() == "http.server.response.body.size").then(|| {
                Stream::builder()
                    .with_aggregation(Aggregation::Base2ExponentialHistogram {
                        max_size: 160,
                        max_scale: 20,
                        record_min_max: true,
                    })
                    .build()
                    .expect("a valid exponential histogram stream")
            })
        })
        .with_reader(source.clone())
        .build();
    let metrics = Arc::new(Metrics::new(&provider));
    let app = Router::new()
        .route("/api/items/{n}", get(items))
        .route("/api/slow", get(slow))
        .with_state(metrics)
        .route_service(
            "/metrics",
            MetricsHandler::builder(source.clone())
                .openmetrics(true)
                .openmetrics_created_samples(true)
                .build(),
        );
    (source, provider, app)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:3002".to_owned();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(addr)) => listen = addr,
            _ => return Err(format!("usage: opentelemetry [--listen ADDR] (got {arg:?})").into()),
        }
    }

    let (_source, provider, app) = setup();
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(promhttp::shutdown_signal())
            .await
    });

    drive_traffic(format!("http://{addr}")).await?;
    eprintln!("OpenTelemetry example on http://{addr}, metrics on http://{addr}/metrics");
    server.await??;
    provider.shutdown()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use promhttp::gather::gather_all;
    use promhttp::model::Value;

    /// After the start-up traffic, the first scrape shows every instrument kind.
    #[tokio::test]
    async fn the_first_scrape_shows_every_instrument_kind() {
        let (source, _provider, app) = setup();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        drive_traffic(format!("http://{addr}")).await.unwrap();

        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let url = format!("http://{addr}/metrics").parse().unwrap();
        let body = client
            .get(url)
            .await
            .unwrap()
            .into_body()
            .collect()
            .await
            .unwrap();
        let page = String::from_utf8(body.to_bytes().to_vec()).unwrap();
        for line in [
            "# TYPE http_server_requests_total counter\n",
            "# TYPE http_server_request_duration_seconds histogram\n",
            "# TYPE http_server_response_body_size_bytes histogram\n",
            "# TYPE http_server_active_requests gauge\n",
            "# TYPE app_uptime_seconds gauge\n",
            "http_server_active_requests{otel_scope_name=\"otel-example\"} 0\n",
            "http_route=\"/api/items/{n}\",otel_scope_name=\"otel-example\"} 7\n",
            "http_route=\"/api/slow\",otel_scope_name=\"otel-example\"} 2\n",
            "target_info{service_name=\"otel-example\"",
        ] {
            assert!(page.contains(line), "{line:?} not in\n{page}");
        }
        // The response sizes are a native histogram with every request in it.
        let gathered = gather_all(&source);
        let sizes = gathered
            .families
            .iter()
            .find(|f| f.name == "http_server_response_body_size_bytes")
            .unwrap();
        let Value::Histogram(h) = &sizes.metrics[0].value else {
            panic!("{sizes:?}")
        };
        let native = h.native.as_ref().expect("native buckets");
        let in_buckets: u64 = native.positive_counts().map(|(_, c)| c).sum();
        assert_eq!((h.count, in_buckets), (7, 7));
    }
    /// A real Prometheus 2.42 (native histograms on) scrapes the example app after
    /// its start-up traffic: the target is up, the request counters are exact, the
    /// exponential histogram of response sizes is stored as a native histogram
    /// whose count and sum are exact and whose median is within a bucket of the
    /// true one, and `target_info` is there once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
    async fn prometheus_scrapes_the_example() {
        use promhttp_test_support::{serve, within_a_native_bucket, Prometheus};

        let (source, _provider, app) = setup();
        let server = serve(app).await;
        drive_traffic(format!("http://{}", server.addr))
            .await
            .unwrap();

        // The sizes `drive_traffic` asked `/api/items/{n}` for: 16 bytes an item.
        let mut sizes: Vec<f64> = [1, 3, 10, 40, 100, 400, 1000]
            .iter()
            .map(|n| f64::from(16 * n))
            .collect();
        sizes.sort_by(f64::total_cmp);
        let true_median = sizes[3];
        // The schema served: the bucket of the true median in it is the tolerance.
        let gathered = gather_all(&source);
        let family = gathered
            .families
            .iter()
            .find(|f| f.name == "http_server_response_body_size_bytes")
            .expect("the response size family");
        let Value::Histogram(h) = &family.metrics[0].value else {
            panic!("{family:?}")
        };
        let schema = h.native.as_ref().expect("native buckets").schema;
        let (low, high) = within_a_native_bucket(schema, true_median);

        let prom = Prometheus::builder(server.addr)
            .native_histograms()
            .start()
            .await;
        prom.expect_target_up(Duration::from_secs(30)).await;
        let requests = prom.wait_for_series("http_server_requests_total").await;
        let mut by_route: Vec<(String, f64)> = requests
            .iter()
            .map(|(l, v)| (l["http_route"].clone(), *v))
            .collect();
        by_route.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            by_route,
            [
                ("/api/items/{n}".to_owned(), 7.0),
                ("/api/slow".to_owned(), 2.0)
            ]
        );

        let items = r#"http_server_response_body_size_bytes{http_route="/api/items/{n}"}"#;
        let count = prom
            .wait_for_series(&format!("histogram_count({items})"))
            .await;
        assert_eq!(count[0].1, 7.0);
        let sum = prom
            .wait_for_series(&format!("histogram_sum({items})"))
            .await;
        assert_eq!(sum[0].1, sizes.iter().sum::<f64>());
        let median = prom
            .wait_for_series(&format!("histogram_quantile(0.5, {items})"))
            .await;
        assert!(
            median[0].1 >= low && median[0].1 <= high,
            "median {} not within a bucket of {true_median} (schema {schema}: {low}..{high})",
            median[0].1
        );
        // Stored as a native histogram: no classic series were made of it.
        let classic = prom
            .try_query_scalar_series("http_server_response_body_size_bytes_count")
            .await
            .unwrap();
        assert!(classic.is_empty(), "{classic:?}");

        let info = prom.wait_for_series("count(target_info)").await;
        assert_eq!(info[0].1, 1.0);
    }
}
