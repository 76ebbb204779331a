//! The native-histogram fields of a `Histogram` message (see the
//! [module documentation](super#wire-format-choices) for what is written when).

use super::wire::{key, long_key, put_double, put_varint, varint_len, zigzag32, zigzag64};
use super::wire::{I64, LEN, VARINT};
use super::{exemplar_size_guess, put_exemplar};
use crate::model::exemplar::writable;
use crate::model::{BucketSpan, Exemplar, HistogramValue, NativeHistogram};

// Histogram, the native part (field numbers of client_model's `metrics.proto`; 8,
// 11 and 14 are the float-histogram fields, never written).
const SCHEMA: u8 = key(5, VARINT);
const ZERO_THRESHOLD: u8 = key(6, I64);
const ZERO_COUNT: u8 = key(7, VARINT);
const NEGATIVE_SPAN: u8 = key(9, LEN);
const NEGATIVE_DELTA: u8 = key(10, VARINT);
const POSITIVE_SPAN: u8 = key(12, LEN);
const POSITIVE_DELTA: u8 = key(13, VARINT);
const EXEMPLARS: [u8; 2] = long_key(16, LEN);
// BucketSpan.
const SPAN_OFFSET: u8 = key(1, VARINT);
const SPAN_LENGTH: u8 = key(2, VARINT);

/// The span written when a native histogram has no span at all, so that the
/// scraper does not take it for a classic histogram without buckets.
const NO_OP_SPAN: BucketSpan = BucketSpan {
    offset: 0,
    length: 0,
};

/// The native buckets of `histogram`, when Prometheus would accept them
/// ([`NativeHistogram::is_consistent`]).
pub(super) fn kept(histogram: &HistogramValue) -> Option<&NativeHistogram> {
    let native = histogram.native.as_deref()?;
    if native.is_consistent(histogram.count) {
        return Some(native);
    }
    tracing::warn!("native histogram buckets are inconsistent; written as a classic histogram");
    None
}

/// Writes fields 5 to 13: schema, zero bucket, then the negative and positive
/// spans and deltas (deltas unpacked, one field each, as Go's client writes them).
pub(super) fn write_buckets(native: &NativeHistogram, out: &mut Vec<u8>) {
    out.push(SCHEMA);
    put_varint(out, zigzag32(native.schema));
    put_double(out, ZERO_THRESHOLD, native.zero_threshold);
    out.push(ZERO_COUNT);
    put_varint(out, native.zero_count);
    for span in &native.negative_spans {
        put_span(out, NEGATIVE_SPAN, *span);
    }
    put_deltas(out, NEGATIVE_DELTA, &native.negative_deltas);
    if native.positive_spans.is_empty() && native.negative_spans.is_empty() {
        put_span(out, POSITIVE_SPAN, NO_OP_SPAN);
    }
    for span in &native.positive_spans {
        put_span(out, POSITIVE_SPAN, *span);
    }
    put_deltas(out, POSITIVE_DELTA, &native.positive_deltas);
}

/// Writes field 16: the exemplars that are valid and have a timestamp.
pub(super) fn write_exemplars(native: &NativeHistogram, out: &mut Vec<u8>) {
    for exemplar in native.exemplars.iter().filter(|e| kept_exemplar(e)) {
        put_exemplar(out, &EXEMPLARS, exemplar);
    }
}

/// Whether a native-histogram exemplar is written: [`Exemplar::validate`] accepts
/// it and it has a timestamp (Prometheus ignores native exemplars without one).
fn kept_exemplar(exemplar: &Exemplar) -> bool {
    if exemplar.timestamp.is_none() {
        tracing::debug!("native-histogram exemplar without a timestamp dropped");
        return false;
    }
    writable(exemplar)
}

fn put_span(out: &mut Vec<u8>, key: u8, span: BucketSpan) {
    let offset = zigzag32(span.offset);
    let length = u64::from(span.length);
    out.push(key);
    // At most 1 + 5 + 1 + 5 bytes: the length is one byte.
    out.push((2 + varint_len(offset) + varint_len(length)) as u8);
    out.push(SPAN_OFFSET);
    put_varint(out, offset);
    out.push(SPAN_LENGTH);
    put_varint(out, length);
}

fn put_deltas(out: &mut Vec<u8>, key: u8, deltas: &[i64]) {
    for delta in deltas {
        out.push(key);
        put_varint(out, zigzag64(*delta));
    }
}

/// An estimate of the size of the native fields (see `super::metric_size_guess`).
pub(super) fn size_guess(native: &NativeHistogram) -> usize {
    let spans = native.positive_spans.len() + native.negative_spans.len();
    let deltas = native.positive_deltas.len() + native.negative_deltas.len();
    let exemplars: usize = native
        .exemplars
        .iter()
        .map(|e| exemplar_size_guess(e) + 3)
        .sum();
    2 + 9 + 1 + varint_len(native.zero_count) + spans.max(1) * 6 + deltas * 2 + exemplars
}
