//! The Pushgateway client against a real Pushgateway (`prometheus-pushgateway`,
//! Debian's 1.5 in CI), each test with its own gateway on a free loopback port.
//!
//! The tests that need the binary are `#[ignore]`d for that reason
//! (`scripts/test.sh` runs them); the others run against scripted local servers.
//! Every wait is bounded.
#![cfg(feature = "push")]

use promhttp_test_support as support;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use promhttp::prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, Opts, Registry};
use promhttp::push::{Method, PeriodicMethod, PeriodicPusher, PushError, PushFormat, Pusher};
use serde_json::Value;
use support::{file_tail, free_port, require_tool, try_http_get, unique_temp_dir};

const READY_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// A real Pushgateway
// ---------------------------------------------------------------------------

/// A Pushgateway process with its own port and temporary directory; killed (by
/// its PID) and its directory removed on drop.
struct Gateway {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Gateway {
    /// Panics when the binary is missing (only `#[ignore]`d tests call it).
    async fn start() -> Gateway {
        Self::start_with(&[]).await
    }

    async fn start_with(flags: &[String]) -> Gateway {
        let binary = require_tool("prometheus-pushgateway");
        let mut last = String::new();
        for _ in 0..3 {
            let dir = unique_temp_dir("promhttp-test-pushgateway");
            let log = fs::File::create(dir.join("pushgateway.log")).expect("create log");
            let port = free_port();
            let child = Command::new(&binary)
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg(format!(
                    "--persistence.file={}",
                    dir.join("persistence").display()
                ))
                .arg("--log.level=debug")
                .args(flags)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
            let mut gw = Gateway { child, port, dir };
            match gw.wait_ready().await {
                Ok(()) => return gw,
                Err(e) => {
                    let tail = gw.log_tail();
                    last = format!("{e}\n--- pushgateway log ---\n{tail}");
                    if !tail.contains("address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("pushgateway did not become ready: {last}");
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = self.url("/-/ready");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("pushgateway exited early with {status}"));
            }
            // /-/ready is behind basic auth when a web config asks for it: any
            // answer at all means it is listening.
            let last = match try_http_get(&url, &[]).await {
                Ok((status, _, _))
                    if status == StatusCode::OK || status == StatusCode::UNAUTHORIZED =>
                {
                    return Ok(())
                }
                Ok((status, _, body)) => format!("{status}: {}", String::from_utf8_lossy(&body)),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!("not ready after {READY_TIMEOUT:?}; last: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    fn log_tail(&self) -> String {
        file_tail(&self.dir.join("pushgateway.log"), 30)
    }

    /// `GET /api/v1/metrics` → `data`: one object per group.
    async fn groups_with(&self, headers: &[(&str, &str)]) -> Vec<Value> {
        let url = self.url("/api/v1/metrics");
        let (status, _, body) = try_http_get(&url, headers)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let json: Value = serde_json::from_slice(&body).expect("JSON from /api/v1/metrics");
        assert_eq!(json["status"], "success", "{json}");
        json["data"].as_array().cloned().unwrap_or_default()
    }

    async fn groups(&self) -> Vec<Value> {
        self.groups_with(&[]).await
    }

    /// The group whose grouping labels are exactly `labels` (job included).
    async fn group(&self, labels: &[(&str, &str)]) -> Option<Value> {
        self.groups()
            .await
            .into_iter()
            .find(|g| same_labels(&g["labels"], labels))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- pushgateway (pid {}, {}) log tail ---\n{}\n--- end ---",
                self.child.id(),
                self.base_url(),
                self.log_tail()
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn same_labels(got: &Value, want: &[(&str, &str)]) -> bool {
    let Some(got) = got.as_object() else {
        return false;
    };
    got.len() == want.len()
        && want
            .iter()
            .all(|(k, v)| got.get(*k).and_then(Value::as_str) == Some(*v))
}

/// The metric `name` of a group: its `metrics` array.
fn metrics<'a>(group: &'a Value, name: &str) -> &'a [Value] {
    group[name]["metrics"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no metric {name} in group {group:#}"))
}

fn value_of(group: &Value, name: &str) -> String {
    metrics(group, name)[0]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no value: {group:#}"))
        .to_owned()
}

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

/// Like the demo service: a counter and a histogram.
struct Demo {
    registry: Registry,
    requests: IntCounter,
}

fn demo() -> Demo {
    let registry = Registry::new();
    let requests = IntCounter::new("demo_requests_total", "Requests handled.").unwrap();
    let latency = Histogram::with_opts(
        HistogramOpts::new("demo_request_duration_seconds", "Request latency.")
            .buckets(vec![0.1, 1.0]),
    )
    .unwrap();
    registry.register(Box::new(requests.clone())).unwrap();
    registry.register(Box::new(latency.clone())).unwrap();
    requests.inc_by(3);
    latency.observe(0.05);
    latency.observe(0.5);
    latency.observe(2.0);
    Demo { registry, requests }
}

fn gauge_registry(name: &str, value: f64, labels: &[(&str, &str)]) -> Registry {
    let registry = Registry::new();
    let mut opts = Opts::new(name, "A gauge.");
    for (k, v) in labels {
        opts = opts.const_label(*k, *v);
    }
    let g = Gauge::with_opts(opts).unwrap();
    g.set(value);
    registry.register(Box::new(g)).unwrap();
    registry
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

const ZONE: &str = "Προμηθεύς ü x";

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn push_lands_with_exact_grouping_labels_and_values() {
    let gw = Gateway::start().await;
    let d = demo();
    let pusher = Pusher::builder(gw.base_url() + "/", "test/job")
        .grouping("instance", "a/b")
        .grouping("empty", "")
        .grouping("zone", ZONE)
        .build()
        .unwrap();
    assert!(
        pusher.url().ends_with(
            "/metrics/job@base64/dGVzdC9qb2I/instance@base64/YS9i/empty@base64/=/zone/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82%20%C3%BC%20x"
        ),
        "{}",
        pusher.url()
    );
    pusher.push_from(&d.registry).await.unwrap();

    let want = [
        ("job", "test/job"),
        ("instance", "a/b"),
        ("empty", ""),
        ("zone", ZONE),
    ];
    let group = gw
        .group(&want)
        .await
        .unwrap_or_else(|| panic!("group {want:?} missing: {:#?}", gw.url("/api/v1/metrics")));
    assert_eq!(group["last_push_successful"], true);
    assert_eq!(value_of(&group, "demo_requests_total"), "3");
    assert_eq!(group["demo_requests_total"]["type"], "COUNTER");
    let h = &metrics(&group, "demo_request_duration_seconds")[0];
    assert_eq!(group["demo_request_duration_seconds"]["type"], "HISTOGRAM");
    assert_eq!(h["count"], "3", "{group:#}");
    assert_eq!(h["sum"], "2.55");
    assert_eq!(h["buckets"]["0.1"], "1");
    assert_eq!(h["buckets"]["1"], "2");
    // Protobuf leaves the +Inf bucket implicit (it is `count`).
    // Series carry the grouping labels.
    assert_eq!(h["labels"]["job"], "test/job");
    assert_eq!(h["labels"]["zone"], ZONE);
}

/// A `promhttp::metrics` registry (promhttp's own storage) lands like any source:
/// a labelled counter, a classic histogram and a dual one (its classic buckets).
#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn own_storage_lands_with_counters_and_histograms() {
    use promhttp::metrics::{self, NativeBuckets};

    let gw = Gateway::start().await;
    let registry = metrics::Registry::new();
    let jobs =
        metrics::IntCounterVec::new(metrics::Opts::new("own_jobs_total", "Jobs."), &["queue"])
            .unwrap();
    let latency = metrics::Histogram::with_opts(
        metrics::HistogramOpts::new("own_latency_seconds", "Latency.").buckets(vec![0.1, 1.0]),
    )
    .unwrap();
    let dual = metrics::Histogram::with_opts(
        metrics::HistogramOpts::new("own_dual_seconds", "Latency.")
            .buckets(vec![0.1, 1.0])
            .native(NativeBuckets::default()),
    )
    .unwrap();
    registry.register(Box::new(jobs.clone())).unwrap();
    registry.register(Box::new(latency.clone())).unwrap();
    registry.register(Box::new(dual.clone())).unwrap();
    jobs.with_label_values(&["mail"]).inc_by(3);
    for v in [0.05, 0.5, 2.0] {
        latency.observe(v);
        dual.observe(v);
    }

    let pusher = Pusher::builder(gw.base_url(), "own_job").build().unwrap();
    pusher.push_from(&registry).await.unwrap();
    let group = gw.group(&[("job", "own_job")]).await.expect("group");
    assert_eq!(group["last_push_successful"], true);
    let counter = &metrics(&group, "own_jobs_total")[0];
    assert_eq!(counter["value"], "3", "{group:#}");
    assert_eq!(counter["labels"]["queue"], "mail");
    for name in ["own_latency_seconds", "own_dual_seconds"] {
        assert_eq!(group[name]["type"], "HISTOGRAM", "{group:#}");
        let h = &metrics(&group, name)[0];
        assert_eq!(h["count"], "3", "{name}: {group:#}");
        assert_eq!(h["sum"], "2.55", "{name}");
        assert_eq!(h["buckets"]["0.1"], "1", "{name}");
        assert_eq!(h["buckets"]["1"], "2", "{name}");
    }
}

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn put_replaces_the_group_post_keeps_other_metrics_delete_removes_it() {
    let gw = Gateway::start().await;
    let d = demo();
    let pusher = Pusher::builder(gw.base_url(), "batch")
        .grouping("instance", "")
        .grouping("path", "/srv/data")
        .gatherer(d.registry.clone())
        .build()
        .unwrap();
    let want = [("job", "batch"), ("instance", ""), ("path", "/srv/data")];

    pusher.push().await.unwrap();
    let group = gw.group(&want).await.expect("group after push");
    assert_eq!(value_of(&group, "demo_requests_total"), "3");

    // POST: same-name metrics replaced, the others kept.
    pusher
        .add_from(&gauge_registry("extra_gauge", 7.5, &[]))
        .await
        .unwrap();
    d.requests.inc_by(2);
    pusher.add().await.unwrap();
    let group = gw.group(&want).await.expect("group after add");
    assert_eq!(value_of(&group, "extra_gauge"), "7.5");
    assert_eq!(value_of(&group, "demo_requests_total"), "5");
    assert!(group.get("demo_request_duration_seconds").is_some());

    // PUT: everything replaced.
    pusher
        .push_from(&gauge_registry("extra_gauge", 1.0, &[]))
        .await
        .unwrap();
    let group = gw.group(&want).await.expect("group after second push");
    assert_eq!(value_of(&group, "extra_gauge"), "1");
    assert!(group.get("demo_requests_total").is_none(), "{group:#}");
    assert!(group.get("demo_request_duration_seconds").is_none());

    // Another group is untouched by our delete.
    let other = Pusher::builder(gw.base_url(), "batch")
        .grouping("instance", "other")
        .build()
        .unwrap();
    other
        .push_from(&gauge_registry("extra_gauge", 2.0, &[]))
        .await
        .unwrap();

    pusher.delete().await.unwrap();
    let g = &gw;
    eventually(
        Duration::from_secs(10),
        "the group deleted",
        || async move { g.group(&want).await.is_none() },
    )
    .await;
    assert!(gw
        .group(&[("job", "batch"), ("instance", "other")])
        .await
        .is_some());
    // Deleting a group that is gone is fine too (the gateway answers 202).
    pusher.delete().await.unwrap();
}

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn text_format_lands_too() {
    let gw = Gateway::start().await;
    let d = demo();
    let pusher = Pusher::builder(gw.base_url(), "text_job")
        .grouping("zone", ZONE)
        .format(PushFormat::Text)
        .gatherer(d.registry)
        .build()
        .unwrap();
    pusher.push().await.unwrap();
    let group = gw
        .group(&[("job", "text_job"), ("zone", ZONE)])
        .await
        .expect("group");
    assert_eq!(value_of(&group, "demo_requests_total"), "3");
    assert_eq!(
        metrics(&group, "demo_request_duration_seconds")[0]["count"],
        "3"
    );
}

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn inconsistent_push_is_a_400_with_the_gateways_message() {
    let gw = Gateway::start().await;
    let counter = Pusher::builder(gw.base_url(), "a").build().unwrap();
    let d = demo();
    counter.push_from(&d.registry).await.unwrap();
    // The same name as a gauge in another group: inconsistent.
    let gauge = Pusher::builder(gw.base_url(), "b").build().unwrap();
    let started = Instant::now();
    let err = gauge
        .push_from(&gauge_registry("demo_requests_total", 1.0, &[]))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST), "{err}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "unexpected status code 400 while pushing to {}/metrics/job/b: ",
            gw.base_url()
        )),
        "{text}"
    );
    assert!(text.contains("inconsistent"), "{text}");
    // Which of the two types the gateway calls wrong depends on its map order.
    assert!(text.contains("demo_requests_total"), "{text}");
    // Same with add.
    let err = gauge
        .add_from(&gauge_registry("demo_requests_total", 1.0, &[]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("while adding to"), "{err}");
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
}

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn wrong_path_prefix_is_a_clear_4xx() {
    let gw = Gateway::start().await;
    let pusher = Pusher::builder(gw.url("/no/such/prefix"), "j")
        .build()
        .unwrap();
    let err = pusher
        .push_from(&gauge_registry("g", 1.0, &[]))
        .await
        .unwrap_err();
    let status = err.status().unwrap_or_else(|| panic!("{err}"));
    assert!(status.is_client_error(), "{err}");
    assert!(
        err.to_string().contains("/no/such/prefix/metrics/job/j"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_gateway_is_a_quick_clear_error() {
    // A port nobody listens on (bound, read, released).
    let port = free_port();
    let pusher = Pusher::builder(format!("127.0.0.1:{port}"), "j")
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = pusher
        .push_from(&gauge_registry("g", 1.0, &[]))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(
        matches!(
            err,
            PushError::Transport {
                method: Method::Push,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "error while pushing to http://127.0.0.1:{port}/metrics/job/j: "
        )),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
    let err = pusher.delete().await.unwrap_err();
    assert!(err.to_string().contains("while deleting"), "{err}");
}

#[tokio::test]
async fn a_gateway_that_never_answers_times_out() {
    // Accepts connections and reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let pusher = Pusher::builder(addr.to_string(), "j")
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = pusher
        .push_from(&gauge_registry("g", 1.0, &[]))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(matches!(err, PushError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer within 300ms"), "{err}");
    // The blocking call is bounded too.
    let p = pusher.clone();
    let err = tokio::task::spawn_blocking(move || p.delete_blocking())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, PushError::Timeout { .. }), "{err:?}");
    server.abort();
}

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn metrics_with_job_or_grouping_labels_are_refused_before_sending() {
    let gw = Gateway::start().await;
    let pusher = Pusher::builder(gw.base_url(), "clash")
        .grouping("instance", "i1")
        .build()
        .unwrap();
    for label in ["job", "instance"] {
        let source = gauge_registry("labelled", 1.0, &[(label, "x")]);
        let err = pusher.push_from(&source).await.unwrap_err();
        match &err {
            PushError::LabelClash { family, label: l } => {
                assert_eq!(family, "labelled");
                assert_eq!(l, label);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("nothing was sent"), "{err}");
        let err = pusher.add_from(&source).await.unwrap_err();
        assert!(matches!(err, PushError::LabelClash { .. }), "{err:?}");
    }
    // Nothing reached the gateway.
    assert!(gw.groups().await.is_empty());

    // A closed port proves no connection was even tried: the clash, not a
    // transport error, is reported.
    let offline = Pusher::builder(format!("127.0.0.1:{}", free_port()), "clash")
        .build()
        .unwrap();
    let err = offline
        .push_from(&gauge_registry("labelled", 1.0, &[("job", "x")]))
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::LabelClash { .. }), "{err:?}");
}

#[test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
fn blocking_push_outside_a_runtime() {
    // A runtime only to start and query the gateway; the push runs outside it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gw = rt.block_on(Gateway::start());
    assert!(tokio::runtime::Handle::try_current().is_err());
    let d = demo();
    let pusher = Pusher::builder(gw.base_url(), "blocking")
        .grouping("where", "outside")
        .gatherer(d.registry.clone())
        .build()
        .unwrap();
    pusher.push_blocking().unwrap();
    d.requests.inc();
    pusher.add_blocking().unwrap();
    let want = [("job", "blocking"), ("where", "outside")];
    let group = rt.block_on(gw.group(&want)).expect("group");
    assert_eq!(value_of(&group, "demo_requests_total"), "4");
    pusher
        .push_from_blocking(&gauge_registry("only", 1.0, &[]))
        .unwrap();
    let group = rt.block_on(gw.group(&want)).expect("group");
    assert!(group.get("demo_requests_total").is_none());
    pusher.delete_blocking().unwrap();
    support::wait_until_blocking("the group deleted", Duration::from_secs(10), || {
        rt.block_on(gw.group(&want)).is_none()
    });
}

async fn blocking_inside(flavor: &str) {
    let gw = Gateway::start().await;
    let d = demo();
    let pusher = Pusher::builder(gw.base_url(), "blocking")
        .grouping("where", flavor)
        .gatherer(d.registry.clone())
        .build()
        .unwrap();
    // Called straight from async code: no panic, no deadlock, bounded.
    let started = Instant::now();
    pusher.push_blocking().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let want = [("job", "blocking"), ("where", flavor)];
    let group = gw.group(&want).await.expect("group");
    assert_eq!(value_of(&group, "demo_requests_total"), "3");
    pusher
        .add_from_blocking(&gauge_registry("extra", 2.0, &[]))
        .unwrap();
    assert_eq!(value_of(&gw.group(&want).await.unwrap(), "extra"), "2");
    pusher.delete_blocking().unwrap();
    let g = &gw;
    eventually(
        Duration::from_secs(10),
        "the group deleted",
        || async move { g.group(&want).await.is_none() },
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn blocking_push_inside_a_current_thread_runtime() {
    blocking_inside("current_thread").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn blocking_push_inside_a_multi_thread_runtime() {
    blocking_inside("multi_thread").await;
}

/// Polls `check` every 50 ms until it is true; panics after `limit`. (The gateway
/// applies a DELETE after answering it, `202 Accepted`: a test polls for its effect.)
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn periodic_pusher_pushes_repeatedly_and_once_more_on_shutdown() {
    let gw = Gateway::start().await;
    let d = demo();
    let pusher = Pusher::builder(gw.base_url(), "periodic")
        .gatherer(d.registry.clone())
        .build()
        .unwrap();
    let handle = PeriodicPusher::builder(pusher, Duration::from_millis(200))
        .start()
        .unwrap();
    let want = [("job", "periodic")];
    eventually(Duration::from_secs(10), "two pushes", || {
        let pushes = handle.stats().pushes;
        async move { pushes >= 2 }
    })
    .await;
    let first = gw.group(&want).await.expect("group");
    let first_time = metrics(&first, "push_time_seconds")[0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    // The gateway sees the pushes: its push time moves on.
    let g = &gw;
    eventually(Duration::from_secs(10), "a later push", || {
        let first_time = first_time.clone();
        async move {
            let group = g.group(&want).await.expect("group");
            metrics(&group, "push_time_seconds")[0]["value"] != first_time.as_str()
        }
    })
    .await;
    let stats = handle.stats();
    assert!(stats.pushes >= 3, "{stats:?}");
    assert_eq!(stats.failures, 0, "{stats:?}");

    // A value set just before shutdown arrives with the final push.
    d.requests.inc_by(1000);
    handle.shutdown().await.unwrap();
    let group = gw.group(&want).await.expect("group after shutdown");
    assert_eq!(value_of(&group, "demo_requests_total"), "1003");
}

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn periodic_pusher_adds_and_deletes_on_shutdown_when_asked() {
    let gw = Gateway::start().await;
    let want = [("job", "periodic"), ("instance", "short-lived")];
    // Something else in the group, which POST keeps while running.
    let pusher = Pusher::builder(gw.base_url(), "periodic")
        .grouping("instance", "short-lived")
        .gatherer(gauge_registry("ours", 1.0, &[]))
        .build()
        .unwrap();
    pusher
        .push_from(&gauge_registry("theirs", 5.0, &[]))
        .await
        .unwrap();
    let handle = PeriodicPusher::builder(pusher, Duration::from_millis(100))
        .method(PeriodicMethod::Add)
        .delete_on_shutdown(true)
        .start()
        .unwrap();
    eventually(Duration::from_secs(10), "two adds", || {
        let pushes = handle.stats().pushes;
        async move { pushes >= 2 }
    })
    .await;
    let group = gw.group(&want).await.expect("group");
    assert_eq!(value_of(&group, "theirs"), "5");
    assert_eq!(value_of(&group, "ours"), "1");
    handle.shutdown().await.unwrap();
    let g = &gw;
    eventually(
        Duration::from_secs(10),
        "the group deleted",
        || async move { g.group(&want).await.is_none() },
    )
    .await;
}

#[tokio::test]
async fn periodic_pusher_survives_failures_and_reports_the_final_one() {
    let port = free_port();
    let pusher = Pusher::builder(format!("127.0.0.1:{port}"), "down")
        .timeout(Duration::from_secs(2))
        .gatherer(gauge_registry("g", 1.0, &[]))
        .build()
        .unwrap();
    let handle = PeriodicPusher::builder(pusher, Duration::from_millis(50))
        .start()
        .unwrap();
    eventually(Duration::from_secs(10), "two failures", || {
        let failures = handle.stats().failures;
        async move { failures >= 2 }
    })
    .await;
    let stats = handle.stats();
    assert_eq!(stats.pushes, 0);
    assert!(stats.last_error.unwrap().contains("error while pushing to"));
    let started = Instant::now();
    let err = handle.shutdown().await.unwrap_err();
    assert!(matches!(err, PushError::Transport { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Bad settings are refused at start.
    let p = Pusher::new("127.0.0.1:1", "j").unwrap();
    let err = PeriodicPusher::builder(p, Duration::ZERO)
        .start()
        .unwrap_err();
    assert!(
        matches!(
            err,
            PushError::InvalidOption {
                option: "interval",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn periodic_pusher_needs_a_runtime() {
    let p = Pusher::new("127.0.0.1:1", "j").unwrap();
    let err = PeriodicPusher::builder(p, Duration::from_secs(1))
        .start()
        .unwrap_err();
    assert!(matches!(err, PushError::NoRuntime), "{err:?}");
    assert!(err.to_string().contains("inside a Tokio runtime"), "{err}");
}

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn basic_auth_against_a_gateway_that_requires_it() {
    let dir = unique_temp_dir("promhttp-test-pushgateway-auth");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let config = dir.join("web.yml");
    fs::write(&config, format!("basic_auth_users:\n  pusher: '{hash}'\n")).unwrap();
    let gw = Gateway::start_with(&[format!("--web.config.file={}", config.display())]).await;
    let source = gauge_registry("authed", 1.0, &[]);

    let anonymous = Pusher::new(gw.base_url(), "auth").unwrap();
    let err = anonymous.push_from(&source).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");

    let wrong = Pusher::builder(gw.base_url(), "auth")
        .basic_auth("pusher", "wrong")
        .build()
        .unwrap();
    let err = wrong.push_from(&source).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");

    let right = Pusher::builder(gw.base_url(), "auth")
        .basic_auth("pusher", "s3cret")
        .build()
        .unwrap();
    right.push_from(&source).await.unwrap();
    // An Authorization header given by hand works the same.
    let token = "cHVzaGVyOnMzY3JldA=="; // base64("pusher:s3cret")
    let by_header = Pusher::builder(gw.base_url(), "auth2")
        .header("Authorization", format!("Basic {token}"))
        .build()
        .unwrap();
    by_header.push_from(&source).await.unwrap();

    let auth = format!("Basic {token}");
    let groups = gw.groups_with(&[("authorization", auth.as_str())]).await;
    assert!(groups
        .iter()
        .any(|g| same_labels(&g["labels"], &[("job", "auth")])));
    assert!(groups
        .iter()
        .any(|g| same_labels(&g["labels"], &[("job", "auth2")])));
    right.delete().await.unwrap();
    drop(gw);
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn custom_headers_and_content_type_are_sent() {
    use axum::http::HeaderMap;
    use axum::routing::put;

    let seen: Arc<Mutex<Vec<(String, HeaderMap, usize)>>> = Arc::default();
    let log = seen.clone();
    let router = axum::Router::new().route(
        "/{*path}",
        put(
            move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    log.lock()
                        .unwrap()
                        .push((uri.path().to_owned(), headers, body.len()));
                    StatusCode::ACCEPTED
                }
            },
        ),
    );
    let server = support::serve(router).await;
    let pusher = Pusher::builder(server.url(""), "hdr")
        .header("X-Tenant", "team-a")
        .header("Authorization", "Bearer overridden")
        .basic_auth("u", "p")
        .build()
        .unwrap();
    pusher
        .push_from(&gauge_registry("g", 1.0, &[]))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    let (path, headers, len) = &seen[0];
    assert_eq!(path, "/metrics/job/hdr");
    assert_eq!(headers["x-tenant"], "team-a");
    assert_eq!(headers["authorization"], "Basic dTpw");
    assert_eq!(
        headers["content-type"],
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    assert!(*len > 0);
}

/// A fake gateway answering `statuses` in turn (then 202), counting requests.
async fn scripted_gateway(
    statuses: Vec<StatusCode>,
) -> (support::TestServer, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let statuses = Arc::new(statuses);
    let router = axum::Router::new().route(
        "/{*path}",
        axum::routing::any(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let status = statuses.get(n).copied().unwrap_or(StatusCode::ACCEPTED);
            async move { (status, format!("scripted answer {n}\n")) }
        }),
    );
    (support::serve(router).await, count)
}

#[tokio::test]
async fn the_gateways_message_is_one_line_with_control_characters_escaped() {
    let router = axum::Router::new().route(
        "/{*path}",
        axum::routing::any(|| async {
            (
                StatusCode::BAD_REQUEST,
                "\u{1b}[31mbad\u{1b}[0m\r\nERROR forged line\u{7}\0 Προμηθεύς ✓\n",
            )
        }),
    );
    let server = support::serve(router).await;
    let err = Pusher::new(server.url(""), "j")
        .unwrap()
        .push_from(&gauge_registry("g", 1.0, &[]))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(
        text.ends_with(": \\x1b[31mbad\\x1b[0m\\r\\nERROR forged line\\x07\\x00 Προμηθεύς ✓"),
        "{text}"
    );
    // The error keeps the gateway's text as sent.
    match err {
        PushError::Status { body, .. } => assert!(body.starts_with("\u{1b}[31mbad")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn retries_cover_5xx_but_never_4xx() {
    use std::sync::atomic::Ordering;
    let unavailable = StatusCode::SERVICE_UNAVAILABLE;
    let source = gauge_registry("g", 1.0, &[]);

    // Without retries, a 503 is the answer.
    let (server, count) = scripted_gateway(vec![unavailable]).await;
    let err = Pusher::new(server.url(""), "r")
        .unwrap()
        .push_from(&source)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(unavailable));
    assert!(err.to_string().contains("scripted answer 0"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // With retries, two 503s then success.
    let (server, count) = scripted_gateway(vec![unavailable, unavailable]).await;
    let pusher = Pusher::builder(server.url(""), "r")
        .retries(3)
        .build()
        .unwrap();
    let started = Instant::now();
    pusher.push_from(&source).await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
    // 200 ms + 400 ms of backoff.
    assert!(started.elapsed() >= Duration::from_millis(550));
    pusher.delete().await.unwrap();

    // Retries run out: the last answer is reported.
    let (server, count) = scripted_gateway(vec![unavailable; 5]).await;
    let err = Pusher::builder(server.url(""), "r")
        .retries(1)
        .build()
        .unwrap()
        .add_from(&source)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("scripted answer 1"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 2);

    // A 400 is never retried.
    let (server, count) = scripted_gateway(vec![StatusCode::BAD_REQUEST; 5]).await;
    let err = Pusher::builder(server.url(""), "r")
        .retries(3)
        .build()
        .unwrap()
        .push_from(&source)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
#[ignore = "needs prometheus-pushgateway: run scripts/install-test-deps.sh"]
async fn dropping_the_periodic_handle_still_makes_the_final_push() {
    let gw = Gateway::start().await;
    let d = demo();
    let pusher = Pusher::builder(gw.base_url(), "dropped")
        .gatherer(d.registry.clone())
        .build()
        .unwrap();
    // A long interval: only the immediate first push and the final one happen.
    let handle = PeriodicPusher::builder(pusher, Duration::from_secs(3600))
        .start()
        .unwrap();
    let want = [("job", "dropped")];
    eventually(Duration::from_secs(10), "first push", || {
        let pushes = handle.stats().pushes;
        async move { pushes >= 1 }
    })
    .await;
    d.requests.inc_by(10);
    drop(handle);
    let g = &gw;
    eventually(
        Duration::from_secs(10),
        "final push after drop",
        || async move {
            g.group(&want)
                .await
                .is_some_and(|group| value_of(&group, "demo_requests_total") == "13")
        },
    )
    .await;
}

/// Native histograms of promhttp's own storage, pushed with a pusher set to text
/// (which has no native histograms, so the push goes as protobuf), are stored by
/// the Pushgateway and served to a Prometheus 2.42 with native histograms on: the
/// query API sees histograms, and the 0.9-quantile is within one bucket of the
/// true one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus-pushgateway, prometheus: run scripts/install-test-deps.sh"]
async fn native_histograms_reach_prometheus_through_the_gateway() {
    use promhttp::metrics::{self, HistogramOpts as OwnOpts, NativeBuckets};

    let gw = Gateway::start().await;
    let registry = metrics::Registry::new();
    let native = metrics::Histogram::with_opts(
        OwnOpts::new("pushed_native_seconds", "Native only.").native_only(NativeBuckets::default()),
    )
    .unwrap();
    let dual = metrics::Histogram::with_opts(
        OwnOpts::new("pushed_dual_seconds", "Both.")
            .buckets(vec![0.5, 1.0])
            .native(NativeBuckets::default()),
    )
    .unwrap();
    registry.register(Box::new(native.clone())).unwrap();
    registry.register(Box::new(dual.clone())).unwrap();
    // 0.01, 0.02, ..., 1.00: the true 0.9-quantile is 0.9.
    for i in 1..=100 {
        native.observe(f64::from(i) / 100.0);
        dual.observe(f64::from(i) / 100.0);
    }
    let pusher = Pusher::builder(gw.base_url(), "native_job")
        .format(PushFormat::Text)
        .build()
        .unwrap();
    assert_eq!(
        pusher.body_from(&registry).unwrap().format(),
        PushFormat::Protobuf
    );
    pusher.push_from(&registry).await.unwrap();
    let group = gw.group(&[("job", "native_job")]).await.expect("group");
    assert_eq!(group["last_push_successful"], true, "{group:#}");

    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", gw.port).parse().unwrap();
    let prom = support::Prometheus::builder(addr)
        .flag("--enable-feature=native-histograms")
        .job_yaml("honor_labels: true")
        .scrape_interval(Duration::from_millis(500))
        .scrape_timeout(Duration::from_millis(400))
        .start()
        .await;
    prom.expect_target_up(Duration::from_secs(30)).await;
    // Schema 3 (the default factor 1.1): one bucket around 0.9 is 0.9 * (2^(1/8) - 1) wide.
    let width = 0.9 * (2f64.powf(1.0 / 8.0) - 1.0);
    for name in ["pushed_native_seconds", "pushed_dual_seconds"] {
        let count = format!("histogram_count({name})");
        let got = prom
            .wait_for_query(&count, |r| !r.is_empty(), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{count}: {e}\n{}", prom.log_tail(30)));
        assert_eq!(got.len(), 1, "{count}: {got:?}");
        assert_eq!(got[0].1, 100.0, "{count}");
        assert_eq!(got[0].0["job"], "native_job", "{count}: honor_labels");
        let quantile = format!("histogram_quantile(0.9, {name})");
        let q = prom.query_scalar_series(&quantile).await;
        assert_eq!(q.len(), 1, "{quantile}: {q:?}");
        assert!(
            (q[0].1 - 0.9).abs() <= width,
            "{quantile}: {} (bucket {width})",
            q[0].1
        );
    }
    // The native-only one has no classic series; the dual one keeps its classic buckets.
    let classic = prom
        .try_query_scalar_series("pushed_native_seconds_count")
        .await
        .unwrap();
    assert!(classic.is_empty(), "{classic:?}");
}
