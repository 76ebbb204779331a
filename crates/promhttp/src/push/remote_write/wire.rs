//! The protobuf `WriteRequest` encoding, snappy compression and batch cutting.

use super::series::{Sample, TimeSeries};
use crate::encode::protobuf::wire::{
    delimited_len, key, label_len, put_double, put_label, put_varint, varint_len, I64, LEN, VARINT,
};

/// Largest uncompressed request: snappy's block format cannot compress more
/// (4 GiB - 1). Batches are cut to stay within it whatever
/// [`max_batch`](super::RemoteWriterBuilder::max_batch) allows.
pub(super) const MAX_REQUEST_BYTES: usize = u32::MAX as usize;

const WRITE_REQUEST_TIMESERIES: u8 = key(1, LEN);
const TIMESERIES_LABELS: u8 = key(1, LEN);
const TIMESERIES_SAMPLES: u8 = key(2, LEN);
const SAMPLE_VALUE: u8 = key(1, I64);
const SAMPLE_TIMESTAMP: u8 = key(2, VARINT);

fn sample_len(s: &Sample) -> usize {
    // value: key + fixed64; timestamp: key + varint.
    1 + 8 + 1 + varint_len(s.timestamp_ms as u64)
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
}

/// Appends the protobuf encoding of `WriteRequest { timeseries: series }` to `out`.
///
/// The messages (from Prometheus's `prompb`), all fields written even when zero:
///
/// ```text
/// WriteRequest { repeated TimeSeries timeseries = 1; }
/// TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
/// Label        { string name = 1; string value = 2; }
/// Sample       { double value = 1; int64 timestamp = 2; }
/// ```
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

/// Cuts `series` into batches of at most `max_samples` samples and at most
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
            let (n, b) = (s.samples.len(), delimited_len(series_len(s)));
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
