//! Protobuf: varint-length-delimited `io.prometheus.client.MetricFamily` messages.
//!
//! The body is a sequence of `MetricFamily` messages (the proto2 schema of
//! `metrics.proto` in prometheus/client_model), each preceded by its length as a
//! base-128 varint, which is what Prometheus reads for
//! `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`.
//! The serializer is hand-written: no protobuf library, no generated types.
//!
//! # Wire format choices
//!
//! * **Field order.** Fields are written in field-number order, as Go's protobuf
//!   library writes them, with one exception: in `Metric`, `histogram` (7) comes
//!   before `timestamp_ms` (6), the order `metrics.proto` declares them in. For the
//!   fields it knows, this is byte for byte what the `prometheus` crate's
//!   `ProtobufEncoder` writes. (In `Histogram`, `metrics.proto` declares
//!   `created_timestamp` (15) before the native fields 5 to 14; it is written
//!   after them, between `positive_delta` (13) and `exemplars` (16).) Any order is
//!   valid protobuf.
//! * **Presence.** The schema is proto2, so fields have explicit presence. Like Go's
//!   client, the encoder always writes a family's `name` and `type`, each metric's
//!   value message, and the numbers in it (`value`, `sample_count`, `sample_sum`,
//!   `cumulative_count`, `upper_bound`, `quantile`; for a native histogram
//!   `schema`, `zero_threshold`, `zero_count`, and each span's `offset` and
//!   `length`), zeros included: a counter at 0
//!   is sent as `value: 0.0`, not as a missing value. A label's `name` and `value`
//!   are both always written; an empty value is an empty string. `help` and `unit`
//!   are written only when they are not empty.
//! * **Classic buckets**: `sample_count`, `sample_sum` and the
//!   buckets. No `+Inf` bucket is written: the scraper derives it from
//!   `sample_count`, as it does for Go's client. An explicit `+Inf` bucket in the model
//!   is skipped, with one exception taken from Go's client: when it carries an
//!   exemplar (that is kept, see below), it is written, with its own cumulative count,
//!   so that the exemplar is not lost. Every other bucket is written as given.
//!   `*_count_float` and `GAUGE_HISTOGRAM` are never used.
//! * **Native histograms** ([`HistogramValue::native`]) add `schema` (5),
//!   `zero_threshold` (6), `zero_count` (7), `negative_span` (9), `negative_delta`
//!   (10), `positive_span` (12), `positive_delta` (13) and `exemplars` (16), spans
//!   and deltas as the model holds them. The deltas are `sint64`s written unpacked,
//!   one field per delta, as Go's client writes them (its `metrics.proto` is proto2
//!   without `packed`; parsers accept both). A native histogram without any span
//!   gets a no-op `positive_span` (offset 0, length 0): without it, an empty native
//!   histogram would look like a classic one without buckets (Go's client adds it
//!   only when the zero threshold and zero count are 0 too; either is valid).
//!   A *dual* histogram (classic buckets and native ones) writes both; a
//!   *native-only* one (no classic bucket but perhaps `+Inf`) writes no `bucket` at
//!   all, not even a `+Inf` one with an exemplar. Its `exemplars` are those of
//!   [`NativeHistogram::exemplars`](crate::model::NativeHistogram::exemplars) that [`Exemplar::validate`] accepts *and* that
//!   have a timestamp: Prometheus ignores a native-histogram exemplar without one.
//!   The float-histogram fields (`zero_count_float`, `*_count`) are never used.
//!   Native buckets that Prometheus would refuse (`NativeHistogram::is_consistent`:
//!   spans and deltas that disagree, a bucket count below 0, more observations in
//!   the buckets than `sample_count`, a schema outside -4..=8) are left out, and
//!   logged at `warn`: the histogram is written as a classic one, as Prometheus
//!   fails the whole scrape for one such histogram.
//! * **Exemplars** are written on counters and histogram buckets, when
//!   [`Exemplar::validate`] accepts them, as in OpenMetrics: protobuf itself has no
//!   size limit and no rule for label names, but both formats expose the same
//!   exemplars. An invalid one is dropped (the sample is kept).
//! * **Start (created) timestamps** (`created_timestamp` of counters, summaries and
//!   histograms, which Prometheus 3.8 renamed `start_timestamp`) are written whenever
//!   the metric has one, whatever [`EncodeOptions::created`] says: unlike OpenMetrics'
//!   `_created` lines they add no series, and Prometheus reads them from protobuf
//!   (its recommended source). Gauges and untyped metrics have none in the schema.
//! * **Timestamps.** A created time or an exemplar timestamp is a
//!   `google.protobuf.Timestamp`, exact to the nanosecond; a created time before 1970
//!   or after the year 9999 is not written (an exemplar with such a timestamp is not
//!   valid). As `google.protobuf.Timestamp` is proto3,
//!   zero `seconds` and `nanos` are omitted. A metric's
//!   [`timestamp`](crate::model::Metric::timestamp) is written, when it is set, as
//!   `timestamp_ms`: whole milliseconds, rounded toward the past.
//!
//! # Speed
//!
//! One pass over the model, no allocation besides the growth of `out`. A nested
//! message's length comes before its bytes, so the encoder reserves room for the
//! length varint from an estimate of the size, writes the message, then fills in the
//! length. When the estimate had the wrong number of varint bytes, the message's bytes
//! are moved by the difference (one `memmove`, rare for metrics, at most once per
//! family).
//!
//! ```
//! use promhttp::encode::{protobuf, EncodeOptions};
//! use promhttp::model::{Metric, MetricFamily, MetricType, Value};
//!
//! let families = vec![MetricFamily::new("up", "", MetricType::Gauge)
//!     .with_metric(Metric::new(vec![], Value::Gauge(1.0)))];
//! let mut out = Vec::new();
//! protobuf::encode(&families, &EncodeOptions::default(), &mut out);
//! // length 19; name "up"; type GAUGE; one metric holding a gauge with value 1.0.
//! assert_eq!(
//!     out,
//!     [19, 0x0a, 2, b'u', b'p', 0x18, 1, 0x22, 11, 0x12, 9, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]
//! );
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use self::wire::{
    begin_len, end_len, key, put_double, put_label, put_str, put_varint, varint_len, I64, LEN,
    VARINT,
};
use crate::encode::EncodeOptions;
use crate::model::exemplar::writable;
use crate::model::time::{to_millis, MAX_SECONDS};
use crate::model::{
    Bucket, CounterValue, Exemplar, HistogramValue, Label, Metric, MetricFamily, MetricType,
    SummaryValue, Value,
};

