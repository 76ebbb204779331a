//! Configuration of [`HttpMetrics`], checked when built.

use std::fmt;
use std::sync::Arc;

use http::request::Parts;

use super::labels::{Interner, Methods, STANDARD_METHODS};
use super::pending::{ExemplarFn, LabelFn, Shared};
use super::store::{HistKind, HistSpec, LabelSource, Store, HIST_KINDS, MAX_REQUEST_LABELS};
use super::HttpMetrics;
use crate::model::{is_valid_label_name, is_valid_metric_name, Label};

/// Go's `prometheus.DefBuckets`, in seconds.
pub const DEFAULT_DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Sizes from 100 B to 1 GB, ×10 each (`prometheus.ExponentialBuckets(100, 10, 8)`).
pub const DEFAULT_SIZE_BUCKETS: [f64; 8] = [1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// A configuration that cannot work, found by [`HttpMetricsBuilder::build`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid HTTP metrics configuration: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Checks a histogram's bucket bounds: finite, increasing, at least one (a final
/// `+Inf` is implied and dropped).
pub(crate) fn check_buckets(name: &str, mut bounds: Vec<f64>) -> Result<Arc<[f64]>, ConfigError> {
    if bounds.last() == Some(&f64::INFINITY) {
        bounds.pop();
    }
    if bounds.is_empty() {
        return Err(ConfigError::new(format!(
            "histogram {name:?}: no bucket bounds"
        )));
    }
    if bounds.iter().any(|b| !b.is_finite()) || bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ConfigError::new(format!(
            "histogram {name:?}: bucket bounds must be finite and increasing, got {bounds:?}"
        )));
    }
    Ok(bounds.into())
}

struct HistConf {
    name: String,
    help: &'static str,
    buckets: Vec<f64>,
}

impl HistConf {
    fn new(name: &str, kind: HistKind, buckets: &[f64]) -> Self {
        HistConf {
            name: name.to_owned(),
            help: HIST_HELP[kind as usize],
            buckets: buckets.to_vec(),
        }
    }
}

/// The default help of each histogram, in [`HistKind`] order.
const HIST_HELP: [&str; HIST_KINDS] = [
    "Duration of HTTP requests in seconds, until the response body ended.",
    "Approximate size of HTTP requests in bytes: URI, method, protocol, headers and declared body length.",
    "Size of HTTP response bodies in bytes, as sent.",
    "Seconds until the HTTP response head was ready.",
];

/// A metric of [`HttpMetrics`], to [`disable`](HttpMetricsBuilder::disable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpMetric {
    /// The request counter ([`requests_total`](HttpMetricsBuilder::requests_total)).
    RequestsTotal,
    /// The duration histogram ([`request_duration`](HttpMetricsBuilder::request_duration)).
    RequestDuration,
    /// The in-flight gauge ([`requests_in_flight`](HttpMetricsBuilder::requests_in_flight)).
    RequestsInFlight,
    /// The request size histogram ([`request_size`](HttpMetricsBuilder::request_size)).
    RequestSize,
    /// The response size histogram ([`response_size`](HttpMetricsBuilder::response_size)).
    ResponseSize,
    /// The time-to-header histogram
    /// ([`time_to_write_header`](HttpMetricsBuilder::time_to_write_header)); not in the
    /// preset.
    TimeToWriteHeader,
    /// The counter of label values recorded as the overflow value
    /// ([`overflow_counter`](HttpMetricsBuilder::overflow_counter)).
    LabelOverflows,
}

struct RequestLabel {
    name: String,
    max_values: usize,
    f: LabelFn,
}

/// Builds [`HttpMetrics`]; every knob states its default.
#[must_use]
pub struct HttpMetricsBuilder {
    counter: Option<String>,
    hists: [Option<HistConf>; HIST_KINDS],
    in_flight: Option<String>,
    method: bool,
    code: bool,
    route: bool,
    const_labels: Vec<(String, String)>,
    extra_methods: Vec<String>,
    unmatched: String,
    max_routes: usize,
    request_labels: Vec<RequestLabel>,
    overflow_value: String,
    overflow_counter: Option<String>,
    error_code: u16,
    exemplar: Option<ExemplarFn>,
}

