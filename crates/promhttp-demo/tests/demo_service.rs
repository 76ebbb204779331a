//! The README's "run it" command works: the demo serves its app and its metrics,
//! counts requests and open websockets, and stops cleanly on SIGINT; and its page
//! passes `promtool check metrics`.

use promhttp_test_support as support;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n")?.1.to_owned()))
}

fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

async fn wait_for_value(web: SocketAddr, series: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = get(web, "/metrics").await.map(|r| r.1).unwrap_or_default();
        if value(&body, series) == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never became {want}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The demo on free ports, healthy: the process, its app and its web address.
async fn start_demo() -> (Demo, SocketAddr, SocketAddr) {
    let (app, web) = (free_addr(), free_addr());
    let child = Command::new(env!("CARGO_BIN_EXE_promhttp-demo"))
        .args(["--app.listen-address", &app.to_string()])
        .args(["--web.listen-address", &web.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let demo = Demo(child);

    let deadline = Instant::now() + Duration::from_secs(30);
    while get(web, "/-/healthy").await.is_none() {
        assert!(Instant::now() < deadline, "demo never became healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (demo, app, web)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_app_and_metrics_and_stops_on_sigint() {
    let (mut demo, app, web) = start_demo().await;
    for _ in 0..3 {
        assert_eq!(get(app, "/some").await.unwrap().0, 200);
    }
    wait_for_value(web, "incoming_requests_total", 3.0).await;

    let url = format!("ws://{app}/ws");
    let (mut a, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (b, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    wait_for_value(web, "connected_clients", 2.0).await;
    a.send(Message::Text("hi".into())).await.unwrap();
    a.close(None).await.unwrap();
    drop(a);
    wait_for_value(web, "connected_clients", 1.0).await;
    drop(b);
    wait_for_value(web, "connected_clients", 0.0).await;

    let (status, body) = get(web, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("http_requests_total{code=\"200\",method=\"get\",route=\"/some\"} 3"),
        "{body}"
    );
    for name in [
        "response_code_total",
        "response_time_bucket",
        // promhttp's own storage, its classic buckets (the native ones need protobuf).
        "work_duration_seconds_bucket",
        "process_cpu_seconds_total",
        "promhttp_metric_handler_requests_total",
    ] {
        assert!(body.contains(name), "{name} missing:\n{body}");
    }

    // SIGINT: a clean stop with status 0.
    let pid = demo.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = demo.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "demo did not stop on SIGINT");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The demo passes its own linter (counters end in `_total`, ...).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs promtool: run scripts/install-test-deps.sh"]
async fn promtool_accepts_the_demos_page() {
    let (_demo, app, web) = start_demo().await;
    // An app request, so the request families have series.
    assert_eq!(get(app, "/some").await.unwrap().0, 200);
    wait_for_value(web, "incoming_requests_total", 1.0).await;
    let (status, body) = get(web, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    if let Err(e) = support::promtool_check_metrics(body.as_bytes()) {
        panic!("{e}\n{body}");
    }
}
