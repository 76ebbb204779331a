//! The handler's options and their builder: every default, and what `build()`
//! puts together.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::header::HeaderValue;
use tokio::sync::Semaphore;

use super::level::{GzipLevel, ZstdLevel};
use super::limit::InFlightLimit;
use super::metrics::HandlerMetrics;
use super::{render, Inner, MetricsHandler};
use crate::gather::Gather;
use crate::negotiate::Encoding;

/// What to do when gathering reports errors (Go's `HandlerOpts.ErrorHandling`).
///
/// Every error is logged with `tracing` at error level and counted in
/// `promhttp_metric_handler_errors_total{cause="gathering"}` (when instrumented),
/// whatever the mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorHandling {
    /// Answer `500 Internal Server Error` with the errors as plain text. The scrape
    /// fails, and Prometheus shows the reason as the target's last error. The default:
    /// a page with silently missing series is worse than a failed scrape.
    #[default]
    HttpError,
    /// Serve everything that could be gathered and checked. Only when nothing at all
    /// is left does the answer become `500`.
    Continue,
    /// Panic with the errors, in the task serving the request.
    Panic,
}

/// Default margin taken off `X-Prometheus-Scrape-Timeout-Seconds`.
pub const DEFAULT_SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub error_handling: ErrorHandling,
    pub encodings: Vec<Encoding>,
    pub gzip_level: GzipLevel,
    pub zstd_level: ZstdLevel,
    pub max_in_flight: Option<NonZeroUsize>,
    pub timeout: Option<Duration>,
    pub honor_scrape_timeout: bool,
    pub scrape_timeout_offset: Duration,
    pub openmetrics: bool,
    pub openmetrics_2: bool,
    pub created: bool,
    pub process_start: Option<HeaderValue>,
    pub coalesce: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            error_handling: ErrorHandling::HttpError,
            encodings: default_encodings(),
            gzip_level: GzipLevel::DEFAULT,
            zstd_level: ZstdLevel::DEFAULT,
            max_in_flight: None,
            timeout: None,
            honor_scrape_timeout: true,
            scrape_timeout_offset: DEFAULT_SCRAPE_TIMEOUT_OFFSET,
            openmetrics: false,
            openmetrics_2: false,
            created: false,
            process_start: None,
            coalesce: true,
        }
    }
}

fn default_encodings() -> Vec<Encoding> {
    let mut v = vec![Encoding::Identity];
    if cfg!(feature = "gzip") {
        v.push(Encoding::Gzip);
    }
    if cfg!(feature = "zstd") {
        v.push(Encoding::Zstd);
    }
    v
}

/// Builds a [`MetricsHandler`]; every option has Go's default unless said otherwise.
#[must_use]
pub struct HandlerBuilder {
    gatherer: Box<dyn Gather>,
    opts: Options,
    metrics: Option<HandlerMetrics>,
}