impl fmt::Debug for HttpMetricsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetricsBuilder")
            .field("counter", &self.counter)
            .field("in_flight", &self.in_flight)
            .field("const_labels", &self.const_labels)
            .finish_non_exhaustive()
    }
}

impl HttpMetricsBuilder {
    /// The preset (see [`HttpMetrics::new`]); [`HttpMetrics::builder`] starts here.
    pub(super) fn preset() -> Self {
        HttpMetricsBuilder {
            counter: Some("http_requests_total".to_owned()),
            hists: [
                Some(HistConf::new(
                    "http_request_duration_seconds",
                    HistKind::Duration,
                    &DEFAULT_DURATION_BUCKETS,
                )),
                Some(HistConf::new(
                    "http_request_size_bytes",
                    HistKind::RequestSize,
                    &DEFAULT_SIZE_BUCKETS,
                )),
                Some(HistConf::new(
                    "http_response_size_bytes",
                    HistKind::ResponseSize,
                    &DEFAULT_SIZE_BUCKETS,
                )),
                None,
            ],
            in_flight: Some("http_requests_in_flight".to_owned()),
            method: true,
            code: true,
            route: true,
            const_labels: Vec::new(),
            extra_methods: Vec::new(),
            unmatched: "unmatched".to_owned(),
            max_routes: 1000,
            request_labels: Vec::new(),
            overflow_value: "overflow".to_owned(),
            overflow_counter: Some("http_label_overflows_total".to_owned()),
            error_code: 500,
            exemplar: None,
        }
    }

    /// Removes a metric of the preset (or one added before). Setting its name again
    /// afterwards adds it back: the last call wins. Disabling
    /// [`HttpMetric::LabelOverflows`] keeps the bounds on label values (values over
    /// a limit are still recorded as the overflow value), it only stops counting
    /// them. At least one of the request metrics must remain.
    pub fn disable(mut self, metric: HttpMetric) -> Self {
        match metric {
            HttpMetric::RequestsTotal => self.counter = None,
            HttpMetric::RequestDuration => self.hists[HistKind::Duration as usize] = None,
            HttpMetric::RequestsInFlight => self.in_flight = None,
            HttpMetric::RequestSize => self.hists[HistKind::RequestSize as usize] = None,
            HttpMetric::ResponseSize => self.hists[HistKind::ResponseSize as usize] = None,
            HttpMetric::TimeToWriteHeader => {
                self.hists[HistKind::TimeToWriteHeader as usize] = None
            }
            HttpMetric::LabelOverflows => self.overflow_counter = None,
        }
        self
    }

    /// Count requests in a counter named `name` (must end in `_total`). Default:
    /// `http_requests_total`.
    pub fn requests_total(mut self, name: impl Into<String>) -> Self {
        self.counter = Some(name.into());
        self
    }

    fn hist(mut self, kind: HistKind, name: String, buckets: Vec<f64>) -> Self {
        self.hists[kind as usize] = Some(HistConf {
            name,
            help: HIST_HELP[kind as usize],
            buckets,
        });
        self
    }

    /// Request durations in seconds (until the response body ended) in a histogram with
    /// these bucket bounds. Default: `http_request_duration_seconds`,
    /// [`DEFAULT_DURATION_BUCKETS`].
    pub fn request_duration(
        self,
        name: impl Into<String>,
        buckets: impl IntoIterator<Item = f64>,
    ) -> Self {
        self.hist(
            HistKind::Duration,
            name.into(),
            buckets.into_iter().collect(),
        )
    }

    /// Approximate request sizes in bytes (see the [module docs](super)). Default:
    /// `http_request_size_bytes`, [`DEFAULT_SIZE_BUCKETS`].
    pub fn request_size(
        self,
        name: impl Into<String>,
        buckets: impl IntoIterator<Item = f64>,
    ) -> Self {
        self.hist(
            HistKind::RequestSize,
            name.into(),
            buckets.into_iter().collect(),
        )
    }

