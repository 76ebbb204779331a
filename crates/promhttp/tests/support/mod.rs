//! Helpers shared by the integration tests (`mod support;` in each test file).
//!
//! - finding external programs ([`find_tool`], [`require_tool`]): a missing program
//!   skips the test with a loud message, except under `CI=true`, where it fails;
//! - a real Prometheus server scraping one target ([`Prometheus`]), with its own
//!   port and temporary directory, killed and removed on drop;
//! - an HTTP/1 client ([`http_get`]) and a test server that records every exchange
//!   ([`serve`]);
//! - `promtool check metrics` ([`promtool_check_metrics`]).
//!
//! Everything listens on and talks to 127.0.0.1 only, and every wait is bounded.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use serde_json::Value;

// ---------------------------------------------------------------------------
// External programs
// ---------------------------------------------------------------------------

/// True when running under CI (`CI=true` or `CI=1`): missing programs are failures.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds an executable `name` in `PATH`, then in `/usr/bin`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(std::iter::once(PathBuf::from("/usr/bin")))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Finds `name` like [`find_tool`]. When it is missing: under CI, panics; otherwise
/// prints a loud skip notice to stderr and returns `None` (the test should return).
pub fn require_tool(name: &str) -> Option<PathBuf> {
    if let Some(path) = find_tool(name) {
        return Some(path);
    }
    let hint = format!("{name} not installed: run scripts/install-test-deps.sh");
    if in_ci() {
        panic!("{hint} (CI=true, so this is a failure, not a skip)");
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<unknown test>");
    eprintln!();
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED {test}: {hint}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!();
    None
}

/// A TCP port that was free a moment ago on 127.0.0.1 (bind to port 0, read, drop).
/// Racy by nature; [`Prometheus`] retries on "address already in use".
pub fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A fresh, unique directory under `std::env::temp_dir()`.
pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// The last `lines` lines of a text file (lossy UTF-8), at most the last 64 KiB.
pub fn file_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return format!("<no log at {}>", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------
// promtool
// ---------------------------------------------------------------------------

/// Runs `promtool check metrics` with `body` (text format 0.0.4) on stdin.
///
/// `Ok(())` when promtool exits 0 (no parse errors, no lint problems); otherwise
/// `Err` with its exit status and full stdout/stderr. Note promtool exits non-zero
/// for lint problems too (e.g. a counter not ending in `_total`); the text tells
/// which (`error while linting: ...` is a parse error). Panics if promtool is
/// missing: call [`require_tool`]`("promtool")` first to skip instead.
pub fn promtool_check_metrics(body: &[u8]) -> Result<(), String> {
    let promtool = find_tool("promtool").expect(
        "promtool not installed: run scripts/install-test-deps.sh (check require_tool first)",
    );
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", promtool.display()));
    // Feed stdin from a thread so a large body can't deadlock against full pipes.
    let mut stdin = child.stdin.take().expect("promtool stdin");
    let input = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("promtool check metrics: still running after 30 s, killed".into());
            }
            Err(e) => return Err(format!("promtool check metrics: wait: {e}")),
        }
    }
    let _ = writer.join();
    let output = child.wait_with_output().expect("promtool output");
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "promtool check metrics exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

// ---------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------

/// Time limit of one [`http_get`] (connect + response + whole body).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET url` over HTTP/1.1 with extra request headers; the body is returned as
/// received (no decompression). Errors as text, including the time limit.
pub async fn try_http_get(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let mut req = Request::get(url);
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
        let value = HeaderValue::from_str(value).map_err(|e| format!("{value:?}: {e}"))?;
        req = req.header(name, value);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("GET {url}: {e}"))?;
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<Empty<Bytes>>();
    let exchange = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("GET {url}: {e:?}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("GET {url}: reading body: {e}"))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("GET {url}: no complete response within {HTTP_TIMEOUT:?}"))?
}

/// [`try_http_get`] that panics on transport errors (any status is returned).
pub async fn http_get(url: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    try_http_get(url, headers)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A header as text ("" when absent or not visible ASCII).
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query strings).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Test server
// ---------------------------------------------------------------------------

/// One request/response seen by a [`TestServer`].
#[derive(Clone, Debug, Default)]
pub struct Exchange {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub user_agent: String,
    pub accept: String,
    pub accept_encoding: String,
    pub status: u16,
    pub content_type: String,
    pub content_encoding: String,
}

impl Exchange {
    /// Whether Prometheus (not one of our direct requests) sent it.
    pub fn is_prometheus_scrape(&self) -> bool {
        self.user_agent.starts_with("Prometheus/")
    }
}

