//! The scrape benchmark server: the workload in a `prometheus::Registry`, served by
//! promhttp's handler (OpenMetrics on; identity and gzip offered, zstd too with the
//! feature `zstd`, which `demo` includes; no self-instrumentation) on
//! `127.0.0.1:P/metrics`, HTTP/1.1 with keep-alive.
//!
//! ```text
//! bench-server --port P --series N [--encode-bench SECS] [--exporter] [--web-config FILE]
//!              [--bridge prometheus|metrics-rs|prometheus-client]
//!              [--storage prometheus|promhttp] [--mutate]
//! ```
//! `--storage promhttp` records the workload into promhttp's own storage
//! (`promhttp::metrics::Registry`, whose families keep their page rendered and
//! write it straight into the response) instead of the `prometheus` crate's
//! (`prometheus`, the default); the page is the same bytes.
//! `--mutate` changes every series between two scrapes: after each response is
//! rendered, a thread runs one pass over every series (counters +1, gauges set to
//! their workload value + k after pass k, one more observation per histogram
//! child), and the next scrape waits for that pass if it has not finished; the
//! first page is the workload as registered (see `mutate.rs` for what a scrape
//! then measures). It works with either storage and the bare hyper loop (not with
//! `--exporter` or another `--bridge`).
//! `--bridge` records the same series through another API and serves that source
//! with the same handler: `metrics-rs` through the `metrics` macros into
//! `promhttp::bridge::metrics_rs::PrometheusRecorder`, `prometheus-client` into a
//! prometheus-client `Registry`; `prometheus` (the default) is the registry above.
//! `--exporter` serves through `promhttp::exporter::Exporter` (to measure what the
//! server layer costs over the bare hyper loop). `--encode-bench` times each stage
//! in process instead and prints one
//! `ENCODE impl=… bytes=… iters=… median_ms=… p90_ms=… min_ms=…` line per stage
//! (with `--mutate`, also one pass alone and a pass followed by an identity render).
//!
//! `--exporter`, `--web-config` and `--bridge` other than `prometheus` need the
//! crate features `exporter` and `bridges` (both default); built with
//! `--no-default-features`, bench-server links neither (no TLS stack, no other
//! library's code), as a service that serves only its registry would be built.
//!
//! SIGTERM or SIGINT stops it: no new connections, scrapes in progress finish
//! (for at most 5 s), exit status 0.

#[path = "../workload.rs"]
mod workload;

#[cfg(feature = "bridges")]
#[path = "../bridge_workload.rs"]
mod bridge_workload;

#[path = "../own_workload.rs"]
mod own_workload;

#[path = "../mutate.rs"]
mod mutate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use promhttp::encode::{encode, EncodeOptions, Format};
use promhttp::gather::{gather_all, normalize, Gathered};
use promhttp::metrics;
use promhttp::prometheus::Registry;
use promhttp::shutdown_signal;
use promhttp::HandlerBuilder;
use promhttp::{Gather, GzipLevel, MetricsHandler};

/// The API the workload is recorded through.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bridge {
    /// The `prometheus` crate's `Registry`.
    Prometheus,
    /// The `metrics` facade into our recorder.
    MetricsRs,
    /// A prometheus-client `Registry`.
    PrometheusClient,
}

impl Bridge {
    fn name(self) -> &'static str {
        match self {
            Bridge::Prometheus => "prometheus",
            Bridge::MetricsRs => "metrics-rs",
            Bridge::PrometheusClient => "prometheus-client",
        }
    }
}

/// Where the `prometheus`-API workload is stored (`--storage`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Storage {
    /// The `prometheus` crate's `Registry`.
    Prometheus,
    /// promhttp's own, `promhttp::metrics::Registry`.
    Promhttp,
}

impl Storage {
    fn name(self) -> &'static str {
        match self {
            Storage::Prometheus => "prometheus",
            Storage::Promhttp => "promhttp",
        }
    }
}

