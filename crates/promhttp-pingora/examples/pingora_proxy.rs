//! A Pingora reverse proxy with Prometheus metrics served by promhttp.
//!
//! ```text
//! cargo run --release -p promhttp-pingora --example pingora-proxy -- \
//!     --listen 127.0.0.1:6188 --upstream 127.0.0.1:8080 --metrics 127.0.0.1:6192
//! curl -s 127.0.0.1:6188/            # proxied to the upstream
//! curl -s 127.0.0.1:6192/metrics     # the proxy's metrics
//! ```
//!
//! The proxy counts every request in `request_filter` (a plain counter and one by
//! method) and observes the upstream's latency in `logging` (a histogram by status
//! code). The metrics live in the `prometheus` crate's default registry, which the
//! metrics service serves together with promhttp's own handler metrics.

use std::net::SocketAddr;
use std::time::Instant;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use promhttp::prometheus::{
    self, register_histogram_vec, register_int_counter, register_int_counter_vec, HistogramVec,
    IntCounter, IntCounterVec,
};

const USAGE: &str = "usage: pingora-proxy [--listen ADDR] [--upstream ADDR] [--metrics ADDR]
  --listen ADDR    where the proxy listens (default 127.0.0.1:6188)
  --upstream ADDR  the HTTP server requests are sent to (default 127.0.0.1:8080)
  --metrics ADDR   where /metrics is served (default 127.0.0.1:6192)";

struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    metrics: SocketAddr,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: "127.0.0.1:6188".parse().map_err(|e| format!("{e}"))?,
        upstream: "127.0.0.1:8080".parse().map_err(|e| format!("{e}"))?,
        metrics: "127.0.0.1:6192".parse().map_err(|e| format!("{e}"))?,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.clone(), None),
        };
        let slot = match name.as_str() {
            "--listen" => &mut args.listen,
            "--upstream" => &mut args.upstream,
            "--metrics" => &mut args.metrics,
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {flag:?}")),
        };
        let value = inline
            .or_else(|| it.next())
            .ok_or_else(|| format!("{name} needs an address"))?;
        *slot = value
            .parse()
            .map_err(|e| format!("{name} {value:?}: {e}"))?;
    }
    Ok(args)
}

/// The proxy's own metrics, registered in the default registry.
struct ProxyMetrics {
    /// Every request the proxy received (a metric without labels).
    requests: IntCounter,
    /// Requests by method; methods outside the usual set are counted as "other"
    /// so a client cannot create series at will.
    requests_by_method: IntCounterVec,
    /// Time from choosing the upstream to the end of the exchange, by status code.
    upstream_seconds: HistogramVec,
}

impl ProxyMetrics {
    fn register() -> prometheus::Result<Self> {
        Ok(ProxyMetrics {
            requests: register_int_counter!(
                "pingora_proxy_requests_total",
                "Requests received by the proxy."
            )?,
            requests_by_method: register_int_counter_vec!(
                "pingora_proxy_requests_by_method_total",
                "Requests received by the proxy, by method.",
                &["method"]
            )?,
            upstream_seconds: register_histogram_vec!(
                "pingora_proxy_upstream_duration_seconds",
                "Time spent on the upstream exchange, by the status code sent downstream.",
                &["code"],
                vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
            )?,
        })
    }
}

fn method_label(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "get",
        "HEAD" => "head",
        "POST" => "post",
        "PUT" => "put",
        "DELETE" => "delete",
        "PATCH" => "patch",
        "OPTIONS" => "options",
        _ => "other",
    }
}

struct Proxy {
    upstream: SocketAddr,
    metrics: ProxyMetrics,
}

/// Per request: when the upstream was chosen.
#[derive(Default)]
struct Ctx {
    upstream_started: Option<Instant>,
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn request_filter(&self, session: &mut Session, _ctx: &mut Ctx) -> Result<bool> {
        self.metrics.requests.inc();
        self.metrics
            .requests_by_method
            .with_label_values(&[method_label(&session.req_header().method)])
            .inc();
        Ok(false)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut Ctx) {
        let Some(started) = ctx.upstream_started else {
            return;
        };
        let code = match (error, session.response_written()) {
            (None, Some(resp)) => resp.status.as_str().to_owned(),
            _ => "error".to_owned(),
        };
        self.metrics
            .upstream_seconds
            .with_label_values(&[code.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("pingora-proxy: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let metrics = match ProxyMetrics::register() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("pingora-proxy: registering metrics: {e}");
            std::process::exit(1);
        }
    };

    let conf = ServerConf {
        // Stop quickly on SIGTERM: this is a demo, not a fleet draining connections.
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut proxy = http_proxy_service(
        &server.configuration,
        Proxy {
            upstream: args.upstream,
            metrics,
        },
    );
    proxy.add_tcp(&args.listen.to_string());
    server.add_service(proxy);

    let mut metrics_service = promhttp_pingora::metrics_service();
    metrics_service.add_tcp(&args.metrics.to_string());
    server.add_service(metrics_service);

    tracing::info!(
        "proxying {} -> {}; metrics on http://{}/metrics",
        args.listen,
        args.upstream,
        args.metrics
    );
    server.run_forever();
}
