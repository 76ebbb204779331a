//! OpenMetrics 2.0 text, **experimental**: written after the 2.0.0-rc0 draft
//! (`prometheus/docs`, `docs/specs/om/open_metrics_spec_2_0.md`, 2026), which may
//! still change. Served only to a scraper that asks for `version=2.0.0` when the
//! handler enables it ([`HandlerBuilder::openmetrics_2`](crate::HandlerBuilder::openmetrics_2)).
//!
//! What differs from OpenMetrics 1.0 ([`super::openmetrics`]):
//! - every sample is named as its family, exactly: a counter `requests_total` is
//!   the family `requests_total` with samples `requests_total` (no `_total`
//!   stripping, no `_bucket`, `_sum`, `_count` or `_created` samples);
//! - histograms and summaries are one sample each, with a composite value:
//!   `{count:17,sum:3.5,schema:3,zero_threshold:2.9e-39,zero_count:0,positive_spans:[0:2],positive_buckets:[5,12],bucket:[0.1:8,+Inf:17]}`:
//!   native fields (absolute bucket counts, spans as the model holds them, empty
//!   sides left out) before the classic `bucket` list, which a native-only
//!   histogram leaves out and every other has, `+Inf` included;
//! - the start (created) time is written inline as `st@<seconds>` after the value
//!   (and timestamp) of counters, histograms and summaries that have one, whatever
//!   [`EncodeOptions::created`] says (it adds no series);
//! - exemplars must have a timestamp, so one without is left out; a histogram
//!   carries the exemplars of its classic buckets (those of its native buckets when
//!   it has no classic bucket), one after the other, in bucket order;
//! - `# UNIT` is written whenever the family has a unit, and names outside the
//!   legacy set are quoted as in OpenMetrics 1.0 with `escaping=allow-utf-8`.
//!
//! Integers (counts, bucket counts) have no decimal point; other numbers have one
//! or an exponent; timestamps are seconds.

use super::escape::write_help_openmetrics;
use super::float::{write_om_float, write_u64, FloatCache};
use super::openmetrics::{write_exemplar_head, write_timestamp};
use super::text::{write_label_pairs, SeriesName};
use super::EncodeOptions;
use crate::model::exemplar::writable;
use crate::model::time::to_millis;
use crate::model::{
    BucketSpan, Exemplar, HistogramValue, MetricFamily, MetricType, NativeHistogram, SummaryValue,
    Value,
};

/// Encodes `families` as OpenMetrics 2.0 text, ending with `# EOF`. No
/// [`EncodeOptions`] field changes this format (start times are always written).
pub fn encode(families: &[MetricFamily], opts: &EncodeOptions, out: &mut Vec<u8>) {
    encode_families(families, opts, out);
    out.extend_from_slice(b"# EOF\n");
}

/// Encodes `families` without the closing `# EOF`.
pub(crate) fn encode_families(families: &[MetricFamily], _opts: &EncodeOptions, out: &mut Vec<u8>) {
    let mut labels = Vec::with_capacity(256);
    let mut bounds = FloatCache::new(true);
    for family in families {
        encode_family(family, &mut labels, &mut bounds, out);
    }
}

fn encode_family(
    family: &MetricFamily,
    labels: &mut Vec<u8>,
    bounds: &mut FloatCache,
    out: &mut Vec<u8>,
) {
    let name = SeriesName::of(&family.name);
    write_head(out, name, &family.help, &family.unit, family.metric_type);
    for metric in &family.metrics {
        labels.clear();
        write_label_pairs(labels, &metric.labels);
        write_name_and_labels(out, name, labels);
        let exemplars: Vec<&Exemplar> = match &metric.value {
            Value::Counter(c) => {
                write_om_float(out, c.value);
                c.exemplar.as_deref().into_iter().collect()
            }
            Value::Gauge(v) | Value::Untyped(v) => {
                write_om_float(out, *v);
                Vec::new()
            }
            Value::Histogram(h) => {
                write_histogram(out, bounds, h);
                histogram_exemplars(h)
            }
            Value::Summary(s) => {
                write_summary(out, s);
                Vec::new()
            }
        };
        if let Some(ts) = metric.timestamp {
            out.push(b' ');
            write_timestamp(out, to_millis(ts));
        }
        let has_start = matches!(
            metric.value,
            Value::Counter(_) | Value::Histogram(_) | Value::Summary(_)
        );
        if let (true, Some(start)) = (has_start, metric.created) {
            out.extend_from_slice(b" st@");
            write_timestamp(out, to_millis(start));
        }
        for e in exemplars {
            write_exemplar(out, e);
        }
        out.push(b'\n');
    }
}

