//! Native histograms: golden bytes, worked out by hand from `metrics.proto`.

use super::*;

fn family(name: &'static str, histogram: HistogramValue) -> MetricFamily {
    MetricFamily::new(name, "", MetricType::Histogram)
        .with_metric(Metric::new(vec![], Value::Histogram(histogram)))
}

/// Schema 0, zero bucket of 2^-128 holding 1, buckets 1 and 2 holding 3 and 1.
fn small_native() -> NativeHistogram {
    NativeHistogram::from_counts(0, 2f64.powi(-128), 1, [(1, 3), (2, 1)], [])
}

fn golden(families: &[MetricFamily], want: &[&str]) {
    let opts = EncodeOptions { created: true };
    let bytes = encoded(families, &opts);
    assert_eq!(hex(&bytes), want.concat().replace(' ', ""));
    assert_eq!(decode_stream(&bytes).unwrap(), expected(families, &opts));
}

#[test]
fn native_only_has_no_classic_bucket() {
    let h = HistogramValue::new(vec![], 5, 7.5).with_native(small_native());
    golden(
        &[family("n", h)],
        &[
            "2b",                  // 43 bytes
            "0a01 6e 1804",        // name "n", type HISTOGRAM
            "2224 3a22",           // metric, histogram (34 bytes):
            "0805",                //   1 sample_count 5
            "11 0000000000001e40", //   2 sample_sum 7.5
            "2800",                //   5 schema 0 (zigzag)
            "31 000000000000f037", //   6 zero_threshold 2^-128
            "3801",                //   7 zero_count 1
            "6204 0802 1002",      //  12 positive_span {offset 1 (zigzag 2), length 2}
            "6806 6803",           //  13 positive_delta 3, -2 (zigzag 6, 3), unpacked
        ],
    );
}

#[test]
fn dual_writes_classic_and_native_with_created_between() {
    let classic = vec![Bucket::new(1.0, 2), Bucket::new(f64::INFINITY, 5)];
    let h = HistogramValue::new(classic, 5, 7.5).with_native(small_native());
    let m = Metric::new(vec![], Value::Histogram(h)).with_created(at(1500));
    let f = MetricFamily::new("d", "", MetricType::Histogram).with_metric(m);
    golden(
        &[f],
        &[
            "42",                            // 66 bytes
            "0a01 64 1804",                  // name "d", type HISTOGRAM
            "223b 3a39",                     // metric, histogram (57 bytes):
            "0805 11 0000000000001e40",      //   count 5, sum 7.5
            "1a0b 0802 11 000000000000f03f", //   3 bucket {2, le 1} (+Inf implicit)
            "2800 31 000000000000f037 3801", //   schema, zero threshold, zero count
            "6204 0802 1002 6806 6803",      //   positive span and deltas
            "7a08 0801 10 80cab5ee01",       //  15 created_timestamp 1.5 s
        ],
    );
}

#[test]
fn empty_native_carries_a_no_op_span() {
    let h = HistogramValue::new(vec![], 0, 0.0).with_native(NativeHistogram::new(0, 0.0));
    golden(
        &[family("e", h)],
        &[
            "27",                            // 39 bytes
            "0a01 65 1804",                  // name "e", type HISTOGRAM
            "2220 3a1e",                     // metric, histogram (30 bytes):
            "0800 11 0000000000000000",      //   count 0, sum 0.0 (written)
            "2800 31 0000000000000000 3800", //   schema 0, zero threshold 0, zero count 0
            "6204 0800 1000",                //  12 the no-op span {offset 0, length 0}
        ],
    );
}

