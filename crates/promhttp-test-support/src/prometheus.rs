//! A real Prometheus server scraping one target.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::Value;

use crate::{file_tail, free_port, require_tool, try_http_get, unique_temp_dir, url_encode};

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

    /// Native histograms stored as such (`--enable-feature=native-histograms`),
    /// scraped every 500 ms with a 400 ms timeout: what the native-histogram tests
    /// share.
    pub fn native_histograms(self) -> Self {
        self.flag("--enable-feature=native-histograms")
            .scrape_interval(Duration::from_millis(500))
            .scrape_timeout(Duration::from_millis(400))
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
    /// Panics when Prometheus is not installed (see [`require_tool`]: call it only
    /// from a test marked `#[ignore = "needs prometheus: ..."]`), and, with the log
    /// tail, when it does not become ready.
    pub async fn start(self) -> Prometheus {
        let binary = require_tool("prometheus");
        let mut last_failure = String::new();
        // free_port() is racy: retry when someone else grabbed the port.
        for _attempt in 0..3 {
            let mut prom = self.spawn(&binary);
            match prom.wait_ready(PROMETHEUS_READY_TIMEOUT).await {
                Ok(()) => return prom,
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
    pub async fn start(target: SocketAddr, flags: &[&str]) -> Prometheus {
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

    /// Waits (30 s at most) until `expr` returns at least one series, and returns
    /// them; panics with the query, the last result and the log's tail otherwise.
    pub async fn wait_for_series(&self, expr: &str) -> Vec<(Labels, f64)> {
        self.wait_for_query(expr, |r| !r.is_empty(), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", self.log_tail(30)))
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

/// Where Prometheus' estimate of a quantile of a native histogram at `schema`
/// may fall when the true quantile is `true_value` (> 0): from the lower bound of
/// the bucket below the one holding it to the upper bound of the bucket above
/// (one bucket either side).
pub fn within_a_native_bucket(schema: i32, true_value: f64) -> (f64, f64) {
    let base = 2f64.powf(2f64.powi(-schema));
    let bucket = true_value.log(base).ceil() as i32;
    (base.powi(bucket - 2), base.powi(bucket + 1))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_floats_include_the_special_values() {
        assert_eq!(parse_prom_float("1.5"), Some(1.5));
        assert!(parse_prom_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_prom_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_prom_float("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_prom_float("x"), None);
    }

    #[test]
    fn instant_results_become_labelled_values() {
        let vector: Value = serde_json::from_str(
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"j"},"value":[1,"1"]}]}"#,
        )
        .unwrap();
        let series = parse_instant_result(&vector).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].0["job"], "j");
        assert_eq!(series[0].1, 1.0);
        let scalar: Value =
            serde_json::from_str(r#"{"resultType":"scalar","result":[1,"+Inf"]}"#).unwrap();
        assert_eq!(
            parse_instant_result(&scalar).unwrap(),
            vec![(Labels::new(), f64::INFINITY)]
        );
        let matrix: Value = serde_json::from_str(r#"{"resultType":"matrix","result":[]}"#).unwrap();
        assert!(parse_instant_result(&matrix).is_err());
    }

    #[test]
    fn the_configuration_names_the_target_and_the_job_options() {
        let yaml = Prometheus::builder("127.0.0.1:9100".parse().unwrap())
            .job("a \"job\"")
            .scrape_interval(Duration::from_millis(500))
            .scheme("https")
            .job_yaml("honor_labels: true")
            .config_yaml();
        assert!(yaml.contains("  scrape_interval: 500ms\n"), "{yaml}");
        assert!(yaml.contains("  - job_name: \"a \\\"job\\\"\"\n"), "{yaml}");
        assert!(yaml.contains("    scheme: https\n"), "{yaml}");
        assert!(yaml.contains("    honor_labels: true\n"), "{yaml}");
        assert!(
            yaml.contains("      - targets: [\"127.0.0.1:9100\"]\n"),
            "{yaml}"
        );
    }
}
