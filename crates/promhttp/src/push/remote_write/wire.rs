//! The protobuf `WriteRequest` encoding, snappy compression and batch cutting.

use super::series::{HistogramSample, Sample, TimeSeries};
use crate::encode::protobuf::wire::{
    delimited_len, key, label_len, put_double, put_label, put_varint, varint_len, zigzag32,
    zigzag64, I64, LEN, VARINT,
};
use crate::model::BucketSpan;

/// Largest uncompressed request: snappy's block format cannot compress more
/// (4 GiB - 1). Batches are cut to stay within it whatever
/// [`max_batch`](super::RemoteWriterBuilder::max_batch) allows.
pub(super) const MAX_REQUEST_BYTES: usize = u32::MAX as usize;

const WRITE_REQUEST_TIMESERIES: u8 = key(1, LEN);
const TIMESERIES_LABELS: u8 = key(1, LEN);
const TIMESERIES_SAMPLES: u8 = key(2, LEN);
const TIMESERIES_HISTOGRAMS: u8 = key(4, LEN);
const SAMPLE_VALUE: u8 = key(1, I64);
const SAMPLE_TIMESTAMP: u8 = key(2, VARINT);
// Histogram (prompb `types.proto`; 2, 7, 10, 13 and 16 are the float-histogram
// and custom-bucket fields, never written).
const HISTOGRAM_COUNT_INT: u8 = key(1, VARINT);
const HISTOGRAM_SUM: u8 = key(3, I64);
const HISTOGRAM_SCHEMA: u8 = key(4, VARINT);
const HISTOGRAM_ZERO_THRESHOLD: u8 = key(5, I64);
const HISTOGRAM_ZERO_COUNT_INT: u8 = key(6, VARINT);
const HISTOGRAM_NEGATIVE_SPANS: u8 = key(8, LEN);
const HISTOGRAM_NEGATIVE_DELTAS: u8 = key(9, LEN);
const HISTOGRAM_POSITIVE_SPANS: u8 = key(11, LEN);
const HISTOGRAM_POSITIVE_DELTAS: u8 = key(12, LEN);
const HISTOGRAM_RESET_HINT: u8 = key(14, VARINT);
const HISTOGRAM_TIMESTAMP: u8 = key(15, VARINT);
/// `ResetHint.UNKNOWN`: the receiver detects counter resets itself.
const RESET_HINT_UNKNOWN: u64 = 0;
const SPAN_OFFSET: u8 = key(1, VARINT);
const SPAN_LENGTH: u8 = key(2, VARINT);

fn sample_len(s: &Sample) -> usize {
    // value: key + fixed64; timestamp: key + varint.
    1 + 8 + 1 + varint_len(s.timestamp_ms as u64)
}

fn span_len(span: &BucketSpan) -> usize {
    2 + varint_len(zigzag32(span.offset)) + varint_len(u64::from(span.length))
}

fn deltas_len(deltas: &[i64]) -> usize {
    deltas.iter().map(|d| varint_len(zigzag64(*d))).sum()
}

/// The spans of one sign and their packed deltas (nothing for an empty list).
fn buckets_len(spans: &[BucketSpan], deltas: &[i64]) -> usize {
    let spans: usize = spans.iter().map(|s| delimited_len(span_len(s))).sum();
    let deltas = match deltas_len(deltas) {
        0 => 0,
        len => delimited_len(len),
    };
    spans + deltas
}

fn histogram_len(h: &HistogramSample) -> usize {
    let n = &h.native;
    1 + varint_len(h.count)
        + 9
        + 1
        + varint_len(zigzag32(n.schema))
        + 9
        + 1
        + varint_len(n.zero_count)
        + buckets_len(&n.negative_spans, &n.negative_deltas)
        + buckets_len(&n.positive_spans, &n.positive_deltas)
        + 2
        + 1
        + varint_len(h.timestamp_ms as u64)
}

fn series_len(ts: &TimeSeries) -> usize {
    ts.labels
        .iter()
        .map(|l| delimited_len(label_len(l)))
        .sum::<usize>()
        + ts.samples
            .iter()
            .map(|s| delimited_len(sample_len(s)))
            .sum::<usize>()
        + ts.histograms
            .iter()
            .map(|h| delimited_len(histogram_len(h)))
            .sum::<usize>()
}

/// The samples a series counts for in batches and self-metrics: each float
/// sample and each native histogram is one.
pub(super) fn sample_count(ts: &TimeSeries) -> usize {
    ts.samples.len() + ts.histograms.len()
}

