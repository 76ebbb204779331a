//! The standalone exporter: a hardened `/metrics` server beside your application.
//!
//! [`Exporter`] binds its own listener and serves, with one call:
//!
//! | path | `GET`/`HEAD` | other methods |
//! |---|---|---|
//! | the metrics path (default `/metrics`) | the [`MetricsHandler`](crate::MetricsHandler) | `405` |
//! | `/` | a landing page: name, version, a link to the metrics path | `405` |
//! | `/-/healthy`, `/-/ready` | `200 OK` | `405` |
//! | anything else | `404` | `404` |
//!
//! over HTTP/1.1 and HTTP/2 (h2c, or ALPN under TLS), and holds up against a
//! hostile network. Every limit has a default, and nothing a client sends can make
//! it panic, hold memory or connections without bound, or delay its shutdown:
//!
//! | what a client might do | what bounds it (default) |
//! |---|---|
//! | send nothing, trickle its headers (slowloris), hold half a TLS handshake or HTTP/2 preface | [`header_read_timeout`](ExporterBuilder::header_read_timeout) (10 s) |
//! | keep a connection open with no request in progress (HTTP/1 keep-alive, HTTP/2 with no stream, however often it pings) | [`idle_timeout`](ExporterBuilder::idle_timeout) (10 s) |
//! | stop reading, or keep its HTTP/2 flow-control window shut | [`write_timeout`](ExporterBuilder::write_timeout) (30 s without progress) |
//! | read a page a few bytes at a time | [`response_timeout`](ExporterBuilder::response_timeout) (60 s per response) |
//! | open many connections | [`max_connections`](ExporterBuilder::max_connections) (256): at the cap, the longest-idle connection makes room; optional [`max_connections_per_peer`](ExporterBuilder::max_connections_per_peer) |
//! | ask for many pages at once on HTTP/2 | [`max_scrapes_per_connection`](ExporterBuilder::max_scrapes_per_connection) (1), [`http2_max_concurrent_streams`](ExporterBuilder::http2_max_concurrent_streams) (8), and [`max_unsent_bytes`](ExporterBuilder::max_unsent_bytes) (256 MiB of pages not yet sent) |
//! | send huge headers | [`max_header_bytes`](ExporterBuilder::max_header_bytes) (64 KiB, `431`, counted the same on every transport) |
//! | send `X-Prometheus-Scrape-Timeout-Seconds: 1e19` | the handler's deadline rule: any value is safe |
//!
//! Graceful shutdown: on [`ExporterHandle::shutdown`] (or the future given to
//! [`ExporterBuilder::graceful_shutdown`] or [`ExporterBuilder::run`], such as
//! [`shutdown_signal()`](crate::shutdown_signal) for `SIGTERM` and `SIGINT`) it
//! stops accepting, lets scrapes in flight finish within the drain timeout, then
//! closes every connection. The handle's verbs are those of every running thing
//! in this crate: `shutdown(self).await` stops and waits, `wait(self).await` waits
//! for the end, `detach(self)` lets it run, and dropping it stops it without
//! waiting.
//!
//! Hooks keep values fresh: [`on_scrape`](ExporterBuilder::on_scrape) runs before
//! every scrape (the scrape waits for it, within its deadline; a failing or
//! panicking hook is logged and counted in `promhttp_exporter_hook_failures_total`
//! when instrumented, and the scrape is still answered), and
//! [`update_every`](ExporterBuilder::update_every) runs on an interval.
//!
//! ```no_run
//! # async fn run() -> Result<(), promhttp::exporter::ExporterError> {
//! use promhttp::exporter::Exporter;
//! use promhttp::prometheus::Registry;
//!
//! let registry = Registry::new();
//! let handle = Exporter::builder(registry)
//!     .listen_address("127.0.0.1:9898")
//!     .start()
//!     .await?;
//! println!("serving on {}", handle.local_addr());
//! handle.shutdown().await
//! # }
//! ```
//!
//! ## What it logs
//!
//! Through [`tracing`](https://docs.rs/tracing): the address it listens on and its
//! shutdown at `info`; failing hooks, refused logins, failed TLS handshakes,
//! pages refused by the unsent-page budget and connections left at the drain
//! timeout at `warn`; each connection it closes, and why, at `debug`. Nothing is
//! printed without a subscriber: install one (`tracing_subscriber::fmt().init()`,
//! as the demo does) to see them.
//!
//! Programs that are not async use [`ExporterBuilder::start_blocking`], which runs
//! the server on its own thread and runtime.

mod activity;
mod address;
mod body;
mod builder;
mod conn;
mod error;
mod handle;
mod hooks;
mod io;
mod limits;
mod prepare;
mod routes;
mod security;
mod server;
mod slots;
#[cfg(feature = "web-config")]
pub mod web_config;

use std::num::NonZeroUsize;
use std::time::Duration;

pub use address::ListenAddress;
pub use builder::{Exporter, ExporterBuilder};
pub use error::ExporterError;
pub use handle::{BlockingExporter, ExporterHandle};

/// The landing page served at `/`.
#[derive(Clone, Debug)]
pub struct LandingPage {
    /// The service name, the page's title.
    pub name: String,
    /// One line about the service.
    pub description: String,
    /// The service version.
    pub version: String,
}

impl Default for LandingPage {
    fn default() -> Self {
        LandingPage {
            name: "promhttp exporter".to_owned(),
            description: "Prometheus metrics served by promhttp.".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Default header-read timeout: how long a client may take to send a request's
/// headers (or its TLS handshake, or its first bytes).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may have no request in progress before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a response may make no progress (a client that stopped reading)
/// before the connection is closed.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default longest time one response may take to send.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on concurrent scrapes of [`Exporter::builder`] (`503` beyond): 40.
pub const DEFAULT_MAX_REQUESTS_IN_FLIGHT: NonZeroUsize = match NonZeroUsize::new(40) {
    Some(n) => n,
    None => unreachable!(),
};
/// Default cap on concurrent connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default time scrapes in flight get to finish on shutdown.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit on the size of a request's header block, in bytes.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// The smallest header limit accepted (hyper's smallest read buffer).
pub const MIN_HEADER_BYTES: usize = 8 * 1024;
/// The largest header limit accepted.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// Default budget for pages held by responses not yet sent, in bytes.
pub const DEFAULT_MAX_UNSENT_BYTES: usize = 256 * 1024 * 1024;
/// Default number of scrapes one connection may have in progress.
pub const DEFAULT_MAX_SCRAPES_PER_CONNECTION: NonZeroUsize = NonZeroUsize::MIN;
/// Default HTTP/2 streams one connection may have open at once.
pub const DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS: u32 = 8;
/// Default time a scrape waits for the `on_scrape` hook at most.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves once a stop was asked for, or the handle asking is gone.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests;
