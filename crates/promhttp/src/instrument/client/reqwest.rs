//! [`reqwest-middleware`](https://docs.rs/reqwest-middleware/0.4) integration (the
//! `reqwest` feature): [`ClientInstrumentMiddleware`] records the requests of a
//! [`reqwest_middleware::ClientWithMiddleware`] in a [`ClientMetrics`], exactly as
//! the tower [`ClientInstrumentLayer`](super::ClientInstrumentLayer) does.
//!
//! - `http_client_requests_total{method,code}` and
//!   `http_client_request_duration_seconds{method,code}` are recorded once per pass
//!   through the middleware, when the response head arrived (reqwest returns the
//!   [`Response`] before its body is read) or when the rest of the chain failed
//!   (`code="error"`: connection refused, DNS failure, timeout, TLS, or an error of
//!   an inner middleware).
//! - `http_client_requests_in_flight` goes up when the request enters the middleware
//!   and down when the response head arrives, on error, or when the request future
//!   is dropped (a cancelled request, which records nothing else).
//! - `method` is sanitized as on the server; `code` is the final status after the
//!   redirects reqwest follows by itself (one count per
//!   [`execute`](reqwest::Client::execute)).
//!
//! The DNS and connect histograms stay empty: reqwest's connector is not
//! instrumented.
//!
//! # Retries
//!
//! Each pass through the middleware counts. Middleware runs in the order it was
//! added to the [`ClientBuilder`](reqwest_middleware::ClientBuilder), the first one
//! outermost: added *after* a retry middleware (say `reqwest-retry`), this one sees
//! and counts every attempt; added *before* it, it counts each logical request once,
//! with the outcome of the last attempt, and the duration of all of them.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use promhttp::instrument::client::ClientMetrics;
//!
//! let metrics = ClientMetrics::builder()
//!     .const_label("upstream", "billing")
//!     .build()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(metrics.reqwest_middleware())
//!     .build();
//!
//! let response = client.get("http://localhost:8080/").send().await?;
//! # let _ = response;
//! // Serve the metrics, alone or beside others.
//! let handler = promhttp::MetricsHandler::builder(metrics).build();
//! # let _ = handler;
//! # Ok(())
//! # }
//! ```

use std::fmt;

use ::reqwest::{Request, Response};
use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use super::service::RoundTrip;
use super::ClientMetrics;
use crate::instrument::labels::{code_id, CODE_ERROR};

/// A [`reqwest_middleware::Middleware`] recording requests in a [`ClientMetrics`]
/// (see the [module docs](self)); made by [`ClientMetrics::reqwest_middleware`] or
/// [`ClientInstrumentMiddleware::new`].
///
/// Requests, responses and errors are passed on unchanged. Cheap to clone; clones
/// record into the same metrics.
#[derive(Clone)]
pub struct ClientInstrumentMiddleware {
    metrics: ClientMetrics,
}

impl ClientInstrumentMiddleware {
    /// A middleware recording into `metrics`.
    pub fn new(metrics: ClientMetrics) -> Self {
        ClientInstrumentMiddleware { metrics }
    }

    /// The metrics it records into.
    pub fn metrics(&self) -> &ClientMetrics {
        &self.metrics
    }
}

impl fmt::Debug for ClientInstrumentMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInstrumentMiddleware")
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl From<ClientMetrics> for ClientInstrumentMiddleware {
    fn from(metrics: ClientMetrics) -> Self {
        ClientInstrumentMiddleware::new(metrics)
    }
}

impl ClientMetrics {
    /// The [`reqwest-middleware`](reqwest_middleware) middleware recording into these
    /// metrics (the `reqwest` feature; see [`reqwest`](super::reqwest)).
    ///
    /// ```
    /// use promhttp::instrument::client::ClientMetrics;
    ///
    /// let metrics = ClientMetrics::new();
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(metrics.reqwest_middleware())
    ///     .build();
    /// # let _ = client;
    /// ```
    pub fn reqwest_middleware(&self) -> ClientInstrumentMiddleware {
        ClientInstrumentMiddleware::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Middleware for ClientInstrumentMiddleware {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // In flight until dropped: at the end of this function, or with the future
        // if the request is cancelled (then nothing is recorded).
        let round_trip = RoundTrip::start(&self.metrics, req.method());
        let result = next.run(req, extensions).await;
        match &result {
            Ok(response) => round_trip.finish(code_id(response.status().as_u16())),
            Err(_) => {
                tracing::debug!("HTTP client request failed; recorded as code=\"error\"");
                round_trip.finish(CODE_ERROR);
            }
        }
        result
    }
}
