//! OpenMetrics 1.0.0 text.
//!
//! Differences from text 0.0.4, all required by the specification:
//! - metadata lines are `# TYPE`, `# UNIT`, `# HELP` in that order; help also escapes `"`;
//! - a counter family is named without `_total`, its sample keeps it (`# TYPE
//!   requests counter` / `requests_total 3.0`). A counter whose name lacks `_total`
//!   is written as `unknown` under its own name (as client_golang does), so the
//!   series keeps the same name whichever format the scraper negotiates;
//! - `# UNIT` only when the unit is non-empty and the name (without `_total`) ends
//!   with `_<unit>`; otherwise the line is left out;
//! - every float has a `.` or an exponent (`le="1.0"`, `42.0`); counts are integers;
//! - exemplars (` # {trace_id="…"} 0.5 1.6e+09`) only on counter `_total` and
//!   histogram `_bucket` samples, and only when [`Exemplar::validate`] accepts them
//!   (at most 128 code points of labels, among other rules); an invalid exemplar is
//!   dropped, the sample is kept;
//! - `_created` samples when [`EncodeOptions::created`] is set and the model has them;
//! - a histogram with a negative bucket bound has no `_sum` and no `_count`;
//! - native histograms have no place in OpenMetrics 1.0: a histogram shows its
//!   classic buckets only, so a dual histogram (classic and
//!   [native](crate::model::HistogramValue::native) buckets) appears as its classic
//!   self, and a native-only one as just its `+Inf` bucket, `_sum` and `_count`.
//!   Native exemplars ([`NativeHistogram::exemplars`](crate::model::NativeHistogram::exemplars))
//!   are not shown, not even on that `+Inf` bucket: Go's `expfmt` writes the
//!   `+Inf` bucket it adds without an exemplar, and only protobuf carries them;
//! - timestamps are seconds; the body ends with exactly one `# EOF`.

use super::escape::{write_help_openmetrics, write_label_value};
use super::float::{write_om_float, write_u64, FloatCache};
use super::is_legacy_metric_name;
use super::text::{write_label_pairs, write_series, Extra, SeriesName};
use super::EncodeOptions;
use crate::model::exemplar::writable;
use crate::model::time::{to_millis, to_seconds};
use std::time::SystemTime;

use crate::model::{Exemplar, MetricFamily, MetricType, Value};

/// Encodes `families` as OpenMetrics 1.0.0 text, ending with `# EOF`.
pub fn encode(families: &[MetricFamily], opts: &EncodeOptions, out: &mut Vec<u8>) {
    encode_families(families, opts, out);
    out.extend_from_slice(b"# EOF\n");
}

/// Encodes `families` without the closing `# EOF`.
pub(crate) fn encode_families(families: &[MetricFamily], opts: &EncodeOptions, out: &mut Vec<u8>) {
    let mut labels = Vec::with_capacity(256);
    let mut bounds = FloatCache::new(true);
    for family in families {
        encode_family(family, opts, &mut labels, &mut bounds, out);
    }
}

fn encode_family(
    family: &MetricFamily,
    opts: &EncodeOptions,
    labels: &mut Vec<u8>,
    bounds: &mut FloatCache,
    out: &mut Vec<u8>,
) {
    let head = write_head(
        out,
        &family.name,
        &family.help,
        &family.unit,
        family.metric_type,
    );
    for metric in &family.metrics {
        labels.clear();
        write_label_pairs(labels, &metric.labels);
        let ts = metric.timestamp.map(to_millis);
        write_metric(
            out,
            bounds,
            head,
            labels,
            &metric.value,
            ts,
            metric.created,
            opts,
        );
    }
}

/// How a family's samples are named: `name` is the OpenMetrics family name (a
/// counter's without `_total`), and `counter` says whether its samples are `_total`.
#[derive(Clone, Copy)]
pub(crate) struct Head<'a> {
    name: SeriesName<'a>,
    counter: bool,
}