/// What the handler serves.
#[derive(Clone)]
enum Source {
    Prometheus(Registry),
    Own(Arc<metrics::Registry>),
    #[cfg_attr(not(feature = "bridges"), allow(dead_code))]
    Bridge(Arc<dyn Gather>),
}

/// One mutation pass over every series (`--mutate`), numbered from 1.
type Pass = Arc<dyn Fn(u64) + Send + Sync>;

impl Source {
    /// The workload as `args` asks, and its mutation pass if `--mutate` is given.
    fn new(args: &Args) -> Result<(Source, Option<Pass>), String> {
        let series = args.series;
        let keep = |pass: Pass| args.mutate.then_some(pass);
        Ok(match (args.storage, args.bridge) {
            (Storage::Promhttp, _) => {
                let reg = metrics::Registry::new();
                let handles = own_workload::register(&reg, series).map_err(|e| e.to_string())?;
                let pass = keep(Arc::new(move |k| handles.mutate(k)));
                (Source::Own(Arc::new(reg)), pass)
            }
            (Storage::Prometheus, Bridge::Prometheus) => {
                let reg = Registry::new();
                let handles = workload::register(&reg, series).map_err(|e| e.to_string())?;
                let pass = keep(Arc::new(move |k| handles.mutate(k)));
                (Source::Prometheus(reg), pass)
            }
            #[cfg(feature = "bridges")]
            (Storage::Prometheus, Bridge::MetricsRs) => {
                let recorder = bridge_workload::promhttp_recorder();
                bridge_workload::record_metrics_rs(&recorder, series);
                (Source::Bridge(Arc::new(recorder)), None)
            }
            #[cfg(feature = "bridges")]
            (Storage::Prometheus, Bridge::PrometheusClient) => (
                Source::Bridge(Arc::new(bridge_workload::prometheus_client_registry(
                    series,
                ))),
                None,
            ),
            #[cfg(not(feature = "bridges"))]
            (Storage::Prometheus, bridge) => return Err(without("bridges", bridge.name())),
        })
    }

    fn builder(&self) -> HandlerBuilder {
        match self {
            Source::Prometheus(reg) => MetricsHandler::builder(reg.clone()),
            Source::Own(reg) => MetricsHandler::builder(reg.clone()),
            Source::Bridge(g) => MetricsHandler::builder(g.clone()),
        }
    }
}

struct Args {
    port: u16,
    series: usize,
    encode_bench: Option<f64>,
    /// Serve through `promhttp::exporter::Exporter` instead of a bare hyper loop.
    exporter: bool,
    /// Serve through the exporter with this web configuration (TLS, auth).
    #[cfg_attr(not(feature = "exporter"), allow(dead_code))]
    web_config: Option<String>,
    bridge: Bridge,
    storage: Storage,
    /// Change every series between two scrapes.
    mutate: bool,
}

const USAGE: &str = "usage: --port P --series N [--encode-bench SECS] [--exporter] [--web-config FILE] [--bridge prometheus|metrics-rs|prometheus-client] [--storage prometheus|promhttp] [--mutate]";

fn parse_args() -> Result<Args, String> {
    let env = |k: &str| std::env::var(k).ok();
    let mut args = Args {
        port: env("BENCH_PORT")
            .and_then(|v| v.parse().ok())
            .unwrap_or(9100),
        series: env("BENCH_SERIES")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
        encode_bench: None,
        exporter: false,
        web_config: None,
        bridge: Bridge::Prometheus,
        storage: Storage::Prometheus,
        mutate: false,
    };
    parse_list(&mut args, std::env::args().skip(1))?;
    Ok(args)
}

