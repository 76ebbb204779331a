//! The exporter over real loopback sockets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use std::net::SocketAddr;

use bytes::Bytes;
use http::Request;

use super::routes::landing_html;
use super::*;
use crate::gather::{from_fn, Gather, Gathered};
use crate::model::{Metric, MetricFamily, MetricType, Value};

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Sends one raw HTTP/1.1 request and reads the whole answer (bounded in time).
async fn raw(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// An HTTP/2 (prior knowledge) client connection; drive `conn` to keep it open.
async fn h2_client(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    hyper::client::conn::http2::Connection<
        hyper_util::rt::TokioIo<TcpStream>,
        http_body_util::Empty<Bytes>,
        hyper_util::rt::TokioExecutor,
    >,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap()
}

fn registry_with_counter() -> (Registry, IntCounter) {
    let r = Registry::new();
    let c = IntCounter::new("scrapes_seen_total", "Scrapes seen by the hook.").unwrap();
    r.register(Box::new(c.clone())).unwrap();
    (r, c)
}

#[tokio::test]
async fn routes_and_methods() {
    let (r, _) = registry_with_counter();
    let h = Exporter::builder(r)
        .listen_address(local())
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    assert_ne!(addr.port(), 0);

    let (status, head, body) = raw(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(body.contains("scrapes_seen_total 0"));

    let (status, head, body) = raw(addr, "GET", "/").await;
    assert_eq!(status, 200);
    assert!(head.contains("text/html"));
    assert!(body.contains("<a href=\"metrics\">"), "{body}");

    for p in ["/-/healthy", "/-/ready"] {
        assert_eq!(raw(addr, "GET", p).await.0, 200);
        assert_eq!(raw(addr, "HEAD", p).await.0, 200);
        assert_eq!(raw(addr, "POST", p).await.0, 405);
    }
    assert_eq!(raw(addr, "POST", "/metrics").await.0, 405);
    assert_eq!(raw(addr, "DELETE", "/").await.0, 405);
    for p in ["/metric", "/metrics/", "/favicon.ico", "/../metrics"] {
        assert_eq!(raw(addr, "GET", p).await.0, 404, "{p}");
    }
    h.shutdown().await.unwrap();
    // Closed: new connections are refused.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn bad_configuration_and_busy_address_are_typed_errors() {
    for p in ["", "metrics", "/", "/-/healthy"] {
        let e = Exporter::builder(Registry::new())
            .metrics_path(p)
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ExporterError::InvalidOption {
                    option: "metrics_path",
                    ..
                }
            ),
            "{p}: {e}"
        );
    }
    let h = Exporter::builder(Registry::new())
        .listen_address(local())
        .start()
        .await
        .unwrap();
    let e = Exporter::builder(Registry::new())
        .listen_address(h.local_addr())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(e, ExporterError::Bind { .. }), "{e}");
    assert!(e.to_string().contains(&h.local_addr().to_string()));
    h.shutdown().await.unwrap();
}

/// Starts an exporter on `given`, checks it serves, stops it; the bound address.
async fn serves_on(given: impl Into<ListenAddress>) -> SocketAddr {
    let h = Exporter::builder(Registry::new())
        .listen_address(given)
        .start()
        .await
        .unwrap();
    let bound = h.local_addr();
    let target = if bound.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], bound.port()))
    } else {
        bound
    };
    assert_eq!(raw(target, "GET", "/-/healthy").await.0, 200, "{bound}");
    h.shutdown().await.unwrap();
    bound
}

#[tokio::test]
async fn listen_address_takes_what_to_socket_addrs_takes_and_gos_port_only_form() {
    let loopback_v4 = std::net::IpAddr::from([127, 0, 0, 1]);
    assert_eq!(serves_on(local()).await.ip(), loopback_v4);
    assert_eq!(serves_on("127.0.0.1:0").await.ip(), loopback_v4);
    assert_eq!(
        serves_on(String::from("127.0.0.1:0")).await.ip(),
        loopback_v4
    );
    assert!(serves_on("localhost:0").await.ip().is_loopback());
    assert!(serves_on(("localhost", 0)).await.ip().is_loopback());
    // Go's ":port": every IPv4 interface.
    assert_eq!(
        serves_on(":0").await.ip(),
        std::net::IpAddr::from([0, 0, 0, 0])
    );
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        assert_eq!(
            serves_on("[::1]:0").await.ip(),
            std::net::Ipv6Addr::LOCALHOST
        );
    } else {
        eprintln!("SKIPPED: \"[::1]:0\": this machine has no IPv6 loopback");
    }
}

