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

use super::escape::{write_help_text, write_label_value};
use super::float::{write_float, write_i64, FloatCache};
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
    let name = family.name.as_bytes();
    for metric in &family.metrics {
        labels.clear();
        write_label_pairs(labels, &metric.labels);
        let ts = metric.timestamp.map(to_millis);
        write_metric(out, bounds, name, labels, &metric.value, ts);
    }
}

/// Appends a family's `# HELP` (when the help is not empty) and `# TYPE` lines.
pub(crate) fn write_head(out: &mut Vec<u8>, name: &str, help: &str, metric_type: MetricType) {
    let name = name.as_bytes();
    if !help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name);
        out.push(b' ');
        write_help_text(out, help);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(name);
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
    name: &[u8],
    labels: &[u8],
    value: &Value,
    ts: Option<i64>,
) {
    for_each_line(value, |suffix, extra, v| {
        line(out, bounds, name, suffix, labels, extra, v, ts)
    });
}

/// The sample lines of a value, in page order: each line's name suffix, its
/// generated label, and its number. The one place that says which lines a value
/// has.
#[inline]
fn for_each_line(value: &Value, mut line: impl FnMut(&'static [u8], Option<Extra>, f64)) {
    match value {
        Value::Counter(c) => line(b"", None, c.value),
        Value::Gauge(v) | Value::Untyped(v) => line(b"", None, *v),
        Value::Histogram(h) => {
            let mut inf_seen = false;
            for b in &h.buckets {
                inf_seen |= b.upper_bound == f64::INFINITY;
                line(
                    b"_bucket",
                    Some(Extra(b"le", b.upper_bound)),
                    b.cumulative_count as f64,
                );
            }
            if !inf_seen {
                line(
                    b"_bucket",
                    Some(Extra(b"le", f64::INFINITY)),
                    h.count as f64,
                );
            }
            line(b"_sum", None, h.sum);
            line(b"_count", None, h.count as f64);
        }
        Value::Summary(s) => {
            for q in &s.quantiles {
                line(b"", Some(Extra(b"quantile", q.quantile)), q.value);
            }
            line(b"_sum", None, s.sum);
            line(b"_count", None, s.count as f64);
        }
    }
}

/// What comes before the number on each sample line of one series
/// (`name_bucket{a="x",le="0.5"} `), laid out once for a source that keeps its
/// page: a scrape then writes each line as one copy, a number and a newline.
#[derive(Debug)]
pub(crate) struct LinePrefixes {
    bytes: Box<[u8]>,
    ends: Box<[u32]>,
}

impl LinePrefixes {
    /// The prefixes of the lines `value` has, for a series of family `name` whose
    /// label pairs are `labels`; `None` past 4 GiB.
    pub(crate) fn new(name: &[u8], labels: &[u8], value: &Value) -> Option<LinePrefixes> {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        let mut bounds = FloatCache::new(false);
        let mut fits = true;
        for_each_line(value, |suffix, extra, _| {
            write_series(&mut bytes, name, suffix, labels, extra, &mut bounds);
            match u32::try_from(bytes.len()) {
                Ok(end) => ends.push(end),
                Err(_) => fits = false,
            }
        });
        fits.then(|| LinePrefixes {
            bytes: bytes.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
        })
    }

    /// Appends the lines of `value` after their kept prefixes; `false` (and nothing
    /// written) when `value` has other lines than those the prefixes were made for
    /// (a histogram that gained an explicit `+Inf` bucket).
    #[inline]
    pub(crate) fn write(&self, out: &mut Vec<u8>, value: &Value) -> bool {
        let mut lines = 0;
        for_each_line(value, |_, _, _| lines += 1);
        if lines != self.ends.len() {
            return false;
        }
        let mut start = 0;
        let mut i = 0;
        for_each_line(value, |_, _, v| {
            let end = self.ends[i] as usize;
            out.extend_from_slice(&self.bytes[start..end]);
            write_float(out, v);
            out.push(b'\n');
            start = end;
            i += 1;
        });
        true
    }
}

/// A generated label (`le`, `quantile`) appended after the metric's own labels.
#[derive(Clone, Copy)]
pub(crate) struct Extra(pub &'static [u8], pub f64);

/// Appends `a="x",b="y"` (no braces) with escaped values.
pub(crate) fn write_label_pairs(out: &mut Vec<u8>, labels: &[Label]) {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(l.name.as_bytes());
        out.extend_from_slice(b"=\"");
        write_label_value(out, &l.value);
        out.push(b'"');
    }
}

/// Appends `name suffix{labels,extra} ` (with the trailing space), where the
/// label block is omitted when there are no labels at all.
#[inline]
pub(crate) fn write_series(
    out: &mut Vec<u8>,
    name: &[u8],
    suffix: &[u8],
    labels: &[u8],
    extra: Option<Extra>,
    bounds: &mut FloatCache,
) {
    out.extend_from_slice(name);
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

#[inline]
#[allow(clippy::too_many_arguments)]
fn line(
    out: &mut Vec<u8>,
    bounds: &mut FloatCache,
    name: &[u8],
    suffix: &[u8],
    labels: &[u8],
    extra: Option<Extra>,
    value: f64,
    ts: Option<i64>,
) {
    write_series(out, name, suffix, labels, extra, bounds);
    write_float(out, value);
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