/// Applies the command-line arguments `list` to `args`.
fn parse_list(args: &mut Args, list: impl IntoIterator<Item = String>) -> Result<(), String> {
    let mut it = list.into_iter();
    while let Some(a) = it.next() {
        if a == "--exporter" {
            args.exporter = true;
            continue;
        }
        if a == "--mutate" {
            args.mutate = true;
            continue;
        }
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (a.clone(), None),
        };
        let val = inline
            .or_else(|| it.next())
            .ok_or_else(|| format!("missing value for {key}"))?;
        let bad = || format!("bad value for {key}: {val:?}");
        match key.trim_start_matches('-') {
            "port" => args.port = val.parse().map_err(|_| bad())?,
            "series" => args.series = val.parse().map_err(|_| bad())?,
            "encode-bench" => args.encode_bench = Some(val.parse().map_err(|_| bad())?),
            "web-config" => {
                args.exporter = true;
                args.web_config = Some(val);
            }
            "bridge" => {
                args.bridge = [
                    Bridge::Prometheus,
                    Bridge::MetricsRs,
                    Bridge::PrometheusClient,
                ]
                .into_iter()
                .find(|b| b.name() == val)
                .ok_or_else(bad)?
            }
            "storage" => {
                args.storage = [Storage::Prometheus, Storage::Promhttp]
                    .into_iter()
                    .find(|s| s.name() == val)
                    .ok_or_else(bad)?
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    if args.bridge != Bridge::Prometheus && (args.storage != Storage::Prometheus || args.mutate) {
        return Err(format!(
            "--bridge {} records through another API: --storage promhttp and --mutate need the prometheus one; {USAGE}",
            args.bridge.name()
        ));
    }
    if args.exporter && !cfg!(feature = "exporter") {
        return Err(without("exporter", "--exporter and --web-config"));
    }
    if args.bridge != Bridge::Prometheus && !cfg!(feature = "bridges") {
        return Err(without("bridges", args.bridge.name()));
    }
    if args.mutate && args.exporter {
        return Err(format!(
            "--mutate needs the bare hyper loop, not --exporter or --web-config; {USAGE}"
        ));
    }
    Ok(())
}

/// The error for an option whose code this build left out.
fn without(feature: &str, what: &str) -> String {
    format!("{what}: bench-server was built without the `{feature}` feature; {USAGE}")
}

fn handler(source: &Source) -> MetricsHandler {
    source.builder().openmetrics(true).build()
}

/// Times `f` for up to `secs` (at least 3, at most 2000 runs) after a warm-up run.
fn bench_loop(label: &str, secs: f64, mut f: impl FnMut() -> usize) {
    let bytes = f();
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < 3 || (start.elapsed() < budget && samples.len() < 2000) {
        let t = Instant::now();
        std::hint::black_box(f());
        samples.push(t.elapsed());
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "ENCODE impl={label} bytes={bytes} iters={} median_ms={:.3} p90_ms={:.3} min_ms={:.3}",
        samples.len(),
        ms(samples[samples.len() / 2]),
        ms(samples[(samples.len() * 9 / 10).min(samples.len() - 1)]),
        ms(samples[0])
    );
}

fn encode_bench(source: &Source, bridge: Bridge, pass: Option<&Pass>, secs: f64) {
    let reg = match source {
        Source::Prometheus(reg) => reg,
        Source::Own(reg) => return encode_bench_own(source, reg, pass, secs),
        Source::Bridge(g) => return encode_bench_bridge(source, g.as_ref(), bridge, secs),
    };
    let gathered = || {
        let mut g = Gathered::default();
        reg.gather_into(&mut g);
        normalize(&mut g);
        g
    };
    bench_loop("prometheus-0.14/gather", secs, || reg.gather().len());
    bench_loop("promhttp/gather+model", secs, || gathered().families.len());
    let g = gathered();
    let opts = EncodeOptions::default();
    for (label, format) in [
        ("promhttp/encode-text", Format::Text),
        ("promhttp/encode-openmetrics", Format::OpenMetrics),
        ("promhttp/encode-protobuf", Format::Protobuf),
    ] {
        let mut buf = Vec::new();
        bench_loop(label, secs, || {
            buf.clear();
            encode(format, &g.families, &opts, &mut buf);
            buf.len()
        });
    }
    handler_bench("promhttp", source, secs);
    if let Some(pass) = pass {
        mutate_bench("promhttp", source, pass, secs);
    }
}

/// The stages of promhttp's own storage: its families write the page straight into
/// the handler's output, so the model (what push and remote write take) is a
/// separate path.
fn encode_bench_own(source: &Source, reg: &metrics::Registry, pass: Option<&Pass>, secs: f64) {
    bench_loop("promhttp-own/gather+model", secs, || {
        gather_all(reg).families.len()
    });
    handler_bench("promhttp-own", source, secs);
    if let Some(pass) = pass {
        mutate_bench("promhttp-own", source, pass, secs);
    }
}

/// With `--mutate`: one pass over every series alone, then a pass followed by an
/// identity render (the CPU of one scrape of a server where everything changed).
fn mutate_bench(prefix: &str, source: &Source, pass: &Pass, secs: f64) {
    let mut k = 0;
    bench_loop(&format!("{prefix}/mutation-pass"), secs, || {
        k += 1;
        pass(k);
        0
    });
    let h = handler(source);
    let req = Request::get("/metrics")
        .header("accept-encoding", "identity")
        .body(())
        .unwrap_or_default();
    bench_loop(
        &format!("{prefix}/mutation-pass+handler-text-identity"),
        secs,
        || {
            k += 1;
            pass(k);
            content_length(&h.respond_blocking(&req))
        },
    );
}

/// The stages of a bridged source: gather into the model (the bridge's whole
/// work), then the same encoders and handler as for the prometheus crate.
fn encode_bench_bridge(source: &Source, g: &dyn Gather, bridge: Bridge, secs: f64) {
    let prefix = format!("promhttp-{}", bridge.name());
    bench_loop(&format!("{prefix}/gather+model"), secs, || {
        gather_all(g).families.len()
    });
    let page = gather_all(g);
    let opts = EncodeOptions::default();
    let mut buf = Vec::new();
    bench_loop(&format!("{prefix}/encode-text"), secs, || {
        buf.clear();
        encode(Format::Text, &page.families, &opts, &mut buf);
        buf.len()
    });
    handler_bench(&prefix, source, secs);
}

/// The whole handler render: gzip level 6, then identity, gzip (level 1) and, with
/// the feature `zstd`, zstd.
fn handler_bench(prefix: &str, source: &Source, secs: f64) {
    // Checked at compile time: `GzipLevel::new` is a `const fn`.
    const LEVEL_6: GzipLevel = match GzipLevel::new(6) {
        Ok(level) => level,
        Err(_) => panic!("6 is a gzip level"),
    };
    let gzip6 = source
        .builder()
        .openmetrics(true)
        .gzip_level(LEVEL_6)
        .build();
    let req = Request::get("/metrics")
        .header("accept-encoding", "gzip")
        .body(())
        .unwrap_or_default();
    bench_loop(&format!("{prefix}/handler-text-gzip-level6"), secs, || {
        content_length(&gzip6.respond_blocking(&req))
    });
    let h = handler(source);
    let codings = [
        ("handler-text-identity", "identity"),
        ("handler-text-gzip", "gzip"),
        #[cfg(feature = "zstd")]
        ("handler-text-zstd", "zstd"),
    ];
    for (label, ae) in codings {
        let req = Request::get("/metrics")
            .header("accept-encoding", ae)
            .body(())
            .unwrap_or_default();
        bench_loop(&format!("{prefix}/{label}"), secs, || {
            content_length(&h.respond_blocking(&req))
        });
    }
}

fn content_length<B>(r: &http::Response<B>) -> usize {
    r.headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-server: {e}");
            std::process::exit(2);
        }
    };
    let (source, pass) = match Source::new(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench-server: registering the workload: {e}");
            std::process::exit(1);
        }
    };
    if let Some(secs) = args.encode_bench {
        encode_bench(&source, args.bridge, pass.as_ref(), secs);
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-server: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(serve(source, pass, args));
}

