//! Prometheus text exposition format 0.0.4.
//!
//! Per family: `# HELP` (omitted when the help is empty), `# TYPE`, then one line per
//! sample. Histograms write their buckets with an `le` label (a `+Inf` bucket equal
//! to the count is added when missing), then `_sum` and `_count`; summaries write
//! their quantiles with a `quantile` label, then `_sum` and `_count`. Numbers use
//! Go's shortest form (`strconv.FormatFloat(v, 'g', -1, 64)`: `1e+06`, `0.0001`),
//! timestamps are integer milliseconds, and exemplars, units and created times are
//! never written: this format has no place for them, and Prometheus rejects a text
//! scrape that carries exemplars.
//!
//! Native histograms have no place in this format either: a histogram shows its
//! classic buckets only, so a dual histogram (classic and
//! [native](crate::model::HistogramValue::native) buckets) appears as its classic
//! self, and a native-only one (no classic bucket) as just its `+Inf` bucket,
//! `_sum` and `_count`, as Go's client shows it.
//!
//! The output is the same, byte for byte, as Go's `expfmt` for the same families,
//! except that an empty help omits the `# HELP` line.

use super::escape::{write_help_text, write_label_value, write_quoted_name};
use super::float::{write_count, write_float, write_i64, FloatCache};
use super::{is_legacy_label_name, is_legacy_metric_name};
use crate::model::time::to_millis;
use crate::model::{Label, MetricFamily, MetricType, Value};

/// Encodes `families` in text format 0.0.4, appending to `out`.
pub fn encode(families: &[MetricFamily], out: &mut Vec<u8>) {
    let mut labels = Vec::with_capacity(256);
    let mut bounds = FloatCache::new(false);
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
    write_head(out, &family.name, &family.help, family.metric_type);
    let name = SeriesName::of(&family.name);
    for metric in &family.metrics {
        labels.clear();
        write_label_pairs(labels, &metric.labels);
        let ts = metric.timestamp.map(to_millis);
        write_metric(out, bounds, name, labels, &metric.value, ts);
    }
}

/// Appends a family's `# HELP` (when the help is not empty) and `# TYPE` lines.
pub(crate) fn write_head(out: &mut Vec<u8>, name: &str, help: &str, metric_type: MetricType) {
    let name = SeriesName::of(name);
    if !help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        name.write_alone(out);
        out.push(b' ');
        write_help_text(out, help);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    name.write_alone(out);
    out.push(b' ');
    out.extend_from_slice(metric_type.as_text().as_bytes());
    out.push(b'\n');
}

/// Appends the sample lines of one metric of family `name`, whose label pairs
/// [`write_label_pairs`] wrote into `labels`.
#[inline]
pub(crate) fn write_metric(
    out: &mut Vec<u8>,
    bounds: &mut FloatCache,
    name: SeriesName<'_>,
    labels: &[u8],
    value: &Value,
    ts: Option<i64>,
) {
    for_each_line(value, |suffix, extra, v| {
        line(out, bounds, name, suffix, labels, extra, v, ts)
    });
}

/// A sample's number: a float, or a count (a bucket, `_count`), which is written
/// as the float of the same value would be, without the float's checks.
#[derive(Clone, Copy)]
pub(super) enum Number {
    Float(f64),
    Count(u64),
}

#[inline]
pub(super) fn write_number(out: &mut Vec<u8>, n: Number) {
    match n {
        Number::Float(v) => write_float(out, v),
        Number::Count(c) => write_count(out, c),
    }
}

/// The sample lines of a value, in page order: each line's name suffix, its
/// generated label, and its number. The one place that says which lines a value
/// has ([`line_count`] counts them).
#[inline]
pub(super) fn for_each_line(
    value: &Value,
    mut line: impl FnMut(&'static [u8], Option<Extra>, Number),
) {
    match value {
        Value::Counter(c) => line(b"", None, Number::Float(c.value)),
        Value::Gauge(v) | Value::Untyped(v) => line(b"", None, Number::Float(*v)),
        Value::Histogram(h) => {
            let mut inf_seen = false;
            for b in &h.buckets {
                inf_seen |= b.upper_bound == f64::INFINITY;
                line(
                    b"_bucket",
                    Some(Extra(b"le", b.upper_bound)),
                    Number::Count(b.cumulative_count),
                );
            }
            if !inf_seen {
                line(
                    b"_bucket",
                    Some(Extra(b"le", f64::INFINITY)),
                    Number::Count(h.count),
                );
            }
            line(b"_sum", None, Number::Float(h.sum));
            line(b"_count", None, Number::Count(h.count));
        }
        Value::Summary(s) => {
            for q in &s.quantiles {
                line(
                    b"",
                    Some(Extra(b"quantile", q.quantile)),
                    Number::Float(q.value),
                );
            }
            line(b"_sum", None, Number::Float(s.sum));
            line(b"_count", None, Number::Count(s.count));
        }
    }
}

/// How many lines [`for_each_line`] gives for `value`.
#[inline]
pub(super) fn line_count(value: &Value) -> usize {
    match value {
        Value::Counter(_) | Value::Gauge(_) | Value::Untyped(_) => 1,
        Value::Histogram(h) => {
            let inf_seen = h.buckets.iter().any(|b| b.upper_bound == f64::INFINITY);
            h.buckets.len() + usize::from(!inf_seen) + 2
        }
        Value::Summary(s) => s.quantiles.len() + 2,
    }
}

/// A generated label (`le`, `quantile`) appended after the metric's own labels.
#[derive(Clone, Copy)]
pub(crate) struct Extra(pub &'static [u8], pub f64);

/// Appends `a="x",b="y"` (no braces) with escaped values; a label name outside the
/// legacy set is quoted (`"http.method"="GET"`).
pub(crate) fn write_label_pairs(out: &mut Vec<u8>, labels: &[Label]) {
    write_pairs(
        out,
        labels.iter().map(|l| (l.name.as_str(), l.value.as_str())),
    );
}

/// [`write_label_pairs`] for pairs held as `(name, value)` strings by a source
/// that does not build [`Label`]s.
#[inline]
pub(crate) fn write_pairs<'a>(out: &mut Vec<u8>, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    for (i, (name, value)) in pairs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if is_legacy_label_name(name) {
            out.extend_from_slice(name.as_bytes());
        } else {
            out.push(b'"');
            write_quoted_name(out, name.as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"=\"");
        write_label_value(out, value);
        out.push(b'"');
    }
}

