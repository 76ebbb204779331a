//! How the demo stops and how its app listener defends itself: SIGTERM drains
//! requests in progress and exits 0, a client that never finishes its request
//! cannot hold the stop beyond the drain timeout, slowloris clients are closed
//! after the header-read timeout, and connections beyond the cap wait.
//!
//! Every wait is bounded; everything is on loopback.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The demo process; killed if a test ends without stopping it. Its log (stderr)
/// goes to a file, shown when an assertion about the process fails.
struct Demo {
    child: Child,
    log: PathBuf,
    app: SocketAddr,
    web: SocketAddr,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Demo {
    /// Starts the demo with `args` and waits (at most 30 s) until it is healthy.
    async fn start(name: &str, args: &[&str]) -> Demo {
        let (app, web) = (free_addr(), free_addr());
        let log = std::env::temp_dir().join(format!(
            "promhttp-demo-{name}-{}-{}.log",
            std::process::id(),
            web.port()
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_promhttp-demo"))
            .args(["--app.listen-address", &app.to_string()])
            .args(["--web.listen-address", &web.to_string()])
            .args(args)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("demo starts");
        let mut demo = Demo {
            child,
            log,
            app,
            web,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(web, "/-/healthy").await.map(|r| r.0) != Some(200) {
            assert!(
                demo.child.try_wait().unwrap().is_none(),
                "demo exited\n{}",
                demo.log()
            );
            assert!(Instant::now() < deadline, "demo never became healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        demo
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn sigterm(&self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
    }

    /// Waits at most `bound` for the process to end; its status and how long it took.
    async fn wait_exit(&mut self, bound: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < bound,
                "demo still running {bound:?} after SIGTERM\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One request on a fresh connection (`Connection: close`); status and body.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    response(&mut s).await
}

/// Reads a response to the end of the connection (at most 10 s).
async fn response(s: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n")?.1.to_owned()))
}

/// Opens a connection and sends a request line and a header, but not the blank
/// line that ends the head: a request in progress, as far as the server knows.
async fn half_request(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: demo\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// How long until the server closes `s` (EOF or reset), reading whatever it sends;
/// `None` if it is still open after `bound`.
async fn closed_within(s: &mut tokio::net::tcp::OwnedReadHalf, bound: Duration) -> Option<()> {
    let deadline = tokio::time::Instant::now() + bound;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_scrape_and_an_app_request_in_progress_finish_then_exits_0() {
    let mut demo = Demo::start("sigterm", &[]).await;
    assert_eq!(get(demo.app, "/some").await.unwrap().0, 200);
    assert_eq!(get(demo.web, "/metrics").await.unwrap().0, 200);

    // A scrape and an app request in progress: their heads are half sent.
    let mut scrape = half_request(demo.web, "/metrics").await;
    let mut request = half_request(demo.app, "/some").await;
    // Both servers accept and read them before the signal. Real time: the demo
    // shows nothing of a connection before its request is complete; too short a
    // wait fails the test (the connection is closed as idle), never passes it.
    tokio::time::sleep(Duration::from_millis(500)).await;

    demo.sigterm();
    let signalled = Instant::now();
    // Once the drain has begun, the demo waits for the two requests. Real time: a
    // window in which it must not exit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(demo.running(), "demo stopped mid-request\n{}", demo.log());
    scrape.write_all(b"\r\n").await.unwrap();
    request.write_all(b"\r\n").await.unwrap();

    let (status, body) = response(&mut scrape).await.expect("the scrape is answered");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("# TYPE incoming_requests_total counter"),
        "{body}"
    );
    let (status, body) = response(&mut request)
        .await
        .expect("the request is answered");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "hello from promhttp-demo\n");

    let (status, _) = demo.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "{status}\n{}", demo.log());
    eprintln!("exited {:?} after SIGTERM", signalled.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_an_app_client_that_never_finishes_its_request_still_exits() {
    // The header-read timeout (60 s) would close the dawdler only long after the
    // drain timeout (2 s): the drain timeout is what ends the stop.
    let mut demo = Demo::start(
        "dawdler",
        &[
            "--app.header-read-timeout",
            "60s",
            "--shutdown.drain-timeout",
            "2s",
        ],
    )
    .await;
    let _dawdler = half_request(demo.app, "/some").await;
    // Real time: as above, the demo has to have read the request's start.
    tokio::time::sleep(Duration::from_millis(500)).await;

    demo.sigterm();
    let (status, took) = demo.wait_exit(Duration::from_secs(2 + 8)).await;
    assert_eq!(status.code(), Some(0), "{status}\n{}", demo.log());
    // It did wait for the request in progress, up to the drain timeout.
    assert!(
        took >= Duration::from_millis(1500),
        "{took:?}\n{}",
        demo.log()
    );
    assert!(
        demo.log().contains("still open after"),
        "no warning about the closed connection\n{}",
        demo.log()
    );
    eprintln!("exited {took:?} after SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_silent_app_clients_are_closed_after_the_header_read_timeout() {
    let mut demo = Demo::start("slowloris", &["--app.header-read-timeout", "1s"]).await;

    // A slowloris client: one more header line every 100 ms, never the end.
    let start = Instant::now();
    let (mut slow_read, mut slow_write) = half_request(demo.app, "/some").await.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0..100 {
            // Real time: the client's pace, against the server's real timeout.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let line = format!("X-Slow-{i}: x\r\n");
            if slow_write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    // A client that connects and sends nothing at all.
    let (mut silent, _silent_write) = TcpStream::connect(demo.app).await.unwrap().into_split();

    // Meanwhile the app serves everyone else.
    assert_eq!(get(demo.app, "/some").await.unwrap().0, 200);

    let bound = Duration::from_secs(1 + 4);
    assert!(
        closed_within(&mut slow_read, bound).await.is_some(),
        "the slowloris client is still connected after {bound:?}"
    );
    let slow_took = start.elapsed();
    assert!(
        closed_within(&mut silent, bound).await.is_some(),
        "the silent client is still connected after {bound:?}"
    );
    let silent_took = start.elapsed();
    trickle.abort();
    // The timeout counts from the start of the request: trickling does not extend it.
    assert!(
        slow_took >= Duration::from_millis(900),
        "closed too early: {slow_took:?}"
    );
    eprintln!("slowloris closed after {slow_took:?}, silent client after {silent_took:?}");

    assert_eq!(get(demo.app, "/some").await.unwrap().0, 200);
    assert!(demo.running());
    demo.sigterm();
    let (status, _) = demo.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "{status}\n{}", demo.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_a_slot_frees() {
    let mut demo = Demo::start(
        "cap",
        &[
            "--app.max-connections",
            "1",
            "--app.header-read-timeout",
            "30s",
        ],
    )
    .await;
    // One connection holds the only slot (the listener's backlog is first come,
    // first served: it is accepted before the next one).
    let holder = TcpStream::connect(demo.app).await.unwrap();

    // The next one waits in the backlog, unanswered...
    let app = demo.app;
    let waiting = tokio::spawn(async move { get(app, "/some").await });
    // Real time: a window in which it must not be answered.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "served beyond the cap");

    // ...until the slot frees.
    drop(holder);
    let answered = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("answered once the slot freed")
        .unwrap();
    assert_eq!(answered.map(|r| r.0), Some(200));

    demo.sigterm();
    let (status, _) = demo.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "{status}\n{}", demo.log());
}