/// `# TYPE`, `# UNIT` (when there is a unit), `# HELP` (when there is help).
fn write_head(
    out: &mut Vec<u8>,
    name: SeriesName<'_>,
    help: &str,
    unit: &str,
    metric_type: MetricType,
) {
    let type_name = match metric_type {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        MetricType::Untyped => "unknown",
    };
    out.extend_from_slice(b"# TYPE ");
    name.write_alone(out);
    out.push(b' ');
    out.extend_from_slice(type_name.as_bytes());
    out.push(b'\n');
    if !unit.is_empty() {
        out.extend_from_slice(b"# UNIT ");
        name.write_alone(out);
        out.push(b' ');
        // A unit is a metric name's characters; anything else is not written.
        out.extend(
            unit.bytes()
                .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b':'),
        );
        out.push(b'\n');
    }
    if !help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        name.write_alone(out);
        out.push(b' ');
        write_help_openmetrics(out, help);
        out.push(b'\n');
    }
}

/// `name{labels} `, `name `, `{"name",labels} ` or `{"name"} `.
fn write_name_and_labels(out: &mut Vec<u8>, name: SeriesName<'_>, labels: &[u8]) {
    if name.quoted {
        out.push(b'{');
        name.write_alone(out);
        if !labels.is_empty() {
            out.push(b',');
            out.extend_from_slice(labels);
        }
        out.extend_from_slice(b"} ");
        return;
    }
    out.extend_from_slice(name.bytes);
    if !labels.is_empty() {
        out.push(b'{');
        out.extend_from_slice(labels);
        out.push(b'}');
    }
    out.push(b' ');
}

/// `{count:..,sum:..[,native fields][,bucket:[...]]}`.
fn write_histogram(out: &mut Vec<u8>, bounds: &mut FloatCache, h: &HistogramValue) {
    out.extend_from_slice(b"{count:");
    write_u64(out, h.count);
    out.extend_from_slice(b",sum:");
    write_om_float(out, h.sum);
    let native = h.native.as_deref().filter(|n| n.is_consistent(h.count));
    if let Some(n) = native {
        write_native(out, n);
    }
    // A native-only histogram (no classic bucket) has no `bucket` list; any other
    // has one, with `+Inf` (added from the count when missing).
    if native.is_none() || !h.buckets.is_empty() {
        out.extend_from_slice(b",bucket:[");
        let mut inf_seen = false;
        for (i, b) in h.buckets.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            inf_seen |= b.upper_bound == f64::INFINITY;
            write_bound(out, bounds, b.upper_bound);
            out.push(b':');
            write_u64(out, b.cumulative_count);
        }
        if !inf_seen {
            if !h.buckets.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(b"+Inf:");
            write_u64(out, h.count);
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// A classic bucket bound: `+Inf`, `-Inf` or a real number.
fn write_bound(out: &mut Vec<u8>, bounds: &mut FloatCache, bound: f64) {
    if bound == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if bound == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        bounds.write(out, bound);
    }
}

/// `,schema:..,zero_threshold:..,zero_count:..` and the non-empty sides.
fn write_native(out: &mut Vec<u8>, n: &NativeHistogram) {
    out.extend_from_slice(b",schema:");
    super::float::write_i64(out, i64::from(n.schema));
    out.extend_from_slice(b",zero_threshold:");
    write_om_float(out, n.zero_threshold);
    out.extend_from_slice(b",zero_count:");
    write_u64(out, n.zero_count);
    for (side, spans, deltas) in [
        ("negative", &n.negative_spans, &n.negative_deltas),
        ("positive", &n.positive_spans, &n.positive_deltas),
    ] {
        if deltas.is_empty() {
            continue;
        }
        write_side(out, side, spans, deltas);
    }
}

/// `,<side>_spans:[o:l,...],<side>_buckets:[c,...]` with absolute counts.
fn write_side(out: &mut Vec<u8>, side: &str, spans: &[BucketSpan], deltas: &[i64]) {
    out.push(b',');
    out.extend_from_slice(side.as_bytes());
    out.extend_from_slice(b"_spans:[");
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        super::float::write_i64(out, i64::from(s.offset));
        out.push(b':');
        write_u64(out, u64::from(s.length));
    }
    out.extend_from_slice(b"],");
    out.extend_from_slice(side.as_bytes());
    out.extend_from_slice(b"_buckets:[");
    // Consistent buckets (checked by the caller) never go below 0 or overflow.
    let mut count: i64 = 0;
    for (i, d) in deltas.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        count = count.saturating_add(*d);
        write_u64(out, u64::try_from(count).unwrap_or(0));
    }
    out.push(b']');
}

