//! Remote write sender against a scripted receiver, a real VictoriaMetrics and a
//! real Prometheus 2.42 (`--web.enable-remote-write-receiver`).
//!
//! The tests that need the `victoria-metrics` or `prometheus` binary are `#[ignore]`d
//! for that reason (`scripts/test.sh` runs them). Everything is on 127.0.0.1 and
//! every wait is bounded.
#![cfg(feature = "remote-write")]

use promhttp_test_support as support;

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use bytes::Bytes;
use promhttp::gather::{from_fn, Gathered};
use promhttp::model::{
    Bucket, HistogramValue, Label, Metric, MetricFamily, MetricType, NativeHistogram, Value,
};
use promhttp::push::remote_write::{RemoteWriteHandle, RemoteWriter, RemoteWriterBuilder};
use support::{
    free_port, require_tool, try_http_get, unique_temp_dir, url_encode, wait_until, Labels,
};

const POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// Decoding what we sent (a minimal protobuf reader for prompb.WriteRequest)
// ---------------------------------------------------------------------------

/// One decoded series: labels and `(timestamp_ms, value)` samples.
type Decoded = (Labels, Vec<(i64, f64)>);

fn read_varint(b: &[u8], i: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Splits a message into `(field number, wire type, payload)`; varints as 8 LE bytes.
fn fields(b: &[u8]) -> Vec<(u64, u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = read_varint(b, &mut i);
        let (field, wire) = (key >> 3, (key & 7) as u8);
        let payload = match wire {
            0 => read_varint(b, &mut i).to_le_bytes().to_vec(),
            1 => {
                i += 8;
                b[i - 8..i].to_vec()
            }
            2 => {
                let len = read_varint(b, &mut i) as usize;
                i += len;
                b[i - len..i].to_vec()
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((field, wire, payload));
    }
    out
}

/// A decoded prompb `Histogram` (integer counts).
#[derive(Clone, Debug, Default, PartialEq)]
struct DecodedHistogram {
    count: u64,
    sum: f64,
    schema: i32,
    zero_threshold: f64,
    zero_count: u64,
    negative_spans: Vec<(i32, u32)>,
    negative_deltas: Vec<i64>,
    positive_spans: Vec<(i32, u32)>,
    positive_deltas: Vec<i64>,
    reset_hint: u64,
    timestamp: i64,
}

fn varint_of(payload: &[u8]) -> u64 {
    u64::from_le_bytes(payload.try_into().unwrap())
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

fn decode_span(b: &[u8]) -> (i32, u32) {
    let (mut offset, mut length) = (0, 0);
    for (f, w, p) in fields(b) {
        assert_eq!(w, 0, "span fields are varints");
        match f {
            1 => offset = i32::try_from(unzigzag(varint_of(&p))).unwrap(),
            2 => length = u32::try_from(varint_of(&p)).unwrap(),
            other => panic!("unexpected BucketSpan field {other}"),
        }
    }
    (offset, length)
}

/// Deltas, packed (proto3's default) or one varint field each.
fn decode_deltas(w: u8, p: &[u8], out: &mut Vec<i64>) {
    if w == 0 {
        out.push(unzigzag(varint_of(p)));
        return;
    }
    let mut i = 0;
    while i < p.len() {
        out.push(unzigzag(read_varint(p, &mut i)));
    }
}

fn decode_histogram(b: &[u8]) -> DecodedHistogram {
    let mut h = DecodedHistogram::default();
    for (f, w, p) in fields(b) {
        match (f, w) {
            (1, 0) => h.count = varint_of(&p),
            (3, 1) => h.sum = f64::from_le_bytes(p.try_into().unwrap()),
            (4, 0) => h.schema = i32::try_from(unzigzag(varint_of(&p))).unwrap(),
            (5, 1) => h.zero_threshold = f64::from_le_bytes(p.try_into().unwrap()),
            (6, 0) => h.zero_count = varint_of(&p),
            (8, 2) => h.negative_spans.push(decode_span(&p)),
            (9, _) => decode_deltas(w, &p, &mut h.negative_deltas),
            (11, 2) => h.positive_spans.push(decode_span(&p)),
            (12, _) => decode_deltas(w, &p, &mut h.positive_deltas),
            (14, 0) => h.reset_hint = varint_of(&p),
            (15, 0) => h.timestamp = varint_of(&p) as i64,
            other => panic!("unexpected Histogram field {other:?}"),
        }
    }
    h
}

/// One decoded series with everything it carries: labels, float samples, native
/// histograms.
type DecodedAll = (Labels, Vec<(i64, f64)>, Vec<DecodedHistogram>);

/// Every series of a request.
fn decode_all(body: &[u8]) -> Vec<DecodedAll> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .expect("body is snappy block format");
    let mut out = Vec::new();
    for (f, w, ts) in fields(&raw) {
        assert_eq!((f, w), (1, 2), "WriteRequest has only timeseries");
        let mut labels = Labels::new();
        let mut samples = Vec::new();
        let mut histograms = Vec::new();
        let mut last_name = String::new();
        for (f, w, part) in fields(&ts) {
            match (f, w) {
                (1, 2) => {
                    let (mut name, mut value) = (String::new(), String::new());
                    for (f, _, s) in fields(&part) {
                        let s = String::from_utf8(s).unwrap();
                        if f == 1 {
                            name = s
                        } else {
                            value = s
                        }
                    }
                    assert!(name > last_name || last_name.is_empty(), "labels sorted");
                    last_name = name.clone();
                    labels.insert(name, value);
                }
                (2, 2) => {
                    let (mut v, mut t) = (0.0, 0i64);
                    for (f, _, s) in fields(&part) {
                        let bytes: [u8; 8] = s.try_into().unwrap();
                        if f == 1 {
                            v = f64::from_le_bytes(bytes)
                        } else {
                            t = u64::from_le_bytes(bytes) as i64
                        }
                    }
                    samples.push((t, v));
                }
                (4, 2) => histograms.push(decode_histogram(&part)),
                other => panic!("unexpected TimeSeries field {other:?}"),
            }
        }
        out.push((labels, samples, histograms));
    }
    out
}

/// The float series of a request (a series with native histograms only has no samples).
fn decode_write_request(body: &[u8]) -> Vec<Decoded> {
    decode_all(body)
        .into_iter()
        .filter(|(_, samples, _)| !samples.is_empty())
        .map(|(labels, samples, _)| (labels, samples))
        .collect()
}

// ---------------------------------------------------------------------------
// A scripted receiver
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    headers: HeaderMap,
    series: Vec<Decoded>,
    histograms: Vec<(Labels, Vec<DecodedHistogram>)>,
    status: u16,
}

#[derive(Default)]
struct Script {
    /// Responses to give, in order: status and optional `Retry-After`; then 204.
    responses: VecDeque<(u16, Option<&'static str>)>,
    received: Vec<Received>,
}

type Shared = Arc<Mutex<Script>>;

async fn receive(
    State(script): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let series = decode_write_request(&body);
    let histograms = decode_all(&body)
        .into_iter()
        .filter(|(_, _, h)| !h.is_empty())
        .map(|(labels, _, h)| (labels, h))
        .collect();
    let mut s = script.lock().unwrap();
    let (status, retry_after) = s.responses.pop_front().unwrap_or((204, None));
    s.received.push(Received {
        at: Instant::now(),
        headers,
        series,
        histograms,
        status,
    });
    let mut resp_headers = HeaderMap::new();
    if let Some(ra) = retry_after {
        resp_headers.insert("retry-after", ra.parse().unwrap());
    }
    (
        StatusCode::from_u16(status).unwrap(),
        resp_headers,
        format!("scripted {status}"),
    )
}

async fn scripted_receiver(
    responses: &[(u16, Option<&'static str>)],
) -> (support::TestServer, Shared) {
    let script: Shared = Arc::new(Mutex::new(Script {
        responses: responses.iter().copied().collect(),
        received: Vec::new(),
    }));
    let router = axum::Router::new()
        .route("/api/v1/write", post(receive))
        .with_state(script.clone());
    (support::serve(router).await, script)
}

/// A counter `name` whose value is the number of times it was gathered (1, 2, ...),
/// with `extra_series` more series of the same counter (label `n`), and the count.
fn ticking_counter(
    name: &'static str,
    extra_series: usize,
) -> (impl promhttp::Gather, Arc<AtomicU64>) {
    let ticks = Arc::new(AtomicU64::new(0));
    let t = ticks.clone();
    let source = from_fn(move |out: &mut Gathered| {
        let n = t.fetch_add(1, Ordering::SeqCst) + 1;
        let mut family = MetricFamily::new(name, "Gathers so far.", MetricType::Counter);
        for i in 0..=extra_series {
            family = family.with_metric(Metric::new(
                vec![Label::new("n", i.to_string())],
                Value::counter(n as f64),
            ));
        }
        out.families.push(family);
    });
    (source, ticks)
}

fn fast(builder: RemoteWriterBuilder) -> RemoteWriterBuilder {
    builder
        .min_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(200))
        .timeout(Duration::from_secs(3))
}

// ---------------------------------------------------------------------------
// Scripted receiver tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sends_protocol_headers_and_a_decodable_write_request() {
    let (server, script) = scripted_receiver(&[]).await;
    let source = from_fn(|out: &mut Gathered| {
        out.families.push(
            MetricFamily::new("rw_jobs_total", "Jobs.", MetricType::Counter).with_metric(
                Metric::new(vec![Label::new("env", "mine")], Value::counter(7.0)),
            ),
        );
        out.families.push(
            MetricFamily::new("rw_latency_seconds", "Latency.", MetricType::Histogram).with_metric(
                Metric::new(
                    vec![],
                    Value::Histogram(HistogramValue::new(vec![Bucket::new(0.25, 1)], 2, 1.5)),
                ),
            ),
        );
    });
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let writer = RemoteWriter::builder(server.url("/api/v1/write"), source)
        .interval(Duration::from_secs(3600))
        .external_label("env", "prod")
        .external_label("region", "eu")
        .basic_auth("user", "pa:ss")
        .header("X-Scope-OrgID", "tenant-1")
        .final_snapshot(false)
        .start()
        .unwrap();
    wait_until("first request", Duration::from_secs(10), || {
        !script.lock().unwrap().received.is_empty()
    })
    .await;
    let report = writer.shutdown().await;
    assert!(report.flushed);
    let received = script.lock().unwrap().received.clone();
    assert_eq!(
        received.len(),
        1,
        "one snapshot, one batch, no final snapshot"
    );
    let r = &received[0];
    let h = |n: &str| support::header_str(&r.headers, n).to_owned();
    assert_eq!(h("content-type"), "application/x-protobuf");
    assert_eq!(h("content-encoding"), "snappy");
    assert_eq!(h("x-prometheus-remote-write-version"), "0.1.0");
    assert_eq!(h("authorization"), "Basic dXNlcjpwYTpzcw==");
    assert_eq!(h("x-scope-orgid"), "tenant-1");
    assert!(
        h("user-agent").starts_with("promhttp/"),
        "{}",
        h("user-agent")
    );

    let got: Vec<(String, f64)> = r
        .series
        .iter()
        .map(|(labels, samples)| {
            assert_eq!(samples.len(), 1);
            let (ts, v) = samples[0];
            assert!(
                ts >= before && ts <= before + 10_000,
                "timestamp {ts} is gather time"
            );
            let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (text.join(","), v)
        })
        .collect();
    // All series of one snapshot share its timestamp.
    let stamps: std::collections::BTreeSet<i64> = r.series.iter().map(|(_, s)| s[0].0).collect();
    assert_eq!(stamps.len(), 1);
    assert_eq!(
        got,
        vec![
            ("__name__=rw_jobs_total,env=mine,region=eu".to_owned(), 7.0),
            (
                "__name__=rw_latency_seconds_bucket,env=prod,le=0.25,region=eu".to_owned(),
                1.0
            ),
            (
                "__name__=rw_latency_seconds_bucket,env=prod,le=+Inf,region=eu".to_owned(),
                2.0
            ),
            (
                "__name__=rw_latency_seconds_sum,env=prod,region=eu".to_owned(),
                1.5
            ),
            (
                "__name__=rw_latency_seconds_count,env=prod,region=eu".to_owned(),
                2.0
            ),
        ]
    );
}

/// A dual histogram and a native-only one, of schema 0: buckets 1 and 2 (`(1, 2]`,
/// `(2, 4]`) hold 3 and 1, bucket 0 of the negative side (`[-1, -0.5)`) 2, the
/// zero bucket 1.
fn native_histograms_source() -> impl promhttp::Gather {
    from_fn(|out: &mut Gathered| {
        let native = || NativeHistogram::from_counts(0, 1e-3, 1, [(1, 3), (2, 1)], [(0, 2)]);
        let classic = vec![Bucket::new(1.0, 3), Bucket::new(4.0, 7)];
        let dual = HistogramValue::new(classic, 7, 9.5).with_native(native());
        let native_only = HistogramValue::new(vec![], 7, 9.5).with_native(native());
        out.families.push(
            MetricFamily::new("rw_native_seconds", "Native.", MetricType::Histogram)
                .with_metric(Metric::new(vec![Label::new("kind", "dual")], dual.into()))
                .with_metric(Metric::new(
                    vec![Label::new("kind", "native")],
                    native_only.into(),
                )),
        );
    })
}

async fn one_snapshot(builder: RemoteWriterBuilder, script: &Shared) -> Received {
    let writer = builder
        .interval(Duration::from_secs(3600))
        .final_snapshot(false)
        .start()
        .unwrap();
    wait_until("first request", Duration::from_secs(10), || {
        !script.lock().unwrap().received.is_empty()
    })
    .await;
    let metrics = writer.metrics().clone();
    assert!(writer.shutdown().await.flushed);
    let received = script.lock().unwrap().received.clone();
    assert_eq!(received.len(), 1);
    // Each float sample and each native histogram is one sample.
    let samples = received[0].series.len() + received[0].histograms.len();
    assert_eq!(metrics.samples_sent(), samples as u64);
    received[0].clone()
}

#[tokio::test]
async fn native_histograms_are_sent_with_their_float_series() {
    let (server, script) = scripted_receiver(&[]).await;
    let builder = RemoteWriter::builder(server.url("/api/v1/write"), native_histograms_source())
        .external_label("env", "prod");
    let r = one_snapshot(builder, &script).await;
    let names: Vec<String> = r
        .series
        .iter()
        .map(|(l, s)| format!("{}{{kind={}}} {}", l["__name__"], l["kind"], s[0].1))
        .collect();
    assert_eq!(
        names,
        [
            "rw_native_seconds_bucket{kind=dual} 3",
            "rw_native_seconds_bucket{kind=dual} 7",
            "rw_native_seconds_bucket{kind=dual} 7",
            "rw_native_seconds_sum{kind=dual} 9.5",
            "rw_native_seconds_count{kind=dual} 7",
            "rw_native_seconds_sum{kind=native} 9.5",
            "rw_native_seconds_count{kind=native} 7",
        ]
    );
    let stamp = r.series[0].1[0].0;
    assert_eq!(r.histograms.len(), 2);
    for ((labels, histograms), kind) in r.histograms.iter().zip(["dual", "native"]) {
        let want: Labels = [
            ("__name__", "rw_native_seconds"),
            ("env", "prod"),
            ("kind", kind),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(labels, &want);
        assert_eq!(
            histograms,
            &[DecodedHistogram {
                count: 7,
                sum: 9.5,
                schema: 0,
                zero_threshold: 1e-3,
                zero_count: 1,
                negative_spans: vec![(0, 1)],
                negative_deltas: vec![2],
                positive_spans: vec![(1, 2)],
                positive_deltas: vec![3, -2],
                reset_hint: 0,
                timestamp: stamp,
            }]
        );
    }
}

#[tokio::test]
async fn native_histograms_off_sends_float_series_only() {
    let (server, script) = scripted_receiver(&[]).await;
    let builder = RemoteWriter::builder(server.url("/api/v1/write"), native_histograms_source())
        .native_histograms(false);
    let r = one_snapshot(builder, &script).await;
    assert!(r.histograms.is_empty());
    let native: Vec<String> = r
        .series
        .iter()
        .filter(|(l, _)| l["kind"] == "native")
        .map(|(l, s)| format!("{} {:?} {}", l["__name__"], l.get("le"), s[0].1))
        .collect();
    assert_eq!(
        native,
        [
            "rw_native_seconds_bucket Some(\"+Inf\") 7",
            "rw_native_seconds_sum None 9.5",
            "rw_native_seconds_count None 7",
        ]
    );
    assert_eq!(r.series.len(), 5 + 3);
}

#[tokio::test]
async fn retries_5xx_and_429_honouring_retry_after_and_drops_other_4xx() {
    // Snapshot 1: 503, then 429 with Retry-After: 1, then accepted.
    // Final snapshot: 400, which is not retried.
    let (server, script) =
        scripted_receiver(&[(503, None), (429, Some("1")), (204, None), (400, None)]).await;
    let (source, ticks) = ticking_counter("rw_retry_total", 2);
    let writer = fast(RemoteWriter::builder(server.url("/api/v1/write"), source))
        .interval(Duration::from_secs(3600))
        .start()
        .unwrap();
    let metrics = writer.metrics().clone();
    wait_until("first batch accepted", Duration::from_secs(15), || {
        metrics.samples_sent() == 3
    })
    .await;
    assert_eq!(metrics.retries(), 2);
    let report = writer.shutdown().await;
    assert!(report.flushed, "{report:?}");
    assert_eq!(ticks.load(Ordering::SeqCst), 2, "first and final snapshot");
    assert_eq!(metrics.samples_sent(), 3);
    assert_eq!(
        metrics.samples_failed(),
        3,
        "the 400 batch is dropped, counted"
    );
    assert_eq!(metrics.samples_dropped(), 0);
    assert_eq!(metrics.retries(), 2, "400 is not retried");

    let received = script.lock().unwrap().received.clone();
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 429, 204, 400]);
    // The same batch was retried.
    assert_eq!(received[0].series, received[1].series);
    assert_eq!(received[1].series, received[2].series);
    let after_429 = received[2].at - received[1].at;
    assert!(
        after_429 >= Duration::from_millis(950),
        "Retry-After: 1 honoured (waited {after_429:?}, max_backoff is 200 ms)"
    );
    let after_503 = received[1].at - received[0].at;
    assert!(
        after_503 < Duration::from_millis(900),
        "503 backoff is min_backoff: {after_503:?}"
    );
}

#[tokio::test]
async fn shutdown_gives_up_at_its_timeout_and_counts_what_is_left() {
    // Nothing listens on this port: every attempt fails to connect.
    let url = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let (source, _ticks) = ticking_counter("rw_down_total", 4);
    let writer = fast(RemoteWriter::builder(url, source))
        .interval(Duration::from_millis(50))
        .shutdown_timeout(Duration::from_millis(500))
        .start()
        .unwrap();
    let metrics = writer.metrics().clone();
    wait_until("some retries", Duration::from_secs(10), || {
        metrics.retries() >= 3
    })
    .await;
    let started = Instant::now();
    let report = writer.shutdown().await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "shutdown bounded by its timeout: {took:?}"
    );
    assert!(!report.flushed);
    assert!(report.dropped_samples > 0);
    assert_eq!(metrics.samples_sent(), 0);
    assert_eq!(metrics.samples_dropped(), report.dropped_samples);
    assert_eq!(metrics.queue_length(), 0);
}