/// A metric name as sample and metadata lines start with it: bare when every
/// character is in the legacy set, else quoted, inside the braces on a sample line
/// (`{"http.server.duration_bucket",le="0.1"} 3`) and alone on a metadata line
/// (`# TYPE "http.server.duration" histogram`): the syntax text 1.0.0 and
/// OpenMetrics 1.0.0 carry UTF-8 names in. Normalization escapes such names for a
/// scraper that did not ask for them, so only one that did ever sees quotes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeriesName<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) quoted: bool,
}

impl<'a> SeriesName<'a> {
    /// `name` as written.
    pub(crate) fn of(name: &'a str) -> SeriesName<'a> {
        SeriesName {
            bytes: name.as_bytes(),
            quoted: !is_legacy_metric_name(name),
        }
    }

    /// Appends the name alone, as a metadata line has it.
    pub(crate) fn write_alone(self, out: &mut Vec<u8>) {
        if self.quoted {
            out.push(b'"');
            write_quoted_name(out, self.bytes);
            out.push(b'"');
        } else {
            out.extend_from_slice(self.bytes);
        }
    }
}

/// Appends `name suffix{labels,extra} ` (with the trailing space), where the
/// label block is omitted when there are no labels at all.
#[inline]
pub(crate) fn write_series(
    out: &mut Vec<u8>,
    name: SeriesName<'_>,
    suffix: &[u8],
    labels: &[u8],
    extra: Option<Extra>,
    bounds: &mut FloatCache,
) {
    if name.quoted {
        return write_quoted_series(out, name.bytes, suffix, labels, extra, bounds);
    }
    out.extend_from_slice(name.bytes);
    out.extend_from_slice(suffix);
    match extra {
        None if labels.is_empty() => {}
        None => {
            out.push(b'{');
            out.extend_from_slice(labels);
            out.push(b'}');
        }
        Some(Extra(key, v)) => {
            out.push(b'{');
            out.extend_from_slice(labels);
            if !labels.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(key);
            out.extend_from_slice(b"=\"");
            bounds.write(out, v);
            out.extend_from_slice(b"\"}");
        }
    }
    out.push(b' ');
}

/// [`write_series`] for a name outside the legacy set: `{"name suffix",labels,extra} `.
#[cold]
fn write_quoted_series(
    out: &mut Vec<u8>,
    name: &[u8],
    suffix: &[u8],
    labels: &[u8],
    extra: Option<Extra>,
    bounds: &mut FloatCache,
) {
    out.extend_from_slice(b"{\"");
    write_quoted_name(out, name);
    out.extend_from_slice(suffix);
    out.push(b'"');
    if !labels.is_empty() {
        out.push(b',');
        out.extend_from_slice(labels);
    }
    if let Some(Extra(key, v)) = extra {
        out.push(b',');
        out.extend_from_slice(key);
        out.extend_from_slice(b"=\"");
        bounds.write(out, v);
        out.push(b'"');
    }
    out.extend_from_slice(b"} ");
}

#[inline]
#[allow(clippy::too_many_arguments)]
fn line(
    out: &mut Vec<u8>,
    bounds: &mut FloatCache,
    name: SeriesName<'_>,
    suffix: &[u8],
    labels: &[u8],
    extra: Option<Extra>,
    value: Number,
    ts: Option<i64>,
) {
    write_series(out, name, suffix, labels, extra, bounds);
    write_number(out, value);
    if let Some(ts) = ts {
        out.push(b' ');
        write_i64(out, ts);
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::testdata;

    #[test]
    fn golden() {
        let mut out = Vec::new();
        encode(&testdata::families(), &mut out);
        testdata::assert_golden("text.txt", &out);
    }

    /// Classic buckets only: the native-only histogram is `+Inf`, `_sum`, `_count`.
    #[test]
    fn native_histograms_show_their_classic_buckets() {
        let mut out = Vec::new();
        encode(&testdata::native_families(), &mut out);
        testdata::assert_golden("text_native.txt", &out);
    }

    #[test]
    fn empty_input_gives_empty_body() {
        let mut out = Vec::new();
        encode(&[], &mut out);
        assert!(out.is_empty());
    }
}
