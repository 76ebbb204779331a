//! Tests of the protobuf encoder: golden bytes, byte-for-byte agreement with
//! rust-protobuf, and property tests through the strict decoder in `decoder`.

use super::*;
use crate::model::{BucketSpan, Label, NativeHistogram, Quantile, Str};
use proptest::prelude::*;
use std::time::Duration;

/// The last second a created time may have: `9999-12-31T23:59:59Z`.
const MAX_TIMESTAMP_SECONDS: i64 = MAX_SECONDS as i64;

mod decoder;
mod native;
use decoder::{
    decode_stream, read_varint, PBucket, PExemplar, PFamily, PLabel, PMetric, PNative, PTimestamp,
    PValue,
};

// ---- What the stream should hold: the rules of the module docs, restated. ----

fn expected(families: &[MetricFamily], opts: &EncodeOptions) -> Vec<PFamily> {
    families
        .iter()
        .map(|f| PFamily {
            name: f.name.to_string(),
            help: (!f.help.is_empty()).then(|| f.help.to_string()),
            metric_type: match f.metric_type {
                MetricType::Counter => 0,
                MetricType::Gauge => 1,
                MetricType::Summary => 2,
                MetricType::Untyped => 3,
                MetricType::Histogram => 4,
            },
            metrics: f.metrics.iter().map(|m| expected_metric(m, opts)).collect(),
            unit: (!f.unit.is_empty()).then(|| f.unit.to_string()),
        })
        .collect()
}

fn expected_labels(labels: &[Label]) -> Vec<PLabel> {
    labels
        .iter()
        .map(|l| PLabel {
            name: l.name.to_string(),
            value: l.value.to_string(),
        })
        .collect()
}

/// Seconds and nanoseconds since the epoch, for times from 1970 to the end of 9999.
fn expected_timestamp(t: Option<SystemTime>) -> Option<PTimestamp> {
    let since = t?.duration_since(UNIX_EPOCH).ok()?;
    let seconds = i64::try_from(since.as_secs()).ok()?;
    (seconds <= MAX_TIMESTAMP_SECONDS).then(|| PTimestamp {
        seconds,
        nanos: since.subsec_nanos() as i32,
    })
}

/// The exemplar, when the model's rule accepts it (that rule has its own tests).
fn expected_exemplar(e: &Option<Box<Exemplar>>) -> Option<PExemplar> {
    expected_exemplar_of(e.as_deref()?)
}

fn expected_exemplar_of(e: &Exemplar) -> Option<PExemplar> {
    e.validate().is_ok().then(|| PExemplar {
        labels: expected_labels(&e.labels),
        value: e.value.to_bits(),
        timestamp: expected_timestamp(e.timestamp),
    })
}

fn expected_metric(m: &Metric, _opts: &EncodeOptions) -> PMetric {
    // Start times are written whatever the options say.
    let created = expected_timestamp(m.created);
    let value = match &m.value {
        Value::Gauge(v) => PValue::Gauge(v.to_bits()),
        Value::Untyped(v) => PValue::Untyped(v.to_bits()),
        Value::Counter(c) => PValue::Counter {
            value: c.value.to_bits(),
            exemplar: expected_exemplar(&c.exemplar),
            created,
        },
        Value::Summary(s) => PValue::Summary {
            count: s.count,
            sum: s.sum.to_bits(),
            quantiles: s
                .quantiles
                .iter()
                .map(|q| (q.quantile.to_bits(), q.value.to_bits()))
                .collect(),
            created,
        },
        Value::Histogram(h) => PValue::Histogram {
            count: h.count,
            sum: h.sum.to_bits(),
            buckets: h
                .buckets
                .iter()
                .map(|b| PBucket {
                    cumulative_count: b.cumulative_count,
                    upper_bound: b.upper_bound.to_bits(),
                    exemplar: expected_exemplar(&b.exemplar),
                })
                .filter(|b| b.upper_bound != f64::INFINITY.to_bits() || b.exemplar.is_some())
                // A native-only histogram (no finite bound) has no classic bucket.
                .filter(|_| {
                    native_of(h).is_none()
                        || h.buckets.iter().any(|b| b.upper_bound != f64::INFINITY)
                })
                .collect(),
            created,
            native: native_of(h).map(expected_native),
        },
    };
    PMetric {
        labels: expected_labels(&m.labels),
        value,
        timestamp_ms: m.timestamp.map(crate::model::time::to_millis),
    }
}

/// The native buckets, when the model's rule accepts them (that rule has its own
/// tests).
fn native_of(h: &HistogramValue) -> Option<&NativeHistogram> {
    h.native.as_deref().filter(|n| n.is_consistent(h.count))
}