// ---------------------------------------------------------------------------
// VictoriaMetrics
// ---------------------------------------------------------------------------

/// A VictoriaMetrics single-node process on 127.0.0.1 with its own data directory,
/// killed (and the directory removed) on drop.
struct Victoria {
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Victoria {
    /// Starts VictoriaMetrics on a free port; panics when it is not installed (only
    /// `#[ignore]`d tests call it).
    async fn start() -> Victoria {
        let binary = require_tool("victoria-metrics");
        let dir = unique_temp_dir("promhttp-test-victoria");
        let mut last = String::new();
        for _ in 0..3 {
            let mut vm = Victoria {
                binary: binary.clone(),
                child: None,
                port: free_port(),
                dir: dir.clone(),
            };
            match vm.spawn().await {
                Ok(()) => return vm,
                Err(e) => {
                    last = e;
                    let _ = vm.child.take().map(|mut c| {
                        let _ = c.kill();
                        c.wait()
                    });
                    std::mem::forget(vm); // keep the directory for the next attempt
                }
            }
        }
        panic!("victoria-metrics did not start: {last}");
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("victoria.log")
    }

    /// Starts the process on `self.port` with `self.dir` and waits for `/health`.
    async fn spawn(&mut self) -> Result<(), String> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open victoria.log");
        let child = Command::new(&self.binary)
            .arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
            .arg(format!(
                "-storageDataPath={}",
                self.dir.join("data").display()
            ))
            .arg("-retentionPeriod=1d")
            // Fresh samples are visible to queries at once, and never cached stale.
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!(
                    "exited early with {status}:\n{}",
                    support::file_tail(&self.log_path(), 20)
                ));
            }
            if let Ok((status, _, _)) = try_http_get(&self.url("/health"), &[]).await {
                if status.is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no /health after 30 s:\n{}",
                    support::file_tail(&self.log_path(), 20)
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn write_url(&self) -> String {
        self.url("/api/v1/write")
    }

    /// Flushes, then stops the process gracefully (SIGTERM; SIGKILL after 15 s).
    async fn stop(&mut self) {
        let _ = try_http_get(&self.url("/internal/force_flush"), &[]).await;
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.wait();
    }

    /// Restarts on the same port and data directory.
    async fn restart(&mut self) {
        let mut last = String::new();
        for _ in 0..20 {
            match self.spawn().await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "victoria-metrics did not restart on port {}: {last}",
            self.port
        );
    }

    async fn force_flush(&self) {
        let _ = try_http_get(&self.url("/internal/force_flush"), &[]).await;
    }

    /// Instant query through the Prometheus-compatible API.
    async fn query(&self, expr: &str) -> Result<Vec<(Labels, f64)>, String> {
        let url = self.url(&format!("/api/v1/query?query={}", url_encode(expr)));
        let (status, _, body) = try_http_get(&url, &[]).await?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{status}: {e}: {}", String::from_utf8_lossy(&body)))?;
        if json["status"] != "success" {
            return Err(format!("{status}: {json}"));
        }
        support::parse_instant_result(&json["data"])
    }

    /// Raw samples of the series matching `selector`, via `/api/v1/export`.
    async fn export(&self, selector: &str) -> Result<Vec<Decoded>, String> {
        let url = self.url(&format!("/api/v1/export?match[]={}", url_encode(selector)));
        let (status, _, body) = try_http_get(&url, &[]).await?;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
        let mut out = Vec::new();
        for line in String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
            let labels: Labels = v["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let values = v["values"].as_array().unwrap();
            let stamps = v["timestamps"].as_array().unwrap();
            let samples = stamps
                .iter()
                .zip(values)
                .map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap()))
                .collect();
            out.push((labels, samples));
        }
        Ok(out)
    }

    async fn wait_query(
        &self,
        expr: &str,
        timeout: Duration,
        ok: impl Fn(&[(Labels, f64)]) -> bool,
    ) -> Vec<(Labels, f64)> {
        let deadline = Instant::now() + timeout;
        loop {
            self.force_flush().await;
            let last = self.query(expr).await;
            match &last {
                Ok(r) if ok(r) => return r.clone(),
                _ => {}
            }
            if Instant::now() > deadline {
                panic!(
                    "query {expr:?}: no accepted result after {timeout:?}; last: {last:?}\n{}",
                    support::file_tail(&self.log_path(), 20)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- victoria-metrics log tail ---\n{}",
                support::file_tail(&self.log_path(), 30)
            );
        }
        if std::env::var_os("PROMHTTP_KEEP_TEST_DIRS").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `(timestamp, value)` samples of the single series in `exported`, sorted, with
/// exact duplicates removed (a batch the receiver stored but could not acknowledge
/// before it went down is sent again: same timestamps, same values).
fn samples_of_single_series(exported: &[Decoded]) -> Vec<(i64, f64)> {
    assert_eq!(exported.len(), 1, "one series: {exported:?}");
    let mut samples = exported[0].1.clone();
    samples.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    samples.dedup();
    samples
}

#[tokio::test]
#[ignore = "needs victoria-metrics: run scripts/install-test-deps.sh"]
async fn victoria_metrics_reads_back_a_counter_with_external_labels() {
    let vm = Victoria::start().await;
    let registry = promhttp::prometheus::Registry::new();
    let jobs = promhttp::prometheus::IntCounterVec::new(
        promhttp::prometheus::Opts::new("rw_vm_jobs_total", "Jobs."),
        &["queue"],
    )
    .unwrap();
    registry.register(Box::new(jobs.clone())).unwrap();
    jobs.with_label_values(&["mail"]).inc_by(42);
    let writer = fast(RemoteWriter::builder(vm.write_url(), registry))
        .interval(Duration::from_millis(500))
        .external_label("cluster", "test-eu")
        .start()
        .unwrap();
    let result = vm
        .wait_query("rw_vm_jobs_total", Duration::from_secs(30), |r| {
            !r.is_empty()
        })
        .await;
    let expected: Labels = [
        ("__name__", "rw_vm_jobs_total"),
        ("cluster", "test-eu"),
        ("queue", "mail"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(result, vec![(expected, 42.0)]);
    let metrics = writer.metrics().clone();
    let report = writer.shutdown().await;
    assert!(report.flushed);
    assert_eq!(metrics.samples_failed(), 0);
}

/// VictoriaMetrics 1.79 has no native histograms: it skips the histograms field
/// of a request and stores the float series sent beside it, so every classic
/// bucket, `_sum` and `_count` is kept (a native-only histogram has only `_sum`
/// and `_count`), and the request is accepted (no retries, no failed samples).
#[tokio::test]
#[ignore = "needs victoria-metrics: run scripts/install-test-deps.sh"]
async fn victoria_metrics_keeps_the_float_series_of_native_histograms() {
    let vm = Victoria::start().await;
    let writer = fast(RemoteWriter::builder(
        vm.write_url(),
        native_histograms_source(),
    ))
    .interval(Duration::from_millis(500))
    .start()
    .unwrap();
    let by_kind = |r: Vec<(Labels, f64)>| -> BTreeMap<String, f64> {
        r.into_iter().map(|(l, v)| (l["kind"].clone(), v)).collect()
    };
    for (query, want) in [
        ("rw_native_seconds_count", [("dual", 7.0), ("native", 7.0)]),
        ("rw_native_seconds_sum", [("dual", 9.5), ("native", 9.5)]),
    ] {
        let got = vm
            .wait_query(query, Duration::from_secs(30), |r| r.len() >= 2)
            .await;
        let want: BTreeMap<String, f64> = want.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        assert_eq!(by_kind(got), want, "{query}");
    }
    // The dual histogram's classic buckets are all there.
    let dual = vm
        .wait_query(
            r#"rw_native_seconds_bucket{kind="dual"}"#,
            Duration::from_secs(30),
            |r| r.len() >= 3,
        )
        .await;
    assert_eq!(dual.len(), 3, "{dual:?}");
    let metrics = writer.metrics().clone();
    let report = writer.shutdown().await;
    assert!(report.flushed);
    assert_eq!(metrics.samples_failed(), 0);
}

#[tokio::test]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_reads_back_a_counter_with_external_labels() {
    // The scrape target is irrelevant (nothing listens there); we only write.
    let target = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prom = support::Prometheus::builder(target)
        .flag("--web.enable-remote-write-receiver")
        .start()
        .await;
    let registry = promhttp::prometheus::Registry::new();
    let jobs = promhttp::prometheus::IntCounterVec::new(
        promhttp::prometheus::Opts::new("rw_prom_jobs_total", "Jobs."),
        &["queue"],
    )
    .unwrap();
    registry.register(Box::new(jobs.clone())).unwrap();
    jobs.with_label_values(&["mail"]).inc_by(42);
    let histogram = promhttp::prometheus::Histogram::with_opts(
        promhttp::prometheus::HistogramOpts::new("rw_prom_latency_seconds", "Latency.")
            .buckets(vec![0.1, 1.0]),
    )
    .unwrap();
    registry.register(Box::new(histogram.clone())).unwrap();
    histogram.observe(0.5);
    histogram.observe(5.0);
    let writer = fast(RemoteWriter::builder(prom.url("/api/v1/write"), registry))
        .interval(Duration::from_millis(500))
        .external_label("cluster", "test-eu")
        // The metric's own label wins over the external label of the same name.
        .external_label("queue", "external")
        .start()
        .unwrap();
    let result = prom
        .wait_for_query(
            "rw_prom_jobs_total",
            |r| !r.is_empty(),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", prom.log_tail(30)));
    let expected: Labels = [
        ("__name__", "rw_prom_jobs_total"),
        ("cluster", "test-eu"),
        ("queue", "mail"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(result, vec![(expected, 42.0)]);
    let buckets = prom
        .wait_for_query(
            "rw_prom_latency_seconds_bucket",
            |r| r.len() == 3,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let by_le: BTreeMap<String, f64> = buckets.iter().map(|(l, v)| (l["le"].clone(), *v)).collect();
    assert_eq!(
        by_le,
        BTreeMap::from([
            ("+Inf".to_owned(), 2.0),
            ("0.1".to_owned(), 0.0),
            ("1".to_owned(), 1.0)
        ])
    );
    assert!(buckets.iter().all(|(l, _)| l["queue"] == "external"));
    let metrics = writer.metrics().clone();
    let report = writer.shutdown().await;
    assert!(report.flushed);
    assert!(metrics.samples_sent() >= 5);
    assert_eq!(
        metrics.samples_failed(),
        0,
        "Prometheus accepted every batch"
    );
}

/// Prometheus 2.42 with native histograms on stores the native series (queried with
/// the native-histogram functions) and the float series beside them.
#[tokio::test]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_stores_native_histograms() {
    let target = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prom = support::Prometheus::builder(target)
        .flag("--web.enable-remote-write-receiver")
        .flag("--enable-feature=native-histograms")
        .start()
        .await;
    let writer = fast(RemoteWriter::builder(
        prom.url("/api/v1/write"),
        native_histograms_source(),
    ))
    .interval(Duration::from_millis(500))
    .start()
    .unwrap();
    let by_kind = |r: &[(Labels, f64)]| -> BTreeMap<String, f64> {
        r.iter().map(|(l, v)| (l["kind"].clone(), *v)).collect()
    };
    let both = |v: f64| BTreeMap::from([("dual".to_owned(), v), ("native".to_owned(), v)]);
    for (query, want) in [
        ("histogram_count(rw_native_seconds)", 7.0),
        ("histogram_sum(rw_native_seconds)", 9.5),
        // The highest populated bucket is (2, 4]: its upper bound.
        ("histogram_quantile(1, rw_native_seconds)", 4.0),
        // Below the zero bucket: the two observations in [-1, -0.5).
        ("histogram_fraction(-1, -0.5, rw_native_seconds)", 2.0 / 7.0),
        ("rw_native_seconds_count", 7.0),
    ] {
        let result = prom
            .wait_for_query(query, |r| r.len() == 2, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}\n{}", prom.log_tail(30)));
        assert_eq!(by_kind(&result), both(want), "{query}");
    }
    let classic = prom
        .wait_for_query(
            "rw_native_seconds_bucket",
            |r| r.len() == 3,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(classic.iter().all(|(l, _)| l["kind"] == "dual"));
    let metrics = writer.metrics().clone();
    assert!(writer.shutdown().await.flushed);
    assert_eq!(
        metrics.samples_failed(),
        0,
        "Prometheus accepted every batch"
    );
    assert_eq!(metrics.retries(), 0, "and at the first try");
}

/// A `promhttp::metrics` registry (promhttp's own storage) with a native-only
/// histogram, a dual one and a counter reaches Prometheus 2.42: the native series
/// with the counts observed, the counter exactly.
#[tokio::test]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_stores_native_histograms_of_own_storage() {
    use promhttp::metrics::{self, HistogramOpts, NativeBuckets};

    let target = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prom = support::Prometheus::builder(target)
        .flag("--web.enable-remote-write-receiver")
        .flag("--enable-feature=native-histograms")
        .start()
        .await;
    let registry = metrics::Registry::new();
    let latency = metrics::HistogramVec::new(
        HistogramOpts::new("rw_own_seconds", "Work time.").native_only(NativeBuckets::default()),
        &["kind"],
    )
    .unwrap();
    let dual = metrics::Histogram::with_opts(
        HistogramOpts::new("rw_own_dual_seconds", "Work time.").native(NativeBuckets::default()),
    )
    .unwrap();
    let jobs = metrics::IntCounter::new("rw_own_jobs_total", "Jobs.").unwrap();
    registry.register(Box::new(latency.clone())).unwrap();
    registry.register(Box::new(dual.clone())).unwrap();
    registry.register(Box::new(jobs.clone())).unwrap();
    for i in 0..250 {
        let v = f64::from(i) / 100.0 - 0.5; // -0.5 ..= 1.99: zero bucket and both signs
        latency.with_label_values(&["a"]).observe(v);
        dual.observe(v);
    }
    latency.with_label_values(&["b"]).observe(3.0);
    jobs.inc_by(42);

    let writer = fast(RemoteWriter::builder(prom.url("/api/v1/write"), registry))
        .interval(Duration::from_millis(500))
        .start()
        .unwrap();
    for (query, want) in [
        (
            "histogram_count(rw_own_seconds)",
            BTreeMap::from([("a", 250.0), ("b", 1.0)]),
        ),
        (
            "histogram_count(rw_own_dual_seconds)",
            BTreeMap::from([("", 250.0)]),
        ),
        // The observations below 0: -0.5 ..= -0.01.
        (
            "histogram_fraction(-1, -0.001, rw_own_dual_seconds) * 250",
            BTreeMap::from([("", 50.0)]),
        ),
        ("rw_own_jobs_total", BTreeMap::from([("", 42.0)])),
    ] {
        let result = prom
            .wait_for_query(query, |r| r.len() == want.len(), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}\n{}", prom.log_tail(30)));
        let got: BTreeMap<&str, f64> = result
            .iter()
            .map(|(l, v)| (l.get("kind").map_or("", String::as_str), *v))
            .collect();
        assert_eq!(got.len(), want.len(), "{query}: {result:?}");
        for (kind, v) in &want {
            assert!((got[kind] - v).abs() < 1e-9, "{query}: {result:?}");
        }
    }
    let metrics = writer.metrics().clone();
    assert!(writer.shutdown().await.flushed);
    assert_eq!(
        metrics.samples_failed(),
        0,
        "Prometheus accepted every batch"
    );
}

/// Prometheus 2.42 without native histograms answers a request holding one with a
/// 5xx (so it is retried); `native_histograms(false)` gets the float series in.
#[tokio::test]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_without_native_histograms_needs_them_off() {
    let target = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prom = support::Prometheus::builder(target)
        .flag("--web.enable-remote-write-receiver")
        .start()
        .await;
    let url = prom.url("/api/v1/write");
    let refused = fast(RemoteWriter::builder(
        url.clone(),
        native_histograms_source(),
    ))
    .shutdown_timeout(Duration::from_millis(300))
    .final_snapshot(false)
    .start()
    .unwrap();
    let metrics = refused.metrics().clone();
    wait_until("a retry", Duration::from_secs(10), || metrics.retries() > 0).await;
    refused.shutdown().await;
    assert_eq!(metrics.samples_sent(), 0);

    let writer = fast(RemoteWriter::builder(url, native_histograms_source()))
        .native_histograms(false)
        .interval(Duration::from_millis(500))
        .start()
        .unwrap();
    let counts = prom
        .wait_for_query(
            "rw_native_seconds_count",
            |r| r.len() == 2,
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", prom.log_tail(30)));
    assert!(counts.iter().all(|(_, v)| *v == 7.0));
    let metrics = writer.metrics().clone();
    assert!(writer.shutdown().await.flushed);
    assert_eq!(metrics.retries(), 0);
    assert_eq!(metrics.samples_failed(), 0);
}

/// The receiver is down while 30 snapshots are taken (6 s or more); the queue holds
/// everything taken meanwhile and all of it arrives, in order, once the receiver
/// is back.
#[tokio::test]
#[ignore = "needs victoria-metrics: run scripts/install-test-deps.sh"]
async fn outage_the_queue_can_hold_loses_no_sample() {
    let mut vm = Victoria::start().await;
    let (source, ticks) = ticking_counter("rw_outage_ticks_total", 0);
    let writer = fast(RemoteWriter::builder(vm.write_url(), source))
        .interval(Duration::from_millis(200))
        .queue_capacity(10_000)
        .start()
        .unwrap();
    let metrics = writer.metrics().clone();
    wait_until(
        "samples sent before the outage",
        Duration::from_secs(15),
        || metrics.samples_sent() >= 3,
    )
    .await;

    vm.stop().await;
    let outage_start = ticks.load(Ordering::SeqCst);
    wait_until(
        "30 snapshots during the outage, sends retried, the queue holding them",
        Duration::from_secs(30),
        || {
            ticks.load(Ordering::SeqCst) - outage_start >= 30
                && metrics.retries() > 0
                && metrics.queue_length() > 0
        },
    )
    .await;
    let outage_end = ticks.load(Ordering::SeqCst);
    vm.restart().await;

    // max_backoff is 200 ms: the backlog drains shortly after the receiver is back.
    wait_until("the backlog drains", Duration::from_secs(30), || {
        metrics.queue_length() == 0 && metrics.samples_sent() > outage_end
    })
    .await;
    let report = writer.shutdown().await;
    assert!(report.flushed, "{report:?}");
    let total = ticks.load(Ordering::SeqCst);
    assert_eq!(metrics.samples_dropped(), 0);
    assert_eq!(metrics.samples_failed(), 0);
    assert_eq!(
        metrics.samples_sent(),
        total,
        "every snapshot's sample was accepted"
    );

    // Every value 1..=total arrived, each at its own, increasing timestamp.
    let deadline = Instant::now() + Duration::from_secs(30);
    let samples = loop {
        vm.force_flush().await;
        let exported = vm.export("rw_outage_ticks_total").await.unwrap_or_default();
        if !exported.is_empty() {
            let s = samples_of_single_series(&exported);
            if s.len() as u64 >= total || Instant::now() > deadline {
                break s;
            }
        } else {
            assert!(Instant::now() < deadline, "nothing exported");
        }
        tokio::time::sleep(POLL).await;
    };
    eprintln!(
        "outage: {total} snapshots, {} taken during the outage, {} retries, {} raw samples stored",
        outage_end - outage_start,
        metrics.retries(),
        samples.len()
    );
    let values: Vec<u64> = samples.iter().map(|s| s.1 as u64).collect();
    let expected: Vec<u64> = (1..=total).collect();
    assert_eq!(values, expected, "no sample lost, none out of order");
    assert!(samples.windows(2).all(|w| w[0].0 < w[1].0));
}

/// The receiver is down longer than the queue can hold: the queue stays within its
/// capacity, the oldest samples are dropped and counted, and the newest arrive once
/// the receiver is back. Every sample is accounted for exactly once.
#[tokio::test]
#[ignore = "needs victoria-metrics: run scripts/install-test-deps.sh"]
async fn outage_longer_than_the_queue_stays_bounded_and_counts_drops() {
    let mut vm = Victoria::start().await;
    vm.stop().await; // down from the start
    const CAPACITY: usize = 30;
    const SERIES: u64 = 10;
    let (source, ticks) = ticking_counter("rw_overflow_ticks_total", SERIES as usize - 1);
    let writer = fast(RemoteWriter::builder(vm.write_url(), source))
        .interval(Duration::from_millis(50))
        .queue_capacity(CAPACITY)
        .max_batch(10)
        .start()
        .unwrap();
    let metrics = writer.metrics().clone();
    // Until the queue has filled up and dropped (and counted) its oldest samples,
    // it is never over its capacity.
    let mut max_seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while max_seen < CAPACITY || metrics.samples_dropped() == 0 {
        let len = writer.queue_length();
        max_seen = max_seen.max(len);
        assert!(
            len <= CAPACITY,
            "queue length {len} over capacity {CAPACITY}"
        );
        assert!(metrics.queue_length() as usize <= CAPACITY);
        assert!(
            Instant::now() < deadline,
            "the queue did not fill up and drop within 30 s: longest {max_seen}, {} dropped",
            metrics.samples_dropped()
        );
        // Sampled often, to catch a moment over capacity.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(metrics.samples_sent(), 0);

    vm.restart().await;
    wait_until("sending resumes", Duration::from_secs(30), || {
        metrics.samples_sent() > 0
    })
    .await;
    let report = writer.shutdown().await;
    assert!(report.flushed, "{report:?}");
    let total = ticks.load(Ordering::SeqCst);
    assert_eq!(
        metrics.samples_sent() + metrics.samples_dropped() + metrics.samples_failed(),
        total * SERIES,
        "every sample sent or counted as dropped, once"
    );
    eprintln!(
        "overflow: {total} snapshots x {SERIES} series: {} sent, {} dropped",
        metrics.samples_sent(),
        metrics.samples_dropped()
    );
    // The newest value (from the final snapshot) arrived.
    let r = vm
        .wait_query(
            "max(rw_overflow_ticks_total)",
            Duration::from_secs(30),
            |r| r.first().is_some_and(|(_, v)| *v == total as f64),
        )
        .await;
    assert_eq!(r[0].1, total as f64);
}

#[allow(dead_code)]
fn handle_is_send_and_sync(h: RemoteWriteHandle) -> impl Send + Sync {
    h
}