fn put_histogram(out: &mut Vec<u8>, h: &HistogramSample) {
    let n = &h.native;
    out.push(TIMESERIES_HISTOGRAMS);
    put_varint(out, histogram_len(h) as u64);
    out.push(HISTOGRAM_COUNT_INT);
    put_varint(out, h.count);
    put_double(out, HISTOGRAM_SUM, h.sum);
    out.push(HISTOGRAM_SCHEMA);
    put_varint(out, zigzag32(n.schema));
    put_double(out, HISTOGRAM_ZERO_THRESHOLD, n.zero_threshold);
    out.push(HISTOGRAM_ZERO_COUNT_INT);
    put_varint(out, n.zero_count);
    put_buckets(
        out,
        (HISTOGRAM_NEGATIVE_SPANS, &n.negative_spans),
        (HISTOGRAM_NEGATIVE_DELTAS, &n.negative_deltas),
    );
    put_buckets(
        out,
        (HISTOGRAM_POSITIVE_SPANS, &n.positive_spans),
        (HISTOGRAM_POSITIVE_DELTAS, &n.positive_deltas),
    );
    out.push(HISTOGRAM_RESET_HINT);
    put_varint(out, RESET_HINT_UNKNOWN);
    out.push(HISTOGRAM_TIMESTAMP);
    put_varint(out, h.timestamp_ms as u64);
}

/// Spans (each a `BucketSpan` message), then the deltas packed (proto3's default
/// for repeated numbers) as zigzag varints.
fn put_buckets(out: &mut Vec<u8>, spans: (u8, &[BucketSpan]), deltas: (u8, &[i64])) {
    for span in spans.1 {
        out.push(spans.0);
        put_varint(out, span_len(span) as u64);
        out.push(SPAN_OFFSET);
        put_varint(out, zigzag32(span.offset));
        out.push(SPAN_LENGTH);
        put_varint(out, u64::from(span.length));
    }
    let len = deltas_len(deltas.1);
    if len > 0 {
        out.push(deltas.0);
        put_varint(out, len as u64);
        for delta in deltas.1 {
            put_varint(out, zigzag64(*delta));
        }
    }
}

/// Appends the protobuf encoding of `WriteRequest { timeseries: series }` to `out`.
///
/// The messages (from Prometheus's `prompb`), all fields written even when zero:
///
/// ```text
/// WriteRequest { repeated TimeSeries timeseries = 1; }
/// TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
///                repeated Histogram histograms = 4; }
/// Label        { string name = 1; string value = 2; }
/// Sample       { double value = 1; int64 timestamp = 2; }
/// Histogram    { uint64 count_int = 1; double sum = 3; sint32 schema = 4;
///                double zero_threshold = 5; uint64 zero_count_int = 6;
///                repeated BucketSpan negative_spans = 8; repeated sint64 negative_deltas = 9;
///                repeated BucketSpan positive_spans = 11; repeated sint64 positive_deltas = 12;
///                ResetHint reset_hint = 14; int64 timestamp = 15; }
/// BucketSpan   { sint32 offset = 1; uint32 length = 2; }
/// ```
///
/// Histogram deltas are packed and left out when there are none; `reset_hint` is
/// `UNKNOWN` (0), so the receiver detects resets as it does for counters.
pub(super) fn encode_write_request(series: &[TimeSeries], out: &mut Vec<u8>) {
    let total: usize = series.iter().map(|s| delimited_len(series_len(s))).sum();
    out.reserve(total);
    for ts in series {
        out.push(WRITE_REQUEST_TIMESERIES);
        put_varint(out, series_len(ts) as u64);
        for l in &ts.labels {
            put_label(out, TIMESERIES_LABELS, l);
        }
        for s in &ts.samples {
            out.push(TIMESERIES_SAMPLES);
            put_varint(out, sample_len(s) as u64);
            put_double(out, SAMPLE_VALUE, s.value);
            out.push(SAMPLE_TIMESTAMP);
            put_varint(out, s.timestamp_ms as u64);
        }
        for h in &ts.histograms {
            put_histogram(out, h);
        }
    }
}

/// [`encode_write_request`] compressed with snappy's block format (not the framed
/// format), as remote write sends it; an error for requests over 4 GiB - 1, which
/// that format cannot hold (the writer cuts its batches below the limit).
pub(super) fn try_encode_compressed(series: &[TimeSeries]) -> Result<Vec<u8>, snap::Error> {
    let mut raw = Vec::new();
    encode_write_request(series, &mut raw);
    // Compression of an in-memory buffer only fails for inputs over 4 GiB.
    snap::raw::Encoder::new().compress_vec(&raw)
}

