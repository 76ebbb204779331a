//! Encoders: the model in, bytes of one wire format out.
//!
//! Each format is its own module, writing into a caller-owned `Vec<u8>` so buffers
//! can be reused across scrapes. Encoders never fail and never know about HTTP:
//! the gathering step has already checked names, types and duplicates, and escaped
//! names outside the legacy character set for a scraper that did not ask for UTF-8
//! names ([`Escaping`], [`normalize_with`](crate::gather::normalize_with)). A name
//! that is still outside the set is written as the text formats carry UTF-8 names:
//! quoted, inside the braces on a sample line (`{"http.server.duration_count"} 3`)
//! and alone on a metadata line (`# TYPE "http.server.duration" histogram`), with
//! `\`, `"` and newlines escaped; protobuf writes it as it is.
//!
//! | module | format | `Content-Type` |
//! |---|---|---|
//! | [`text`] | Prometheus text 0.0.4 (and 1.0.0, same bytes for legacy names) | `text/plain; version=0.0.4; charset=utf-8` |
//! | [`openmetrics`] | OpenMetrics 1.0.0 text | `application/openmetrics-text; version=1.0.0; charset=utf-8` |
//! | [`protobuf`] | `io.prometheus.client.MetricFamily`, varint-length delimited | `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited` |
//! | [`openmetrics2`] | OpenMetrics 2.0 text (experimental, opt-in) | `application/openmetrics-text; version=2.0.0; charset=utf-8` |
//!
//! ```
//! use promhttp::encode::{encode, EncodeOptions, Format};
//! use promhttp::model::{Metric, MetricFamily, MetricType, Value};
//!
//! let families = vec![MetricFamily::new("up_total", "Ups.", MetricType::Counter)
//!     .with_metric(Metric::new(vec![], Value::counter(1.0)))];
//! let mut out = Vec::new();
//! encode(Format::Text, &families, &EncodeOptions::default(), &mut out);
//! assert_eq!(out, b"# HELP up_total Ups.\n# TYPE up_total counter\nup_total 1\n");
//! ```

pub(crate) mod blocks;
pub(crate) mod escape;
pub(crate) mod float;
pub(crate) mod lines;
mod names;
pub mod openmetrics;
pub mod openmetrics2;
pub mod protobuf;
pub mod text;

pub use names::Escaping;
pub(crate) use names::{is_legacy_label_name, is_legacy_metric_name};

use crate::model::MetricFamily;

/// A wire format (the body; the exact `Content-Type` comes from negotiation).
///
/// New formats may be added: match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text exposition format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
    /// Protobuf, varint-length-delimited `io.prometheus.client.MetricFamily` messages.
    Protobuf,
    /// OpenMetrics 2.0 text (experimental: the 2.0.0-rc0 draft; see [`openmetrics2`]).
    OpenMetrics2,
}

/// What an encoder may include beyond the samples themselves.
///
/// Starts from [`EncodeOptions::default()`] (nothing extra); options may be added,
/// each off by default.
///
/// ```
/// use promhttp::encode::EncodeOptions;
///
/// let opts = EncodeOptions::default().with_created(true);
/// assert!(opts.created);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EncodeOptions {
    /// Write OpenMetrics `_created` samples where the model has a created (start)
    /// time. Off by default: they add one series per counter, histogram and summary.
    /// Protobuf carries the time in its own field whenever the model has one,
    /// whatever this says.
    pub created: bool,
}

impl EncodeOptions {
    /// Sets [`created`](Self::created).
    pub fn with_created(mut self, created: bool) -> Self {
        self.created = created;
        self
    }
}

/// Encodes `families` in `format`, appending to `out`.
///
/// Families should be normalized first (sorted, merged, checked), as
/// [`crate::gather`] does; encoders write what they are given.
pub fn encode(format: Format, families: &[MetricFamily], opts: &EncodeOptions, out: &mut Vec<u8>) {
    encode_families(format, families, opts, out);
    finish(format, out);
}

/// Encodes `families` without what ends a page (OpenMetrics' `# EOF`), so that
/// pieces of a page can be written in turn.
pub(crate) fn encode_families(
    format: Format,
    families: &[MetricFamily],
    opts: &EncodeOptions,
    out: &mut Vec<u8>,
) {
    match format {
        Format::Text => text::encode(families, out),
        Format::OpenMetrics => openmetrics::encode_families(families, opts, out),
        Format::Protobuf => protobuf::encode(families, opts, out),
        Format::OpenMetrics2 => openmetrics2::encode_families(families, opts, out),
    }
}