    /// Response body sizes in bytes, as streamed. Default: `http_response_size_bytes`,
    /// [`DEFAULT_SIZE_BUCKETS`].
    pub fn response_size(
        self,
        name: impl Into<String>,
        buckets: impl IntoIterator<Item = f64>,
    ) -> Self {
        self.hist(
            HistKind::ResponseSize,
            name.into(),
            buckets.into_iter().collect(),
        )
    }

    /// Seconds until the inner service returned the response head (Go's
    /// `InstrumentHandlerTimeToWriteHeader`). Not observed for inner-service errors.
    /// Not in the preset.
    pub fn time_to_write_header(
        self,
        name: impl Into<String>,
        buckets: impl IntoIterator<Item = f64>,
    ) -> Self {
        self.hist(
            HistKind::TimeToWriteHeader,
            name.into(),
            buckets.into_iter().collect(),
        )
    }

    /// A gauge of the requests being served, with the constant labels only. Default:
    /// `http_requests_in_flight`.
    pub fn requests_in_flight(mut self, name: impl Into<String>) -> Self {
        self.in_flight = Some(name.into());
        self
    }

    /// Whether the `method` label is used. Default: `true`.
    pub fn method_label(mut self, enabled: bool) -> Self {
        self.method = enabled;
        self
    }

    /// Whether the `code` label is used. Default: `true`.
    pub fn code_label(mut self, enabled: bool) -> Self {
        self.code = enabled;
        self
    }

    /// Whether the `route` label is used. Default: `true`.
    pub fn route_label(mut self, enabled: bool) -> Self {
        self.route = enabled;
        self
    }

    /// A label with the same value on every metric. Default: none.
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// Methods, besides the standard ones, that keep their own `method` value
    /// (lower-cased; matched in any case). Go's `WithExtraMethods`. Default: none.
    pub fn extra_methods<S: Into<String>>(mut self, methods: impl IntoIterator<Item = S>) -> Self {
        self.extra_methods
            .extend(methods.into_iter().map(Into::into));
        self
    }

    /// The `route` value of requests without a route template. Default: `unmatched`.
    pub fn unmatched_route(mut self, value: impl Into<String>) -> Self {
        self.unmatched = value.into();
        self
    }

    /// The most distinct route templates kept; later ones are recorded as the
    /// overflow value. Must not be zero; values over `u32::MAX - 1` are that.
    /// Default: 1000.
    pub fn max_routes(mut self, n: usize) -> Self {
        self.max_routes = n;
        self
    }

