//! HTTP server instrumentation: tower layers that count requests and measure them,
//! with metrics served by [`MetricsHandler`](crate::MetricsHandler) (Go's
//! `promhttp.InstrumentHandler*`).
//!
//! An [`HttpMetrics`] is a set of metrics and the store that holds them. Its
//! [`layer`](HttpMetrics::layer) instruments a service; the `HttpMetrics` itself is a
//! [`Gather`] source, so a `MetricsHandler` serves it, alone or in
//! [`Gatherers`](crate::Gatherers) beside a `prometheus::Registry`. The store is our
//! own (atomics, no allocation per request once a label set has been seen) because
//! it keeps exemplars, which the `prometheus` crate cannot.
//!
//! The [`client`] module instruments HTTP clients in the same store: round trips
//! (a tower layer, or a `reqwest-middleware` middleware with the `reqwest` feature),
//! and DNS, connect and TLS handshake times of hyper-util's legacy client (features
//! `hyper-client` and `hyper-client-tls`).
//!
//! # The metrics
//!
//! [`HttpMetrics::new`] (the preset) has the first five; [`HttpMetrics::builder`]
//! starts from the preset, and [`disable`](HttpMetricsBuilder::disable) removes any
//! of them:
//!
//! | builder method | preset name | type | observed |
//! |---|---|---|---|
//! | [`requests_total`](HttpMetricsBuilder::requests_total) | `http_requests_total` | counter | once per request |
//! | [`request_duration`](HttpMetricsBuilder::request_duration) | `http_request_duration_seconds` | histogram | from the call until the response body ends or is dropped |
//! | [`requests_in_flight`](HttpMetricsBuilder::requests_in_flight) | `http_requests_in_flight` | gauge | up at the call, down when the body ends or is dropped, or when the response future is dropped |
//! | [`request_size`](HttpMetricsBuilder::request_size) | `http_request_size_bytes` | histogram | Go's approximation: URI, method, protocol, header names and values, plus the declared `Content-Length` |
//! | [`response_size`](HttpMetricsBuilder::response_size) | `http_response_size_bytes` | histogram | the data bytes of the response body as it streams (`HEAD`: 0) |
//! | [`time_to_write_header`](HttpMetricsBuilder::time_to_write_header) | (not in the preset) | histogram | from the call until the inner service returned its response head |
//!
//! Everything about one request is recorded once, together, when its response body
//! ends (the last frame was read), fails, or is dropped (the client went away): the
//! status is the one actually sent and the size is what was actually streamed. A
//! response without an explicit status is a `200` (the `http` default), as in Go.
//! When the inner service returns an error, the request is recorded with
//! [`error_code`](HttpMetricsBuilder::error_code) (default `500`) and a response
//! size of 0, and the error is passed on. When the response future is dropped
//! before the response exists (cancellation) or the inner service panics, nothing is
//! recorded but the in-flight gauge still goes back down, as in Go.
//!
//! # Labels
//!
//! Every metric but the in-flight gauge has the same labels, sorted by name (the
//! names below are the preset's; [`label_name`](HttpMetricsBuilder::label_name)
//! renames `method`, `code`, `route` and the overflow counter's `label`, say
//! `route` to Go's `handler`; `method_label`, `code_label` and `route_label` turn
//! them off):
//! - constant labels ([`const_label`](HttpMetricsBuilder::const_label)), also on the gauge;
//! - `method`: `get put head post delete connect options notify trace patch` when the
//!   request's method is one of them in all-upper or all-lower case, the opt-in
//!   [`extra_methods`](HttpMetricsBuilder::extra_methods) in any case, otherwise `unknown`
//!   (CVE-2022-21698: a client must not be able to mint series);
//! - `code`: the status, `100`–`599`; anything else is `unknown`;
//! - `route`: the route template, from axum's `MatchedPath` (feature `axum`)
//!   or a [`RouteTemplate`] extension, never the raw path. Requests without one
//!   share the value [`unmatched_route`](HttpMetricsBuilder::unmatched_route)
//!   (default `unmatched`), and at most [`max_routes`](HttpMetricsBuilder::max_routes)
//!   distinct templates are kept;
//! - labels from the request ([`label_from_request`](HttpMetricsBuilder::label_from_request),
//!   Go's `WithLabelFromCtx`), each bounded: after `max_values` distinct values, new
//!   values are recorded as [`overflow_value`](HttpMetricsBuilder::overflow_value)
//!   (default `overflow`) and counted in `http_label_overflows_total{label="…"}`
//!   (the same for route templates over their limit; the counter is optional:
//!   [`disable(HttpMetric::LabelOverflows)`](HttpMetricsBuilder::disable)).
//!
//! Every metric's help text can be replaced ([`help`](HttpMetricsBuilder::help)).
//!
//! Values are compared exactly, never by hash alone, so two values never share a
//! series. A configuration that cannot work (invalid or clashing names, bad buckets,
//! an error code out of range, …) is a [`ConfigError`] from
//! [`build`](HttpMetricsBuilder::build).
//!
//! # Exemplars
//!
//! [`exemplar`](HttpMetricsBuilder::exemplar) takes a function of the request (say,
//! returning its trace id). The exemplar is kept on the counter and on the bucket of
//! each histogram the request fell into, and shown where the negotiated format carries
//! exemplars: OpenMetrics (enable it with
//! [`HandlerBuilder::openmetrics`](crate::HandlerBuilder::openmetrics)) and protobuf.
//! Text 0.0.4 never shows them. An invalid or oversized exemplar (over 128 code
//! points) is dropped; the request is recorded as usual.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use axum::{routing::get, Router};
//! use promhttp::instrument::HttpMetrics;
//! use promhttp::MetricsHandler;
//!
//! let http = HttpMetrics::new();
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     // Inside the router, so that the route template is known.
//!     .layer(http.layer())
//!     // Outside the layer: scrapes are not counted.
//!     .route_service("/metrics", MetricsHandler::builder(http).openmetrics(true).build());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9898").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! The layer must sit inside the router (`Router::layer`, which also covers the
//! fallback), where axum has set `MatchedPath`; outside it, every request is
//! `unmatched`. `Router::route_layer` leaves unmatched requests uncounted.
//!
//! Beside other sources, on one page:
//!
//! ```
//! use promhttp::instrument::HttpMetrics;
//! use promhttp::prometheus::Registry;
//! use promhttp::{Gatherers, MetricsHandler};
//!
//! let registry = Registry::new();
//! let http = HttpMetrics::new();
//! let handler = MetricsHandler::builder(Gatherers::new().with(registry).with(http.clone())).build();
//! # let _ = handler;
//! ```
//!
//! Layers compose: two `HttpMetrics` with different metrics, or with the same names
//! and different constant labels, can wrap the same service, and one handler serves
//! both with `Gatherers::new().with(a).with(b)` (the same names and labels twice would
//! be the same series twice, which the handler reports as an error).
//!
//! # Cost and bounds
//!
//! Per request: one to three clock reads, a few relaxed atomic additions, two lookups
//! in read-locked maps (the route template, then the series, keyed by small integer
//! ids). Nothing is allocated once a series exists, unless exemplars are configured
//! (the exemplar function's labels are kept). Series are never removed; their number is bounded by the
//! product of the label limits (methods × codes × routes × request-label values).