// MetricFamily.
const FAMILY_NAME: u8 = key(1, LEN);
const FAMILY_HELP: u8 = key(2, LEN);
const FAMILY_TYPE: u8 = key(3, VARINT);
const FAMILY_METRIC: u8 = key(4, LEN);
const FAMILY_UNIT: u8 = key(5, LEN);
// Metric.
const METRIC_LABEL: u8 = key(1, LEN);
const METRIC_GAUGE: u8 = key(2, LEN);
const METRIC_COUNTER: u8 = key(3, LEN);
const METRIC_SUMMARY: u8 = key(4, LEN);
const METRIC_UNTYPED: u8 = key(5, LEN);
const METRIC_TIMESTAMP_MS: u8 = key(6, VARINT);
const METRIC_HISTOGRAM: u8 = key(7, LEN);
// Gauge, Untyped and Counter: `value`.
const SCALAR_VALUE: u8 = key(1, I64);
// Counter.
const COUNTER_EXEMPLAR: u8 = key(2, LEN);
const COUNTER_CREATED: u8 = key(3, LEN);
// Summary.
const SUMMARY_COUNT: u8 = key(1, VARINT);
const SUMMARY_SUM: u8 = key(2, I64);
const SUMMARY_QUANTILE: u8 = key(3, LEN);
const SUMMARY_CREATED: u8 = key(4, LEN);
// Quantile.
const QUANTILE_QUANTILE: u8 = key(1, I64);
const QUANTILE_VALUE: u8 = key(2, I64);
/// The size of an encoded `Quantile`: two keys and two doubles.
const QUANTILE_LEN: u8 = 18;
// Histogram.
const HISTOGRAM_COUNT: u8 = key(1, VARINT);
const HISTOGRAM_SUM: u8 = key(2, I64);
const HISTOGRAM_BUCKET: u8 = key(3, LEN);
const HISTOGRAM_CREATED: u8 = key(15, LEN);
// Bucket.
const BUCKET_COUNT: u8 = key(1, VARINT);
const BUCKET_UPPER_BOUND: u8 = key(2, I64);
const BUCKET_EXEMPLAR: u8 = key(3, LEN);
// Exemplar.
const EXEMPLAR_LABEL: u8 = key(1, LEN);
const EXEMPLAR_VALUE: u8 = key(2, I64);
const EXEMPLAR_TIMESTAMP: u8 = key(3, LEN);
// google.protobuf.Timestamp.
const TIMESTAMP_SECONDS: u8 = key(1, VARINT);
const TIMESTAMP_NANOS: u8 = key(2, VARINT);

