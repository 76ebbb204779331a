//! The `pingora-proxy` example, run as its own process in front of a local
//! upstream: requests go through the proxy, and a real Prometheus scrapes the
//! proxy's metrics listener.

use promhttp_test_support as support;

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::routing::get;
use support::{free_port, header_str, http_get, try_http_get, Prometheus};

/// The example binary cargo built next to this test (`cargo test` builds
/// examples); built on demand when missing (e.g. a filtered build).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/pingora-proxy
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    let binary = profile_dir.join("examples").join("pingora-proxy");
    if binary.is_file() {
        return binary;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build.args([
        "build",
        "-p",
        "promhttp-pingora",
        "--example",
        "pingora-proxy",
    ]);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build for the example");
    assert!(
        status.success(),
        "building the pingora-proxy example failed"
    );
    assert!(
        binary.is_file(),
        "{} missing after the build",
        binary.display()
    );
    binary
}

/// The example process; killed (and its output shown) on drop.
struct ProxyProcess {
    child: Child,
    log: PathBuf,
}

impl ProxyProcess {
    fn start(listen: SocketAddr, upstream: SocketAddr, metrics: SocketAddr) -> Self {
        let log = support::unique_temp_dir("pingora-proxy").join("proxy.log");
        let out = std::fs::File::create(&log).expect("create proxy log");
        let child = Command::new(example_binary())
            .args(["--listen", &listen.to_string()])
            .args(["--upstream", &upstream.to_string()])
            .args(["--metrics", &metrics.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log"))
            .stderr(out)
            .spawn()
            .expect("start the pingora-proxy example");
        ProxyProcess { child, log }
    }

    fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Waits (bounded) until `url` answers 200; panics with the proxy's log.
    async fn wait_ready(&mut self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "pingora-proxy exited early ({status}):\n{}",
                    self.log_text()
                );
            }
            if let Ok((status, _, _)) = try_http_get(url, &[]).await {
                if status == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{url} not answering after 30 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- pingora-proxy log ---\n{}", self.log_text());
        }
    }
}

/// A request through the proxy with any method; returns status and body.
async fn send(method: &str, url: &str) -> (u16, String) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(bytes::Bytes::from_static(if method == "POST" {
            b"x"
        } else {
            b""
        })))
        .expect("request");
    let exchange = async {
        let resp = client.request(req).await.expect("proxy answers");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("proxy answers within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus, promtool: run scripts/install-test-deps.sh"]
async fn proxy_counts_requests_and_prometheus_scrapes_them() {
    // The upstream: a local axum app.
    let upstream = support::serve(axum::Router::new().route(
        "/hello",
        get(|| async { "hello" }).post(|| async { "posted" }),
    ))
    .await;
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut proxy = ProxyProcess::start(listen, upstream.addr, metrics);
    let metrics_url = format!("http://{metrics}/metrics");
    proxy.wait_ready(&metrics_url).await;

    const GETS: usize = 25;
    const POSTS: usize = 3;
    for _ in 0..GETS {
        let (status, body) = send("GET", &format!("http://{listen}/hello")).await;
        assert_eq!((status, body.as_str()), (200, "hello"));
    }
    for _ in 0..POSTS {
        let (status, body) = send("POST", &format!("http://{listen}/hello")).await;
        assert_eq!((status, body.as_str()), (200, "posted"));
    }
    let total = (GETS + POSTS) as f64;
    assert_eq!(
        upstream.exchanges().len(),
        GETS + POSTS,
        "every request reached the upstream"
    );

    // The page as served: valid for promtool, exact counts. Pingora runs the
    // `logging` phase (where the upstream duration is observed) after the answer
    // has gone to the client, so the last observation may land a moment after the
    // last response: wait for it (bounded) instead of racing it.
    let duration_count = "pingora_proxy_upstream_duration_seconds_count{code=\"200\"} ";
    let waited = std::time::Instant::now();
    let (headers, page) = loop {
        let (status, headers, body) = http_get(&metrics_url, &[]).await;
        assert_eq!(status, 200);
        let page = String::from_utf8(body.to_vec()).expect("utf-8 page");
        if support::sample(&page, duration_count) == Some(total)
            || waited.elapsed() > Duration::from_secs(10)
        {
            break (headers, page);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        header_str(&headers, "content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        support::sample(&page, "pingora_proxy_requests_total "),
        Some(total)
    );
    assert_eq!(
        support::sample(
            &page,
            "pingora_proxy_requests_by_method_total{method=\"get\"} "
        ),
        Some(GETS as f64)
    );
    assert_eq!(
        support::sample(&page, duration_count),
        Some(total),
        "{page}"
    );
    if let Err(e) = support::promtool_check_metrics(page.as_bytes()) {
        panic!("promtool check metrics: {e}\n{page}");
    }

    // A real Prometheus scrapes the metrics listener.
    let prom = Prometheus::builder(metrics).job("pingora").start().await;
    prom.expect_target_up(Duration::from_secs(20)).await;
    let series = prom
        .wait_for_query(
            "pingora_proxy_requests_total",
            |s| s.len() == 1 && s[0].1 == total,
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(series[0].0.get("job").map(String::as_str), Some("pingora"));
    let by_method = prom
        .query_scalar_series("pingora_proxy_requests_by_method_total")
        .await;
    let count = |m: &str| {
        by_method
            .iter()
            .find(|(l, _)| l.get("method").map(String::as_str) == Some(m))
            .map(|(_, v)| *v)
    };
    assert_eq!(count("get"), Some(GETS as f64), "{by_method:?}");
    assert_eq!(count("post"), Some(POSTS as f64), "{by_method:?}");
    let observed = prom
        .query_scalar_series("sum(pingora_proxy_upstream_duration_seconds_count)")
        .await;
    assert_eq!(observed.first().map(|s| s.1), Some(total), "{observed:?}");
    // Prometheus's own scrapes are answered and counted by the handler.
    let ok_scrapes = prom
        .query_scalar_series("promhttp_metric_handler_requests_total{code=\"200\"}")
        .await;
    assert!(
        ok_scrapes.first().is_some_and(|s| s.1 >= 1.0),
        "{ok_scrapes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listener_serves_only_the_metrics_path() {
    let upstream = support::serve(axum::Router::new().route("/", get(|| async { "up" }))).await;
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut proxy = ProxyProcess::start(listen, upstream.addr, metrics);
    let metrics_url = format!("http://{metrics}/metrics");
    proxy.wait_ready(&metrics_url).await;

    for path in ["/", "/metricsx", "/metrics/", "/other"] {
        let (status, headers, body) = http_get(&format!("http://{metrics}{path}"), &[]).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            header_str(&headers, "content-length"),
            body.len().to_string()
        );
    }
    // Other methods: 405 with Allow and a framed body, and the connection survives.
    let (status, body) = send("POST", &metrics_url).await;
    assert_eq!(status, 405);
    assert!(body.contains("GET and HEAD"), "{body}");

    // gzip decodes to a page; HEAD gives the length and no body.
    let (status, headers, gz) = http_get(&metrics_url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(status, 200);
    assert_eq!(header_str(&headers, "content-encoding"), "gzip");
    let mut page = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut page)
        .expect("valid gzip");
    assert!(
        page.contains("# TYPE pingora_proxy_requests_total counter"),
        "{page}"
    );

    let (status, body) = send("HEAD", &metrics_url).await;
    assert_eq!((status, body.as_str()), (200, ""));
}