#[tokio::test]
async fn a_listen_address_that_does_not_resolve_is_a_resolve_error_at_start() {
    for given in [
        "no-such-host.invalid:9898",
        "localhost:70000",
        "127.0.0.1:70000",
        ":70000",
    ] {
        // The setter takes anything; start() finds out.
        let builder = Exporter::builder(Registry::new()).listen_address(given);
        match builder.start().await {
            Err(ExporterError::Resolve { addr, source }) => {
                assert_eq!(addr, given);
                assert!(!source.to_string().is_empty());
            }
            Err(e) => panic!("{given}: {e}"),
            Ok(h) => panic!("{given}: bound to {}", h.local_addr()),
        }
    }
    // The blocking variant resolves on its thread, and says the same.
    let err = Exporter::builder(Registry::new())
        .listen_address("no-such-host.invalid:9898")
        .start_blocking()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot resolve listen address \"no-such-host.invalid:9898\": "),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_runs_before_every_scrape_and_failures_do_not_break_it() {
    let (r, c) = registry_with_counter();
    let calls = Arc::new(AtomicUsize::new(0));
    let calls2 = calls.clone();
    let h = Exporter::builder(r.clone())
        .listen_address(local())
        .on_scrape(move || {
            let c = c.clone();
            let n = calls2.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    1 => Err("source unavailable".to_owned()),
                    2 => panic!("hook exploded"),
                    _ => {
                        c.inc();
                        Ok(())
                    }
                }
            }
        })
        .instrument_hooks(&r)
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let (_, _, body) = raw(addr, "GET", "/metrics").await;
    assert!(body.contains("scrapes_seen_total 1\n"), "{body}");
    // A failing and a panicking hook: the scrape is answered, the failure counted.
    let (status, _, body) = raw(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("promhttp_exporter_hook_failures_total 1\n"),
        "{body}"
    );
    let (status, _, body) = raw(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("promhttp_exporter_hook_failures_total 2\n"),
        "{body}"
    );
    let (_, _, body) = raw(addr, "GET", "/metrics").await;
    assert!(body.contains("scrapes_seen_total 2\n"), "{body}");
    // Other paths do not run the hook.
    raw(addr, "GET", "/").await;
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn hook_metrics_are_registered_by_start_and_taken_out_when_start_fails() {
    const NAME: &str = "promhttp_exporter_hook_failures_total";
    let registered = |r: &Registry| r.gather().iter().any(|f| f.name() == NAME);
    let r = Registry::new();
    // A start that fails at the bind leaves nothing registered behind.
    let busy = std::net::TcpListener::bind(local()).unwrap();
    let builder = Exporter::builder(Registry::new())
        .listen_address(busy.local_addr().unwrap())
        .instrument_hooks(&r);
    assert!(!registered(&r), "registered by the setter");
    let err = builder.start().await.unwrap_err();
    assert!(matches!(err, ExporterError::Bind { .. }), "{err}");
    assert!(!registered(&r), "left registered by a failed start");
    // A start that works registers it.
    let h = Exporter::builder(Registry::new())
        .listen_address(local())
        .instrument_hooks(&r)
        .start()
        .await
        .unwrap();
    assert!(registered(&r));
    // A second exporter counting into the same registry: refused, port never bound.
    let port = std::net::TcpListener::bind(local())
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Exporter::builder(Registry::new())
        .listen_address(port)
        .instrument_hooks(&r)
        .start()
        .await
        .unwrap_err();
    match &err {
        ExporterError::Register { name, source } => {
            assert_eq!(name, NAME);
            assert!(matches!(source, prometheus::Error::AlreadyReg), "{source}");
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("cannot register exporter metric {NAME}: ")),
        "{err}"
    );
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_hook_is_bounded_by_the_hook_timeout() {
    let h = Exporter::builder(Registry::new())
        .listen_address(local())
        .hook_timeout(Duration::from_millis(100))
        // A hook that never ends.
        .on_scrape(|| async {
            std::future::pending::<()>().await;
            Ok::<(), String>(())
        })
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(raw(h.local_addr(), "GET", "/metrics").await.0, 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updater_runs_on_its_interval() {
    let (r, c) = registry_with_counter();
    let h = Exporter::builder(r)
        .listen_address(local())
        .update_every(Duration::from_millis(20), move || {
            let c = c.clone();
            async move {
                c.inc();
                Ok::<(), String>(())
            }
        })
        .start()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, body) = raw(h.local_addr(), "GET", "/metrics").await;
        let n: u64 = body
            .lines()
            .find_map(|l| l.strip_prefix("scrapes_seen_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if n >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "updater did not run: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.shutdown().await.unwrap();
}

/// A source whose gathers block until the gate opens: by `open()`, or when the
/// test drops its gate, failing or not (a gather still blocked would hold the
/// runtime's shutdown, and the failing test would hang instead of failing).
#[derive(Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>, Arc<AtomicUsize>);

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}

impl Gate {
    /// Waits (at most 10 s) until a gather is blocked on the gate.
    async fn wait_started(&self) {
        promhttp_test_support::wait_until("a gather at the gate", Duration::from_secs(10), || {
            self.1.load(Ordering::SeqCst) > 0
        })
        .await;
    }

    fn open(&self) {
        *self.0 .0.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.0 .1.notify_all();
    }
    fn source(&self) -> impl Gather {
        let (gate, started) = (self.0.clone(), self.1.clone());
        from_fn(move |out: &mut Gathered| {
            started.fetch_add(1, Ordering::SeqCst);
            let mut open = gate.0.lock().unwrap();
            while !*open {
                open = gate
                    .1
                    .wait_timeout(open, Duration::from_secs(10))
                    .unwrap()
                    .0;
            }
            out.families.push(
                MetricFamily::new("slow", "", MetricType::Gauge)
                    .with_metric(Metric::new(vec![], Value::Gauge(1.0))),
            );
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_the_scrape_in_flight_finish() {
    let gate = Gate::default();
    let h = Exporter::builder(gate.source())
        .listen_address(local())
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let scrape = tokio::spawn(raw(addr, "GET", "/metrics"));
    gate.wait_started().await;
    let stopping = tokio::spawn(h.shutdown());
    // New connections are refused once the accept loop has stopped.
    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "listener still accepting after shutdown");
    gate.open();
    let (status, _, body) = scrape.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "# TYPE slow gauge\nslow 1\n");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_bounds_shutdown() {
    let gate = Gate::default();
    let h = Exporter::builder(gate.source())
        .listen_address(local())
        .drain_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let _stuck = tokio::spawn(raw(addr, "GET", "/metrics"));
    gate.wait_started().await;
    let started = Instant::now();
    h.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    gate.open();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_once_the_graceful_shutdown_future_resolves_and_the_scrape_is_done() {
    let gate = Gate::default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = Exporter::builder(gate.source())
        .listen_address(local())
        .graceful_shutdown(async {
            let _ = rx.await;
        })
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let scrape = tokio::spawn(raw(addr, "GET", "/metrics"));
    gate.wait_started().await;
    let waiting = tokio::spawn(h.wait());
    // Nothing asked it to stop: it serves on.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished());
    assert_eq!(raw(addr, "GET", "/-/healthy").await.0, 200);
    tx.send(()).unwrap();
    // Stopped accepting, but the scrape in flight is still waited for.
    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "listener still accepting after the signal");
    assert!(!waiting.is_finished(), "ended before the scrape in flight");
    gate.open();
    assert_eq!(scrape.await.unwrap().0, 200);
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_stops_the_exporter_without_waiting() {
    let gate = Gate::default();
    let h = Exporter::builder(gate.source())
        .listen_address(local())
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let scrape = tokio::spawn(raw(addr, "GET", "/metrics"));
    gate.wait_started().await;
    let dropped = Instant::now();
    drop(h);
    assert!(dropped.elapsed() < Duration::from_secs(1), "drop waited");
    // The drain goes on in the background: the scrape in flight is answered,
    // new connections are refused.
    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "listener still accepting after the drop");
    gate.open();
    assert_eq!(scrape.await.unwrap().0, 200);
}

#[test]
fn the_blocking_variant_waits_for_its_graceful_shutdown_and_stops_when_dropped() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = Exporter::builder(Registry::new())
        .listen_address(local())
        .graceful_shutdown(async {
            let _ = rx.await;
        })
        .start_blocking()
        .unwrap();
    let addr = e.local_addr();
    let waiter = std::thread::spawn(move || e.wait());
    std::thread::sleep(Duration::from_millis(50));
    assert!(!waiter.is_finished());
    assert!(std::net::TcpStream::connect(addr).is_ok());
    tx.send(()).unwrap();
    waiter.join().unwrap().unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err());

    // Dropped: stopped, without waiting for the thread.
    let e = Exporter::builder(Registry::new())
        .listen_address(local())
        .start_blocking()
        .unwrap();
    let addr = e.local_addr();
    drop(e);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still serving after the drop");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn blocking_variant_serves_and_stops() {
    let (r, _) = registry_with_counter();
    let e = Exporter::builder(r)
        .listen_address(local())
        .start_blocking()
        .unwrap();
    let addr = e.local_addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, _, body) = rt.block_on(raw(addr, "GET", "/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("scrapes_seen_total 0"));
    e.shutdown().unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err());
    // A bind failure comes back as an error, not a panic on the thread.
    let busy = std::net::TcpListener::bind(local()).unwrap();
    let err = Exporter::builder(Registry::new())
        .listen_address(busy.local_addr().unwrap())
        .start_blocking()
        .unwrap_err();
    assert!(matches!(err, ExporterError::Bind { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_closed_while_scrapes_go_on() {
    let h = Exporter::builder(Registry::new())
        .listen_address(local())
        .header_read_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(5) {
        // Trickle a header byte; scrapes still work meanwhile.
        if slow.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        assert_eq!(raw(addr, "GET", "/metrics").await.0, 200);
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "slow client not closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("idle connection closed within 5 s");
    assert!(matches!(n, Ok(0) | Err(_)));
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_an_http2_preface_does_not_hold_a_slot() {
    let h = Exporter::builder(Registry::new())
        .listen_address(local())
        .header_read_timeout(Duration::from_millis(300))
        .max_connections(1)
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut buf))
        .await
        .expect("stalled preface closed within 5 s");
    assert!(matches!(n, Ok(0) | Err(_)));
    // The only slot is free again.
    assert_eq!(raw(addr, "GET", "/metrics").await.0, 200);
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http2_with_prior_knowledge() {
    use http_body_util::BodyExt;
    let (r, _) = registry_with_counter();
    let h = Exporter::builder(r)
        .listen_address(local())
        .start()
        .await
        .unwrap();
    let (mut send, conn) = h2_client(h.local_addr()).await;
    tokio::spawn(conn);
    let req = Request::get("http://test/metrics")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .contains("scrapes_seen_total 0"));
    drop(send);
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_are_closed() {
    use http_body_util::BodyExt;
    let h = Exporter::builder(Registry::new())
        .listen_address(local())
        .idle_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let (mut send, conn) = h2_client(h.local_addr()).await;
    let conn = tokio::spawn(conn);
    let req = Request::get("http://test/-/healthy")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
    // Silent from now on: the server closes the connection.
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(ended.is_ok(), "idle HTTP/2 connection still open after 5 s");
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped() {
    // A page far larger than the socket buffers.
    let big = from_fn(|out: &mut Gathered| {
        let mut f = MetricFamily::new("big", "", MetricType::Gauge);
        for i in 0..100_000 {
            f.metrics.push(Metric::new(
                vec![crate::model::Label::new("i", format!("{i:0>40}"))],
                Value::Gauge(1.0),
            ));
        }
        out.families.push(f);
    });
    let h = Exporter::builder(big)
        .listen_address(local())
        .write_timeout(Duration::from_millis(300))
        .max_connections(1)
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(addr).await.unwrap();
    stuck
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Never read. The only connection slot comes back once the write times out.
    let started = Instant::now();
    let (status, _, _) =
        tokio::time::timeout(Duration::from_secs(20), raw(addr, "GET", "/-/healthy"))
            .await
            .expect("slot freed");
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(15));
    drop(stuck);
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scrapes_share_one_hook_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r2 = runs.clone();
    let h = Exporter::builder(Registry::new())
        .listen_address(local())
        .on_scrape(move || {
            r2.fetch_add(1, Ordering::SeqCst);
            async {
                // Real time: a slow hook, so that the scrapes overlap it.
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<(), String>(())
            }
        })
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let scrapes: Vec<_> = (0..5)
        .map(|_| tokio::spawn(raw(addr, "GET", "/metrics")))
        .collect();
    for s in scrapes {
        assert_eq!(s.await.unwrap().0, 200);
    }
    assert!(
        runs.load(Ordering::SeqCst) <= 2,
        "{} hook runs",
        runs.load(Ordering::SeqCst)
    );
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_holds_busy_connections_and_evicts_idle_ones() {
    let gate = Gate::default();
    let h = Exporter::builder(gate.source())
        .listen_address(local())
        .max_connections(1)
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    // One client holds the only slot with a scrape in progress.
    let busy = tokio::spawn(raw(addr, "GET", "/metrics"));
    gate.wait_started().await;
    // A second client is not served while the slot is busy...
    let second = tokio::spawn(raw(addr, "GET", "/-/healthy"));
    // Real time: a window in which it must not be answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "second connection served beyond the cap"
    );
    // ...and is served once the busy one is done.
    gate.open();
    assert_eq!(busy.await.unwrap().0, 200);
    let (status, _, _) = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);

    // An idle keep-alive connection does not keep a new client waiting: it is
    // closed to make room.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let (status, _, _) = tokio::time::timeout(Duration::from_secs(5), raw(addr, "GET", "/-/ready"))
        .await
        .expect("the idle connection makes room");
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("the evicted connection is closed");
    assert!(matches!(n, Ok(0) | Err(_)));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn run_until_the_shutdown_future() {
    let port = std::net::TcpListener::bind(local())
        .unwrap()
        .local_addr()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(
        Exporter::builder(Registry::new())
            .listen_address(port)
            .run(async {
                let _ = rx.await;
            }),
    );
    // Serving before it is told to stop.
    promhttp_test_support::eventually("the exporter serving", Duration::from_secs(10), || {
        TcpStream::connect(port)
    })
    .await;
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[test]
fn landing_page_escapes_html() {
    let page = LandingPage {
        name: "<script>".into(),
        description: "a & b".into(),
        version: "1\"".into(),
    };
    let html = landing_html(&page, "/metrics");
    assert!(html.contains("&lt;script&gt;"));
    assert!(html.contains("a &amp; b"));
    assert!(!html.contains("<script>"));
}

/// A free loopback port below the ephemeral ranges (Linux's starts at 32768, the
/// IANA one at 49152): a port freed again for a test to watch, which no other
/// test's port-0 listener, and no client connection's source port (a connection
/// to the port from itself succeeds), can take in the meantime.
#[cfg(feature = "web-config")]
fn quiet_port() -> SocketAddr {
    let offset = std::process::id() as u16 % 10_000;
    (0..10_000u16)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], 20_000 + (offset + i) % 10_000)))
        .find(|a| std::net::TcpListener::bind(a).is_ok())
        .expect("a free port in 20000..30000")
}

/// A configuration that cannot serve never holds the port: everything is built
/// (TLS, the basic-auth checker and its bcrypt dummy hash) before the listener is
/// bound, so the port refuses connections while that work runs.
#[cfg(feature = "web-config")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_is_bound_only_once_the_configuration_is_ready() {
    let hash = bcrypt::hash("secret", 10).unwrap();
    let yaml = format!("basic_auth_users:\n  alice: {hash}\n");
    let config = web_config::WebConfig::from_yaml(&yaml, std::path::Path::new(".")).unwrap();
    let port = quiet_port();
    let started = Instant::now();
    let starting = tokio::spawn(
        Exporter::builder(Registry::new())
            .listen_address(port)
            .web_config(config)
            .start(),
    );
    // While the dummy hash (cost 10) is computed, nothing listens.
    let mut refused_while_starting = 0;
    let mut first_accepted = None;
    while !starting.is_finished() {
        if TcpStream::connect(port).await.is_err() {
            refused_while_starting += 1;
        } else {
            first_accepted.get_or_insert_with(Instant::now);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let finished = Instant::now();
    assert!(
        refused_while_starting > 0,
        "start() was too fast to observe"
    );
    // The port opens at the very end of start() (a loaded machine may still
    // catch the few steps after the bind): bound before the hash, it would be
    // open for nearly all of start()'s time.
    if let Some(accepted) = first_accepted {
        let open_while_starting = finished - accepted;
        let took = finished - started;
        assert!(
            open_while_starting < took / 2,
            "port bound before the configuration was ready: open {open_while_starting:?} of {took:?}"
        );
    }
    let h = starting.await.unwrap().unwrap();
    assert_eq!(raw(port, "GET", "/metrics").await.0, 401);
    h.shutdown().await.unwrap();

    // And a configuration that fails there leaves the port free.
    let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/web_config");
    let dir = std::env::temp_dir().join(format!("promhttp-unusable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["server.pem", "server.key"] {
        std::fs::copy(testdata.join(f), dir.join(f)).unwrap();
    }
    let yaml = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
    let config = web_config::WebConfig::from_yaml(yaml, &dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap(); // gone between loading and starting
    let err = Exporter::builder(Registry::new())
        .listen_address(port)
        .web_config(config)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, ExporterError::WebConfig(_)), "{err}");
    std::net::TcpListener::bind(port).expect("the port was never bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_handler_keeps_the_exporters_in_flight_cap() {
    let gate = Gate::default();
    let metrics = crate::HandlerMetrics::new();
    let m = metrics.clone();
    let h = Exporter::builder(gate.source())
        .handler(|b| b.openmetrics(true).instrument(m))
        .listen_address(local())
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let cap = DEFAULT_MAX_REQUESTS_IN_FLIGHT.get();
    let waiting: Vec<_> = (0..cap)
        .map(|_| tokio::spawn(raw(addr, "GET", "/metrics")))
        .collect();
    gate.wait_started().await;
    // Every one of them inside the handler (polled, with a deadline).
    let deadline = Instant::now() + Duration::from_secs(20);
    while metrics.in_flight.get() < cap as i64 {
        assert!(
            Instant::now() < deadline,
            "{} in flight",
            metrics.in_flight.get()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, _, body) = raw(addr, "GET", "/metrics").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("(40)"), "{body}");
    gate.open();
    for w in waiting {
        assert_eq!(w.await.unwrap().0, 200);
    }
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_per_peer_limit_closes_a_second_connection_from_the_same_address() {
    let h = Exporter::builder(Registry::new())
        .max_connections_per_peer(std::num::NonZeroUsize::new(1))
        .listen_address(local())
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    // The first connection holds the address's one place (idle, not yet timed out).
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
        .await
        .expect("the second connection is closed at once");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    // The first one still serves.
    first
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    first.read_to_end(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn handler_configuration_needs_the_exporters_own_handler() {
    let err =
        ExporterBuilder::with_handler(crate::MetricsHandler::builder(Registry::new()).build())
            .handler(|b| b.openmetrics(true))
            .listen_address(local())
            .start()
            .await
            .unwrap_err();
    assert!(err.to_string().contains("with_handler"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_honours_the_handlers_scrape_timeout_settings() {
    let gate = Gate::default();
    let h = Exporter::builder(gate.source())
        .handler(|b| b.honor_scrape_timeout_header(false))
        .on_scrape(|| async { Ok::<(), std::io::Error>(()) })
        .listen_address(local())
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let scrape = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Prometheus-Scrape-Timeout-Seconds: 0.2\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    });
    gate.wait_started().await;
    // The scraper's 0.2 s is ignored, as the handler was told: no 503. Real time:
    // a window (three times the ignored timeout) in which it must not be answered.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!scrape.is_finished(), "answered before the render finished");
    gate.open();
    let answer = scrape.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_scrape_hook_runs_before_the_scrape_and_its_panic_is_contained() {
    let (r, c) = registry_with_counter();
    let panics = Arc::new(AtomicUsize::new(0));
    let p2 = panics.clone();
    let h = Exporter::builder(r)
        .on_scrape_blocking(move || {
            if p2.fetch_add(1, Ordering::SeqCst) == 1 {
                panic!("the second run panics");
            }
            std::thread::sleep(Duration::from_millis(20)); // blocking is fine here
            c.inc();
            Ok::<(), std::io::Error>(())
        })
        .listen_address(local())
        .start()
        .await
        .unwrap();
    let addr = h.local_addr();
    let (status, _, body) = raw(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("scrapes_seen_total 1"), "{body}");
    // The panicking run: the scrape is still answered.
    assert_eq!(raw(addr, "GET", "/metrics").await.0, 200);
    let (_, _, body) = raw(addr, "GET", "/metrics").await;
    assert!(body.contains("scrapes_seen_total 2"), "{body}");
    h.shutdown().await.unwrap();
}

#[test]
fn a_detached_exporter_keeps_serving() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = Exporter::builder(Registry::new())
            .listen_address(local())
            .start()
            .await
            .unwrap();
        let addr = h.local_addr();
        h.detach();
        // Real time: a window in which a stop, had the handle sent one, would land.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(raw(addr, "GET", "/-/healthy").await.0, 200);
    });
    // The blocking variant too.
    let b = Exporter::builder(Registry::new())
        .listen_address(local())
        .start_blocking()
        .unwrap();
    let addr = b.local_addr();
    b.detach();
    rt.block_on(async {
        assert_eq!(raw(addr, "GET", "/-/healthy").await.0, 200);
    });
}