/// Encodes `families` as varint-length-delimited `io.prometheus.client.MetricFamily`
/// messages, appending to `out`.
///
/// See the [module documentation](self) for what is written and what is left out.
/// No [`EncodeOptions`] field changes protobuf today (start times are always
/// written); the parameter keeps the encoders' signatures alike.
pub fn encode(families: &[MetricFamily], _opts: &EncodeOptions, out: &mut Vec<u8>) {
    for family in families {
        let guess = family_size_guess(family);
        out.reserve(guess + 3);
        let slot = begin_len(out, guess);
        write_family(family, out);
        end_len(out, slot);
    }
}

fn write_family(family: &MetricFamily, out: &mut Vec<u8>) {
    write_family_head(out, &family.name, &family.help, family.metric_type);
    for metric in &family.metrics {
        out.push(FAMILY_METRIC);
        let slot = begin_len(out, metric_size_guess(metric));
        write_label_fields(out, &metric.labels);
        write_value(out, &metric.value, metric.created, metric.timestamp);
        end_len(out, slot);
    }
    write_family_unit(out, &family.unit);
}

/// Appends a `MetricFamily` message (its length first, from a guess of its size)
/// whose `metric` fields `metrics` writes, with [`write_metric_field`].
pub(crate) fn write_family_with(
    out: &mut Vec<u8>,
    (name, help, unit): (&str, &str, &str),
    metric_type: MetricType,
    guess: usize,
    metrics: impl FnOnce(&mut Vec<u8>),
) {
    out.reserve(guess + 3);
    let slot = begin_len(out, guess);
    write_family_head(out, name, help, metric_type);
    metrics(out);
    write_family_unit(out, unit);
    end_len(out, slot);
}

fn write_family_head(out: &mut Vec<u8>, name: &str, help: &str, metric_type: MetricType) {
    put_str(out, FAMILY_NAME, name);
    if !help.is_empty() {
        put_str(out, FAMILY_HELP, help);
    }
    out.push(FAMILY_TYPE);
    out.push(type_number(metric_type));
}

fn write_family_unit(out: &mut Vec<u8>, unit: &str) {
    if !unit.is_empty() {
        put_str(out, FAMILY_UNIT, unit);
    }
}

/// Appends the `label` fields of a `Metric` message: what
/// [`write_metric_field`] takes, kept by a source that encodes its labels once.
pub(crate) fn write_label_fields(out: &mut Vec<u8>, labels: &[Label]) {
    for label in labels {
        put_label(out, METRIC_LABEL, label);
    }
}

/// [`write_label_fields`] for labels held as `(name, value)` strings.
#[cfg(feature = "prometheus-client")]
pub(crate) fn write_label_pair_fields<'a>(
    out: &mut Vec<u8>,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) {
    for (name, value) in pairs {
        wire::put_pair(out, METRIC_LABEL, name, value);
    }
}

/// Appends one `metric` field of a `MetricFamily`: `labels` as
/// [`write_label_fields`] wrote them, then the value.
pub(crate) fn write_metric_field(
    out: &mut Vec<u8>,
    labels: &[u8],
    value: &Value,
    created: Option<SystemTime>,
) {
    out.push(FAMILY_METRIC);
    let slot = begin_len(out, labels.len() + value_size_guess(value));
    out.extend_from_slice(labels);
    write_value(out, value, created, None);
    end_len(out, slot);
}

/// The `MetricType` enum number.
fn type_number(metric_type: MetricType) -> u8 {
    match metric_type {
        MetricType::Counter => 0,
        MetricType::Gauge => 1,
        MetricType::Summary => 2,
        MetricType::Untyped => 3,
        MetricType::Histogram => 4,
    }
}

