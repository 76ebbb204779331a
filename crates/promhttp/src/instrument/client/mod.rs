//! HTTP client instrumentation (Go's `promhttp.InstrumentRoundTripper*` and
//! `InstrumentTrace`): a tower layer for HTTP clients, and a connector for
//! hyper-util's legacy client that times DNS resolution and TCP connects.
//!
//! A [`ClientMetrics`] holds the values, in the same store as the server's
//! [`HttpMetrics`](super::HttpMetrics), and is a [`Gather`] source for
//! [`MetricsHandler`](crate::MetricsHandler).
//!
//! # The metrics
//!
//! | preset name | type | labels | observed |
//! |---|---|---|---|
//! | `http_client_requests_total` | counter | `method`, `code` | once per round trip, when the response head arrives or the round trip fails |
//! | `http_client_request_duration_seconds` | histogram | `method`, `code` | from the call until the response head arrived (or the error) |
//! | `http_client_requests_in_flight` | gauge | (constant labels only) | up at the call, down when the response head arrives, on error, or when the response future is dropped |
//! | `http_client_dns_duration_seconds` | histogram | `result` | each name resolution made by [`InstrumentedConnector`] |
//! | `http_client_connect_duration_seconds` | histogram | `result` | each new connection made by [`InstrumentedConnector`], without the DNS time |
//! | `http_client_tls_handshake_duration_seconds` | histogram | `result` | each TLS handshake made by `tls::InstrumentedTlsConnector` (feature `web-config`; the family is present only with it) |
//!
//! Constant labels ([`const_label`](ClientMetricsBuilder::const_label)) are on all of
//! them.
//!
//! - `method` is sanitized as on the server: the standard methods in all-upper or
//!   all-lower case, opt-in [`extra_methods`](ClientMetricsBuilder::extra_methods),
//!   otherwise `unknown`.
//! - `code` is the response status (`100`–`599`, else `unknown`), or `error` when the
//!   inner service returned an error (connection refused, DNS failure, timeout, …).
//!   Go's `InstrumentRoundTripperCounter` counts nothing for a failed round trip;
//!   here failures are counted, with the one bounded value `error`, so that an error
//!   rate can be computed from one counter.
//! - `result` is `ok` or `error`.
//!
//! The duration ends at the response head, as in Go (`RoundTrip` returns when the
//! headers have been read): the body is the caller's to read, possibly never. It is
//! also the time to the first response byte (Go's `GotFirstResponseByte` trace
//! hook), give or take the parsing of the head, so there is no separate metric for
//! it. A response future dropped before the head arrived (a cancelled request)
//! records nothing and leaves the in-flight gauge as it was before the call.
//!
//! TLS handshakes are timed by `tls::InstrumentedTlsConnector` (feature
//! `web-config`: rustls with ring). Another TLS connector (for example
//! `hyper-rustls`) wrapping the [`InstrumentedConnector`] still gets DNS and TCP
//! connect times, but no handshake times.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use http_body_util::Empty;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use promhttp::instrument::client::{ClientMetrics, InstrumentedConnector};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let metrics = ClientMetrics::new();
//! let client = Client::builder(TokioExecutor::new())
//!     .build::<_, Empty<bytes::Bytes>>(InstrumentedConnector::new(&metrics));
//! let client = ServiceBuilder::new().layer(metrics.layer()).service(client);
//!
//! let request = http::Request::get("http://localhost:8080/").body(Empty::new())?;
//! let response = client.oneshot(request).await?;
//! # let _ = response;
//! // Serve the metrics, alone or beside others.
//! let handler = promhttp::MetricsHandler::builder(metrics).build();
//! # let _ = handler;
//! # Ok(())
//! # }
//! ```

mod connect;
mod service;