/// Ends a page written with [`encode_families`].
pub(crate) fn finish(format: Format, out: &mut Vec<u8>) {
    if matches!(format, Format::OpenMetrics | Format::OpenMetrics2) {
        out.extend_from_slice(b"# EOF\n");
    }
}

#[cfg(test)]
pub(crate) mod testdata {
    //! A family set that exercises every rule the encoders have, and golden files.
    use crate::model::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// `ms` milliseconds after the epoch.
    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn l(name: &'static str, value: &str) -> Label {
        Label::new(name, value.to_string())
    }

    fn exemplar(trace: &'static str, value: f64, ts: Option<SystemTime>) -> Option<Box<Exemplar>> {
        let e = Exemplar::new(vec![Label::new("trace_id", trace)], value);
        Some(Box::new(match ts {
            Some(ts) => e.with_timestamp(ts),
            None => e,
        }))
    }

    /// Families in name order, as gathering leaves them.
    pub(crate) fn families() -> Vec<MetricFamily> {
        let mut requests = MetricFamily::new(
            "http_requests_total",
            "Requests \\ served.\nSecond \"line\".",
            MetricType::Counter,
        );
        let mut m = Metric::new(
            vec![l("code", "200"), l("path", "/a\"b\\c\nd")],
            Value::Counter(CounterValue {
                value: 1027.0,
                exemplar: exemplar("4bf92f3577b34da6", 0.67, Some(at(1_600_000_000_123))),
            }),
        );
        m.created = Some(at(1_600_000_000_500));
        requests.metrics.push(m);
        let mut m = Metric::new(
            vec![l("code", "500"), l("path", "Björn 佖佥 {}#,\t")],
            Value::counter(3.0),
        );
        m.created = Some(at(1_600_000_001_000));
        requests.metrics.push(m);

        let odd = MetricFamily::new(
            "odd_counter",
            "A counter without _total.",
            MetricType::Counter,
        )
        .with_metric(Metric::new(vec![], Value::counter(1e6)));

        let mut latency = MetricFamily::new(
            "request_duration_seconds",
            "Request latency.",
            MetricType::Histogram,
        )
        .with_unit("seconds");
        let mut m = Metric::new(
            vec![l("method", "GET")],
            Value::Histogram(HistogramValue {
                buckets: vec![
                    Bucket {
                        upper_bound: 0.005,
                        cumulative_count: 1,
                        exemplar: None,
                    },
                    Bucket {
                        upper_bound: 0.5,
                        cumulative_count: 3,
                        exemplar: exemplar("abc", 0.25, None),
                    },
                    Bucket {
                        upper_bound: 1.0,
                        cumulative_count: 4,
                        exemplar: None,
                    },
                    Bucket {
                        upper_bound: 10.0,
                        cumulative_count: 4,
                        exemplar: None,
                    },
                ],
                count: 5,
                sum: 12.755,
                native: None,
            }),
        );
        m.created = Some(at(1_600_000_002_250));
        latency.metrics.push(m);
        // An explicit +Inf bucket is not duplicated.
        latency.metrics.push(Metric::new(
            vec![l("method", "POST")],
            Value::Histogram(HistogramValue {
                buckets: vec![
                    Bucket {
                        upper_bound: 1e-5,
                        cumulative_count: 0,
                        exemplar: None,
                    },
                    Bucket {
                        upper_bound: f64::INFINITY,
                        cumulative_count: 0,
                        exemplar: None,
                    },
                ],
                count: 0,
                sum: 0.0,
                native: None,
            }),
        ));

        let rpc = MetricFamily::new("rpc_duration_seconds", "RPC latency.", MetricType::Summary)
            .with_metric(Metric::new(
                vec![],
                Value::Summary(SummaryValue {
                    quantiles: vec![
                        Quantile {
                            quantile: 0.5,
                            value: 0.05,
                        },
                        Quantile {
                            quantile: 0.99,
                            value: f64::NAN,
                        },
                    ],
                    count: 1_000_000,
                    sum: 1.7560473e6,
                }),
            ));

        let temperature = MetricFamily::new("temperature_celsius", "", MetricType::Gauge)
            .with_unit("celsius")
            .with_metric(Metric::new(vec![l("room", "a")], Value::Gauge(-3.5)))
            .with_metric(Metric::new(
                vec![l("room", "b")],
                Value::Gauge(f64::NEG_INFINITY),
            ));

        let mut legacy = MetricFamily::new("legacy_value", "Untyped.", MetricType::Untyped);
        let mut m = Metric::new(vec![], Value::Untyped(0.0001));
        m.timestamp = Some(at(1_600_000_000_123));
        legacy.metrics.push(m);

        vec![requests, legacy, odd, latency, rpc, temperature]
    }