mod body;
mod builder;
pub mod client;
mod error;
mod future;
mod labels;
mod layer;
mod names;
mod pending;
mod service;
mod store;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use body::InstrumentedBody;
pub use builder::{HttpMetricsBuilder, DEFAULT_DURATION_BUCKETS, DEFAULT_SIZE_BUCKETS};
pub use error::ConfigError;
pub use future::ResponseFuture;
pub use layer::InstrumentLayer;
pub use names::{HttpLabel, HttpMetric};
pub use service::InstrumentService;
pub use store::MAX_REQUEST_LABELS;

use crate::gather::{Gather, Gathered};

/// A set of HTTP server metrics: what to measure, with which labels, and the values.
///
/// Cheap to clone; clones share the values. See the [module docs](self).
#[derive(Clone)]
pub struct HttpMetrics {
    shared: Arc<pending::Shared>,
}

impl HttpMetrics {
    /// The preset, `HttpMetrics::builder().build()`: `http_requests_total`,
    /// `http_request_duration_seconds`, `http_requests_in_flight`,
    /// `http_request_size_bytes` and `http_response_size_bytes`, labelled `method`,
    /// `code` and `route`, with `http_label_overflows_total` counting route templates
    /// over [`max_routes`](HttpMetricsBuilder::max_routes).
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use promhttp::instrument::HttpMetrics;
    ///
    /// let http = HttpMetrics::new();
    /// let app: Router = Router::new()
    ///     .route("/users/{id}", get(|| async { "user" }))
    ///     .layer(http.layer())
    ///     .route_service("/metrics", promhttp::handler_for(http));
    /// # let _ = app;
    /// ```
    pub fn new() -> Self {
        match HttpMetrics::builder().build() {
            Ok(m) => m,
            // The preset is a constant configuration, checked by the tests.
            Err(e) => unreachable!("the preset configuration is valid: {e}"),
        }
    }

    /// A builder starting from the preset ([`new`](Self::new)): every setter
    /// changes one thing of it, [`disable`](HttpMetricsBuilder::disable) removes a
    /// metric.
    ///
    /// ```
    /// use promhttp::instrument::{HttpMetric, HttpMetrics};
    ///
    /// // The preset without the size histograms, with a constant label.
    /// let http = HttpMetrics::builder()
    ///     .disable(HttpMetric::RequestSize)
    ///     .disable(HttpMetric::ResponseSize)
    ///     .const_label("service", "api")
    ///     .build()?;
    /// # let _ = http;
    /// # Ok::<(), promhttp::instrument::ConfigError>(())
    /// ```
    pub fn builder() -> HttpMetricsBuilder {
        HttpMetricsBuilder::preset()
    }

    /// The layer that instruments a service with these metrics.
    pub fn layer(&self) -> InstrumentLayer {
        InstrumentLayer::new(self.clone())
    }

    /// The requests being served now (whether or not the in-flight gauge is exported).
    pub fn in_flight(&self) -> i64 {
        self.shared.store.in_flight_value.load(Ordering::Relaxed)
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics::new()
    }
}

impl fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = &self.shared.store;
        let names: Vec<&str> = store
            .counter
            .iter()
            .map(|(n, _)| &**n)
            .chain(store.hists.iter().flatten().map(|h| &*h.name))
            .chain(store.in_flight.iter().map(|(n, _)| &**n))
            .collect();
        let labels: Vec<&str> = store.labels.iter().map(|(n, _)| &**n).collect();
        f.debug_struct("HttpMetrics")
            .field("metrics", &names)
            .field("labels", &labels)
            .field("series", &store.series())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Gather for HttpMetrics {
    fn gather_into(&self, out: &mut Gathered) {
        self.shared.store.gather_into(out)
    }
}

/// The route template of a request, for servers without axum's `MatchedPath`: insert
/// it into the request's extensions before the [`InstrumentLayer`] sees it.
///
/// It must be a template (`/users/{id}`), never the raw path: distinct values are
/// series. With the `axum` feature, `MatchedPath` is used first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTemplate(pub Arc<str>);

impl RouteTemplate {
    /// A template.
    pub fn new(template: impl Into<Arc<str>>) -> Self {
        RouteTemplate(template.into())
    }
}
