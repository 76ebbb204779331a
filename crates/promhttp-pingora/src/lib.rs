//! promhttp's scrape handler as a [Pingora](https://github.com/cloudflare/pingora)
//! service.
//!
//! A Pingora proxy keeps its metrics in the `prometheus` crate (re-exported as
//! [`promhttp::prometheus`]); this crate adds a listening service to the same
//! Pingora [`Server`](pingora_core::server::Server) that serves them to Prometheus
//! on its own address, with everything promhttp's [`MetricsHandler`] does: content
//! negotiation (text 0.0.4, OpenMetrics, protobuf), gzip and zstd, `HEAD`, limits,
//! time-outs, and a `500` (never a panic, never a truncated page) when gathering
//! fails.
//!
//! Only the metrics path is served (`/metrics` unless changed): every other path is
//! a `404`, other methods a `405`.
//!
//! ```no_run
//! use pingora_core::server::Server;
//!
//! let mut server = Server::new(None).expect("pingora server");
//! server.bootstrap();
//! // ... add the proxy service ...
//! let mut metrics = promhttp_pingora::metrics_service();
//! metrics.add_tcp("127.0.0.1:9091");
//! server.add_service(metrics);
//! server.run_forever();
//! ```
//!
//! To serve a registry of your own, several registries, or change the handler's
//! options, build the handler and wrap it:
//!
//! ```no_run
//! use promhttp::{prometheus::Registry, DefaultRegistry, Gatherers, MetricsHandler};
//! use promhttp_pingora::MetricsApp;
//!
//! let registry = Registry::new();
//! let handler = MetricsHandler::builder(Gatherers::new().with(registry).with(DefaultRegistry))
//!     .openmetrics(true)
//!     .build();
//! let app = MetricsApp::new(handler).with_path("/internal/metrics")?;
//! let mut service = app.into_service("metrics");
//! service.add_tcp("127.0.0.1:9091");
//! # Ok::<(), promhttp_pingora::PathError>(())
//! ```
#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body_util::BodyExt;
use pingora_core::apps::{
    HttpPersistentSettings, HttpServerApp, HttpServerOptions, ReusedHttpStream,
};
use pingora_core::protocols::http::ServerSession;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::listening::Service;
use pingora_http::ResponseHeader;
use promhttp::MetricsHandler;

/// The service name [`metrics_service`] gives Pingora (shown in its logs).
pub const SERVICE_NAME: &str = "promhttp metrics";

/// How long an idle keep-alive connection stays open between scrapes, in seconds.
const KEEPALIVE_SECS: u64 = 60;

/// How long a client may take to accept the response before the connection is
/// dropped (a scraper that stopped reading must not hold a page in memory).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A Pingora service serving the `prometheus` crate's default registry with
/// promhttp's defaults and self-metrics (`promhttp_metric_handler_*`) at `/metrics`.
///
/// The counterpart of `pingora_prometheus::prometheus_http_service()`: give it an
/// address with [`Service::add_tcp`] and add it to the Pingora server.
pub fn metrics_service() -> Service<MetricsApp> {
    MetricsApp::new(promhttp::handler()).into_service(SERVICE_NAME)
}

/// A Pingora service serving `handler` at `/metrics`.
pub fn metrics_service_for(handler: MetricsHandler) -> Service<MetricsApp> {
    MetricsApp::new(handler).into_service(SERVICE_NAME)
}

/// A metrics path that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    path: String,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "metrics path {:?} must start with '/' and be a plain path (no query, no fragment, no spaces)",
            self.path
        )
    }
}

impl std::error::Error for PathError {}

/// The Pingora application behind [`metrics_service`]: answers scrapes on one path
/// with a [`MetricsHandler`].
///
/// Implements Pingora's [`HttpServerApp`], so it runs in a
/// [`Service`] on any listener Pingora
/// offers (TCP, Unix socket, TLS with a Pingora TLS feature).
#[derive(Debug, Clone)]
pub struct MetricsApp {
    handler: MetricsHandler,
    path: String,
    options: HttpServerOptions,
}

impl MetricsApp {
    /// Serves `handler` at `/metrics`.
    pub fn new(handler: MetricsHandler) -> Self {
        MetricsApp {
            handler,
            path: "/metrics".to_owned(),
            options: HttpServerOptions::default(),
        }
    }