    /// A dual histogram (classic and native buckets) and a native-only one, each
    /// with a native exemplar, for what the text formats show of them.
    pub(crate) fn native_families() -> Vec<MetricFamily> {
        let native = NativeHistogram::from_counts(0, 2f64.powi(-128), 1, [(1, 3), (2, 1)], [])
            .with_exemplars([Exemplar::new(vec![l("trace_id", "native")], 1.5)
                .with_timestamp(at(1_600_000_000_000))]);
        let classic = vec![
            Bucket::new(1.0, 1).with_exemplar(
                Exemplar::new(vec![l("trace_id", "classic")], 0.5)
                    .with_timestamp(at(1_600_000_000_000)),
            ),
            Bucket::new(10.0, 5),
        ];
        let dual = HistogramValue::new(classic, 5, 7.5).with_native(native.clone());
        let native_only = HistogramValue::new(vec![], 5, 7.5).with_native(native);
        vec![
            MetricFamily::new("lat_seconds", "Latency.", MetricType::Histogram)
                .with_metric(Metric::new(vec![l("kind", "dual")], dual.into()))
                .with_metric(Metric::new(vec![l("kind", "native")], native_only.into())),
        ]
    }

    /// Compares `got` with `testdata/golden/<name>`; `UPDATE_GOLDEN=1` rewrites it.
    pub(crate) fn assert_golden(name: &str, got: &[u8]) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
        assert_eq!(
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(&want),
            "golden file {name} differs"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bucket, CounterValue, Exemplar, HistogramValue, Label, Metric, MetricType};
    use std::time::{Duration, UNIX_EPOCH};

    /// A counter and a histogram bucket, both carrying `exemplar` (or none).
    fn page(exemplar: Option<&Exemplar>) -> Vec<MetricFamily> {
        let mut counter = CounterValue::new(3.0);
        let mut bucket = Bucket::new(0.5, 1);
        if let Some(e) = exemplar {
            counter = counter.with_exemplar(e.clone());
            bucket = bucket.with_exemplar(e.clone());
        }
        let histogram = HistogramValue::new(vec![bucket], 2, 1.0);
        vec![
            MetricFamily::new("c_total", "", MetricType::Counter)
                .with_metric(Metric::new(vec![], counter.into())),
            MetricFamily::new("h", "", MetricType::Histogram)
                .with_metric(Metric::new(vec![], histogram.into())),
        ]
    }

    fn bytes(format: Format, families: &[MetricFamily]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(format, families, &EncodeOptions::default(), &mut out);
        out
    }

    /// One rule decides, so the formats agree: an exemplar that
    /// `Exemplar::validate` refuses leaves every format's bytes as if there were
    /// none, and a valid one shows wherever the format has a place for it.
    #[test]
    fn every_format_drops_the_same_exemplars() {
        let valid = Exemplar::new(vec![Label::new("trace_id", "abc")], 0.25)
            .with_timestamp(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let invalid = [
            Exemplar::new(vec![Label::new("trace-id", "abc")], 0.25),
            Exemplar::new(vec![Label::new("a", "1"), Label::new("a", "2")], 0.25),
            Exemplar::new(vec![Label::new("trace_id", "x".repeat(121))], 0.25),
            Exemplar::new(vec![Label::new("trace_id", "abc")], f64::NAN),
            valid
                .clone()
                .with_timestamp(UNIX_EPOCH - Duration::from_secs(1)),
            valid
                .clone()
                .with_timestamp(UNIX_EPOCH + Duration::from_secs(253_402_300_800)),
        ];
        for format in [Format::Text, Format::OpenMetrics, Format::Protobuf] {
            let without = bytes(format, &page(None));
            let with_valid = bytes(format, &page(Some(&valid)));
            assert_eq!(with_valid == without, format == Format::Text, "{format:?}");
            for e in &invalid {
                assert!(e.validate().is_err(), "{e:?}");
                assert_eq!(
                    bytes(format, &page(Some(e))),
                    without,
                    "{format:?} wrote {e:?}"
                );
            }
        }
        let om = String::from_utf8(bytes(Format::OpenMetrics, &page(Some(&valid)))).unwrap();
        assert_eq!(
            om.matches(" # {trace_id=\"abc\"} 0.25 1.7e+09\n").count(),
            2,
            "{om}"
        );
    }
}
