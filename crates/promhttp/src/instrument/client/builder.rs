//! [`ClientMetricsBuilder`] and what it configures: [`ClientMetric`], [`ClientLabel`].

use std::sync::Arc;

use super::{ClientMetrics, Shared, DEFAULT_CONNECT_BUCKETS};
use crate::instrument::error::{
    check_buckets, check_extra_methods, check_label_name, ConfigError, MetricNames,
};
use crate::instrument::labels::{Interner, Methods};
use crate::instrument::store::{HistKind, HistSpec, LabelSource, Store, HIST_KINDS};
use crate::instrument::DEFAULT_DURATION_BUCKETS;

/// A metric of [`ClientMetrics`], to [`disable`](ClientMetricsBuilder::disable) or
/// give another [`help`](ClientMetricsBuilder::help) text. Its name is the
/// [`prefix`](ClientMetricsBuilder::prefix) and the suffix given here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientMetric {
    /// `_requests_total`. Help: "Total number of HTTP client round trips by method
    /// and status code (code="error": no response)."
    RequestsTotal,
    /// `_request_duration_seconds`. Help: "Duration of HTTP client round trips in
    /// seconds, until the response head arrived."
    RequestDuration,
    /// `_requests_in_flight`. Help: "Number of HTTP client round trips waiting for
    /// their response head."
    RequestsInFlight,
    /// `_dns_duration_seconds`. Help: "Duration of DNS resolutions of the HTTP client
    /// in seconds."
    DnsDuration,
    /// `_connect_duration_seconds`. Help: "Duration of TCP connects of the HTTP
    /// client in seconds, after name resolution."
    ConnectDuration,
    /// `_tls_handshake_duration_seconds`, present only with the `hyper-client-tls`
    /// feature. Help: "Duration of TLS handshakes of the HTTP client in seconds,
    /// after the TCP connect."
    TlsHandshakeDuration,
}

const METRICS: usize = 6;

impl ClientMetric {
    fn index(self) -> usize {
        match self {
            ClientMetric::RequestsTotal => 0,
            ClientMetric::RequestDuration => 1,
            ClientMetric::RequestsInFlight => 2,
            ClientMetric::DnsDuration => 3,
            ClientMetric::ConnectDuration => 4,
            ClientMetric::TlsHandshakeDuration => 5,
        }
    }
}

/// Name suffixes and help texts, by [`ClientMetric::index`].
const DEFAULTS: [(&str, &str); METRICS] = [
    (
        "requests_total",
        "Total number of HTTP client round trips by method and status code (code=\"error\": no response).",
    ),
    (
        "request_duration_seconds",
        "Duration of HTTP client round trips in seconds, until the response head arrived.",
    ),
    (
        "requests_in_flight",
        "Number of HTTP client round trips waiting for their response head.",
    ),
    (
        "dns_duration_seconds",
        "Duration of DNS resolutions of the HTTP client in seconds.",
    ),
    (
        "connect_duration_seconds",
        "Duration of TCP connects of the HTTP client in seconds, after name resolution.",
    ),
    (
        "tls_handshake_duration_seconds",
        "Duration of TLS handshakes of the HTTP client in seconds, after the TCP connect.",
    ),
];

/// A label the client instrumentation sets itself, to give another
/// [`label_name`](ClientMetricsBuilder::label_name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientLabel {
    /// The request method, on the round-trip metrics. Default name: `method`.
    Method,
    /// The response status or `error`, on the round-trip metrics. Default name:
    /// `code`.
    Code,
    /// `ok` or `error`, on the DNS, connect and TLS histograms. Default name:
    /// `result`.
    Result,
}

const LABELS: usize = 3;

impl ClientLabel {
    fn index(self) -> usize {
        match self {
            ClientLabel::Method => 0,
            ClientLabel::Code => 1,
            ClientLabel::Result => 2,
        }
    }
}

const DEFAULT_LABEL_NAMES: [&str; LABELS] = ["method", "code", "result"];

/// A metric's name and help.
type Family = (Arc<str>, Arc<str>);

/// Builds [`ClientMetrics`]; made by [`ClientMetrics::builder`], which starts from
/// the preset. Every knob states its default (the preset's value).
#[must_use]
#[derive(Clone, Debug)]
pub struct ClientMetricsBuilder {
    prefix: String,
    enabled: [bool; METRICS],
    help: [String; METRICS],
    label_names: [String; LABELS],
    const_labels: Vec<(String, String)>,
    extra_methods: Vec<String>,
    duration_buckets: Vec<f64>,
    connect_buckets: Vec<f64>,
}