#[test]
fn negative_buckets_and_exemplars_with_timestamps_only() {
    let trace = |id: &'static str| vec![label("trace_id", id)];
    let native = NativeHistogram::from_counts(3, 0.001, 0, [(0, 2)], [(-2, 1), (-1, 4)])
        .with_exemplars([
            Exemplar::new(trace("a"), 1.5).with_timestamp(at(2000)),
            // No timestamp: Prometheus would ignore it, so it is not written.
            Exemplar::new(trace("b"), 2.5),
            // Not valid (label name): dropped as everywhere.
            Exemplar::new(vec![label("trace-id", "c")], 0.5).with_timestamp(at(2000)),
        ]);
    let h = HistogramValue::new(vec![], 7, 3.25).with_native(native);
    golden(
        &[family("g", h)],
        &[
            "52",                                 // 82 bytes
            "0a01 67 1804",                       // name "g", type HISTOGRAM
            "224b 3a49",                          // metric, histogram (73 bytes):
            "0807 11 0000000000000a40",           //   count 7, sum 3.25
            "2806",                               //   5 schema 3 (zigzag 6)
            "31 fca9f1d24d62503f 3800",           //   zero threshold 0.001, zero count 0
            "4a04 0803 1002", //   9 negative_span {offset -2 (zigzag 3), length 2}
            "5002 5006",      //  10 negative_delta 1, 3
            "6204 0800 1001 6804", //  12, 13 positive span {0, 1}, delta 2
            "8201 1c",        //  16 exemplars (two-byte key), 28 bytes:
            "0a0d 0a08 74726163655f6964 1201 61", //   label trace_id="a"
            "11 000000000000f83f", //     value 1.5
            "1a02 0802",      //     timestamp 2 s
        ],
    );
}

#[test]
fn native_only_drops_even_an_inf_bucket_with_exemplar() {
    let exemplar = Exemplar::new(vec![label("trace_id", "x")], 9.0);
    let inf = Bucket::new(f64::INFINITY, 5).with_exemplar(exemplar);
    let classic = histogram_with(vec![inf.clone()]);
    assert_eq!(decoded_buckets(&classic).len(), 1);
    let h = HistogramValue::new(vec![inf], 5, 1.0).with_native(small_native());
    assert!(decoded_buckets(&[family("h", h)]).is_empty());
}

/// Span offsets and deltas use the whole range of `sint32` / `sint64` that a
/// consistent histogram can have.
#[test]
fn extreme_spans_and_deltas_round_trip() {
    let mut native = NativeHistogram::new(-4, 0.0);
    native.positive_spans = vec![BucketSpan::new(i32::MIN, 2), BucketSpan::new(i32::MAX, 0)];
    native.positive_deltas = vec![i64::MAX, -i64::MAX];
    native.negative_spans = vec![BucketSpan::new(-1, 1)];
    native.negative_deltas = vec![0];
    let h = HistogramValue::new(vec![], u64::MAX, 0.0).with_native(native);
    let families = [family("x", h)];
    let opts = EncodeOptions::default();
    let decoded = decode_stream(&encoded(&families, &opts)).unwrap();
    assert_eq!(decoded, expected(&families, &opts));
    let PValue::Histogram {
        native: Some(n), ..
    } = &decoded[0].metrics[0].value
    else {
        panic!("native histogram expected")
    };
    assert_eq!(n.schema, -4);
    assert_eq!(n.positive_spans, [(i32::MIN, 2), (i32::MAX, 0)]);
    assert_eq!(n.positive_deltas, [i64::MAX, -i64::MAX]);
    assert_eq!(n.negative_spans, [(-1, 1)]);
}

/// Buckets Prometheus would refuse (here more observations than the count) are
/// left out: the histogram is written as a classic one.
#[test]
fn inconsistent_native_buckets_are_left_out() {
    let classic = vec![Bucket::new(1.0, 2)];
    let h = HistogramValue::new(classic.clone(), 4, 7.5).with_native(small_native());
    let decoded = decode_stream(&encoded(&[family("i", h)], &EncodeOptions::default())).unwrap();
    let plain = decode_stream(&encoded(
        &[family("i", HistogramValue::new(classic, 4, 7.5))],
        &EncodeOptions::default(),
    ))
    .unwrap();
    assert_eq!(decoded, plain);
    let PValue::Histogram {
        native, buckets, ..
    } = &decoded[0].metrics[0].value
    else {
        panic!("histogram expected")
    };
    assert!(native.is_none());
    assert_eq!(buckets.len(), 1);
}
