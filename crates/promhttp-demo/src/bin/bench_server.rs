//! The scrape benchmark server: the workload in a `prometheus::Registry`, served by
//! promhttp's handler (OpenMetrics on; identity, gzip and zstd offered; no
//! self-instrumentation) on `127.0.0.1:P/metrics`, HTTP/1.1 with keep-alive.
//!
//! ```text
//! bench-server --port P --series N [--encode-bench SECS] [--exporter] [--web-config FILE]
//!              [--bridge prometheus|metrics-rs|prometheus-client]
//! ```
//! `--bridge` records the same series through another API and serves that source
//! with the same handler: `metrics-rs` through the `metrics` macros into
//! `promhttp::bridge::metrics_rs::PrometheusRecorder`, `prometheus-client` into a
//! prometheus-client `Registry`; `prometheus` (the default) is the registry above.
//! `--exporter` serves through `promhttp::exporter::Exporter` (to measure what the
//! server layer costs over the bare hyper loop). `--encode-bench` times each stage
//! in process instead and prints one
//! `ENCODE impl=… bytes=… iters=… median_ms=… p90_ms=… min_ms=…` line per stage.
//!
//! SIGTERM or SIGINT stops it: no new connections, scrapes in progress finish
//! (for at most 5 s), exit status 0.

#[path = "../workload.rs"]
mod workload;

#[path = "../bridge_workload.rs"]
mod bridge_workload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use promhttp::encode::{encode, EncodeOptions, Format};
use promhttp::gather::{gather_all, normalize, Gathered};
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

/// What the handler serves.
#[derive(Clone)]
enum Source {
    Prometheus(Registry),
    Bridge(Arc<dyn Gather>),
}

impl Source {
    fn new(bridge: Bridge, series: usize) -> Result<Source, String> {
        Ok(match bridge {
            Bridge::Prometheus => {
                let reg = Registry::new();
                workload::register(&reg, series).map_err(|e| e.to_string())?;
                Source::Prometheus(reg)
            }
            Bridge::MetricsRs => {
                let recorder = bridge_workload::promhttp_recorder();
                bridge_workload::record_metrics_rs(&recorder, series);
                Source::Bridge(Arc::new(recorder))
            }
            Bridge::PrometheusClient => Source::Bridge(Arc::new(
                bridge_workload::prometheus_client_registry(series),
            )),
        })
    }

    fn builder(&self) -> HandlerBuilder {
        match self {
            Source::Prometheus(reg) => MetricsHandler::builder(reg.clone()),
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
    web_config: Option<String>,
    bridge: Bridge,
}

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
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--exporter" {
            args.exporter = true;
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
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: --port P --series N [--encode-bench SECS] [--exporter] [--web-config FILE] [--bridge prometheus|metrics-rs|prometheus-client]"
                ))
            }
        }
    }
    Ok(args)
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

fn encode_bench(source: &Source, bridge: Bridge, secs: f64) {
    let reg = match source {
        Source::Prometheus(reg) => reg,
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

/// The whole handler render: gzip level 6, then identity, gzip (level 1) and zstd.
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
    for (label, ae) in [
        ("handler-text-identity", "identity"),
        ("handler-text-gzip", "gzip"),
        ("handler-text-zstd", "zstd"),
    ] {
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
    let source = match Source::new(args.bridge, args.series) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench-server: registering the workload: {e}");
            std::process::exit(1);
        }
    };
    if let Some(secs) = args.encode_bench {
        encode_bench(&source, args.bridge, secs);
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
    rt.block_on(serve(source, args));
}

async fn serve(source: Source, args: Args) {
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
    let app = axum::Router::new().route_service("/metrics", handler(&source));
    eprintln!(
        "bench-server: listening on http://127.0.0.1:{}/metrics (series target {}, samples {}, through {})",
        args.port,
        args.series,
        workload::paths(args.series) * workload::SERIES_PER_PATH,
        args.bridge.name()
    );
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
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
        let conn = builder
            .serve_connection(TokioIo::new(tcp), svc)
            .into_owned();
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