    /// Serves at `path` instead of `/metrics`. Only that exact path is answered.
    pub fn with_path(mut self, path: &str) -> Result<Self, PathError> {
        let plain = path.starts_with('/')
            && !path
                .bytes()
                .any(|b| b == b'?' || b == b'#' || b.is_ascii_whitespace() || b.is_ascii_control());
        if !plain || path.parse::<http::Uri>().is_err() {
            return Err(PathError {
                path: path.to_owned(),
            });
        }
        self.path = path.to_owned();
        Ok(self)
    }

    /// Accepts HTTP/2 without TLS (prior knowledge, "h2c") besides HTTP/1.1. Off by
    /// default: Prometheus scrapes plain HTTP over HTTP/1.1.
    pub fn h2c(mut self, enabled: bool) -> Self {
        self.options.h2c = enabled;
        self
    }

    /// The path served.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The handler answering scrapes.
    pub fn handler(&self) -> &MetricsHandler {
        &self.handler
    }

    /// A Pingora listening service named `name` running this app; add listeners
    /// with [`Service::add_tcp`] (or `add_uds`, `add_tls`).
    pub fn into_service(self, name: &str) -> Service<MetricsApp> {
        Service::new(name.to_owned(), self)
    }

    /// The response to one request head.
    async fn answer(&self, session: &ServerSession) -> Response<Bytes> {
        let req = session.req_header();
        if req.uri.path() != self.path {
            return plain(StatusCode::NOT_FOUND, "Not found.\n");
        }
        let response = self
            .handler
            .respond_to(&req.method, &req.uri, &req.headers)
            .await;
        let (parts, body) = response.into_parts();
        // The handler's body is one buffered chunk (`Full`): collecting it cannot
        // fail and does not copy.
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        Response::from_parts(parts, bytes)
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(text.as_bytes()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(text.len()),
    );
    response
}

#[async_trait]
impl HttpServerApp for MetricsApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        match session.read_request().await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::debug!("metrics listener: reading a request failed: {e}");
                return None;
            }
        }
        // Keep the connection for the next scrape unless the server is stopping,
        // or the client sent a body we would have to read first (scrapes have none).
        let reusable = !*shutdown.borrow() && session.is_body_empty();
        session.set_keepalive(reusable.then_some(KEEPALIVE_SECS));
        session.set_write_timeout(Some(WRITE_TIMEOUT));

        let head = session.req_header().method == Method::HEAD;
        let (mut parts, body) = self.answer(&session).await.into_parts();
        // hyper derives Content-Length from the body; Pingora frames HTTP/1 bodies
        // by the header, so every answer carries it (a HEAD answer the page's).
        if !parts.headers.contains_key(header::CONTENT_LENGTH) {
            parts.headers.insert(
                header::CONTENT_LENGTH,
                header::HeaderValue::from(body.len()),
            );
        }
        let header = ResponseHeader::from(parts);
        if let Err(e) = session.write_response_header(Box::new(header)).await {
            tracing::debug!(
                "metrics listener: writing the response head failed: {e} ({})",
                session.request_summary()
            );
            return None;
        }
        if !head && !body.is_empty() {
            if let Err(e) = session.write_response_body(body, true).await {
                tracing::debug!(
                    "metrics listener: writing the page failed: {e} ({})",
                    session.request_summary()
                );
                return None;
            }
        }
        let settings = HttpPersistentSettings::for_session(&session);
        match session.finish().await {
            Ok(stream) => stream.map(|s| ReusedHttpStream::from_reusable_stream(s, settings)),
            Err(e) => {
                tracing::debug!("metrics listener: finishing the response failed: {e}");
                None
            }
        }
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        Some(&self.options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        let app = MetricsApp::new(promhttp::handler());
        assert_eq!(app.path(), "/metrics");
        for bad in ["", "metrics", "/a b", "/m?x=1", "/m#f", "/m\n"] {
            let err = MetricsApp::new(promhttp::handler())
                .with_path(bad)
                .expect_err(bad);
            assert!(err.to_string().contains("must start with '/'"), "{err}");
        }
        let app = app.with_path("/internal/metrics").expect("valid path");
        assert_eq!(app.path(), "/internal/metrics");
    }

    #[test]
    fn not_found_page_is_well_formed() {
        let r = plain(StatusCode::NOT_FOUND, "Not found.\n");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "11");
    }
}