fn expected_native(n: &NativeHistogram) -> PNative {
    let spans = |spans: &[BucketSpan]| -> Vec<(i32, u32)> {
        spans.iter().map(|s| (s.offset, s.length)).collect()
    };
    let mut positive_spans = spans(&n.positive_spans);
    if n.positive_spans.is_empty() && n.negative_spans.is_empty() {
        positive_spans.push((0, 0));
    }
    PNative {
        schema: n.schema,
        zero_threshold: n.zero_threshold.to_bits(),
        zero_count: n.zero_count,
        negative_spans: spans(&n.negative_spans),
        negative_deltas: n.negative_deltas.clone(),
        positive_spans,
        positive_deltas: n.positive_deltas.clone(),
        exemplars: n
            .exemplars
            .iter()
            .filter(|e| e.timestamp.is_some())
            .filter_map(expected_exemplar_of)
            .collect(),
    }
}

fn encoded(families: &[MetricFamily], opts: &EncodeOptions) -> Vec<u8> {
    let mut out = Vec::new();
    encode(families, opts, &mut out);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn label(name: &'static str, value: &'static str) -> Label {
    Label::new(name, value)
}

// ---- Generators. ----

fn arb_string(max: usize) -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec!['"', '\\', '\n', '\0', 'é', '😀', '\u{10ffff}', 'a']);
    prop::collection::vec(prop_oneof![any::<char>(), special], 0..max)
        .prop_map(|chars| chars.into_iter().collect())
}

fn arb_str(max: usize) -> impl Strategy<Value = Str> {
    prop_oneof![
        3 => arb_string(max).prop_map(Str::from),
        1 => Just(Str::from("")),
    ]
}

fn arb_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::MIN_POSITIVE,
            f64::MAX,
        ]),
        -1e12..1e12f64,
    ]
}

fn arb_count() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), 0..300u64, Just(u64::MAX)]
}

/// Times around the epoch (before it too), recent ones, far ones, and the edges of
/// `google.protobuf.Timestamp`, to the nanosecond.
fn arb_time() -> impl Strategy<Value = SystemTime> {
    let from = |(seconds, nanos): (i64, u32)| {
        let d = Duration::new(seconds.unsigned_abs(), nanos);
        if seconds < 0 {
            UNIX_EPOCH - d
        } else {
            UNIX_EPOCH + d
        }
    };
    prop_oneof![
        (0..2_000_000_000i64, 0..1_000_000_000u32).prop_map(from),
        (
            -1_000_000_000_000..1_000_000_000_000i64,
            0..1_000_000_000u32
        )
            .prop_map(from),
        prop::sample::select(vec![
            (0, 0),
            (0, 1),
            (-1, 999_999_999),
            (-1, 0),
            (1, 500_000_000),
            (MAX_TIMESTAMP_SECONDS, 999_999_999),
            (MAX_TIMESTAMP_SECONDS + 1, 0),
        ])
        .prop_map(from),
    ]
}

fn arb_labels(max: usize, value_len: usize) -> impl Strategy<Value = Vec<Label>> {
    prop::collection::vec(
        (arb_str(12), arb_str(value_len)).prop_map(|(name, value)| Label { name, value }),
        0..max,
    )
}

/// Exemplar labels: mostly valid (distinct valid names, values of any length), some
/// with any names.
fn arb_exemplar_labels() -> impl Strategy<Value = Vec<Label>> {
    let name = prop::sample::select(vec!["trace_id", "span_id", "a", "_", "Z9"]);
    let valid = prop::collection::btree_map(name, arb_string(80), 0..3).prop_map(|labels| {
        labels
            .into_iter()
            .map(|(name, value)| Label::new(name, value))
            .collect()
    });
    prop_oneof![3 => valid, 1 => arb_labels(3, 80)]
}

fn arb_exemplar() -> impl Strategy<Value = Option<Exemplar>> {
    prop::option::of(
        (
            arb_exemplar_labels(),
            arb_f64(),
            prop::option::of(arb_time()),
        )
            .prop_map(|(labels, value, timestamp)| Exemplar {
                labels,
                value,
                timestamp,
            }),
    )
}

fn arb_bucket() -> impl Strategy<Value = Bucket> {
    (
        prop_oneof![4 => arb_f64(), 1 => Just(f64::INFINITY)],
        arb_count(),
        arb_exemplar(),
    )
        .prop_map(|(upper_bound, cumulative_count, exemplar)| Bucket {
            upper_bound,
            cumulative_count,
            exemplar: exemplar.map(Box::new),
        })
}

fn arb_spans() -> impl Strategy<Value = Vec<BucketSpan>> {
    let offset = prop_oneof![any::<i32>(), -3..3i32];
    let length = prop_oneof![any::<u32>(), 0..4u32];
    prop::collection::vec(
        (offset, length).prop_map(|(o, l)| BucketSpan::new(o, l)),
        0..4,
    )
}