/// Cuts `series` into batches of at most `max_samples` samples ([`sample_count`]) and at most
/// `max_bytes` bytes of uncompressed request, in order: each batch is a range of
/// `series` and its number of samples. A series over either limit on its own
/// makes a batch of its own (never an empty one).
pub(super) fn cut_batches(
    series: &[TimeSeries],
    max_samples: usize,
    max_bytes: usize,
) -> Vec<(std::ops::Range<usize>, usize)> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < series.len() {
        let (mut end, mut samples, mut bytes) = (start, 0usize, 0usize);
        while let Some(s) = series.get(end) {
            let (n, b) = (sample_count(s), delimited_len(series_len(s)));
            if end > start
                && (samples.saturating_add(n) > max_samples || bytes.saturating_add(b) > max_bytes)
            {
                break;
            }
            samples = samples.saturating_add(n);
            bytes = bytes.saturating_add(b);
            end += 1;
        }
        batches.push((start..end, samples));
        start = end;
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Label;

    fn series(labels: &[(&'static str, &'static str)], value: f64, ts: i64) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
            samples: vec![Sample {
                value,
                timestamp_ms: ts,
            }],
            histograms: Vec::new(),
        }
    }

    #[test]
    fn protobuf_of_a_tiny_write_request_by_hand() {
        let mut out = Vec::new();
        encode_write_request(&[series(&[("__name__", "a")], 1.0, 2)], &mut out);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[0x0a, 28][..],                 // WriteRequest.timeseries, 28 bytes
            &[0x0a, 13],                     //   TimeSeries.labels, 13 bytes
            &[0x0a, 8], b"__name__",         //     Label.name
            &[0x12, 1], b"a",                //     Label.value
            &[0x12, 11],                     //   TimeSeries.samples, 11 bytes
            &[0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f], // Sample.value = 1.0 (fixed64 LE)
            &[0x10, 2],                      //     Sample.timestamp = 2
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(out.len(), 30);
    }

    #[test]
    fn protobuf_of_a_native_histogram_by_hand() {
        use crate::model::NativeHistogram;
        let native = NativeHistogram::from_counts(3, 0.001, 0, [(0, 2)], [(-2, 1), (-1, 4)]);
        let series = TimeSeries {
            labels: vec![Label::new("__name__", "h")],
            samples: Vec::new(),
            histograms: vec![HistogramSample {
                count: 7,
                sum: 3.25,
                native,
                timestamp_ms: 2,
            }],
        };
        let mut out = Vec::new();
        encode_write_request(std::slice::from_ref(&series), &mut out);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[0x0a, 64][..],                       // WriteRequest.timeseries, 64 bytes
            &[0x0a, 13, 0x0a, 8], b"__name__", &[0x12, 1], b"h", // labels
            &[0x22, 47],                           //   TimeSeries.histograms (4), 47 bytes
            &[0x08, 7],                            //     count_int 7
            &[0x19], &3.25f64.to_le_bytes(),       //     sum (3)
            &[0x20, 6],                            //     schema 3 (zigzag 6)
            &[0x29], &0.001f64.to_le_bytes(),      //     zero_threshold (5)
            &[0x30, 0],                            //     zero_count_int 0 (6)
            &[0x42, 4, 0x08, 3, 0x10, 2],          //     negative_spans (8) {offset -2, length 2}
            &[0x4a, 2, 2, 6],                      //     negative_deltas (9) packed: 1, 3
            &[0x5a, 4, 0x08, 0, 0x10, 1],          //     positive_spans (11) {0, 1}
            &[0x62, 1, 4],                         //     positive_deltas (12) packed: 2
            &[0x70, 0],                            //     reset_hint UNKNOWN (14)
            &[0x78, 2],                            //     timestamp 2 (15)
        ]
        .concat();
        assert_eq!(out, expected);
        // A native histogram is one sample in batches.
        assert_eq!(sample_count(&series), 1);
        assert_eq!(
            cut_batches(&[series.clone(), series], 1, usize::MAX).len(),
            2
        );
    }

    #[test]
    fn protobuf_two_series_long_strings_and_negative_timestamp() {
        let long: &'static str = Box::leak("x".repeat(200).into_boxed_str());
        let mut out = Vec::new();
        encode_write_request(
            &[
                series(&[("__name__", "b"), ("job", "")], -0.5, -1),
                series(&[("__name__", long)], 0.0, 300),
            ],
            &mut out,
        );
        // First series: labels 12 + 8 = 20 and an empty value is still written.
        // Label{__name__,b} = 10 + 3 = 13 -> 15 on the wire; Label{job,""} = 5 + 2 = 7 -> 9.
        // Sample: 1 + 8 + 1 + 10 (varint of -1) = 20 -> 22. Series = 15 + 9 + 22 = 46.
        assert_eq!(&out[..2], &[0x0a, 46]);
        assert_eq!(&out[2..4], &[0x0a, 13]);
        assert_eq!(&out[17..21], &[0x0a, 7, 0x0a, 3]);
        assert_eq!(&out[21..24], b"job");
        assert_eq!(&out[24..26], &[0x12, 0]);
        assert_eq!(&out[26..29], &[0x12, 20, 0x09]);
        assert_eq!(&out[29..37], &(-0.5f64).to_bits().to_le_bytes());
        assert_eq!(
            &out[37..48],
            &[0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        // Second series: a name of 200 bytes needs a two-byte length (0xc8 0x01).
        let rest = &out[48..];
        // Label{__name__, long}: 10 + (1 + 2 + 200) = 213 -> 0x0a 0xd5 0x01 + 213 = 216.
        // Sample{0.0, 300}: 1 + 8 + 1 + 2 = 12 -> 14. Series = 230 -> 0xe6 0x01.
        assert_eq!(&rest[..3], &[0x0a, 0xe6, 0x01]);
        assert_eq!(&rest[3..6], &[0x0a, 0xd5, 0x01]);
        assert_eq!(&rest[16..19], &[0x12, 0xc8, 0x01]);
        assert_eq!(&rest[19..219], long.as_bytes());
        assert_eq!(
            &rest[219..],
            &[0x12, 12, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0xac, 0x02]
        );
    }

    #[test]
    fn snappy_round_trip_uses_the_block_format() {
        let many: Vec<TimeSeries> = (0..500)
            .map(|i| {
                series(
                    &[("__name__", "requests_total"), ("path", "/a/b/c")],
                    i as f64,
                    1_700_000_000_000 + i,
                )
            })
            .collect();
        let mut raw = Vec::new();
        encode_write_request(&many, &mut raw);
        let compressed = try_encode_compressed(&many).unwrap();
        assert!(
            compressed.len() < raw.len() / 2,
            "{} vs {}",
            compressed.len(),
            raw.len()
        );
        // Block format: starts with the varint of the uncompressed length, no stream header.
        assert_ne!(&compressed[..4], b"\xff\x06\x00\x00");
        assert_eq!(snap::raw::decompress_len(&compressed).unwrap(), raw.len());
        let back = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .unwrap();
        assert_eq!(back, raw);
    }

    #[test]
    fn batches_are_cut_by_samples_and_by_bytes() {
        let many: Vec<TimeSeries> = (0..10)
            .map(|i| series(&[("__name__", "a"), ("i", "0123456789")], 1.0, i))
            .collect();
        let each = delimited_len(series_len(&many[0]));
        let cut = |max_samples, max_bytes| -> Vec<(usize, usize)> {
            cut_batches(&many, max_samples, max_bytes)
                .into_iter()
                .map(|(r, samples)| {
                    assert_eq!(r.len(), samples);
                    (r.start, r.end)
                })
                .collect()
        };
        assert_eq!(cut(4, usize::MAX), [(0, 4), (4, 8), (8, 10)]);
        assert_eq!(cut(usize::MAX, usize::MAX), [(0, 10)]);
        assert_eq!(cut(usize::MAX, 3 * each), [(0, 3), (3, 6), (6, 9), (9, 10)]);
        assert_eq!(cut(2, 3 * each), [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]);
        // A series larger than the byte limit goes alone, never in an empty batch.
        assert_eq!(
            cut(usize::MAX, 1),
            (0..10).map(|i| (i, i + 1)).collect::<Vec<_>>()
        );
        assert!(cut_batches(&[], 5, 5).is_empty());
        // Each batch encodes to at most the byte limit.
        for (r, _) in cut_batches(&many, usize::MAX, 3 * each) {
            let mut raw = Vec::new();
            encode_write_request(&many[r], &mut raw);
            assert!(raw.len() <= 3 * each);
        }
    }
}