impl<'a> Head<'a> {
    /// How the samples of a family named `full` of this type are named.
    pub(crate) fn of(full: &'a str, metric_type: MetricType) -> Head<'a> {
        // Without `_total` a name is legacy exactly when it is with it.
        let quoted = !is_legacy_metric_name(full);
        let full = full.as_bytes();
        // A counter keeps its sample name `x_total`; the family is `x`.
        match full.strip_suffix(b"_total") {
            Some(base) if !base.is_empty() && metric_type == MetricType::Counter => Head {
                name: SeriesName {
                    bytes: base,
                    quoted,
                },
                counter: true,
            },
            _ => Head {
                name: SeriesName {
                    bytes: full,
                    quoted,
                },
                counter: false,
            },
        }
    }
}

/// Appends a family's `# TYPE`, `# UNIT` (when the name ends with it) and `# HELP`
/// lines; returns how its samples are named.
pub(crate) fn write_head<'a>(
    out: &mut Vec<u8>,
    full: &'a str,
    help: &str,
    unit: &str,
    metric_type: MetricType,
) -> Head<'a> {
    let head = Head::of(full, metric_type);
    let name = head.name;
    let type_name = match metric_type {
        MetricType::Counter if head.counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        _ => "unknown",
    };
    out.extend_from_slice(b"# TYPE ");
    name.write_alone(out);
    out.push(b' ');
    out.extend_from_slice(type_name.as_bytes());
    out.push(b'\n');
    let unit = unit.as_bytes();
    let bytes = name.bytes;
    if !unit.is_empty()
        && type_name != "unknown"
        && bytes.len() > unit.len() + 1
        && bytes.ends_with(unit)
        && bytes[bytes.len() - unit.len() - 1] == b'_'
    {
        out.extend_from_slice(b"# UNIT ");
        name.write_alone(out);
        out.push(b' ');
        out.extend_from_slice(unit);
        out.push(b'\n');
    }
    if !help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        name.write_alone(out);
        out.push(b' ');
        write_help_openmetrics(out, help);
        out.push(b'\n');
    }
    head
}

/// Appends the sample lines of one metric, whose label pairs
/// [`write_label_pairs`] wrote into `labels`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn write_metric(
    out: &mut Vec<u8>,
    bounds: &mut FloatCache,
    head: Head<'_>,
    labels: &[u8],
    value: &Value,
    ts: Option<i64>,
    created_at: Option<SystemTime>,
    opts: &EncodeOptions,
) {
    let Head { name, counter } = head;
    match value {
        Value::Counter(c) if counter => {
            write_series(out, name, b"_total", labels, None, bounds);
            write_om_float(out, c.value);
            end(out, ts, c.exemplar.as_deref());
            created(out, bounds, name, labels, created_at, ts, opts);
        }
        Value::Counter(c) => float_line(out, bounds, name, labels, c.value, ts),
        Value::Gauge(v) | Value::Untyped(v) => float_line(out, bounds, name, labels, *v, ts),
        Value::Histogram(h) => {
            let mut inf_seen = false;
            let mut negative = false;
            for b in &h.buckets {
                inf_seen |= b.upper_bound == f64::INFINITY;
                negative |= b.upper_bound < 0.0;
                let le = Some(Extra(b"le", b.upper_bound));
                write_series(out, name, b"_bucket", labels, le, bounds);
                write_u64(out, b.cumulative_count);
                end(out, ts, b.exemplar.as_deref());
            }
            if !inf_seen {
                let le = Some(Extra(b"le", f64::INFINITY));
                write_series(out, name, b"_bucket", labels, le, bounds);
                write_u64(out, h.count);
                end(out, ts, None);
            }
            if !negative {
                write_series(out, name, b"_sum", labels, None, bounds);
                write_om_float(out, h.sum);
                end(out, ts, None);
                write_series(out, name, b"_count", labels, None, bounds);
                write_u64(out, h.count);
                end(out, ts, None);
            }
            created(out, bounds, name, labels, created_at, ts, opts);
        }
        Value::Summary(s) => {
            for q in &s.quantiles {
                let extra = Some(Extra(b"quantile", q.quantile));
                write_series(out, name, b"", labels, extra, bounds);
                write_om_float(out, q.value);
                end(out, ts, None);
            }
            write_series(out, name, b"_sum", labels, None, bounds);
            write_om_float(out, s.sum);
            end(out, ts, None);
            write_series(out, name, b"_count", labels, None, bounds);
            write_u64(out, s.count);
            end(out, ts, None);
            created(out, bounds, name, labels, created_at, ts, opts);
        }
    }
}

fn float_line(
    out: &mut Vec<u8>,
    bounds: &mut FloatCache,
    name: SeriesName<'_>,
    labels: &[u8],
    v: f64,
    ts: Option<i64>,
) {
    write_series(out, name, b"", labels, None, bounds);
    write_om_float(out, v);
    end(out, ts, None);
}

fn created(
    out: &mut Vec<u8>,
    bounds: &mut FloatCache,
    name: SeriesName<'_>,
    labels: &[u8],
    created_at: Option<SystemTime>,
    ts: Option<i64>,
    opts: &EncodeOptions,
) {
    if let (true, Some(c)) = (opts.created, created_at) {
        write_series(out, name, b"_created", labels, None, bounds);
        write_om_float(out, to_seconds(c));
        end(out, ts, None);
    }
}

