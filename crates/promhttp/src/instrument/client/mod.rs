//! HTTP client instrumentation (Go's `promhttp.InstrumentRoundTripper*` and
//! `InstrumentTrace`): a tower layer for HTTP clients (feature `instrument`), a
//! `reqwest-middleware` middleware (feature `reqwest`), and a connector for
//! hyper-util's legacy client that times DNS resolution and TCP connects (feature
//! `hyper-client`), and TLS handshakes (feature `hyper-client-tls`).
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
//! | `http_client_tls_handshake_duration_seconds` | histogram | `result` | each TLS handshake made by `tls::InstrumentedTlsConnector` (feature `hyper-client-tls`; the family is present only with it) |
//!
//! Constant labels ([`const_label`](ClientMetricsBuilder::const_label)) are on all of
//! them. The builder can [`disable`](ClientMetricsBuilder::disable) any metric, and
//! change the help texts ([`help`](ClientMetricsBuilder::help)), the name prefix
//! ([`prefix`](ClientMetricsBuilder::prefix)) and the label names
//! ([`label_name`](ClientMetricsBuilder::label_name)).
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
//! `hyper-client-tls`: rustls with ring, without the server's `web-config`).
//! Another TLS connector (for example
//! `hyper-rustls`) wrapping the [`InstrumentedConnector`] still gets DNS and TCP
//! connect times, but no handshake times.
//!
//! # Example
//!
//! With the `hyper-client` feature:
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

mod builder;
#[cfg(feature = "hyper-client")]
mod connect;
mod service;

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
#[cfg(feature = "hyper-client-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper-client-tls")))]
pub mod tls;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use builder::{ClientLabel, ClientMetric, ClientMetricsBuilder};
#[cfg(feature = "hyper-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper-client")))]
pub use connect::{ConnectFuture, InstrumentedConnector, ResolveFuture, TimedResolver};
pub use service::{ClientInstrumentLayer, ClientInstrumentService, ClientResponseFuture};
#[cfg(feature = "hyper-client-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper-client-tls")))]
pub use tls::InstrumentedTlsConnector;

use super::labels::{ID_NONE, ID_OVERFLOW};
use super::store::{Key, Observation, Store, MAX_REQUEST_LABELS};
use crate::gather::{Gather, Gathered};

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
    #[cfg(feature = "hyper-client-tls")]
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
        #[cfg(feature = "hyper-client-tls")]
        self.shared.tls.gather_into(out);
    }
}

/// Records one duration in a `result`-labelled store (`ok` or `error`): the DNS,
/// connect and TLS histograms.
#[cfg_attr(not(feature = "hyper-client"), allow(dead_code))]
pub(crate) fn record_result(store: &Store, ok: bool, seconds: f64) {
    let mut request = [0; MAX_REQUEST_LABELS];
    request[0] = if ok { ID_NONE } else { ID_OVERFLOW };
    store.record(
        &Key {
            method: 0,
            code: 0,
            route: 0,
            request,
        },
        &Observation {
            duration: seconds,
            request_size: 0,
            response_size: 0,
            time_to_write_header: None,
            exemplar: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::ConfigError;

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
                #[cfg(feature = "hyper-client-tls")]
                "http_client_tls_handshake_duration_seconds",
            ]
        );
        assert!(out.errors.is_empty());
    }

    #[test]
    fn bad_configurations_are_rejected() {
        let b = ClientMetrics::builder;
        let err = |builder: ClientMetricsBuilder| match builder.build() {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        };
        assert!(matches!(
            err(b().const_label("code", "x")),
            ConfigError::DuplicateLabel { name } if name == "code"
        ));
        assert!(matches!(
            err(b().const_label("le", "x")),
            ConfigError::ReservedLabelName { .. }
        ));
        assert!(matches!(
            err(b().const_label("a-b", "x")),
            ConfigError::InvalidLabelName { option: "const_label", name } if name == "a-b"
        ));
        assert!(matches!(
            err(b().const_label("a", "x").const_label("a", "y")),
            ConfigError::DuplicateLabel { .. }
        ));
        assert!(matches!(
            err(b().prefix("1x")),
            ConfigError::InvalidMetricName { option: "prefix", name } if name == "1x_requests_total"
        ));
        assert!(matches!(
            err(b().duration_buckets([])),
            ConfigError::InvalidBuckets { .. }
        ));
        assert!(matches!(
            err(b().connect_buckets([1.0, 0.5])),
            ConfigError::InvalidBuckets { .. }
        ));
        assert!(matches!(
            err(b().extra_methods(["unknown"])),
            ConfigError::ReservedMethod { .. }
        ));
        assert!(matches!(
            err(b().label_name(ClientLabel::Code, "status code")),
            ConfigError::InvalidLabelName { option: "label_name", name } if name == "status code"
        ));
        assert!(matches!(
            err(b().label_name(ClientLabel::Result, "__result")),
            ConfigError::InvalidLabelName { .. }
        ));
        assert!(matches!(
            err(b().label_name(ClientLabel::Method, "code")),
            ConfigError::DuplicateLabel { name } if name == "code"
        ));
        assert!(matches!(
            err(b().label_name(ClientLabel::Result, "upstream").const_label("upstream", "x")),
            ConfigError::DuplicateLabel { name } if name == "upstream"
        ));
        assert!(b()
            .const_label("upstream", "billing")
            .extra_methods(["PROPFIND"])
            .build()
            .is_ok());
    }

    fn text(m: &ClientMetrics) -> String {
        let page = crate::gather::gather_all(m);
        assert!(page.errors.is_empty(), "{:?}", page.errors);
        let mut out = Vec::new();
        crate::encode::encode(
            crate::encode::Format::Text,
            &page.families,
            &crate::encode::EncodeOptions::default(),
            &mut out,
        );
        String::from_utf8(out).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn label_names_and_help_are_configurable_and_metrics_can_be_disabled() {
        use tower::{Layer, ServiceExt};
        let m = ClientMetrics::builder()
            .label_name(ClientLabel::Code, "status")
            .label_name(ClientLabel::Method, "verb")
            .label_name(ClientLabel::Result, "outcome")
            .help(ClientMetric::RequestsTotal, "Calls to billing.")
            .disable(ClientMetric::RequestDuration)
            .disable(ClientMetric::ConnectDuration)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let svc = m
            .layer()
            .layer(tower::service_fn(|_req: http::Request<()>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(()))
            }));
        let req = http::Request::get("http://upstream/")
            .body(())
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = svc.oneshot(req).await;
        record_result(&m.shared.dns, false, 0.01);
        record_result(&m.shared.connect, true, 0.01);
        let page = text(&m);
        assert!(
            page.contains("# HELP http_client_requests_total Calls to billing.\n"),
            "{page}"
        );
        assert!(
            page.contains("http_client_requests_total{status=\"200\",verb=\"get\"} 1\n"),
            "{page}"
        );
        assert!(
            page.contains("http_client_dns_duration_seconds_count{outcome=\"error\"} 1\n"),
            "{page}"
        );
        assert!(
            !page.contains("http_client_request_duration_seconds"),
            "{page}"
        );
        assert!(
            !page.contains("http_client_connect_duration_seconds"),
            "{page}"
        );
        assert!(!page.contains("code="), "{page}");
        assert_eq!(m.in_flight(), 0);
    }
}