#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "web-config")]
pub mod tls;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use connect::{ConnectFuture, InstrumentedConnector, ResolveFuture, TimedResolver};
pub use service::{ClientInstrumentLayer, ClientInstrumentService, ClientResponseFuture};
#[cfg(feature = "web-config")]
pub use tls::InstrumentedTlsConnector;

use super::builder::{check_buckets, ConfigError, DEFAULT_DURATION_BUCKETS};
use super::labels::{Interner, Methods, STANDARD_METHODS};
use super::store::{HistKind, HistSpec, LabelSource, Store, HIST_KINDS};
use crate::gather::{Gather, Gathered};
use crate::model::{is_valid_label_name, is_valid_metric_name};

/// Bucket bounds for DNS and connect durations, in seconds: 1 ms to 10 s.
pub const DEFAULT_CONNECT_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A set of HTTP client metrics and their values (see the [module docs](self)).
///
/// Cheap to clone; clones share the values.
///
/// ```
/// use promhttp::instrument::client::ClientMetrics;
///
/// let metrics = ClientMetrics::builder()
///     .const_label("upstream", "billing")
///     .build()?;
/// let layer = metrics.layer();
/// # let _ = layer;
/// assert_eq!(metrics.in_flight(), 0);
/// # Ok::<(), promhttp::instrument::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ClientMetrics {
    pub(crate) shared: Arc<Shared>,
}

/// The stores: round trips (`method`, `code`), and the connector's histograms
/// (`result`).
pub(crate) struct Shared {
    pub requests: Store,
    pub dns: Store,
    pub connect: Store,
    #[cfg(feature = "web-config")]
    pub tls: Store,
}

impl ClientMetrics {
    /// The preset, `ClientMetrics::builder().build()`: the metrics of the
    /// [module docs](self), no constant labels.
    ///
    /// ```
    /// use promhttp::instrument::client::ClientMetrics;
    ///
    /// let metrics = ClientMetrics::new();
    /// let handler = promhttp::MetricsHandler::builder(metrics.clone()).build();
    /// # let _ = handler;
    /// ```
    pub fn new() -> Self {
        match ClientMetrics::builder().build() {
            Ok(m) => m,
            // The preset is a constant configuration, checked by the tests.
            Err(e) => unreachable!("the client preset configuration is valid: {e}"),
        }
    }

    /// A builder starting from the preset ([`new`](Self::new)): every setter changes
    /// one thing of it.
    pub fn builder() -> ClientMetricsBuilder {
        ClientMetricsBuilder::preset()
    }

    /// The layer that instruments a client service with these metrics.
    pub fn layer(&self) -> ClientInstrumentLayer {
        ClientInstrumentLayer::new(self.clone())
    }

    /// The round trips under way now.
    pub fn in_flight(&self) -> i64 {
        self.shared.requests.in_flight_value.load(Ordering::Relaxed)
    }
}

impl Default for ClientMetrics {
    fn default() -> Self {
        ClientMetrics::new()
    }
}

impl fmt::Debug for ClientMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMetrics")
            .field("series", &self.shared.requests.series())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Gather for ClientMetrics {
    fn gather_into(&self, out: &mut Gathered) {
        self.shared.requests.gather_into(out);
        self.shared.dns.gather_into(out);
        self.shared.connect.gather_into(out);
        #[cfg(feature = "web-config")]
        self.shared.tls.gather_into(out);
    }
}

/// Builds [`ClientMetrics`]; starts from the preset, every knob states its default.
#[must_use]
#[derive(Clone, Debug)]
pub struct ClientMetricsBuilder {
    prefix: String,
    const_labels: Vec<(String, String)>,
    extra_methods: Vec<String>,
    duration_buckets: Vec<f64>,
    connect_buckets: Vec<f64>,
}

impl ClientMetricsBuilder {
    /// The preset; [`ClientMetrics::builder`] starts here.
    fn preset() -> Self {
        ClientMetricsBuilder {
            prefix: "http_client".to_owned(),
            const_labels: Vec::new(),
            extra_methods: Vec::new(),
            duration_buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            connect_buckets: DEFAULT_CONNECT_BUCKETS.to_vec(),
        }
    }