    /// A label whose value a function reads from the request (Go's
    /// `WithLabelFromCtx`), typically from an extension set by an earlier layer.
    /// `None` is the empty value. At most `max_values` distinct values are kept
    /// (`max_values` must not be zero; values over `u32::MAX - 1` are that); the
    /// rest are recorded as the overflow value and counted. At most
    /// [`MAX_REQUEST_LABELS`] such labels.
    ///
    /// ```
    /// use promhttp::instrument::HttpMetrics;
    ///
    /// #[derive(Clone)]
    /// struct Tenant(String);
    ///
    /// let http = HttpMetrics::builder()
    ///     .label_from_request("tenant", 50, |req| {
    ///         req.extensions.get::<Tenant>().map(|t| t.0.as_str())
    ///     })
    ///     .build()?;
    /// # let _ = http;
    /// # Ok::<(), promhttp::instrument::ConfigError>(())
    /// ```
    pub fn label_from_request<F>(mut self, name: impl Into<String>, max_values: usize, f: F) -> Self
    where
        F: for<'a> Fn(&'a Parts) -> Option<&'a str> + Send + Sync + 'static,
    {
        self.request_labels.push(RequestLabel {
            name: name.into(),
            max_values,
            f: Arc::new(f),
        });
        self
    }

    /// The value recorded for label values over their limit. Default: `overflow`.
    pub fn overflow_value(mut self, value: impl Into<String>) -> Self {
        self.overflow_value = value.into();
        self
    }

    /// The name of the counter of values recorded as the overflow value, labelled
    /// `label` (present when there are request labels or a route label; off with
    /// [`disable(HttpMetric::LabelOverflows)`](Self::disable)). Default:
    /// `http_label_overflows_total`.
    pub fn overflow_counter(mut self, name: impl Into<String>) -> Self {
        self.overflow_counter = Some(name.into());
        self
    }

    /// The `code` recorded when the inner service returns an error. Default: `500`.
    pub fn error_code(mut self, code: u16) -> Self {
        self.error_code = code;
        self
    }

    /// Exemplar labels from the request (for example `trace_id`), kept on the counter
    /// and the histogram buckets. `None`: no exemplar. Default: none.
    ///
    /// ```
    /// use promhttp::instrument::HttpMetrics;
    /// use promhttp::model::Label;
    ///
    /// let http = HttpMetrics::builder()
    ///     .exemplar(|req| {
    ///         let id = req.headers.get("x-trace-id")?.to_str().ok()?;
    ///         Some(vec![Label::new("trace_id", id.to_owned())])
    ///     })
    ///     .build()?;
    /// # let _ = http;
    /// # Ok::<(), promhttp::instrument::ConfigError>(())
    /// ```
    pub fn exemplar<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> Option<Vec<Label>> + Send + Sync + 'static,
    {
        self.exemplar = Some(Arc::new(f));
        self
    }

    /// Checks the configuration and makes the metrics.
    pub fn build(self) -> Result<HttpMetrics, ConfigError> {
        let mut names: Vec<String> = Vec::new();
        let mut metric_name = |n: &str, what: &str| -> Result<Arc<str>, ConfigError> {
            if !is_valid_metric_name(n) {
                return Err(ConfigError::new(format!(
                    "{what}: invalid metric name {n:?}"
                )));
            }
            // Histogram samples are `_bucket`, `_sum`, `_count`: compare bases too.
            if names.iter().any(|m| {
                m == n
                    || [("_bucket"), ("_sum"), ("_count"), ("_created"), ("_total")]
                        .iter()
                        .any(|s| format!("{m}{s}") == n || format!("{n}{s}") == *m)
            }) {
                return Err(ConfigError::new(format!(
                    "{what}: metric name {n:?} clashes with another metric"
                )));
            }
            names.push(n.to_owned());
            Ok(Arc::from(n))
        };
        let counter = match &self.counter {
            Some(n) => {
                if !n.ends_with("_total") {
                    return Err(ConfigError::new(format!(
                        "requests counter {n:?}: a counter's name must end in _total"
                    )));
                }
                Some((
                    metric_name(n, "requests counter")?,
                    Arc::from("Total number of HTTP requests by status code and method."),
                ))
            }
            None => None,
        };
        let mut hists: [Option<HistSpec>; HIST_KINDS] = [None, None, None, None];
        for (i, h) in self.hists.iter().enumerate() {
            let Some(h) = h else { continue };
            let name = metric_name(&h.name, "histogram")?;
            let bounds = check_buckets(&name, h.buckets.clone())?;
            hists[i] = Some(HistSpec {
                name,
                help: Arc::from(h.help),
                bounds,
            });
        }
        let in_flight = match &self.in_flight {
            Some(n) => Some((
                metric_name(n, "in-flight gauge")?,
                Arc::from("Number of HTTP requests being served."),
            )),
            None => None,
        };
        if counter.is_none() && in_flight.is_none() && hists.iter().all(Option::is_none) {
            return Err(ConfigError::new(
                "no metric: every request metric is disabled",
            ));
        }

        // Labels.
        let mut labels: Vec<(Arc<str>, LabelSource)> = Vec::new();
        let mut const_labels: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (n, v) in &self.const_labels {
            const_labels.push((Arc::from(n.as_str()), Arc::from(v.as_str())));
            labels.push((
                Arc::from(n.as_str()),
                LabelSource::Const(Arc::from(v.as_str())),
            ));
        }
        if self.method {
            labels.push((Arc::from("method"), LabelSource::Method));
        }
        if self.code {
            labels.push((Arc::from("code"), LabelSource::Code));
        }
        if self.route {
            labels.push((Arc::from("route"), LabelSource::Route));
        }
        if self.request_labels.len() > MAX_REQUEST_LABELS {
            return Err(ConfigError::new(format!(
                "{} request labels: at most {MAX_REQUEST_LABELS}",
                self.request_labels.len()
            )));
        }
        for (i, r) in self.request_labels.iter().enumerate() {
            if r.max_values == 0 {
                return Err(ConfigError::new(format!(
                    "request label {:?}: max_values must be at least 1",
                    r.name
                )));
            }
            labels.push((Arc::from(r.name.as_str()), LabelSource::Request(i)));
        }
        for (i, (n, _)) in labels.iter().enumerate() {
            if !is_valid_label_name(n) {
                return Err(ConfigError::new(format!("invalid label name {:?}", &**n)));
            }
            if &**n == "le" && hists.iter().any(Option::is_some) {
                return Err(ConfigError::new(
                    "label name \"le\" is reserved for histograms",
                ));
            }
            if labels[..i].iter().any(|(p, _)| p == n) {
                return Err(ConfigError::new(format!(
                    "label {:?} is defined twice",
                    &**n
                )));
            }
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        const_labels.sort_by(|a, b| a.0.cmp(&b.0));

        let guarded = self.route || !self.request_labels.is_empty();
        if self.route && self.max_routes == 0 {
            return Err(ConfigError::new("max_routes must be at least 1"));
        }
        if guarded && self.unmatched == self.overflow_value && self.route {
            return Err(ConfigError::new(format!(
                "the unmatched route value and the overflow value are both {:?}",
                self.unmatched
            )));
        }
        let overflow_counter = match self.overflow_counter.as_deref().filter(|_| guarded) {
            Some(overflow_name) => {
                if const_labels.iter().any(|(n, _)| &**n == "label") {
                    return Err(ConfigError::new(
                        "constant label \"label\" clashes with the label of the overflow counter",
                    ));
                }
                if !overflow_name.ends_with("_total") {
                    return Err(ConfigError::new(format!(
                        "overflow counter {overflow_name:?}: a counter's name must end in _total"
                    )));
                }
                Some((
                metric_name(overflow_name, "overflow counter")?,
                Arc::from("Label values recorded as the overflow value because their label had too many distinct values."),
            ))
            }
            None => None,
        };

        // Methods.
        let mut extra: Vec<Arc<str>> = Vec::new();
        for m in &self.extra_methods {
            let lower = m.to_ascii_lowercase();
            if http::Method::from_bytes(m.as_bytes()).is_err() || m.is_empty() {
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

        if !(100..=599).contains(&self.error_code) {
            return Err(ConfigError::new(format!(
                "error code {} is not within 100-599",
                self.error_code
            )));
        }

        let overflow: Arc<str> = Arc::from(self.overflow_value.as_str());
        let route = self.route.then(|| {
            Interner::new(
                Arc::from("route"),
                self.max_routes,
                Arc::from(self.unmatched.as_str()),
                overflow.clone(),
            )
        });
        let mut label_fns = Vec::new();
        let mut interners = Vec::new();
        for r in self.request_labels {
            interners.push(Interner::new(
                Arc::from(r.name.as_str()),
                r.max_values,
                Arc::from(""),
                overflow.clone(),
            ));
            label_fns.push(r.f);
        }
        if interners.iter().any(|_| self.overflow_value.is_empty()) {
            return Err(ConfigError::new(
                "the overflow value must not be empty: it is the value of requests without one",
            ));
        }
        let store = Store::new(
            counter,
            hists,
            in_flight,
            labels,
            const_labels,
            Methods::new(extra),
            route,
            interners,
            overflow_counter,
            self.error_code,
        );
        Ok(HttpMetrics {
            shared: Arc::new(Shared {
                store,
                label_fns,
                exemplar: self.exemplar,
            }),
        })
    }
}
