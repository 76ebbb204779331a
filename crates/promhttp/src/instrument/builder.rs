//! Configuration of [`HttpMetrics`], checked when built.

use std::fmt;
use std::sync::Arc;

use http::request::Parts;
use http::StatusCode;

use super::error::{
    check_buckets, check_extra_methods, check_label_name, ConfigError, MetricNames,
};
use super::labels::{Interner, Methods};
use super::names::{HttpLabel, HttpMetric, DEFAULT_HELP, DEFAULT_LABEL_NAMES, LABELS, METRICS};
use super::pending::{ExemplarFn, LabelFn, Shared};
use super::store::{
    HistKind, HistSpec, LabelSource, OverflowCounter, Store, HIST_KINDS, MAX_REQUEST_LABELS,
};
use super::HttpMetrics;
use crate::model::Label;

/// Go's `prometheus.DefBuckets`, in seconds.
pub const DEFAULT_DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Sizes from 100 B to 1 GB, ×10 each (`prometheus.ExponentialBuckets(100, 10, 8)`).
pub const DEFAULT_SIZE_BUCKETS: [f64; 8] = [1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Each histogram, in [`HistKind`] order: the metric and the setter that names it.
const HISTS: [(HttpMetric, &str); HIST_KINDS] = [
    (HttpMetric::RequestDuration, "request_duration"),
    (HttpMetric::RequestSize, "request_size"),
    (HttpMetric::ResponseSize, "response_size"),
    (HttpMetric::TimeToWriteHeader, "time_to_write_header"),
];

struct HistConf {
    name: String,
    buckets: Vec<f64>,
}

impl HistConf {
    fn new(name: &str, buckets: &[f64]) -> Self {
        HistConf {
            name: name.to_owned(),
            buckets: buckets.to_vec(),
        }
    }
}

struct RequestLabel {
    name: String,
    max_values: usize,
    f: LabelFn,
}

/// Builds [`HttpMetrics`]; made by [`HttpMetrics::builder`], which starts from the
/// preset. Every knob states its default (the preset's value).
#[must_use]
pub struct HttpMetricsBuilder {
    counter: Option<String>,
    hists: [Option<HistConf>; HIST_KINDS],
    in_flight: Option<String>,
    overflow_counter: Option<String>,
    help: [String; METRICS],
    label_names: [String; LABELS],
    method: bool,
    code: bool,
    route: bool,
    const_labels: Vec<(String, String)>,
    extra_methods: Vec<String>,
    unmatched: String,
    max_routes: usize,
    request_labels: Vec<RequestLabel>,
    overflow_value: String,
    error_code: StatusCode,
    exemplar: Option<ExemplarFn>,
}

impl fmt::Debug for HttpMetricsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetricsBuilder")
            .field("counter", &self.counter)
            .field("in_flight", &self.in_flight)
            .field("label_names", &self.label_names)
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
                    &DEFAULT_DURATION_BUCKETS,
                )),
                Some(HistConf::new(
                    "http_request_size_bytes",
                    &DEFAULT_SIZE_BUCKETS,
                )),
                Some(HistConf::new(
                    "http_response_size_bytes",
                    &DEFAULT_SIZE_BUCKETS,
                )),
                None,
            ],
            in_flight: Some("http_requests_in_flight".to_owned()),
            overflow_counter: Some("http_label_overflows_total".to_owned()),
            help: DEFAULT_HELP.map(str::to_owned),
            label_names: DEFAULT_LABEL_NAMES.map(str::to_owned),
            method: true,
            code: true,
            route: true,
            const_labels: Vec::new(),
            extra_methods: Vec::new(),
            unmatched: "unmatched".to_owned(),
            max_routes: 1000,
            request_labels: Vec::new(),
            overflow_value: "overflow".to_owned(),
            error_code: StatusCode::INTERNAL_SERVER_ERROR,
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
        self.hists[kind as usize] = Some(HistConf { name, buckets });
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

    /// The help text of a metric (its `# HELP` line). Default: the text given on
    /// each [`HttpMetric`] variant. Setting it does not enable a disabled metric.
    ///
    /// ```
    /// use promhttp::instrument::{HttpMetric, HttpMetrics};
    ///
    /// let http = HttpMetrics::builder()
    ///     .help(HttpMetric::RequestsTotal, "Requests served by the API.")
    ///     .build()?;
    /// # let _ = http;
    /// # Ok::<(), promhttp::instrument::ConfigError>(())
    /// ```
    pub fn help(mut self, metric: HttpMetric, text: impl Into<String>) -> Self {
        self.help[metric.index()] = text.into();
        self
    }

    /// The name of a label the middleware sets itself (Go's promhttp calls the route
    /// label `handler`). Checked by [`build`](Self::build): a valid label name
    /// (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`), given even when the label
    /// is off, and not the name of another label of the same metric. Default: the
    /// names given on each [`HttpLabel`] variant.
    pub fn label_name(mut self, label: HttpLabel, name: impl Into<String>) -> Self {
        self.label_names[label.index()] = name.into();
        self
    }

    /// Whether the `method` label ([`HttpLabel::Method`]) is used. Default: `true`.
    pub fn method_label(mut self, enabled: bool) -> Self {
        self.method = enabled;
        self
    }

    /// Whether the `code` label ([`HttpLabel::Code`]) is used. Default: `true`.
    pub fn code_label(mut self, enabled: bool) -> Self {
        self.code = enabled;
        self
    }

    /// Whether the `route` label ([`HttpLabel::Route`]) is used. Default: `true`.
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
    /// with the name of the label that overflowed ([`HttpLabel::Overflowed`], default
    /// `label`), and the constant labels. Present when there are request labels or
    /// a route label; off with [`disable(HttpMetric::LabelOverflows)`](Self::disable).
    /// Default: `http_label_overflows_total`.
    pub fn overflow_counter(mut self, name: impl Into<String>) -> Self {
        self.overflow_counter = Some(name.into());
        self
    }

    /// The `code` recorded when the inner service returns an error. It must be within
    /// 100–599, the range the `code` label keeps (else
    /// [`ConfigError::ErrorCodeOutOfRange`]). Default: `500 Internal Server Error`.
    ///
    /// ```
    /// use http::StatusCode;
    /// use promhttp::instrument::HttpMetrics;
    ///
    /// let http = HttpMetrics::builder()
    ///     .error_code(StatusCode::SERVICE_UNAVAILABLE)
    ///     .build()?;
    /// # let _ = http;
    /// # Ok::<(), promhttp::instrument::ConfigError>(())
    /// ```
    pub fn error_code(mut self, code: StatusCode) -> Self {
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

    /// Checks the configuration and makes the metrics; see [`ConfigError`] for what
    /// is refused.
    pub fn build(self) -> Result<HttpMetrics, ConfigError> {
        let help = |m: HttpMetric| -> Arc<str> { Arc::from(self.help[m.index()].as_str()) };
        let mut names = MetricNames::default();
        let counter = match &self.counter {
            Some(n) => Some((
                names.add_counter("requests_total", n)?,
                help(HttpMetric::RequestsTotal),
            )),
            None => None,
        };
        let mut hists: [Option<HistSpec>; HIST_KINDS] = [None, None, None, None];
        for (i, h) in self.hists.iter().enumerate() {
            let Some(h) = h else { continue };
            let (metric, option) = HISTS[i];
            let name = names.add(option, &h.name)?;
            let bounds = check_buckets(&name, h.buckets.clone())?;
            hists[i] = Some(HistSpec {
                name,
                help: help(metric),
                bounds,
            });
        }
        let in_flight = match &self.in_flight {
            Some(n) => Some((
                names.add("requests_in_flight", n)?,
                help(HttpMetric::RequestsInFlight),
            )),
            None => None,
        };
        if counter.is_none() && in_flight.is_none() && hists.iter().all(Option::is_none) {
            return Err(ConfigError::NoMetric);
        }

        // Labels.
        for n in &self.label_names {
            check_label_name("label_name", n)?;
        }
        let label_name =
            |l: HttpLabel| -> Arc<str> { Arc::from(self.label_names[l.index()].as_str()) };
        let mut labels: Vec<(Arc<str>, LabelSource)> = Vec::new();
        let mut const_labels: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (n, v) in &self.const_labels {
            check_label_name("const_label", n)?;
            const_labels.push((Arc::from(n.as_str()), Arc::from(v.as_str())));
            labels.push((
                Arc::from(n.as_str()),
                LabelSource::Const(Arc::from(v.as_str())),
            ));
        }
        if self.method {
            labels.push((label_name(HttpLabel::Method), LabelSource::Method));
        }
        if self.code {
            labels.push((label_name(HttpLabel::Code), LabelSource::Code));
        }
        if self.route {
            labels.push((label_name(HttpLabel::Route), LabelSource::Route));
        }
        if self.request_labels.len() > MAX_REQUEST_LABELS {
            return Err(ConfigError::TooManyRequestLabels {
                count: self.request_labels.len(),
            });
        }
        for (i, r) in self.request_labels.iter().enumerate() {
            check_label_name("label_from_request", &r.name)?;
            if r.max_values == 0 {
                return Err(ConfigError::ZeroLimit {
                    label: r.name.clone(),
                });
            }
            labels.push((Arc::from(r.name.as_str()), LabelSource::Request(i)));
        }
        for (i, (n, _)) in labels.iter().enumerate() {
            if &**n == "le" && hists.iter().any(Option::is_some) {
                return Err(ConfigError::ReservedLabelName {
                    name: n.to_string(),
                });
            }
            if labels[..i].iter().any(|(p, _)| p == n) {
                return Err(ConfigError::DuplicateLabel {
                    name: n.to_string(),
                });
            }
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        const_labels.sort_by(|a, b| a.0.cmp(&b.0));

        let guarded = self.route || !self.request_labels.is_empty();
        if self.route && self.max_routes == 0 {
            return Err(ConfigError::ZeroLimit {
                label: label_name(HttpLabel::Route).to_string(),
            });
        }
        if self.route && self.unmatched == self.overflow_value {
            return Err(ConfigError::AmbiguousRouteValue {
                value: self.unmatched.clone(),
            });
        }
        if !self.request_labels.is_empty() && self.overflow_value.is_empty() {
            return Err(ConfigError::EmptyOverflowValue);
        }
        let overflow_counter = match self.overflow_counter.as_deref().filter(|_| guarded) {
            Some(name) => {
                let label = label_name(HttpLabel::Overflowed);
                if const_labels.iter().any(|(n, _)| *n == label) {
                    return Err(ConfigError::DuplicateLabel {
                        name: label.to_string(),
                    });
                }
                Some(OverflowCounter {
                    name: names.add_counter("overflow_counter", name)?,
                    help: help(HttpMetric::LabelOverflows),
                    label,
                })
            }
            None => None,
        };
        let extra = check_extra_methods(&self.extra_methods)?;
        if !(100..=599).contains(&self.error_code.as_u16()) {
            return Err(ConfigError::ErrorCodeOutOfRange {
                code: self.error_code,
            });
        }

        let overflow: Arc<str> = Arc::from(self.overflow_value.as_str());
        let route = self.route.then(|| {
            Interner::new(
                label_name(HttpLabel::Route),
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
            self.error_code.as_u16(),
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