    /// The start of every metric name (`{prefix}_requests_total`, …). Default:
    /// `http_client`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// A label with the same value on every metric (say, the upstream's name, so
    /// that several clients can share one page). Default: none.
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// Methods, besides the standard ones, that keep their own `method` value.
    /// Default: none.
    pub fn extra_methods<S: Into<String>>(mut self, methods: impl IntoIterator<Item = S>) -> Self {
        self.extra_methods
            .extend(methods.into_iter().map(Into::into));
        self
    }

    /// Bucket bounds of the round-trip duration. Default: [`DEFAULT_DURATION_BUCKETS`].
    pub fn duration_buckets(mut self, buckets: impl IntoIterator<Item = f64>) -> Self {
        self.duration_buckets = buckets.into_iter().collect();
        self
    }

    /// Bucket bounds of the DNS, connect and TLS handshake durations. Default:
    /// [`DEFAULT_CONNECT_BUCKETS`].
    pub fn connect_buckets(mut self, buckets: impl IntoIterator<Item = f64>) -> Self {
        self.connect_buckets = buckets.into_iter().collect();
        self
    }

    /// Checks the configuration and makes the metrics.
    pub fn build(self) -> Result<ClientMetrics, ConfigError> {
        let p = &self.prefix;
        let name = |suffix: &str| -> Result<Arc<str>, ConfigError> {
            let n = format!("{p}_{suffix}");
            if !is_valid_metric_name(&n) {
                return Err(ConfigError::new(format!(
                    "prefix {p:?}: invalid metric name {n:?}"
                )));
            }
            Ok(Arc::from(n))
        };
        let mut const_labels: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (n, v) in &self.const_labels {
            if !is_valid_label_name(n) {
                return Err(ConfigError::new(format!("invalid label name {n:?}")));
            }
            if ["le", "method", "code", "result"].contains(&n.as_str()) {
                return Err(ConfigError::new(format!(
                    "constant label {n:?} clashes with a label of the client metrics"
                )));
            }
            if const_labels.iter().any(|(p, _)| **p == **n) {
                return Err(ConfigError::new(format!("label {n:?} is defined twice")));
            }
            const_labels.push((Arc::from(n.as_str()), Arc::from(v.as_str())));
        }
        const_labels.sort_by(|a, b| a.0.cmp(&b.0));

        let mut extra: Vec<Arc<str>> = Vec::new();
        for m in &self.extra_methods {
            let lower = m.to_ascii_lowercase();
            if m.is_empty() || http::Method::from_bytes(m.as_bytes()).is_err() {
                return Err(ConfigError::new(format!(
                    "extra method {m:?} is not a method token"
                )));
            }
            if lower == "unknown" {
                return Err(ConfigError::new(
                    "extra method \"unknown\" would be confused with unknown methods",
                ));
            }
            if STANDARD_METHODS.contains(&lower.as_str()) || extra.iter().any(|e| **e == *lower) {
                continue;
            }
            extra.push(Arc::from(lower));
        }
        if extra.len() > 1000 {
            return Err(ConfigError::new("more than 1000 extra methods"));
        }

        let consts = || -> Vec<(Arc<str>, LabelSource)> {
            const_labels
                .iter()
                .map(|(n, v)| (n.clone(), LabelSource::Const(v.clone())))
                .collect()
        };
        let duration = name("request_duration_seconds")?;
        let duration_bounds = check_buckets(&duration, self.duration_buckets)?;
        let mut labels = consts();
        labels.push((Arc::from("method"), LabelSource::Method));
        labels.push((Arc::from("code"), LabelSource::Code));
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        let requests = Store::new(
            Some((
                name("requests_total")?,
                Arc::from("Total number of HTTP client round trips by method and status code (code=\"error\": no response)."),
            )),
            hist(
                duration,
                "Duration of HTTP client round trips in seconds, until the response head arrived.",
                duration_bounds,
            ),
            Some((
                name("requests_in_flight")?,
                Arc::from("Number of HTTP client round trips waiting for their response head."),
            )),
            labels,
            const_labels.clone(),
            Methods::new(extra),
            None,
            Vec::new(),
            None,
            500,
        );

        let result_store = |n: Arc<str>, help: &str| -> Result<Store, ConfigError> {
            let bounds = check_buckets(&n, self.connect_buckets.clone())?;
            let mut labels = consts();
            labels.push((Arc::from("result"), LabelSource::Request(0)));
            labels.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Store::new(
                None,
                hist(n, help, bounds),
                None,
                labels,
                const_labels.clone(),
                Methods::new(Vec::new()),
                None,
                // The `result` label takes two fixed values and no others: the
                // interner's "none" id is `ok`, its overflow id `error`, and it never
                // interns anything (the connector only uses these two ids).
                vec![Interner::new(
                    Arc::from("result"),
                    0,
                    Arc::from("ok"),
                    Arc::from("error"),
                )],
                None,
                500,
            ))
        };
        let dns = result_store(
            name("dns_duration_seconds")?,
            "Duration of DNS resolutions of the HTTP client in seconds.",
        )?;
        let connect = result_store(
            name("connect_duration_seconds")?,
            "Duration of TCP connects of the HTTP client in seconds, after name resolution.",
        )?;
        #[cfg(feature = "web-config")]
        let tls = result_store(
            name("tls_handshake_duration_seconds")?,
            "Duration of TLS handshakes of the HTTP client in seconds, after the TCP connect.",
        )?;
        Ok(ClientMetrics {
            shared: Arc::new(Shared {
                requests,
                dns,
                connect,
                #[cfg(feature = "web-config")]
                tls,
            }),
        })
    }
}

