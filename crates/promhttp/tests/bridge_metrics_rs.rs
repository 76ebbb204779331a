//! The metrics-rs bridge: `metrics` macros in, promhttp's encoders and handler out.
#![cfg(feature = "metrics-rs")]

use std::sync::Arc;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use metrics::Unit;
use promhttp::bridge::metrics_rs::PrometheusRecorder;
use promhttp::encode::{encode, EncodeOptions, Format};
use promhttp::gather::gather_all;
use promhttp::{Gather, MetricsHandler};

fn render(source: &dyn Gather, format: Format) -> String {
    let page = gather_all(source);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let mut out = Vec::new();
    encode(format, &page.families, &EncodeOptions::default(), &mut out);
    String::from_utf8(out).unwrap()
}

fn record_sample(recorder: &PrometheusRecorder) {
    metrics::with_local_recorder(recorder, || {
        metrics::describe_counter!("requests", "Requests handled.");
        metrics::describe_gauge!("temperature", "Current temperature.");
        metrics::describe_histogram!("latency_seconds", Unit::Seconds, "Request latency.");
        metrics::counter!("requests", "method" => "GET", "code" => "200").increment(3);
        // Label order does not matter: same series.
        metrics::counter!("requests", "code" => "200", "method" => "GET").increment(1);
        metrics::counter!("requests", "method" => "POST", "code" => "500").absolute(7);
        metrics::gauge!("temperature").set(21.5);
        metrics::gauge!("temperature").increment(1.0);
        metrics::gauge!("temperature").decrement(0.25);
        let h = metrics::histogram!("latency_seconds", "route" => "/a");
        h.record(0.05);
        h.record(0.3);
        h.record(0.3);
        h.record(2.0);
        h.record(100.0);
    });
}

fn sample_recorder() -> PrometheusRecorder {
    PrometheusRecorder::builder()
        .buckets_for("latency_seconds", &[0.1, 0.5, 1.0])
        .build()
        .unwrap()
}

#[test]
fn text_golden() {
    let recorder = sample_recorder();
    record_sample(&recorder);
    assert_eq!(
        render(&recorder, Format::Text),
        concat!(
            "# HELP latency_seconds Request latency.\n",
            "# TYPE latency_seconds histogram\n",
            "latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n",
            "latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 3\n",
            "latency_seconds_bucket{route=\"/a\",le=\"1\"} 3\n",
            "latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 5\n",
            "latency_seconds_sum{route=\"/a\"} 102.65\n",
            "latency_seconds_count{route=\"/a\"} 5\n",
            "# HELP requests_total Requests handled.\n",
            "# TYPE requests_total counter\n",
            "requests_total{code=\"200\",method=\"GET\"} 4\n",
            "requests_total{code=\"500\",method=\"POST\"} 7\n",
            "# HELP temperature Current temperature.\n",
            "# TYPE temperature gauge\n",
            "temperature 22.25\n",
        )
    );
}

#[test]
fn openmetrics_golden() {
    let recorder = sample_recorder();
    record_sample(&recorder);
    assert_eq!(
        render(&recorder, Format::OpenMetrics),
        concat!(
            "# TYPE latency_seconds histogram\n",
            "# UNIT latency_seconds seconds\n",
            "# HELP latency_seconds Request latency.\n",
            "latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n",
            "latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 3\n",
            "latency_seconds_bucket{route=\"/a\",le=\"1.0\"} 3\n",
            "latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 5\n",
            "latency_seconds_sum{route=\"/a\"} 102.65\n",
            "latency_seconds_count{route=\"/a\"} 5\n",
            "# TYPE requests counter\n",
            "# HELP requests Requests handled.\n",
            "requests_total{code=\"200\",method=\"GET\"} 4.0\n",
            "requests_total{code=\"500\",method=\"POST\"} 7.0\n",
            "# TYPE temperature gauge\n",
            "# HELP temperature Current temperature.\n",
            "temperature 22.25\n",
            "# EOF\n",
        )
    );
}

#[test]
fn default_buckets_and_prefix_overrides() {
    let recorder = PrometheusRecorder::builder()
        .buckets_for_prefix("db.", &[1.0, 2.0])
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::histogram!("db.query").record(1.5);
        metrics::histogram!("other").record(0.007);
    });
    assert_eq!(
        render(&recorder, Format::Text),
        concat!(
            "# TYPE db_query histogram\n",
            "db_query_bucket{le=\"1\"} 0\n",
            "db_query_bucket{le=\"2\"} 1\n",
            "db_query_bucket{le=\"+Inf\"} 1\n",
            "db_query_sum 1.5\n",
            "db_query_count 1\n",
            "# TYPE other histogram\n",
            "other_bucket{le=\"0.005\"} 0\n",
            "other_bucket{le=\"0.01\"} 1\n",
            "other_bucket{le=\"0.025\"} 1\n",
            "other_bucket{le=\"0.05\"} 1\n",
            "other_bucket{le=\"0.1\"} 1\n",
            "other_bucket{le=\"0.25\"} 1\n",
            "other_bucket{le=\"0.5\"} 1\n",
            "other_bucket{le=\"1\"} 1\n",
            "other_bucket{le=\"2.5\"} 1\n",
            "other_bucket{le=\"5\"} 1\n",
            "other_bucket{le=\"10\"} 1\n",
            "other_bucket{le=\"+Inf\"} 1\n",
            "other_sum 0.007\n",
            "other_count 1\n",
        )
    );
}