fn arb_deltas() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(prop_oneof![any::<i64>(), -3..3i64], 0..8)
}

/// Native buckets, mostly consistent ones (built from counts), some with any
/// spans and deltas, with exemplars valid or not, with a timestamp or not.
fn arb_native() -> impl Strategy<Value = NativeHistogram> {
    prop_oneof![3 => arb_consistent_native(), 1 => arb_any_native()]
}

fn arb_consistent_native() -> impl Strategy<Value = NativeHistogram> {
    let side = || prop::collection::btree_map(-40..40i32, 0..60u64, 0..6);
    (
        (-4..=8i32, prop_oneof![Just(0.0), 0.0..1.0f64], 0..40u64),
        (side(), side()),
        prop::collection::vec(arb_exemplar(), 0..3),
    )
        .prop_map(
            |((schema, threshold, zero), (positive, negative), exemplars)| {
                NativeHistogram::from_counts(schema, threshold, zero, positive, negative)
                    .with_exemplars(exemplars.into_iter().flatten())
            },
        )
}

fn arb_any_native() -> impl Strategy<Value = NativeHistogram> {
    (
        (prop_oneof![any::<i32>(), -4..=8i32], arb_f64(), arb_count()),
        (arb_spans(), arb_deltas(), arb_spans(), arb_deltas()),
        prop::collection::vec(arb_exemplar(), 0..3),
    )
        .prop_map(
            |((schema, zero_threshold, zero_count), (ps, pd, ns, nd), exemplars)| NativeHistogram {
                schema,
                zero_threshold,
                zero_count,
                positive_spans: ps,
                positive_deltas: pd,
                negative_spans: ns,
                negative_deltas: nd,
                exemplars: exemplars.into_iter().flatten().collect(),
            },
        )
}

fn arb_value(metric_type: MetricType) -> BoxedStrategy<Value> {
    match metric_type {
        MetricType::Gauge => arb_f64().prop_map(Value::Gauge).boxed(),
        MetricType::Untyped => arb_f64().prop_map(Value::Untyped).boxed(),
        MetricType::Counter => (arb_f64(), arb_exemplar())
            .prop_map(|(value, exemplar)| {
                Value::Counter(CounterValue {
                    value,
                    exemplar: exemplar.map(Box::new),
                })
            })
            .boxed(),
        MetricType::Summary => (
            prop::collection::vec(
                (arb_f64(), arb_f64()).prop_map(|(quantile, value)| Quantile { quantile, value }),
                0..8,
            ),
            arb_count(),
            arb_f64(),
        )
            .prop_map(|(quantiles, count, sum)| {
                Value::Summary(SummaryValue {
                    quantiles,
                    count,
                    sum,
                })
            })
            .boxed(),
        MetricType::Histogram => (
            prop_oneof![
                3 => prop::collection::vec(arb_bucket(), 0..14),
                1 => Just(Vec::new()),
            ],
            arb_count(),
            arb_f64(),
            prop::option::of(arb_native()),
        )
            .prop_map(|(buckets, count, sum, native)| {
                Value::Histogram(HistogramValue {
                    buckets,
                    count,
                    sum,
                    native: native.map(Box::new),
                })
            })
            .boxed(),
    }
}

fn arb_metric(metric_type: MetricType) -> impl Strategy<Value = Metric> {
    (
        arb_labels(4, 40),
        arb_value(metric_type),
        prop::option::of(any::<i64>()),
        prop::option::of(arb_time()),
    )
        .prop_map(|(labels, value, timestamp_ms, created)| Metric {
            labels,
            value,
            timestamp: timestamp_ms.and_then(crate::model::time::from_millis),
            created,
        })
}

fn arb_type() -> impl Strategy<Value = MetricType> {
    prop::sample::select(vec![
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Summary,
        MetricType::Untyped,
    ])
}