impl ClientMetricsBuilder {
    /// The preset; [`ClientMetrics::builder`] starts here.
    pub(super) fn preset() -> Self {
        ClientMetricsBuilder {
            prefix: "http_client".to_owned(),
            enabled: [true; METRICS],
            help: DEFAULTS.map(|(_, help)| help.to_owned()),
            label_names: DEFAULT_LABEL_NAMES.map(str::to_owned),
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

    /// Removes a metric of the preset. A disabled metric is neither recorded nor
    /// served; [`ClientMetrics::in_flight`] still counts. Default: all enabled.
    pub fn disable(mut self, metric: ClientMetric) -> Self {
        self.enabled[metric.index()] = false;
        self
    }

    /// The help text of a metric (its `# HELP` line). Default: the text given on
    /// each [`ClientMetric`] variant.
    pub fn help(mut self, metric: ClientMetric, text: impl Into<String>) -> Self {
        self.help[metric.index()] = text.into();
        self
    }

    /// The name of a label the instrumentation sets itself. Checked by
    /// [`build`](Self::build): a valid label name, not that of a constant label.
    /// Default: the names given on each [`ClientLabel`] variant.
    ///
    /// ```
    /// use promhttp::instrument::client::{ClientLabel, ClientMetrics};
    ///
    /// let metrics = ClientMetrics::builder()
    ///     .label_name(ClientLabel::Code, "status")
    ///     .build()?;
    /// # let _ = metrics;
    /// # Ok::<(), promhttp::instrument::ConfigError>(())
    /// ```
    pub fn label_name(mut self, label: ClientLabel, name: impl Into<String>) -> Self {
        self.label_names[label.index()] = name.into();
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

    /// Checks the configuration and makes the metrics; see [`ConfigError`] for what
    /// is refused.
    pub fn build(self) -> Result<ClientMetrics, ConfigError> {
        let mut names = MetricNames::default();
        // Name and help of an enabled metric.
        let mut family = |m: ClientMetric| -> Result<Option<Family>, ConfigError> {
            let i = m.index();
            if !self.enabled[i] {
                return Ok(None);
            }
            let name = format!("{}_{}", self.prefix, DEFAULTS[i].0);
            let name = if m == ClientMetric::RequestsTotal {
                names.add_counter("prefix", &name)?
            } else {
                names.add("prefix", &name)?
            };
            Ok(Some((name, Arc::from(self.help[i].as_str()))))
        };
        let counter = family(ClientMetric::RequestsTotal)?;
        let duration = family(ClientMetric::RequestDuration)?;
        let in_flight = family(ClientMetric::RequestsInFlight)?;
        let dns = family(ClientMetric::DnsDuration)?;
        let connect = family(ClientMetric::ConnectDuration)?;
        #[cfg_attr(not(feature = "hyper-client-tls"), allow(unused_variables))]
        let tls = family(ClientMetric::TlsHandshakeDuration)?;

        for n in &self.label_names {
            check_label_name("label_name", n)?;
        }
        let label_name =
            |l: ClientLabel| -> Arc<str> { Arc::from(self.label_names[l.index()].as_str()) };
        let (method, code, result) = (
            label_name(ClientLabel::Method),
            label_name(ClientLabel::Code),
            label_name(ClientLabel::Result),
        );
        if method == code {
            return Err(ConfigError::DuplicateLabel {
                name: method.to_string(),
            });
        }
        let mut const_labels: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (n, v) in &self.const_labels {
            check_label_name("const_label", n)?;
            if n == "le" {
                return Err(ConfigError::ReservedLabelName { name: n.clone() });
            }
            let taken = [&method, &code, &result].iter().any(|l| ***l == **n)
                || const_labels.iter().any(|(p, _)| **p == **n);
            if taken {
                return Err(ConfigError::DuplicateLabel { name: n.clone() });
            }
            const_labels.push((Arc::from(n.as_str()), Arc::from(v.as_str())));
        }
        const_labels.sort_by(|a, b| a.0.cmp(&b.0));
        for l in [&method, &code, &result] {
            if &**l == "le" {
                return Err(ConfigError::ReservedLabelName {
                    name: l.to_string(),
                });
            }
        }
        let extra = check_extra_methods(&self.extra_methods)?;

        let consts = || -> Vec<(Arc<str>, LabelSource)> {
            const_labels
                .iter()
                .map(|(n, v)| (n.clone(), LabelSource::Const(v.clone())))
                .collect()
        };
        let duration = match duration {
            Some((name, help)) => {
                let bounds = check_buckets(&name, self.duration_buckets)?;
                Some(HistSpec { name, help, bounds })
            }
            None => None,
        };
        let mut labels = consts();
        labels.push((method, LabelSource::Method));
        labels.push((code, LabelSource::Code));
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        let requests = Store::new(
            counter,
            hist(duration),
            in_flight,
            labels,
            const_labels.clone(),
            Methods::new(extra),
            None,
            Vec::new(),
            None,
            500,
        );

        let result_store = |family: Option<Family>| -> Result<Store, ConfigError> {
            let spec = match family {
                Some((name, help)) => {
                    let bounds = check_buckets(&name, self.connect_buckets.clone())?;
                    Some(HistSpec { name, help, bounds })
                }
                None => None,
            };
            let mut labels = consts();
            labels.push((result.clone(), LabelSource::Request(0)));
            labels.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Store::new(
                None,
                hist(spec),
                None,
                labels,
                const_labels.clone(),
                Methods::new(Vec::new()),
                None,
                // The `result` label takes two fixed values and no others: the
                // interner's "none" id is `ok`, its overflow id `error`, and it never
                // interns anything (the connector only uses these two ids).
                vec![Interner::new(
                    result.clone(),
                    0,
                    Arc::from("ok"),
                    Arc::from("error"),
                )],
                None,
                500,
            ))
        };
        Ok(ClientMetrics {
            shared: Arc::new(Shared {
                requests,
                dns: result_store(dns)?,
                connect: result_store(connect)?,
                #[cfg(feature = "hyper-client-tls")]
                tls: result_store(tls)?,
            }),
        })
    }
}

/// Histogram specs with at most the duration histogram.
fn hist(duration: Option<HistSpec>) -> [Option<HistSpec>; HIST_KINDS] {
    let mut hists: [Option<HistSpec>; HIST_KINDS] = [None, None, None, None];
    hists[HistKind::Duration as usize] = duration;
    hists
}