async fn serve(source: Source, pass: Option<Pass>, args: Args) {
    #[cfg(feature = "exporter")]
    if args.exporter {
        let mut builder = promhttp::exporter::ExporterBuilder::with_handler(handler(&source))
            .listen_address(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)));
        if let Some(file) = &args.web_config {
            builder = builder.web_config_file(file);
        }
        let exporter = builder.drain_timeout(DRAIN_TIMEOUT).start().await;
        match exporter {
            Ok(h) => {
                eprintln!(
                    "bench-server: exporter on http://{}/metrics",
                    h.local_addr()
                );
                shutdown_signal().await;
                if let Err(e) = h.shutdown().await {
                    eprintln!("bench-server: {e}");
                    std::process::exit(1);
                }
            }
            Err(e) => {
                eprintln!("bench-server: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench-server: binding 127.0.0.1:{}: {e}", args.port);
            std::process::exit(1);
        }
    };
    let mut app = axum::Router::new().route_service("/metrics", handler(&source));
    if let Some(pass) = pass {
        match mutate::Mutator::start(move |k| pass(k)) {
            Ok(mutator) => {
                app = app.route_layer(axum::middleware::from_fn_with_state(mutator, mutate::layer))
            }
            Err(e) => {
                eprintln!("bench-server: starting the mutator thread: {e}");
                std::process::exit(1);
            }
        }
    }
    eprintln!(
        "bench-server: listening on http://127.0.0.1:{}/metrics (series target {}, samples {}, through {}, storage {}{})",
        args.port,
        args.series,
        workload::paths(args.series) * workload::SERIES_PER_PATH,
        args.bridge.name(),
        args.storage.name(),
        if args.mutate { ", mutating" } else { "" }
    );
    // HTTP/1.1 only, as the peers serve (no HTTP/2 code linked).
    let builder = hyper::server::conn::http1::Builder::new();
    let graceful = GracefulShutdown::new();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        let tcp = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    eprintln!("bench-server: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let conn = builder.serve_connection(TokioIo::new(tcp), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    // Idle connections close at once, scrapes in progress finish; the rest are
    // dropped with the runtime after the drain timeout.
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("bench-server: connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// How long a stop waits for scrapes in progress.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn args(series: usize, storage: Storage, mutate: bool) -> Args {
        Args {
            port: 0,
            series,
            encode_bench: None,
            exporter: false,
            web_config: None,
            bridge: Bridge::Prometheus,
            storage,
            mutate,
        }
    }

    fn page(source: &Source, accept: &str, encoding: &str) -> Vec<u8> {
        let req = Request::get("/metrics")
            .header("accept", accept)
            .header("accept-encoding", encoding)
            .body(())
            .unwrap();
        let r = handler(source).respond_blocking(&req);
        assert_eq!(r.status(), http::StatusCode::OK);
        let body = r.into_body();
        let bytes = body_bytes(body);
        if encoding == "gzip" {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
                .unwrap();
            out
        } else {
            bytes
        }
    }

    /// The bytes of a complete body (a `Full` is ready at once).
    fn body_bytes(body: promhttp::MetricsBody) -> Vec<u8> {
        use hyper::body::Body;
        let mut body = std::pin::pin!(body);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut out = Vec::new();
        while let std::task::Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
            if let Ok(data) = frame.unwrap().into_data() {
                out.extend_from_slice(&data);
            }
        }
        out
    }

    /// `(series key, value)` of every sample line, in page order.
    fn samples(page: &[u8]) -> Vec<(String, f64)> {
        std::str::from_utf8(page)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (key, value) = l.rsplit_once(' ').unwrap();
                (key.to_owned(), value.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn both_storages_serve_the_same_bytes() {
        for series in [1_000, 10_000] {
            let (theirs, _) = Source::new(&args(series, Storage::Prometheus, false)).unwrap();
            let (ours, _) = Source::new(&args(series, Storage::Promhttp, false)).unwrap();
            for encoding in ["identity", "gzip"] {
                let a = page(&theirs, "*/*", encoding);
                let b = page(&ours, "*/*", encoding);
                assert_eq!(samples(&a).len(), workload::paths(series) * 33);
                assert!(a == b, "{series} series, {encoding}: the pages differ");
            }
        }
    }

    #[test]
    fn a_pass_changes_every_series_alike_in_both_storages() {
        let (theirs, their_pass) = Source::new(&args(1_000, Storage::Prometheus, true)).unwrap();
        let (ours, our_pass) = Source::new(&args(1_000, Storage::Promhttp, true)).unwrap();
        let (their_pass, our_pass) = (their_pass.unwrap(), our_pass.unwrap());
        let before = samples(&page(&ours, "*/*", "identity"));
        for k in 1..=13 {
            their_pass(k);
            our_pass(k);
            let a = page(&theirs, "*/*", "identity");
            let b = page(&ours, "*/*", "identity");
            assert!(a == b, "pass {k}: the pages differ");
            let after = samples(&b);
            assert_eq!(after.len(), before.len());
            for ((key, old), (key_after, new)) in before.iter().zip(&after) {
                assert_eq!(key, key_after);
                if key.contains("_bucket{") {
                    // A bucket gains the passes whose observation it holds.
                    assert!(new >= old, "{key}: {old} -> {new}");
                    continue;
                }
                assert_ne!(old, new, "{key} did not change in pass {k}");
                if !key.contains("_sum{") {
                    // Counters and _count gain 1 per pass, gauges are set to
                    // their workload value + k.
                    assert_eq!(*new, old + k as f64, "{key} after pass {k}");
                }
            }
        }
        // After 13 passes every bucket, +Inf included, holds at least one more.
        let after = samples(&page(&ours, "*/*", "identity"));
        for ((key, old), (_, new)) in before.iter().zip(&after) {
            assert!(new > old, "{key}: {old} -> {new}");
        }
    }

    #[test]
    fn promhttp_storage_needs_the_prometheus_api() {
        let parse = |list: &[&str]| {
            let mut a = args(10, Storage::Prometheus, false);
            parse_list(&mut a, list.iter().map(|s| s.to_string())).map(|()| a)
        };
        let a = parse(&["--storage", "promhttp", "--mutate"]).unwrap();
        assert_eq!((a.storage, a.mutate), (Storage::Promhttp, true));
        assert!(parse(&["--storage=nope"]).is_err());
        assert!(parse(&["--storage", "promhttp", "--bridge", "metrics-rs"]).is_err());
        assert!(parse(&["--mutate", "--bridge", "prometheus-client"]).is_err());
        assert!(parse(&["--mutate", "--exporter"]).is_err());
    }

    /// Over HTTP, through the middleware: each scrape shows every series changed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mutating_server_changes_every_series_between_scrapes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (source, pass) = Source::new(&args(1_000, Storage::Promhttp, true)).unwrap();
        let pass = pass.unwrap();
        let mutator = mutate::Mutator::start(move |k| pass(k)).unwrap();
        let app = axum::Router::new()
            .route_service("/metrics", handler(&source))
            .route_layer(axum::middleware::from_fn_with_state(mutator, mutate::layer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let mut pages = Vec::new();
        for _ in 0..3 {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut raw = Vec::new();
            tcp.read_to_end(&mut raw).await.unwrap();
            let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            assert!(raw.starts_with(b"HTTP/1.1 200"));
            pages.push(samples(&raw[at + 4..]));
        }
        server.abort();
        let first = &pages[0];
        // The first page is the workload as registered.
        let (registered, _) = Source::new(&args(1_000, Storage::Promhttp, false)).unwrap();
        assert_eq!(*first, samples(&page(&registered, "*/*", "identity")));
        for (k, later) in pages.iter().enumerate().skip(1) {
            for ((key, old), (_, new)) in pages[k - 1].iter().zip(later) {
                if !key.contains("_bucket{") {
                    assert_ne!(old, new, "{key} did not change before scrape {k}");
                }
            }
        }
    }
}