/// Appends a metric's value message, created time and timestamp.
fn write_value(
    out: &mut Vec<u8>,
    value: &Value,
    created: Option<SystemTime>,
    timestamp: Option<SystemTime>,
) {
    let created = created.and_then(Timestamp::from_time);
    match value {
        Value::Gauge(value) => put_scalar_message(out, METRIC_GAUGE, *value),
        Value::Counter(counter) => write_counter(counter, created, out),
        Value::Summary(summary) => write_summary(summary, created, out),
        Value::Untyped(value) => put_scalar_message(out, METRIC_UNTYPED, *value),
        Value::Histogram(histogram) => write_histogram(histogram, created, out),
    }
    if let Some(timestamp) = timestamp {
        out.push(METRIC_TIMESTAMP_MS);
        // int64: negative numbers are their two's complement, ten bytes long.
        put_varint(out, to_millis(timestamp) as u64);
    }
}

/// A `Gauge` or `Untyped` message: only a `value`.
fn put_scalar_message(out: &mut Vec<u8>, key: u8, value: f64) {
    out.push(key);
    out.push(9);
    put_double(out, SCALAR_VALUE, value);
}

fn write_counter(counter: &CounterValue, created: Option<Timestamp>, out: &mut Vec<u8>) {
    let exemplar = kept_exemplar(&counter.exemplar);
    out.push(METRIC_COUNTER);
    let slot = begin_len(out, 9 + exemplar.map_or(0, exemplar_size_guess) + 14);
    put_double(out, SCALAR_VALUE, counter.value);
    if let Some(exemplar) = exemplar {
        put_exemplar(out, &[COUNTER_EXEMPLAR], exemplar);
    }
    if let Some(created) = created {
        created.put(out, COUNTER_CREATED);
    }
    end_len(out, slot);
}

fn write_summary(summary: &SummaryValue, created: Option<Timestamp>, out: &mut Vec<u8>) {
    out.push(METRIC_SUMMARY);
    let guess = 20 + summary.quantiles.len() * (QUANTILE_LEN as usize + 2) + 14;
    let slot = begin_len(out, guess);
    out.push(SUMMARY_COUNT);
    put_varint(out, summary.count);
    put_double(out, SUMMARY_SUM, summary.sum);
    for quantile in &summary.quantiles {
        out.push(SUMMARY_QUANTILE);
        out.push(QUANTILE_LEN);
        put_double(out, QUANTILE_QUANTILE, quantile.quantile);
        put_double(out, QUANTILE_VALUE, quantile.value);
    }
    if let Some(created) = created {
        created.put(out, SUMMARY_CREATED);
    }
    end_len(out, slot);
}

fn write_histogram(histogram: &HistogramValue, created: Option<Timestamp>, out: &mut Vec<u8>) {
    let native = native::kept(histogram);
    out.push(METRIC_HISTOGRAM);
    let slot = begin_len(out, histogram_size_guess(histogram));
    out.push(HISTOGRAM_COUNT);
    put_varint(out, histogram.count);
    put_double(out, HISTOGRAM_SUM, histogram.sum);
    // A native-only histogram has no classic bucket, not even +Inf.
    let native_only = native.is_some()
        && histogram
            .buckets
            .iter()
            .all(|bucket| bucket.upper_bound == f64::INFINITY);
    if !native_only {
        for bucket in &histogram.buckets {
            let exemplar = kept_exemplar(&bucket.exemplar);
            // The +Inf bucket is implicit (sample_count), unless an exemplar needs it.
            if bucket.upper_bound == f64::INFINITY && exemplar.is_none() {
                continue;
            }
            write_bucket(bucket, exemplar, out);
        }
    }
    if let Some(native) = native {
        native::write_buckets(native, out);
    }
    if let Some(created) = created {
        created.put(out, HISTOGRAM_CREATED);
    }
    if let Some(native) = native {
        native::write_exemplars(native, out);
    }
    end_len(out, slot);
}

fn write_bucket(bucket: &Bucket, exemplar: Option<&Exemplar>, out: &mut Vec<u8>) {
    out.push(HISTOGRAM_BUCKET);
    let slot = begin_len(out, 12 + exemplar.map_or(0, exemplar_size_guess));
    out.push(BUCKET_COUNT);
    put_varint(out, bucket.cumulative_count);
    put_double(out, BUCKET_UPPER_BOUND, bucket.upper_bound);
    if let Some(exemplar) = exemplar {
        put_exemplar(out, &[BUCKET_EXEMPLAR], exemplar);
    }
    end_len(out, slot);
}