#[test]
fn invalid_names_are_sanitized() {
    let recorder = PrometheusRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("http.requests-served", "status-code" => "2xx", "__secret" => "s")
            .increment(1);
        metrics::counter!("9lives_total").increment(9);
        metrics::gauge!("queue depth", "queue.name" => "mail").set(4.0);
    });
    assert_eq!(
        render(&recorder, Format::Text),
        concat!(
            "# TYPE _9lives_total counter\n",
            "_9lives_total 9\n",
            "# TYPE http_requests_served_total counter\n",
            "http_requests_served_total{_secret=\"s\",status_code=\"2xx\"} 1\n",
            "# TYPE queue_depth gauge\n",
            "queue_depth{queue_name=\"mail\"} 4\n",
        )
    );
}

#[test]
fn concurrent_increments_are_exact() {
    let recorder = Arc::new(PrometheusRecorder::new());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let recorder = recorder.clone();
            std::thread::spawn(move || {
                metrics::with_local_recorder(&*recorder, || {
                    for i in 0..10_000u64 {
                        metrics::counter!("hits", "shard" => (t % 2).to_string()).increment(1);
                        metrics::histogram!("sizes").record((i % 4) as f64);
                        metrics::gauge!("level").increment(1.0);
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = render(&*recorder, Format::Text);
    assert!(text.contains("hits_total{shard=\"0\"} 40000\n"), "{text}");
    assert!(text.contains("hits_total{shard=\"1\"} 40000\n"), "{text}");
    assert!(text.contains("sizes_count 80000\n"), "{text}");
    assert!(text.contains("sizes_sum 120000\n"), "{text}");
    assert!(text.contains("sizes_bucket{le=\"+Inf\"} 80000\n"), "{text}");
    assert!(text.contains("level 80000\n"), "{text}");
}

#[test]
fn served_by_the_handler() {
    let recorder = sample_recorder();
    record_sample(&recorder);
    let handler = MetricsHandler::builder(recorder.handle()).build();
    let response = handler.respond_blocking(&Request::get("/metrics").body(()).unwrap());
    assert_eq!(response.status(), StatusCode::OK);
    let body = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(response.into_body().collect())
        .unwrap()
        .to_bytes();
    let body = std::str::from_utf8(&body).unwrap();
    assert_eq!(body, render(&recorder, Format::Text));
}

#[test]
fn install_twice_fails_without_panicking() {
    // The only test in this binary that touches the global recorder.
    let handle = PrometheusRecorder::new().install().unwrap();
    metrics::counter!("installed").increment(2);
    let err = PrometheusRecorder::new().install().unwrap_err();
    assert_eq!(
        err.to_string(),
        "a global metrics recorder is already installed"
    );
    assert_eq!(
        render(&handle, Format::Text),
        "# TYPE installed_total counter\ninstalled_total 2\n"
    );
}

#[test]
fn units_and_total_suffix() {
    let recorder = PrometheusRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!("sent_bytes", Unit::Bytes, "Bytes sent.");
        // Not a base unit, and a unit the name does not end with: no `# UNIT`.
        metrics::describe_gauge!("wait", Unit::Milliseconds, "Wait.");
        metrics::describe_gauge!("size", Unit::Seconds, "Size.");
        metrics::counter!("sent_bytes").increment(5);
        metrics::counter!("sent_bytes_total").increment(1);
        metrics::gauge!("wait").set(3.0);
        metrics::gauge!("size").set(1.0);
    });
    assert_eq!(
        render(&recorder, Format::OpenMetrics),
        concat!(
            "# TYPE sent_bytes counter\n",
            "# UNIT sent_bytes bytes\n",
            "# HELP sent_bytes Bytes sent.\n",
            "sent_bytes_total 6.0\n",
            "# TYPE size gauge\n",
            "# HELP size Size.\n",
            "size 1.0\n",
            "# TYPE wait gauge\n",
            "# HELP wait Wait.\n",
            "wait 3.0\n",
            "# EOF\n",
        )
    );
}