/// Histogram specs with only the duration histogram.
fn hist(name: Arc<str>, help: &str, bounds: Arc<[f64]>) -> [Option<HistSpec>; HIST_KINDS] {
    let mut hists: [Option<HistSpec>; HIST_KINDS] = [None, None, None, None];
    hists[HistKind::Duration as usize] = Some(HistSpec {
        name,
        help: Arc::from(help),
        bounds,
    });
    hists
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_builds() {
        let m = ClientMetrics::new();
        let mut out = Gathered::default();
        m.gather_into(&mut out);
        let names: Vec<&str> = out.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "http_client_request_duration_seconds",
                "http_client_requests_in_flight",
                "http_client_requests_total",
                "http_client_dns_duration_seconds",
                "http_client_connect_duration_seconds",
                #[cfg(feature = "web-config")]
                "http_client_tls_handshake_duration_seconds",
            ]
        );
        assert!(out.errors.is_empty());
    }

    #[test]
    fn bad_configurations_are_rejected() {
        assert!(ClientMetrics::builder()
            .const_label("code", "x")
            .build()
            .is_err());
        assert!(ClientMetrics::builder()
            .const_label("a-b", "x")
            .build()
            .is_err());
        assert!(ClientMetrics::builder()
            .const_label("a", "x")
            .const_label("a", "y")
            .build()
            .is_err());
        assert!(ClientMetrics::builder().prefix("1x").build().is_err());
        assert!(ClientMetrics::builder()
            .duration_buckets([])
            .build()
            .is_err());
        assert!(ClientMetrics::builder()
            .connect_buckets([1.0, 0.5])
            .build()
            .is_err());
        assert!(ClientMetrics::builder()
            .extra_methods(["unknown"])
            .build()
            .is_err());
        assert!(ClientMetrics::builder()
            .const_label("upstream", "billing")
            .extra_methods(["PROPFIND"])
            .build()
            .is_ok());
    }
}