/// The exemplar, if there is one and it is valid ([`Exemplar::validate`]).
fn kept_exemplar(exemplar: &Option<Box<Exemplar>>) -> Option<&Exemplar> {
    exemplar.as_deref().filter(|exemplar| writable(exemplar))
}

/// An exemplar as a field with `key` (one byte, or two for field 16 and up).
fn put_exemplar(out: &mut Vec<u8>, key: &[u8], exemplar: &Exemplar) {
    out.extend_from_slice(key);
    let slot = begin_len(out, exemplar_size_guess(exemplar));
    for label in &exemplar.labels {
        put_label(out, EXEMPLAR_LABEL, label);
    }
    put_double(out, EXEMPLAR_VALUE, exemplar.value);
    if let Some(timestamp) = exemplar.timestamp.and_then(Timestamp::from_time) {
        timestamp.put(out, EXEMPLAR_TIMESTAMP);
    }
    end_len(out, slot);
}

/// A `google.protobuf.Timestamp`: `seconds` in `[0, MAX_SECONDS]`,
/// `nanos` in `[0, 1e9)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timestamp {
    seconds: i64,
    nanos: i32,
}

impl Timestamp {
    /// The time as seconds and nanoseconds since the epoch; `None` before 1970 and
    /// after the year 9999.
    fn from_time(t: SystemTime) -> Option<Timestamp> {
        let since = t.duration_since(UNIX_EPOCH).ok()?;
        if since.as_secs() > MAX_SECONDS {
            return None;
        }
        Some(Timestamp {
            // At most MAX_SECONDS and below 1e9: both fit.
            seconds: since.as_secs() as i64,
            nanos: since.subsec_nanos() as i32,
        })
    }

    /// Writes the timestamp as a field with `key`, omitting zero fields (proto3).
    fn put(self, out: &mut Vec<u8>, key: u8) {
        let seconds = self.seconds as u64;
        let nanos = self.nanos as u64;
        let mut len = 0;
        if seconds != 0 {
            len += 1 + varint_len(seconds);
        }
        if nanos != 0 {
            len += 1 + varint_len(nanos);
        }
        out.push(key);
        // At most 1 + 6 + 1 + 5 bytes: the length is one byte.
        out.push(len as u8);
        if seconds != 0 {
            out.push(TIMESTAMP_SECONDS);
            put_varint(out, seconds);
        }
        if nanos != 0 {
            out.push(TIMESTAMP_NANOS);
            put_varint(out, nanos);
        }
    }
}

// Estimates for the size of messages, to reserve the right number of bytes for their
// length. Being wrong costs a move of the message's bytes, never correctness.

fn family_size_guess(family: &MetricFamily) -> usize {
    let strings = family.name.len() + family.help.len() + family.unit.len() + 12;
    let metrics = family.metrics.first().map_or(0, |first| {
        let each = metric_size_guess(first);
        (each + 1 + varint_len(each as u64)) * family.metrics.len()
    });
    strings + metrics
}

fn metric_size_guess(metric: &Metric) -> usize {
    let labels: usize = metric
        .labels
        .iter()
        .map(|label| label.name.len() + label.value.len() + 6)
        .sum();
    let timestamp = if metric.timestamp.is_some() { 7 } else { 0 };
    labels + value_size_guess(&metric.value) + timestamp
}

/// The size of a value message with its key and length, and room for a created time.
pub(crate) fn value_size_guess(value: &Value) -> usize {
    match value {
        Value::Gauge(_) | Value::Untyped(_) => 11,
        Value::Counter(counter) => 11 + counter.exemplar.as_deref().map_or(0, exemplar_size_guess),
        Value::Summary(summary) => 14 + summary.quantiles.len() * 20,
        Value::Histogram(histogram) => 3 + histogram_size_guess(histogram),
    }
}

fn histogram_size_guess(histogram: &HistogramValue) -> usize {
    let buckets: usize = histogram
        .buckets
        .iter()
        .map(|bucket| 14 + bucket.exemplar.as_deref().map_or(0, exemplar_size_guess))
        .sum();
    let native = histogram.native.as_deref().map_or(0, native::size_guess);
    20 + buckets + native + 14
}

fn exemplar_size_guess(exemplar: &Exemplar) -> usize {
    let labels: usize = exemplar
        .labels
        .iter()
        .map(|label| label.name.len() + label.value.len() + 6)
        .sum();
    labels + 9 + 14
}

mod native;
pub(crate) mod wire;

#[cfg(test)]
mod tests;