/// `{count:..,sum:..,quantile:[q:v,...]}`, quantiles in increasing order.
fn write_summary(out: &mut Vec<u8>, s: &SummaryValue) {
    out.extend_from_slice(b"{count:");
    write_u64(out, s.count);
    out.extend_from_slice(b",sum:");
    write_om_float(out, s.sum);
    out.extend_from_slice(b",quantile:[");
    let mut quantiles: Vec<_> = s.quantiles.iter().collect();
    quantiles.sort_by(|a, b| a.quantile.total_cmp(&b.quantile));
    for (i, q) in quantiles.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_om_float(out, q.quantile);
        out.push(b':');
        write_om_float(out, q.value);
    }
    out.extend_from_slice(b"]}");
}

/// The exemplars a histogram sample carries: its classic buckets', or its native
/// ones' when it has no classic bucket.
fn histogram_exemplars(h: &HistogramValue) -> Vec<&Exemplar> {
    let classic: Vec<&Exemplar> = h
        .buckets
        .iter()
        .filter_map(|b| b.exemplar.as_deref())
        .collect();
    match h.native.as_deref() {
        Some(n) if h.buckets.is_empty() => n.exemplars.iter().collect(),
        _ => classic,
    }
}

/// ` # {labels} value timestamp`, for a valid exemplar with a timestamp.
fn write_exemplar(out: &mut Vec<u8>, e: &Exemplar) {
    let Some(t) = e.timestamp else {
        return;
    };
    if !writable(e) {
        return;
    }
    write_exemplar_head(out, e);
    out.push(b' ');
    write_timestamp(out, to_millis(t));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::testdata;
    use crate::model::{Bucket, CounterValue, Label, Metric, Quantile};
    use std::time::{Duration, UNIX_EPOCH};

    fn page(families: &[MetricFamily]) -> String {
        let mut out = Vec::new();
        encode(families, &EncodeOptions::default(), &mut out);
        String::from_utf8(out).unwrap()
    }

    fn at(ms: u64) -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn golden() {
        testdata::assert_golden("openmetrics2.txt", page(&testdata::families()).as_bytes());
        testdata::assert_golden(
            "openmetrics2_native.txt",
            page(&testdata::native_families()).as_bytes(),
        );
    }

    /// The draft's counter example: value, timestamp, start timestamp, exemplar,
    /// in that order; the sample named as its family.
    #[test]
    fn counter_as_the_draft_shows_it() {
        let mut m = Metric::new(
            vec![],
            Value::Counter(
                CounterValue::new(17.0).with_exemplar(
                    crate::model::Exemplar::new(vec![Label::new("trace_id", "KOO5S4vxi0o")], 0.67)
                        .with_timestamp(at(1_520_879_606_100)),
                ),
            ),
        );
        m.timestamp = Some(at(1_520_879_607_789));
        m.created = Some(at(1_520_430_000_123));
        let f = MetricFamily::new("foo_total", "", MetricType::Counter).with_metric(m);
        assert_eq!(
            page(&[f]),
            "# TYPE foo_total counter\nfoo_total 17.0 1520879607.789 st@1520430000.123 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879606.1\n# EOF\n"
        );
    }

    /// The draft's histogram with classic and native buckets and exemplars.
    #[test]
    fn dual_histogram_as_the_draft_shows_it() {
        let e = |trace: Option<&str>, v: f64, ms: u64| {
            let labels = trace
                .map(|t| vec![Label::new("trace_id", t.to_owned())])
                .unwrap_or_default();
            Some(Box::new(
                crate::model::Exemplar::new(labels, v).with_timestamp(at(ms)),
            ))
        };
        let mut buckets = vec![
            Bucket::new(0.01, 0),
            Bucket::new(0.1, 8),
            Bucket::new(1.0, 11),
            Bucket::new(10.0, 17),
            Bucket::new(f64::INFINITY, 17),
        ];
        buckets[1].exemplar = e(None, 0.054, 1_520_879_607_700);
        buckets[2].exemplar = e(Some("KOO5S4vxi0o"), 1.67, 1_520_879_602_890);
        buckets[3].exemplar = e(Some("oHg5SJYRHA0"), 9.8, 1_520_879_607_789);
        let native = NativeHistogram::from_counts(0, 1e-4, 0, [(0, 5), (1, 12)], []);
        let mut m = Metric::new(
            vec![],
            Value::Histogram(HistogramValue::new(buckets, 17, 324_789.3).with_native(native)),
        );
        m.created = Some(at(1_520_430_000_123));
        let f = MetricFamily::new("foo", "", MetricType::Histogram).with_metric(m);
        assert_eq!(
            page(&[f]),
            "# TYPE foo histogram\nfoo {count:17,sum:324789.3,schema:0,zero_threshold:0.0001,zero_count:0,positive_spans:[0:2],positive_buckets:[5,12],bucket:[0.01:0,0.1:8,1.0:11,10.0:17,+Inf:17]} st@1520430000.123 # {} 0.054 1520879607.7 # {trace_id=\"KOO5S4vxi0o\"} 1.67 1520879602.89 # {trace_id=\"oHg5SJYRHA0\"} 9.8 1520879607.789\n# EOF\n"
        );
    }

    /// Native-only: no `bucket` list; empty sides left out; negative buckets as
    /// absolute counts; an inconsistent native part is written classic.
    #[test]
    fn native_only_histograms() {
        let hist = |h: HistogramValue| {
            MetricFamily::new("h", "", MetricType::Histogram)
                .with_metric(Metric::new(vec![], h.into()))
        };
        let empty = HistogramValue::new(vec![], 0, 0.0).with_native(NativeHistogram::new(3, 1e-4));
        assert_eq!(
            page(&[hist(empty)]),
            "# TYPE h histogram\nh {count:0,sum:0.0,schema:3,zero_threshold:0.0001,zero_count:0}\n# EOF\n"
        );
        let native =
            NativeHistogram::from_counts(7, 1e-4, 0, [(-1, 5), (0, 7), (4, 10)], [(1, 5), (2, 7)]);
        let full = HistogramValue::new(vec![], 34, 120.0).with_native(native);
        assert_eq!(
            page(&[hist(full)]),
            "# TYPE h histogram\nh {count:34,sum:120.0,schema:7,zero_threshold:0.0001,zero_count:0,negative_spans:[1:2],negative_buckets:[5,7],positive_spans:[-1:2,3:1],positive_buckets:[5,7,10]}\n# EOF\n"
        );
        let broken = NativeHistogram::from_counts(0, 1e-4, 0, [(0, 9)], []);
        let classic = HistogramValue::new(vec![], 2, 1.0).with_native(broken);
        assert_eq!(
            page(&[hist(classic)]),
            "# TYPE h histogram\nh {count:2,sum:1.0,bucket:[+Inf:2]}\n# EOF\n"
        );
    }

    #[test]
    fn summaries_gauges_and_utf8_names() {
        let mut s = Metric::new(
            vec![Label::new("path", "/a")],
            Value::Summary(crate::model::SummaryValue::new(
                vec![Quantile::new(0.99, 150.0), Quantile::new(0.95, 123.7)],
                0,
                0.0,
            )),
        );
        s.created = Some(at(1_520_430_000_123));
        let families = [
            MetricFamily::new(
                "foo",
                "Help with \"quotes\"\nand lines.",
                MetricType::Summary,
            )
            .with_unit("seconds")
            .with_metric(s),
            MetricFamily::new("process.cpu.seconds", "", MetricType::Gauge).with_metric(
                Metric::new(
                    vec![Label::new("node.name", "my_node")],
                    Value::Gauge(4.20072246e6),
                ),
            ),
            MetricFamily::new("u", "", MetricType::Untyped)
                .with_metric(Metric::new(vec![], Value::Untyped(42.23))),
        ];
        assert_eq!(
            page(&families),
            "# TYPE foo summary\n# UNIT foo seconds\n# HELP foo Help with \\\"quotes\\\"\\nand lines.\n\
             foo{path=\"/a\"} {count:0,sum:0.0,quantile:[0.95:123.7,0.99:150.0]} st@1520430000.123\n\
             # TYPE \"process.cpu.seconds\" gauge\n\
             {\"process.cpu.seconds\",\"node.name\"=\"my_node\"} 4.20072246e+06\n\
             # TYPE u unknown\nu 42.23\n# EOF\n"
        );
    }

    /// Exemplars without a timestamp cannot be written in this format.
    #[test]
    fn exemplars_need_a_timestamp() {
        let c = CounterValue::new(1.0).with_exemplar(crate::model::Exemplar::new(vec![], 1.0));
        let f = MetricFamily::new("c_total", "", MetricType::Counter)
            .with_metric(Metric::new(vec![], Value::Counter(c)));
        assert_eq!(page(&[f]), "# TYPE c_total counter\nc_total 1.0\n# EOF\n");
    }
}