impl std::fmt::Debug for HandlerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerBuilder")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl HandlerBuilder {
    pub(super) fn new(gatherer: Box<dyn Gather>) -> Self {
        HandlerBuilder {
            gatherer,
            opts: Options::default(),
            metrics: None,
        }
    }

    /// What to do with gathering errors. Default: [`ErrorHandling::HttpError`].
    pub fn error_handling(mut self, mode: ErrorHandling) -> Self {
        self.opts.error_handling = mode;
        self
    }

    /// `false` never compresses, whatever the scraper accepts. Default: `true`.
    pub fn compression(mut self, enabled: bool) -> Self {
        if enabled {
            if self.opts.encodings == [Encoding::Identity] {
                self.opts.encodings = default_encodings();
            }
        } else {
            self.opts.encodings = vec![Encoding::Identity];
        }
        self
    }

    /// The codings offered, in the server's order of preference (which breaks ties
    /// between equal `q` values). Identity is always possible as the fallback.
    /// Default: identity, gzip, zstd (those whose cargo feature is on). Codings whose
    /// feature is off are ignored.
    pub fn offered_encodings(mut self, encodings: impl IntoIterator<Item = Encoding>) -> Self {
        self.opts.encodings = encodings
            .into_iter()
            .filter(|e| match e {
                Encoding::Identity => true,
                Encoding::Gzip => cfg!(feature = "gzip"),
                Encoding::Zstd => cfg!(feature = "zstd"),
            })
            .collect();
        self
    }

    /// The gzip level (see [`GzipLevel`] for the range). Default:
    /// [`GzipLevel::DEFAULT`] (1).
    ///
    /// ```
    /// # use promhttp::{GzipLevel, MetricsHandler};
    /// # use promhttp::prometheus::Registry;
    /// let handler = MetricsHandler::builder(Registry::new())
    ///     .gzip_level(GzipLevel::new(6)?)
    ///     .build();
    /// # let _ = handler;
    /// # Ok::<(), promhttp::LevelError>(())
    /// ```
    pub fn gzip_level(mut self, level: GzipLevel) -> Self {
        self.opts.gzip_level = level;
        self
    }

    /// The zstd level (see [`ZstdLevel`] for the range). Default:
    /// [`ZstdLevel::DEFAULT`] (1).
    pub fn zstd_level(mut self, level: ZstdLevel) -> Self {
        self.opts.zstd_level = level;
        self
    }

    /// At most `limit` scrapes are served at once; more get `503` with
    /// `Limit of concurrent requests reached (n), try again later.`. `None` means
    /// no limit. Takes a [`NonZeroUsize`] or an `Option` of one, so
    /// `NonZeroUsize::new(n)` fits as it is (and `n = 0` is no limit, as in Go).
    /// Default: `None`.
    ///
    /// ```
    /// # use std::num::NonZeroUsize;
    /// # use promhttp::MetricsHandler;
    /// # use promhttp::prometheus::Registry;
    /// let capped = MetricsHandler::builder(Registry::new())
    ///     .max_requests_in_flight(NonZeroUsize::new(10))
    ///     .build();
    /// let uncapped = MetricsHandler::builder(Registry::new())
    ///     .max_requests_in_flight(None)
    ///     .build();
    /// # let _ = (capped, uncapped);
    /// ```
    pub fn max_requests_in_flight(mut self, limit: impl Into<Option<NonZeroUsize>>) -> Self {
        self.opts.max_in_flight = limit.into();
        self
    }

    /// A scrape not answered within `timeout` gets `503` with
    /// `Exceeded configured timeout of …`. Default: none (but see
    /// [`honor_scrape_timeout_header`](Self::honor_scrape_timeout_header)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = Some(timeout);
        self
    }

    /// Whether `X-Prometheus-Scrape-Timeout-Seconds` caps the deadline: the header's
    /// value less [`scrape_timeout_offset`](Self::scrape_timeout_offset) (but at
    /// least half the header's value), so the scraper hears a clear `503` instead of
    /// timing out itself. Malformed, negative, zero or infinite values are ignored.
    /// Default: `true`.
    pub fn honor_scrape_timeout_header(mut self, honor: bool) -> Self {
        self.opts.honor_scrape_timeout = honor;
        self
    }

    /// The margin taken off the scraper's timeout. Default:
    /// [`DEFAULT_SCRAPE_TIMEOUT_OFFSET`] (500 ms).
    pub fn scrape_timeout_offset(mut self, offset: Duration) -> Self {
        self.opts.scrape_timeout_offset = offset;
        self
    }

    /// Offer OpenMetrics 1.0.0 (and 0.0.1) in negotiation. Default: `false`, as in
    /// Go: switching a target to OpenMetrics changes its histogram `le` values
    /// (`"1"` becomes `"1.0"`), which breaks queries that name them. OpenMetrics is
    /// the text format that carries exemplars and units.
    pub fn openmetrics(mut self, enabled: bool) -> Self {
        self.opts.openmetrics = enabled;
        self
    }

    /// Offer OpenMetrics 2.0.0 to a scraper that asks for exactly
    /// `application/openmetrics-text; version=2.0.0`. Default: `false`.
    /// **Experimental**: written after the 2.0.0-rc0 draft, which may still change
    /// (see [`crate::encode::openmetrics2`]); no Prometheus release asks for it yet
    /// (3.14 does not), so turning it on changes nothing for Prometheus 2.x or 3.x
    /// scrapers. Independent of [`openmetrics`](Self::openmetrics).
    pub fn openmetrics_2(mut self, enabled: bool) -> Self {
        self.opts.openmetrics_2 = enabled;
        self
    }

    /// Write `_created` samples in OpenMetrics for metrics whose source knows their
    /// start time. Default: `false`: they add a series per counter, histogram and
    /// summary. Protobuf pages carry the start time in its own field either way.
    pub fn openmetrics_created_samples(mut self, enabled: bool) -> Self {
        self.opts.created = enabled;
        self
    }

    /// Send `Process-Start-Time-Unix: <seconds>` with every page. Default: not sent.
    pub fn process_start_time(mut self, start: SystemTime) -> Self {
        // Whole seconds, towards zero; written from the unsigned value, so that no
        // time the platform can represent overflows (`-i64::MIN` would).
        let secs = match start.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_secs().to_string(),
            Err(e) => match e.duration().as_secs() {
                0 => "0".to_owned(),
                s => format!("-{s}"),
            },
        };
        self.opts.process_start = HeaderValue::from_str(&secs).ok();
        self
    }

    /// Share one render among concurrent scrapes that ask for the same bytes.
    /// Default: `true`. Turned off, every scrape gathers on its own.
    pub fn coalesce(mut self, enabled: bool) -> Self {
        self.opts.coalesce = enabled;
        self
    }

    /// Count scrapes in `metrics` (see [`HandlerMetrics`]). Default: not
    /// instrumented, except for [`crate::handler()`].
    pub fn instrument(mut self, metrics: HandlerMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The handler.
    pub fn build(self) -> MetricsHandler {
        let limit = self.opts.max_in_flight.map(InFlightLimit::new);
        MetricsHandler {
            inner: Arc::new(Inner {
                gatherer: self.gatherer,
                opts: self.opts,
                limit,
                metrics: self.metrics,
                jobs: Mutex::new(HashMap::new()),
                renders: Arc::new(Semaphore::new(render::MAX_CONCURRENT_RENDERS)),
                pages: Default::default(),
                compressed: Default::default(),
                size_hints: Default::default(),
                compressors: Default::default(),
            }),
        }
    }
}