/// Ends a sample line: optional timestamp, optional exemplar, newline.
fn end(out: &mut Vec<u8>, ts: Option<i64>, exemplar: Option<&Exemplar>) {
    if let Some(ts) = ts {
        out.push(b' ');
        write_timestamp(out, ts);
    }
    if let Some(e) = exemplar.filter(|e| writable(e)) {
        write_exemplar_head(out, e);
        if let Some(t) = e.timestamp {
            out.push(b' ');
            write_om_float(out, to_seconds(t));
        }
    }
    out.push(b'\n');
}

/// Appends ` # {labels} value` of an exemplar (its timestamp is the caller's: each
/// OpenMetrics version writes it its own way).
pub(crate) fn write_exemplar_head(out: &mut Vec<u8>, e: &Exemplar) {
    out.extend_from_slice(b" # {");
    for (i, l) in e.labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(l.name.as_bytes());
        out.extend_from_slice(b"=\"");
        write_label_value(out, &l.value);
        out.push(b'"');
    }
    out.extend_from_slice(b"} ");
    write_om_float(out, e.value);
}

/// Milliseconds to OpenMetrics seconds (`1.5` for 1500 ms), exact to the millisecond.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, ms: i64) {
    if ms < 0 {
        out.push(b'-');
    }
    let abs = ms.unsigned_abs();
    write_u64(out, abs / 1000);
    out.push(b'.');
    let frac = abs % 1000;
    if frac == 0 {
        out.push(b'0');
    } else {
        let digits = [
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        let mut n = 3;
        while n > 1 && digits[n - 1] == b'0' {
            n -= 1;
        }
        out.extend_from_slice(&digits[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::testdata;
    use crate::model::{Label, Metric, Value};

    #[test]
    fn golden() {
        let mut out = Vec::new();
        encode(
            &testdata::families(),
            &EncodeOptions { created: false },
            &mut out,
        );
        testdata::assert_golden("openmetrics.txt", &out);
    }

    #[test]
    fn golden_with_created() {
        let mut out = Vec::new();
        encode(
            &testdata::families(),
            &EncodeOptions { created: true },
            &mut out,
        );
        testdata::assert_golden("openmetrics_created.txt", &out);
    }

    /// Classic buckets and their exemplars only: the native-only histogram is
    /// `+Inf`, `_sum`, `_count`, and no native exemplar shows.
    #[test]
    fn native_histograms_show_their_classic_buckets() {
        let mut out = Vec::new();
        encode(
            &testdata::native_families(),
            &EncodeOptions::default(),
            &mut out,
        );
        testdata::assert_golden("openmetrics_native.txt", &out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("trace_id=\"classic\""), "{text}");
        assert!(!text.contains("trace_id=\"native\""), "{text}");
    }

    #[test]
    fn empty_is_just_eof() {
        let mut out = Vec::new();
        encode(&[], &EncodeOptions::default(), &mut out);
        assert_eq!(out, b"# EOF\n");
    }

    fn with_exemplar(labels: Vec<Label>) -> Vec<u8> {
        let mut c = Value::counter(1.0);
        if let Value::Counter(c) = &mut c {
            c.exemplar = Some(Box::new(Exemplar::new(labels, 1.0)));
        }
        let fam = MetricFamily::new("a_total", "", MetricType::Counter)
            .with_metric(Metric::new(vec![], c));
        let mut out = Vec::new();
        encode(&[fam], &EncodeOptions::default(), &mut out);
        out
    }

    #[test]
    fn exemplar_limit_counts_code_points() {
        // 128 wide characters in all: allowed.
        let wide = "佖".repeat(126);
        let out = with_exemplar(vec![Label::new("ab", wide)]);
        assert!(String::from_utf8(out).unwrap().contains(" # {ab=\""));
        // 129 code points: dropped, the sample stays.
        let out = with_exemplar(vec![Label::new("abc", "佖".repeat(126))]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# TYPE a counter\na_total 1.0\n# EOF\n"
        );
    }

    #[test]
    fn timestamps_are_seconds() {
        for (ms, want) in [
            (1500, "1.5"),
            (0, "0.0"),
            (1234567890123, "1234567890.123"),
            (10, "0.01"),
            (-1000, "-1.0"),
            (-1500, "-1.5"),
            (-9_982_049_312_483_765, "-9982049312483.765"),
            (i64::MIN, "-9223372036854775.808"),
        ] {
            let mut out = Vec::new();
            write_timestamp(&mut out, ms);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}