/// An axum server on 127.0.0.1 (random port) that records every exchange.
/// Stopped (task aborted) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Serves `router` on 127.0.0.1:0 in a spawned task, recording each exchange.
pub async fn serve(router: axum::Router) -> TestServer {
    use axum::extract::Request as AxumRequest;
    use axum::middleware::{self, Next};

    let exchanges: Arc<Mutex<Vec<Exchange>>> = Arc::default();
    let log = exchanges.clone();
    let router = router.layer(middleware::from_fn(move |req: AxumRequest, next: Next| {
        let log = log.clone();
        async move {
            let h = req.headers();
            let mut exchange = Exchange {
                method: req.method().to_string(),
                uri: req.uri().to_string(),
                user_agent: header_str(h, "user-agent").to_owned(),
                accept: header_str(h, "accept").to_owned(),
                accept_encoding: header_str(h, "accept-encoding").to_owned(),
                ..Exchange::default()
            };
            let resp = next.run(req).await;
            exchange.status = resp.status().as_u16();
            exchange.content_type = header_str(resp.headers(), "content-type").to_owned();
            exchange.content_encoding = header_str(resp.headers(), "content-encoding").to_owned();
            log.lock().unwrap().push(exchange);
            resp
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("test server on {addr}: {e}");
        }
    });
    TestServer {
        addr,
        exchanges,
        task,
    }
}

impl TestServer {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything recorded so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    /// Exchanges whose request came from Prometheus.
    pub fn prometheus_exchanges(&self) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(Exchange::is_prometheus_scrape)
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------

/// A label set as returned by the query API (includes `__name__`).
pub type Labels = BTreeMap<String, String>;

/// How long [`PrometheusBuilder::start`] waits for `/-/ready`.
pub const PROMETHEUS_READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Options for a [`Prometheus`] that scrapes one target; see [`Prometheus::builder`].
#[derive(Clone, Debug)]
pub struct PrometheusBuilder {
    target: SocketAddr,
    job: String,
    metrics_path: String,
    scrape_interval: Duration,
    scrape_timeout: Duration,
    flags: Vec<String>,
    job_yaml: Vec<String>,
    scheme: String,
}

impl PrometheusBuilder {
    /// Job name (default `promhttp`).
    pub fn job(mut self, job: &str) -> Self {
        self.job = job.to_owned();
        self
    }

    /// Path to scrape (default `/metrics`).
    pub fn metrics_path(mut self, path: &str) -> Self {
        self.metrics_path = path.to_owned();
        self
    }

    /// Global scrape interval (default 1 s).
    pub fn scrape_interval(mut self, interval: Duration) -> Self {
        self.scrape_interval = interval;
        self
    }

    /// Global scrape timeout (default 1 s; must not exceed the interval).
    pub fn scrape_timeout(mut self, timeout: Duration) -> Self {
        self.scrape_timeout = timeout;
        self
    }

    /// An extra command-line flag, e.g. `--enable-feature=native-histograms`
    /// (Prometheus 2.42 then asks for protobuf first).
    pub fn flag(mut self, flag: &str) -> Self {
        self.flags.push(flag.to_owned());
        self
    }

    /// Several extra command-line flags.
    pub fn flags(mut self, flags: &[&str]) -> Self {
        self.flags.extend(flags.iter().map(|f| f.to_string()));
        self
    }

    /// `http` (default) or `https`.
    pub fn scheme(mut self, scheme: &str) -> Self {
        self.scheme = scheme.to_owned();
        self
    }

    /// A raw YAML line added to the scrape job, at the job's indentation, e.g.
    /// `honor_labels: true` or `params: {format: [x]}`.
    pub fn job_yaml(mut self, line: &str) -> Self {
        self.job_yaml.push(line.to_owned());
        self
    }

    fn config_yaml(&self) -> String {
        // JSON strings are valid YAML scalars: no quoting worries.
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let ms = |d: Duration| format!("{}ms", d.as_millis().max(1));
        let mut yaml = String::new();
        let _ = writeln!(yaml, "global:");
        let _ = writeln!(yaml, "  scrape_interval: {}", ms(self.scrape_interval));
        let _ = writeln!(yaml, "  scrape_timeout: {}", ms(self.scrape_timeout));
        let _ = writeln!(yaml, "  evaluation_interval: {}", ms(self.scrape_interval));
        let _ = writeln!(yaml, "scrape_configs:");
        let _ = writeln!(yaml, "  - job_name: {}", q(&self.job));
        let _ = writeln!(yaml, "    metrics_path: {}", q(&self.metrics_path));
        let _ = writeln!(yaml, "    scheme: {}", self.scheme);
        for line in &self.job_yaml {
            let _ = writeln!(yaml, "    {line}");
        }
        let _ = writeln!(yaml, "    static_configs:");
        let _ = writeln!(yaml, "      - targets: [{}]", q(&self.target.to_string()));
        yaml
    }

    /// Starts Prometheus and waits (at most [`PROMETHEUS_READY_TIMEOUT`]) for `/-/ready`.
    ///
    /// `None` when Prometheus is not installed and we are not under CI (the test
    /// should return: it is skipped). Panics, with the log tail, if it does not
    /// become ready.
    pub async fn start(self) -> Option<Prometheus> {
        let binary = require_tool("prometheus")?;
        let mut last_failure = String::new();
        // free_port() is racy: retry when someone else grabbed the port.
        for _attempt in 0..3 {
            let mut prom = self.spawn(&binary);
            match prom.wait_ready(PROMETHEUS_READY_TIMEOUT).await {
                Ok(()) => return Some(prom),
                Err(e) => {
                    let tail = prom.log_tail(40);
                    let port_taken = tail.contains("address already in use");
                    last_failure = format!(
                        "{e}\n--- prometheus log ({}) ---\n{tail}",
                        prom.log_path().display()
                    );
                    drop(prom);
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        panic!("prometheus did not become ready: {last_failure}");
    }

    fn spawn(&self, binary: &Path) -> Prometheus {
        let dir = unique_temp_dir("promhttp-test-prometheus");
        let config = dir.join("prometheus.yml");
        fs::write(&config, self.config_yaml()).expect("write prometheus.yml");
        let data = dir.join("data");
        let log_path = dir.join("prometheus.log");
        let log = fs::File::create(&log_path).expect("create prometheus.log");
        let port = free_port();
        let mut cmd = Command::new(binary);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=debug")
            .args(&self.flags)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        Prometheus {
            child,
            port,
            dir,
            log_path,
            job: self.job.clone(),
            target: self.target,
        }
    }
}

/// A Prometheus server (its own process, port and temporary directory) that
/// scrapes one target. Killed, and its directory removed, on drop; if the test
/// is panicking, the log tail is printed first (set `PROMHTTP_KEEP_TEST_DIRS=1`
/// to keep the directory).
pub struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
    log_path: PathBuf,
    job: String,
    target: SocketAddr,
}

impl Prometheus {
    /// A Prometheus scraping `http://{target}/metrics` every second.
    pub fn builder(target: SocketAddr) -> PrometheusBuilder {
        PrometheusBuilder {
            target,
            job: "promhttp".to_owned(),
            metrics_path: "/metrics".to_owned(),
            scrape_interval: Duration::from_secs(1),
            scrape_timeout: Duration::from_secs(1),
            flags: Vec::new(),
            job_yaml: Vec::new(),
            scheme: "http".to_owned(),
        }
    }

    /// Shorthand: defaults plus `flags`.
    pub async fn start(target: SocketAddr, flags: &[&str]) -> Option<Prometheus> {
        Self::builder(target).flags(flags).start().await
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `base_url() + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of Prometheus's log.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log_path, lines)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let url = self.url("/-/ready");
        let mut last;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("prometheus exited early with {status}"));
            }
            match try_http_get(&url, &[]).await {
                Ok((status, _, _)) if status == StatusCode::OK => return Ok(()),
                Ok((status, _, body)) => {
                    last = format!("{status}: {}", String::from_utf8_lossy(&body).trim())
                }
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after {timeout:?}; last: {last}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// GETs an API path (e.g. `/api/v1/targets`) and returns `data`, or an error
    /// with the status / API error text.
    pub async fn api(&self, path_and_query: &str) -> Result<Value, String> {
        let url = self.url(path_and_query);
        let (status, _, body) = try_http_get(&url, &[]).await?;
        let json: Value = serde_json::from_slice(&body).map_err(|e| {
            format!(
                "GET {url}: {status}, not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        if status != StatusCode::OK || json["status"] != "success" {
            return Err(format!(
                "GET {url}: {status}: {} {}",
                json["errorType"], json["error"]
            ));
        }
        Ok(json["data"].clone())
    }

    /// The active target of our job, as the targets API reports it.
    pub async fn target(&self) -> Result<Value, String> {
        let data = self.api("/api/v1/targets?state=active").await?;
        data["activeTargets"]
            .as_array()
            .and_then(|targets| {
                targets
                    .iter()
                    .find(|t| t["scrapePool"] == self.job.as_str())
                    .cloned()
            })
            .ok_or_else(|| format!("no active target for job {:?} yet: {data}", self.job))
    }

    /// Polls the targets API until our target's health is `up`. On timeout, the
    /// error carries the last `health`/`lastError` (or request error).
    pub async fn wait_target_up(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            match self.target().await {
                Ok(t) if t["health"] == "up" => return Ok(()),
                Ok(t) => {
                    last = format!(
                        "health {}, lastError {}, scrapeUrl {}",
                        t["health"], t["lastError"], t["scrapeUrl"]
                    )
                }
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "target {} of job {:?} not up after {timeout:?}: {last}",
                    self.target, self.job
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// [`wait_target_up`](Self::wait_target_up) that panics with the log tail.
    pub async fn expect_target_up(&self, timeout: Duration) {
        if let Err(e) = self.wait_target_up(timeout).await {
            panic!("{e}\n--- prometheus log ---\n{}", self.log_tail(30));
        }
    }

    /// Instant query (`/api/v1/query`, now); returns the API's `data`. Panics on error.
    pub async fn query(&self, expr: &str) -> Value {
        self.try_query(expr).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Instant query; `Err` with the API error text.
    pub async fn try_query(&self, expr: &str) -> Result<Value, String> {
        self.api(&format!("/api/v1/query?query={}", url_encode(expr)))
            .await
    }

    /// Instant query as `(labels, value)` pairs: one per series of a vector result,
    /// or a single pair with empty labels for a scalar. Panics on error.
    pub async fn query_scalar_series(&self, expr: &str) -> Vec<(Labels, f64)> {
        self.try_query_scalar_series(expr)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn try_query_scalar_series(&self, expr: &str) -> Result<Vec<(Labels, f64)>, String> {
        let data = self.try_query(expr).await?;
        parse_instant_result(&data).map_err(|e| format!("query {expr:?}: {e}: {data}"))
    }

    /// Re-runs `expr` (every 100 ms) until `predicate` accepts the series, and
    /// returns them; on timeout, `Err` with the last result or error.
    pub async fn wait_for_query(
        &self,
        expr: &str,
        predicate: impl Fn(&[(Labels, f64)]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            match self.try_query_scalar_series(expr).await {
                Ok(series) if predicate(&series) => return Ok(series),
                Ok(series) => last = format!("last result: {series:?}"),
                Err(e) => last = format!("last error: {e}"),
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "query {expr:?}: no accepted result after {timeout:?}; {last}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Metric metadata (`/api/v1/metadata?metric=NAME`): the list of
    /// `{type, help, unit}` objects Prometheus has for that name (empty if none).
    pub async fn metadata(&self, metric: &str) -> Result<Vec<Value>, String> {
        let data = self
            .api(&format!("/api/v1/metadata?metric={}", url_encode(metric)))
            .await?;
        Ok(data[metric].as_array().cloned().unwrap_or_default())
    }
}

/// A sample value as the API writes it ("1.5", "NaN", "+Inf", "-Inf").
pub fn parse_prom_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn parse_sample(v: &Value) -> Result<f64, String> {
    v.get(1)
        .and_then(Value::as_str)
        .and_then(parse_prom_float)
        .ok_or_else(|| format!("bad sample {v}"))
}

/// `data` of an instant query as `(labels, value)` pairs.
pub fn parse_instant_result(data: &Value) -> Result<Vec<(Labels, f64)>, String> {
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .ok_or("vector result without array")?
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .ok_or("series without metric")?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                Ok((labels, parse_sample(&s["value"])?))
            })
            .collect(),
        Some("scalar") => Ok(vec![(Labels::new(), parse_sample(&data["result"])?)]),
        other => Err(format!("unsupported resultType {other:?}")),
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- prometheus (pid {}, {}) log tail ---\n{}\n--- end of prometheus log ---",
                self.child.id(),
                self.base_url(),
                self.log_tail(40)
            );
        }
        if std::env::var_os("PROMHTTP_KEEP_TEST_DIRS").is_some() {
            eprintln!("keeping {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The text 0.0.4 page a default [`promhttp::MetricsHandler`] serves for `source`
/// (asserting a 200).
pub async fn page_of(source: impl promhttp::Gather + 'static) -> String {
    let handler = promhttp::MetricsHandler::builder(source).build();
    let req = Request::get("/metrics").body(()).expect("request");
    let resp = handler.respond(&req).await;
    assert_eq!(resp.status(), 200);
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("page body")
        .to_bytes();
    String::from_utf8(body.to_vec()).expect("UTF-8 page")
}

/// The value of the first sample line of `page` starting with `prefix`.
pub fn sample(page: &str, prefix: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