fn arb_family() -> impl Strategy<Value = MetricFamily> {
    arb_type().prop_flat_map(|metric_type| {
        (
            arb_str(20),
            prop_oneof![3 => arb_str(40), 1 => arb_str(300)],
            arb_str(8),
            prop::collection::vec(arb_metric(metric_type), 0..6),
        )
            .prop_map(move |(name, help, unit, metrics)| MetricFamily {
                name,
                help,
                unit,
                metric_type,
                metrics,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Whatever the model holds, the stream decodes strictly to what the rules say.
    #[test]
    fn round_trips_through_strict_decoder(
        families in prop::collection::vec(arb_family(), 0..5),
        created in any::<bool>(),
    ) {
        let opts = EncodeOptions { created };
        let bytes = encoded(&families, &opts);
        let decoded = decode_stream(&bytes).map_err(TestCaseError::fail)?;
        prop_assert_eq!(decoded, expected(&families, &opts));
    }

    /// Appending leaves what the buffer held alone, and families encode independently.
    #[test]
    fn appends_family_by_family(
        prefix in prop::collection::vec(any::<u8>(), 0..40),
        families in prop::collection::vec(arb_family(), 0..4),
    ) {
        let opts = EncodeOptions { created: true };
        let mut out = prefix.clone();
        encode(&families, &opts, &mut out);
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        let mut one_by_one = prefix.clone();
        for family in &families {
            encode(std::slice::from_ref(family), &opts, &mut one_by_one);
        }
        prop_assert_eq!(out, one_by_one);
    }

    /// A time from 1970 to the end of 9999 splits into exactly its seconds and
    /// nanoseconds; any other time gives nothing.
    #[test]
    fn timestamp_conversion(t in arb_time()) {
        let last = UNIX_EPOCH + Duration::new(MAX_TIMESTAMP_SECONDS as u64, 999_999_999);
        match Timestamp::from_time(t) {
            None => prop_assert!(t < UNIX_EPOCH || t > last),
            Some(ts) => {
                prop_assert!((0..1_000_000_000).contains(&ts.nanos));
                prop_assert!((0..=MAX_TIMESTAMP_SECONDS).contains(&ts.seconds));
                let back = UNIX_EPOCH + Duration::new(ts.seconds as u64, ts.nanos as u32);
                prop_assert_eq!(back, t);
            }
        }
    }

    /// Byte for byte what rust-protobuf (via the `prometheus` crate) writes for
    /// the fields its older `metrics.proto` knows.
    #[test]
    fn matches_rust_protobuf_bytes(families in prop::collection::vec(arb_family(), 0..5)) {
        let families: Vec<MetricFamily> = families
            .into_iter()
            .filter(|f| !f.name.is_empty() && !f.metrics.is_empty())
            .map(without_newer_fields)
            .collect();
        let ours = encoded(&families, &EncodeOptions { created: true });
        let theirs = rust_protobuf_bytes(&families);
        prop_assert_eq!(hex(&ours), hex(&theirs));
    }
}

/// Drops what `prometheus` 0.14's schema lacks: units, exemplars (and so explicit
/// +Inf buckets, which only an exemplar keeps), created timestamps and native
/// buckets.
fn without_newer_fields(mut family: MetricFamily) -> MetricFamily {
    family.unit = Str::default();
    for metric in &mut family.metrics {
        metric.created = None;
        match &mut metric.value {
            Value::Counter(c) => c.exemplar = None,
            Value::Histogram(h) => {
                h.buckets.iter_mut().for_each(|b| b.exemplar = None);
                h.native = None;
            }
            _ => {}
        }
    }
    family
}

/// The same families through `prometheus::proto` and its `ProtobufEncoder`.
fn rust_protobuf_bytes(families: &[MetricFamily]) -> Vec<u8> {
    rust_protobuf_encode(&to_rust_protobuf(families))
}

fn rust_protobuf_encode(families: &[prometheus::proto::MetricFamily]) -> Vec<u8> {
    use prometheus::Encoder as _;
    let mut out = Vec::new();
    prometheus::ProtobufEncoder::new()
        .encode(families, &mut out)
        .expect("valid families");
    out
}

/// Our model as `prometheus::proto` messages, following the module's rules.
fn to_rust_protobuf(families: &[MetricFamily]) -> Vec<prometheus::proto::MetricFamily> {
    use prometheus::proto;
    families
        .iter()
        .map(|f| {
            let mut pf = proto::MetricFamily::default();
            pf.set_name(f.name.to_string());
            if !f.help.is_empty() {
                pf.set_help(f.help.to_string());
            }
            pf.set_field_type(match f.metric_type {
                MetricType::Counter => proto::MetricType::COUNTER,
                MetricType::Gauge => proto::MetricType::GAUGE,
                MetricType::Summary => proto::MetricType::SUMMARY,
                MetricType::Untyped => proto::MetricType::UNTYPED,
                MetricType::Histogram => proto::MetricType::HISTOGRAM,
            });
            for m in &f.metrics {
                let mut pm = proto::Metric::default();
                for l in &m.labels {
                    let mut pl = proto::LabelPair::default();
                    pl.set_name(l.name.to_string());
                    pl.set_value(l.value.to_string());
                    pm.label.push(pl);
                }
                match &m.value {
                    Value::Counter(c) => {
                        let mut pc = proto::Counter::default();
                        pc.set_value(c.value);
                        pm.set_counter(pc);
                    }
                    Value::Gauge(v) => {
                        let mut pg = proto::Gauge::default();
                        pg.set_value(*v);
                        pm.set_gauge(pg);
                    }
                    Value::Untyped(v) => {
                        let mut pu = proto::Untyped::default();
                        pu.set_value(*v);
                        pm.untyped = Some(pu).into();
                    }
                    Value::Summary(s) => {
                        let mut ps = proto::Summary::default();
                        ps.set_sample_count(s.count);
                        ps.set_sample_sum(s.sum);
                        for q in &s.quantiles {
                            let mut pq = proto::Quantile::default();
                            pq.set_quantile(q.quantile);
                            pq.set_value(q.value);
                            ps.quantile.push(pq);
                        }
                        pm.set_summary(ps);
                    }
                    Value::Histogram(h) => {
                        let mut ph = proto::Histogram::default();
                        ph.set_sample_count(h.count);
                        ph.set_sample_sum(h.sum);
                        for b in h.buckets.iter().filter(|b| b.upper_bound != f64::INFINITY) {
                            let mut pb = proto::Bucket::default();
                            pb.set_cumulative_count(b.cumulative_count);
                            pb.set_upper_bound(b.upper_bound);
                            ph.bucket.push(pb);
                        }
                        pm.set_histogram(ph);
                    }
                }
                if let Some(t) = m.timestamp {
                    pm.set_timestamp_ms(crate::model::time::to_millis(t));
                }
                pf.metric.push(pm);
            }
            pf
        })
        .collect()
}

/// `ms` milliseconds after the epoch.
fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn golden_families() -> Vec<MetricFamily> {
    let created = |m: Metric| m.with_created(at(1500));
    vec![
        MetricFamily::new("req_total", "Requests.", MetricType::Counter).with_metric(created(
            Metric::new(
                vec![label("code", "200"), label("method", "get")],
                Value::counter(3.0),
            ),
        )),
        MetricFamily::new("temp_celsius", "", MetricType::Gauge)
            .with_unit("celsius")
            .with_metric(Metric::new(vec![], Value::Gauge(-0.5)).with_timestamp(at(1000))),
        MetricFamily::new("lat_seconds", "L.", MetricType::Histogram).with_metric(created(
            Metric::new(
                vec![],
                Value::Histogram(HistogramValue {
                    buckets: vec![
                        Bucket {
                            upper_bound: 0.1,
                            cumulative_count: 1,
                            exemplar: None,
                        },
                        Bucket {
                            upper_bound: 1.0,
                            cumulative_count: 3,
                            exemplar: Some(Box::new(Exemplar {
                                labels: vec![label("trace_id", "ab")],
                                value: 0.5,
                                timestamp: Some(at(2250)),
                            })),
                        },
                        Bucket {
                            upper_bound: f64::INFINITY,
                            cumulative_count: 4,
                            exemplar: None,
                        },
                    ],
                    count: 4,
                    sum: 2.0,
                    native: None,
                }),
            ),
        )),
        MetricFamily::new("s", "S.", MetricType::Summary).with_metric(Metric::new(
            vec![],
            Value::Summary(SummaryValue {
                quantiles: vec![Quantile {
                    quantile: 0.5,
                    value: 1.0,
                }],
                count: 2,
                sum: 2.5,
            }),
        )),
        MetricFamily::new("u", "", MetricType::Untyped)
            .with_metric(Metric::new(vec![label("k", "")], Value::Untyped(f64::NAN))),
    ]
}

/// Hand-assembled from the protobuf encoding rules. A key byte is
/// `field_number << 3 | wire_type` (0 varint, 1 little-endian double, 2 length-
/// delimited), a length-delimited field is key, varint length, bytes.
/// Doubles: 3.0 = 4008.., 1.5 = 3ff8.., -0.5 = bfe0.., 0.1 = 3fb999999999999a,
/// 1.0 = 3ff0.., 0.5 = 3fe0.., 2.0 = 4000.., 2.5 = 4004.., NaN = 7ff8..,
/// written low byte first. Varints: 1000 = e8 07, 500000000 = 80 ca b5 ee 01,
/// 250000000 = 80 e5 9a 77.
const GOLDEN: &[&str] = &[
    // ---- counter family, 75 bytes ----
    "4b",
    "0a09 7265715f746f74616c",            // 1 name "req_total"
    "1209 52657175657374732e",            // 2 help "Requests."
    "1800",                               // 3 type COUNTER
    "2231",                               // 4 metric, 49 bytes:
    "0a0b 0a04 636f6465 1203 323030",     //   1 label: 1 name "code", 2 value "200"
    "0a0d 0a06 6d6574686f64 1203 676574", // 1 label: "method" = "get"
    "1a13",                               //   3 counter, 19 bytes:
    "09 0000000000000840",                //     1 value 3.0
    "1a08 0801 1080cab5ee01",             //     3 created: 1 seconds 1, 2 nanos 500000000
    // ---- gauge family, 41 bytes ----
    "29",
    "0a0c 74656d705f63656c73697573", // 1 name "temp_celsius" (empty help omitted)
    "1801",                          // 3 type GAUGE
    "220e",                          // 4 metric, 14 bytes:
    "1209 09 000000000000e0bf",      //   2 gauge: 1 value -0.5
    "30e807",                        //   6 timestamp_ms 1000
    "2a07 63656c73697573",           // 5 unit "celsius"
    // ---- histogram family, 106 bytes ----
    "6a",
    "0a0b 6c61745f7365636f6e6473",          // 1 name "lat_seconds"
    "1202 4c2e",                            // 2 help "L."
    "1804",                                 // 3 type HISTOGRAM
    "2255",                                 // 4 metric, 85 bytes:
    "3a53",                                 //   7 histogram, 83 bytes:
    "0804",                                 //     1 sample_count 4
    "11 0000000000000040",                  //     2 sample_sum 2.0
    "1a0b 0801 11 9a9999999999b93f",        //   3 bucket: 1 cumulative_count 1, 2 upper_bound 0.1
    "1a2f 0803 11 000000000000f03f",        //   3 bucket, 47 bytes: count 3, upper_bound 1.0,
    "1a22",                                 //       3 exemplar, 34 bytes:
    "0a0e 0a08 74726163655f6964 1202 6162", // 1 label trace_id="ab"
    "11 000000000000e03f",                  //         2 value 0.5
    "1a07 0802 1080e59a77",                 //         3 timestamp: seconds 2, nanos 250000000
    // (the +Inf bucket without exemplar is not written)
    "7a08 0801 1080cab5ee01", //     15 created_timestamp 1.5 s
    // ---- summary family, 44 bytes ----
    "2c",
    "0a01 73",                                      // 1 name "s"
    "1202 532e",                                    // 2 help "S."
    "1802",                                         // 3 type SUMMARY
    "2221",                                         // 4 metric, 33 bytes:
    "221f",                                         //   4 summary, 31 bytes:
    "0802",                                         //     1 sample_count 2
    "11 0000000000000440",                          //     2 sample_sum 2.5
    "1a12 09 000000000000e03f 11 000000000000f03f", // 3 quantile 0.5: 1.0
    // ---- untyped family, 25 bytes ----
    "19",
    "0a01 75",                  // 1 name "u"
    "1803",                     // 3 type UNTYPED
    "2212",                     // 4 metric, 18 bytes:
    "0a05 0a01 6b 1200",        //   1 label k="" (empty value still written)
    "2a09 09 000000000000f87f", //   5 untyped: 1 value NaN
];

#[test]
fn golden_bytes() {
    let opts = EncodeOptions { created: true };
    let bytes = encoded(&golden_families(), &opts);
    assert_eq!(hex(&bytes), GOLDEN.concat().replace(' ', ""));
    // And the decoder agrees with the rules on the same input.
    assert_eq!(
        decode_stream(&bytes).unwrap(),
        expected(&golden_families(), &opts)
    );
}

/// The bytes Go's client writes for a counter `test_counter_vec{labelname="2230"} 1`
/// with help "help information" (as recorded in the `prometheus` crate's tests).
#[test]
fn go_client_counter_bytes() {
    let families =
        vec![
            MetricFamily::new("test_counter_vec", "help information", MetricType::Counter)
                .with_metric(Metric::new(
                    vec![label("labelname", "2230")],
                    Value::counter(1.0),
                )),
        ];
    let expected = concat!(
        "46",                                              // 70 bytes
        "0a10 746573745f636f756e7465725f766563",           // name
        "1210 68656c7020696e666f726d6174696f6e",           // help
        "1800",                                            // COUNTER
        "221e 0a11 0a09 6c6162656c6e616d65 1204 32323330", // metric: label
        "1a09 09 000000000000f03f",                        // counter 1.0
    )
    .replace(' ', "");
    assert_eq!(
        hex(&encoded(&families, &EncodeOptions::default())),
        expected
    );
}

#[test]
fn start_times_whatever_the_option() {
    let families = golden_families();
    let without = encoded(&families, &EncodeOptions::default());
    let with = encoded(&families, &EncodeOptions { created: true });
    assert_eq!(without, with);
    let decoded = decode_stream(&with).unwrap();
    let PValue::Counter { created, .. } = &decoded[0].metrics[0].value else {
        panic!("counter expected")
    };
    assert_eq!(
        *created,
        Some(PTimestamp {
            seconds: 1,
            nanos: 500_000_000
        })
    );
}

#[test]
fn created_out_of_range_is_skipped() {
    for t in [
        UNIX_EPOCH - Duration::from_secs(1),
        UNIX_EPOCH - Duration::from_nanos(1),
        UNIX_EPOCH + Duration::from_secs(253_402_300_800),
        UNIX_EPOCH + Duration::from_secs(1_000_000_000_000),
    ] {
        let mut metric = Metric::new(vec![], Value::counter(0.0));
        metric.created = Some(t);
        let families =
            vec![MetricFamily::new("c_total", "", MetricType::Counter).with_metric(metric)];
        let decoded = decode_stream(&encoded(&families, &EncodeOptions { created: true }));
        assert_eq!(
            decoded.unwrap()[0].metrics[0].value,
            PValue::Counter {
                value: 0,
                exemplar: None,
                created: None
            },
            "{t:?}"
        );
    }
}

#[test]
fn timestamp_edges() {
    let ts = |seconds, nanos| Some(Timestamp { seconds, nanos });
    let after = |seconds, nanos| Timestamp::from_time(UNIX_EPOCH + Duration::new(seconds, nanos));
    assert_eq!(after(0, 0), ts(0, 0));
    assert_eq!(after(1, 500_000_000), ts(1, 500_000_000));
    assert_eq!(after(0, 1), ts(0, 1));
    assert_eq!(
        after(1_700_000_000, 250_000_000),
        ts(1_700_000_000, 250_000_000)
    );
    let max = MAX_TIMESTAMP_SECONDS as u64;
    assert_eq!(
        after(max, 999_999_999),
        ts(MAX_TIMESTAMP_SECONDS, 999_999_999)
    );
    assert_eq!(after(max + 1, 0), None);
    assert_eq!(
        Timestamp::from_time(UNIX_EPOCH - Duration::from_nanos(1)),
        None
    );
    // A zero timestamp is an empty, but present, message.
    let mut out = Vec::new();
    Timestamp::from_time(UNIX_EPOCH)
        .unwrap()
        .put(&mut out, COUNTER_CREATED);
    assert_eq!(out, [0x1a, 0]);
}

#[test]
fn zero_values_are_written_explicitly() {
    let families = vec![
        MetricFamily::new("c_total", "", MetricType::Counter)
            .with_metric(Metric::new(vec![], Value::counter(0.0))),
        MetricFamily::new("h", "", MetricType::Histogram).with_metric(Metric::new(
            vec![],
            Value::Histogram(HistogramValue::default()),
        )),
    ];
    assert_eq!(
        hex(&encoded(&families, &EncodeOptions::default())),
        concat!(
            "18",
            "0a07 635f746f74616c",
            "1800",                          // 24 bytes: name "c_total", COUNTER
            "220b 1a09 09 0000000000000000", // metric { counter { value: 0.0 } }
            "14",
            "0a01 68",
            "1804",                               // 20 bytes: name "h", HISTOGRAM
            "220d 3a0b 0800 11 0000000000000000", // { sample_count 0, sample_sum 0.0 }
        )
        .replace(' ', "")
    );
}

fn histogram_with(buckets: Vec<Bucket>) -> Vec<MetricFamily> {
    vec![
        MetricFamily::new("h", "", MetricType::Histogram).with_metric(Metric::new(
            vec![],
            Value::Histogram(HistogramValue {
                buckets,
                count: 7,
                sum: 1.0,
                native: None,
            }),
        )),
    ]
}

fn decoded_buckets(families: &[MetricFamily]) -> Vec<PBucket> {
    let decoded = decode_stream(&encoded(families, &EncodeOptions::default())).unwrap();
    match &decoded[0].metrics[0].value {
        PValue::Histogram { buckets, .. } => buckets.clone(),
        other => panic!("histogram expected, got {other:?}"),
    }
}

#[test]
fn inf_bucket_written_only_for_its_exemplar() {
    let bucket = |upper_bound, exemplar| Bucket {
        upper_bound,
        cumulative_count: 7,
        exemplar,
    };
    let exemplar = Exemplar {
        labels: vec![label("trace_id", "x")],
        value: 9.0,
        timestamp: None,
    };
    let plain = histogram_with(vec![bucket(1.0, None), bucket(f64::INFINITY, None)]);
    let buckets = decoded_buckets(&plain);
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].upper_bound, 1.0f64.to_bits());

    let with_exemplar = histogram_with(vec![
        bucket(1.0, None),
        bucket(f64::INFINITY, Some(Box::new(exemplar.clone()))),
    ]);
    let buckets = decoded_buckets(&with_exemplar);
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[1].upper_bound, f64::INFINITY.to_bits());
    assert_eq!(buckets[1].cumulative_count, 7);
    assert_eq!(
        buckets[1].exemplar.as_ref().unwrap().value,
        9.0f64.to_bits()
    );

    // An exemplar too long to keep does not keep the +Inf bucket either.
    let long = Exemplar {
        labels: vec![Label::new("trace_id", "x".repeat(121))],
        ..exemplar
    };
    let buckets = decoded_buckets(&histogram_with(vec![bucket(
        f64::INFINITY,
        Some(Box::new(long)),
    )]));
    assert!(buckets.is_empty());
}

#[test]
fn exemplar_limit_counts_code_points() {
    let counter = |value: String| {
        let exemplar = Exemplar {
            labels: vec![Label::new("id", value)],
            value: 1.0,
            timestamp: Some(at(5250)),
        };
        vec![
            MetricFamily::new("c_total", "", MetricType::Counter).with_metric(Metric::new(
                vec![],
                Value::Counter(CounterValue {
                    value: 1.0,
                    exemplar: Some(Box::new(exemplar)),
                }),
            )),
        ]
    };
    let exemplar_of = |families: &[MetricFamily]| {
        let decoded = decode_stream(&encoded(families, &EncodeOptions::default())).unwrap();
        match &decoded[0].metrics[0].value {
            PValue::Counter { exemplar, .. } => exemplar.clone(),
            other => panic!("counter expected, got {other:?}"),
        }
    };
    // "id" + 126 code points = 128: kept, also when they take 4 bytes each.
    let kept = exemplar_of(&counter("a".repeat(126))).expect("kept");
    assert_eq!(
        kept.timestamp,
        Some(PTimestamp {
            seconds: 5,
            nanos: 250_000_000
        })
    );
    assert!(exemplar_of(&counter("😀".repeat(126))).is_some());
    // 129 code points: dropped, the counter stays.
    assert_eq!(exemplar_of(&counter("a".repeat(127))), None);
    assert_eq!(exemplar_of(&counter("😀".repeat(127))), None);
}

/// Lengths around the 1-, 2-, 3- and 4-byte varint boundaries, with estimates
/// that are right, too small (the body moves right) and too large (it moves left).
#[test]
fn length_prefixes_of_every_width() {
    let opts = EncodeOptions::default();
    let gauge = |value: String| Metric::new(vec![Label::new("l", value)], Value::Gauge(1.0));
    let mut cases = Vec::new();
    for n in (100..140).chain(16_350..16_400) {
        // One metric: the family and metric estimates are close.
        cases.push(MetricFamily::new("g", "", MetricType::Gauge).with_metric(gauge("v".repeat(n))));
        // A long help: the family estimate is close, the metric estimate exact.
        cases.push(
            MetricFamily::new("g", String::from("h").repeat(n), MetricType::Gauge)
                .with_metric(gauge(String::new())),
        );
    }
    // The first metric is small and the rest large: the estimate is too small.
    cases.push(
        MetricFamily::new("g", "", MetricType::Gauge)
            .with_metric(gauge(String::new()))
            .with_metric(gauge("x".repeat(1_500_000)))
            .with_metric(gauge("y".repeat(1_500_000))),
    );
    // The first metric is large and the rest small: the estimate is too large.
    let mut shrinking =
        MetricFamily::new("g", "", MetricType::Gauge).with_metric(gauge("z".repeat(20_000)));
    for _ in 0..200 {
        shrinking = shrinking.with_metric(gauge(String::new()));
    }
    cases.push(shrinking);
    for family in cases {
        let families = [family];
        let bytes = encoded(&families, &opts);
        assert_eq!(decode_stream(&bytes).unwrap(), expected(&families, &opts));
    }
}

#[test]
fn varint_lengths() {
    for (value, len) in [
        (0u64, 1),
        (127, 1),
        (128, 2),
        (16_383, 2),
        (16_384, 3),
        ((1 << 21) - 1, 3),
        (1 << 21, 4),
        (1 << 63, 10),
        (u64::MAX, 10),
    ] {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        assert_eq!(out.len(), len, "{value}");
        assert_eq!(varint_len(value), len, "{value}");
        assert_eq!(read_varint(&mut &out[..]).unwrap(), value);
    }
}

#[test]
fn negative_timestamp_ms_is_ten_bytes() {
    let families = vec![MetricFamily::new("g", "", MetricType::Gauge).with_metric(
        Metric::new(vec![], Value::Gauge(0.0))
            .with_timestamp(UNIX_EPOCH - Duration::from_millis(1)),
    )];
    let bytes = encoded(&families, &EncodeOptions::default());
    assert!(hex(&bytes).ends_with("30ffffffffffffffffff01"));
    assert_eq!(
        decode_stream(&bytes).unwrap()[0].metrics[0].timestamp_ms,
        Some(-1)
    );
}
