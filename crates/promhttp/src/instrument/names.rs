//! What the server metrics and their labels are called: [`HttpMetric`] and
//! [`HttpLabel`], with the preset's names and help texts.

/// A metric of [`HttpMetrics`](super::HttpMetrics), to
/// [`disable`](super::HttpMetricsBuilder::disable) or give another
/// [`help`](super::HttpMetricsBuilder::help) text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpMetric {
    /// The request counter ([`requests_total`](super::HttpMetricsBuilder::requests_total)).
    /// Help: "Total number of HTTP requests by status code and method."
    RequestsTotal,
    /// The duration histogram
    /// ([`request_duration`](super::HttpMetricsBuilder::request_duration)).
    /// Help: "Duration of HTTP requests in seconds, until the response body ended."
    RequestDuration,
    /// The in-flight gauge
    /// ([`requests_in_flight`](super::HttpMetricsBuilder::requests_in_flight)).
    /// Help: "Number of HTTP requests being served."
    RequestsInFlight,
    /// The request size histogram
    /// ([`request_size`](super::HttpMetricsBuilder::request_size)). Help:
    /// "Approximate size of HTTP requests in bytes: URI, method, protocol, headers
    /// and declared body length."
    RequestSize,
    /// The response size histogram
    /// ([`response_size`](super::HttpMetricsBuilder::response_size)). Help: "Size of
    /// HTTP response bodies in bytes, as sent."
    ResponseSize,
    /// The time-to-header histogram
    /// ([`time_to_write_header`](super::HttpMetricsBuilder::time_to_write_header));
    /// not in the preset. Help: "Seconds until the HTTP response head was ready."
    TimeToWriteHeader,
    /// The counter of label values recorded as the overflow value
    /// ([`overflow_counter`](super::HttpMetricsBuilder::overflow_counter)). Help:
    /// "Label values recorded as the overflow value because their label had too
    /// many distinct values."
    LabelOverflows,
}

/// The number of [`HttpMetric`]s.
pub(crate) const METRICS: usize = 7;

impl HttpMetric {
    pub(crate) fn index(self) -> usize {
        match self {
            HttpMetric::RequestsTotal => 0,
            HttpMetric::RequestDuration => 1,
            HttpMetric::RequestsInFlight => 2,
            HttpMetric::RequestSize => 3,
            HttpMetric::ResponseSize => 4,
            HttpMetric::TimeToWriteHeader => 5,
            HttpMetric::LabelOverflows => 6,
        }
    }
}

/// The preset's help texts, by [`HttpMetric::index`].
pub(crate) const DEFAULT_HELP: [&str; METRICS] = [
    "Total number of HTTP requests by status code and method.",
    "Duration of HTTP requests in seconds, until the response body ended.",
    "Number of HTTP requests being served.",
    "Approximate size of HTTP requests in bytes: URI, method, protocol, headers and declared body length.",
    "Size of HTTP response bodies in bytes, as sent.",
    "Seconds until the HTTP response head was ready.",
    "Label values recorded as the overflow value because their label had too many distinct values.",
];

/// A label the server middleware sets itself, to give another
/// [`label_name`](super::HttpMetricsBuilder::label_name).
///
/// ```
/// use promhttp::instrument::{HttpLabel, HttpMetrics};
///
/// // Go's promhttp names the route label `handler`.
/// let http = HttpMetrics::builder()
///     .label_name(HttpLabel::Route, "handler")
///     .build()?;
/// # let _ = http;
/// # Ok::<(), promhttp::instrument::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpLabel {
    /// The request method. Default name: `method`.
    Method,
    /// The response status. Default name: `code`.
    Code,
    /// The route template. Default name: `route`. This name is also the value of
    /// the overflow counter's label for route templates over the limit.
    Route,
    /// The label of the overflow counter ([`HttpMetric::LabelOverflows`]), whose
    /// value names the label that overflowed. Default name: `label`.
    Overflowed,
}

/// The number of [`HttpLabel`]s.
pub(crate) const LABELS: usize = 4;

impl HttpLabel {
    pub(crate) fn index(self) -> usize {
        match self {
            HttpLabel::Method => 0,
            HttpLabel::Code => 1,
            HttpLabel::Route => 2,
            HttpLabel::Overflowed => 3,
        }
    }
}

/// The preset's label names, by [`HttpLabel::index`].
pub(crate) const DEFAULT_LABEL_NAMES: [&str; LABELS] = ["method", "code", "route", "label"];
