//! `MetricsApp` inside a real Pingora `Server` (in this process, stopped through
//! Pingora's shutdown-signal hook): paths, negotiation, a panicking and a slow
//! collector, keep-alive.

use promhttp_test_support as support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use promhttp::gather::{from_fn, Gathered};
use promhttp::model::{Metric, MetricFamily, MetricType, Value};
use promhttp::MetricsHandler;
use promhttp_pingora::MetricsApp;
use support::{free_port, header_str, http_get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

const OK: usize = 0;
const PANIC: usize = 1;
const SLOW: usize = 2;

/// Stops the server when notified.
struct StopOnNotify(Arc<Notify>);

#[async_trait]
impl ShutdownSignalWatch for StopOnNotify {
    async fn recv(&self) -> ShutdownSignal {
        self.0.notified().await;
        ShutdownSignal::FastShutdown
    }
}

/// A Pingora server running `app` on `addr` in its own thread.
struct Running {
    stop: Arc<Notify>,
    done: mpsc::Receiver<()>,
}

impl Running {
    fn start(app: MetricsApp, addr: SocketAddr) -> Self {
        let stop = Arc::new(Notify::new());
        let (tx, done) = mpsc::channel();
        let signal = StopOnNotify(stop.clone());
        std::thread::spawn(move || {
            let conf = ServerConf {
                grace_period_seconds: Some(0),
                graceful_shutdown_timeout_seconds: Some(1),
                ..ServerConf::default()
            };
            let mut server = Server::new_with_opt_and_conf(None, conf);
            server.bootstrap();
            let mut service = app.into_service("metrics under test");
            service.add_tcp(&addr.to_string());
            server.add_service(service);
            server.run(RunArgs {
                shutdown_signal: Box::new(signal),
            });
            let _ = tx.send(());
        });
        Running { stop, done }
    }

    fn stop(self) {
        self.stop.notify_one();
        self.done
            .recv_timeout(Duration::from_secs(15))
            .expect("the Pingora server stops within 15 s");
    }
}

/// Two requests on one TCP connection; returns both raw responses.
async fn two_on_one_connection(addr: SocketAddr, path: &str) -> Vec<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut answers = Vec::new();
    for _ in 0..2 {
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let read = async {
            loop {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "connection closed after {} bytes", buf.len());
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .expect("content-length");
                    if buf.len() >= end + 4 + length {
                        return text;
                    }
                }
            }
        };
        let text = tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("a complete response within 10 s");
        answers.push(text);
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_app_in_a_pingora_server() {
    let mode = Arc::new(AtomicUsize::new(OK));
    let gathers = Arc::new(AtomicUsize::new(0));
    let (m, g) = (mode.clone(), gathers.clone());
    let source = from_fn(move |out: &mut Gathered| {
        g.fetch_add(1, Ordering::SeqCst);
        match m.load(Ordering::SeqCst) {
            PANIC => panic!("collector broke"),
            // Real time: a collector slower than the scraper's timeout (1 s).
            SLOW => std::thread::sleep(Duration::from_secs(3)),
            _ => {}
        }
        out.families.push(
            MetricFamily::new("jobs_waiting", "Jobs in the queue.", MetricType::Gauge)
                .with_metric(Metric::new(vec![], Value::Gauge(7.0))),
        );
    });
    let handler = MetricsHandler::builder(source).openmetrics(true).build();
    let app = MetricsApp::new(handler)
        .with_path("/internal/metrics")
        .expect("valid path");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let server = Running::start(app, addr);
    let url = format!("http://{addr}/internal/metrics");

    // Wait (bounded) for the listener.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while support::try_http_get(&url, &[]).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "listener not up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, headers, body) = http_get(&url, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        header_str(&headers, "content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        body,
        "# HELP jobs_waiting Jobs in the queue.\n# TYPE jobs_waiting gauge\njobs_waiting 7\n"
    );

    // The default path is not served when another is configured.
    let (status, _, _) = http_get(&format!("http://{addr}/metrics"), &[]).await;
    assert_eq!(status, 404);

    // OpenMetrics as Prometheus asks for it.
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (status, headers, body) = http_get(&url, &[("accept", accept)]).await;
    assert_eq!(status, 200);
    assert!(
        header_str(&headers, "content-type")
            .starts_with("application/openmetrics-text; version=1.0.0"),
        "{headers:?}"
    );
    assert!(body.ends_with(b"# EOF\n"), "{body:?}");

    // zstd.
    let (_, headers, body) = http_get(&url, &[("accept-encoding", "zstd")]).await;
    assert_eq!(header_str(&headers, "content-encoding"), "zstd");
    assert_eq!(
        header_str(&headers, "content-length"),
        body.len().to_string()
    );

    // A panicking collector is a 500 naming the failure; the server lives on.
    mode.store(PANIC, Ordering::SeqCst);
    let (status, _, body) = http_get(&url, &[]).await;
    assert_eq!(status, 500);
    assert!(
        String::from_utf8_lossy(&body).contains("collector broke"),
        "{body:?}"
    );
    mode.store(OK, Ordering::SeqCst);
    let (status, _, _) = http_get(&url, &[]).await;
    assert_eq!(status, 200);

    // A collector slower than the scraper's time-out: 503, not a hang.
    mode.store(SLOW, Ordering::SeqCst);
    let (status, _, body) = http_get(&url, &[("x-prometheus-scrape-timeout-seconds", "1")]).await;
    assert_eq!(status, 503, "{body:?}");
    mode.store(OK, Ordering::SeqCst);

    // Keep-alive: two scrapes on one connection.
    let answers = two_on_one_connection(addr, "/internal/metrics").await;
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("jobs_waiting 7\n"), "{answer}");
    }

    server.stop();
    assert!(gathers.load(Ordering::SeqCst) >= 6);
}
