//! Tests of the recording core against plain references, of the bucket limit, and
//! a soak test of writers and a collector running at once.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;

use super::core::HistogramCore;
use super::index::{bucket_index, MIN_SCHEMA};
use super::{Buckets, NativeBuckets};
use crate::model::{Exemplar, HistogramValue, Label, NativeHistogram};

fn native(factor: f64, max: Option<u32>) -> NativeBuckets {
    NativeBuckets::new(factor)
        .unwrap()
        .with_max_buckets(max.and_then(NonZeroU32::new))
}

/// The native buckets a plain loop gives for `values` at `schema`.
fn reference_native(values: &[f64], schema: i32, zero_threshold: f64) -> NativeHistogram {
    let mut positive = BTreeMap::new();
    let mut negative = BTreeMap::new();
    let mut zero = 0;
    for &v in values.iter().filter(|v| !v.is_nan()) {
        if v > zero_threshold {
            *positive.entry(bucket_index(v, schema)).or_insert(0) += 1;
        } else if v < -zero_threshold {
            *negative.entry(bucket_index(v, schema)).or_insert(0) += 1;
        } else {
            zero += 1;
        }
    }
    NativeHistogram::from_counts(schema, zero_threshold, zero, positive, negative)
}

fn classic_reference(values: &[f64], bounds: &[f64]) -> Vec<u64> {
    bounds
        .iter()
        .map(|b| values.iter().filter(|v| *v <= b).count() as u64)
        .collect()
}

fn check_against_reference(h: &HistogramCore, got: &HistogramValue, values: &[f64]) {
    assert_eq!(got.count, values.len() as u64);
    let sum: f64 = values.iter().sum();
    assert!(
        (got.sum - sum).abs() <= 1e-9 * values.iter().map(|v| v.abs()).sum::<f64>(),
        "{} vs {sum}",
        got.sum
    );
    let cumulative: Vec<u64> = got.buckets.iter().map(|b| b.cumulative_count).collect();
    assert_eq!(cumulative, classic_reference(values, h.bounds()));
    if let Some(n) = &got.native {
        let want = reference_native(values, n.schema, n.zero_threshold);
        assert_eq!(**n, want);
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        -20.0f64..20.0,
        (-30i32..30).prop_map(|e| 2f64.powi(e)),
        Just(0.0),
        (0.0f64..1.0).prop_map(|v| v * 1e-40),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn collect_equals_a_plain_count(
        values in proptest::collection::vec(value(), 0..300),
        kind in 0..3u8,
        factor in prop_oneof![Just(1.0001), Just(1.1), Just(2.0), Just(300.0)],
        collect_every in 1usize..100,
    ) {
        let classic = Buckets::new([-5.0, -1.0, 0.0, 0.001, 0.5, 1.0, 2.5, 10.0]).unwrap();
        let nb = native(factor, None);
        let h = match kind {
            0 => HistogramCore::new(Some(&classic), None),
            1 => HistogramCore::new(None, Some(&nb)),
            _ => HistogramCore::new(Some(&classic), Some(&nb)),
        };
        for (i, v) in values.iter().enumerate() {
            h.observe(*v);
            if i % collect_every == 0 {
                check_against_reference(&h, &h.collect(), &values[..=i]);
            }
        }
        let got = h.collect();
        check_against_reference(&h, &got, &values);
        prop_assert_eq!(got.native.is_some(), kind != 0);
        let mut cumulative = vec![0; h.bounds().len()];
        let (count, sum) = h.collect_classic(&mut cumulative);
        prop_assert_eq!(count, got.count);
        prop_assert_eq!(sum.to_bits(), got.sum.to_bits());
        prop_assert_eq!(cumulative, classic_reference(&values, h.bounds()));
    }

    #[test]
    fn schema_reduction_equals_bucketing_at_the_lower_schema(
        values in proptest::collection::vec(
            prop_oneof![-1e6f64..1e6, (-60i32..60).prop_map(|e| 2f64.powi(e))],
            1..200,
        ),
        max in 1u32..12,
        factor in prop_oneof![Just(1.003), Just(1.1), Just(1.5), Just(3.0)],
    ) {
        let nb = native(factor, Some(max));
        let h = HistogramCore::new(None, Some(&nb));
        for (i, v) in values.iter().enumerate() {
            h.observe(*v);
            if i % 17 == 0 {
                h.collect();
            }
        }
        let got = h.collect();
        let n = got.native.as_deref().unwrap();
        prop_assert!(n.schema <= nb.schema());
        prop_assert_eq!(n, &reference_native(&values, n.schema, nb.zero_threshold()));
        let buckets = n.positive_counts().filter(|(_, c)| *c > 0).count()
            + n.negative_counts().filter(|(_, c)| *c > 0).count();
        prop_assert!(buckets <= max as usize || n.schema == MIN_SCHEMA, "{} buckets", buckets);
    }
}

fn positive(h: &HistogramValue) -> Vec<(i32, u64)> {
    h.native
        .as_ref()
        .unwrap()
        .positive_counts()
        .filter(|(_, c)| *c > 0)
        .collect()
}

#[test]
fn zero_bucket_widens_before_the_schema_drops() {
    let nb = native(2.0, Some(3)).with_max_zero_threshold(1.0).unwrap();
    let h = HistogramCore::new(None, Some(&nb));
    for v in [0.1, 0.3, 3.0, 5.0] {
        h.observe(v);
    }
    let got = h.collect();
    let n = got.native.as_deref().unwrap();
    assert_eq!((n.schema, n.zero_threshold, n.zero_count), (0, 0.125, 1));
    assert_eq!(positive(&got), [(-1, 1), (2, 1), (3, 1)]);
    h.observe(0.7);
    h.observe(10.0);
    let got = h.collect();
    let n = got.native.as_deref().unwrap();
    assert_eq!((n.schema, n.zero_threshold, n.zero_count), (0, 1.0, 3));
    assert_eq!(positive(&got), [(2, 1), (3, 1), (4, 1)]);
    // The next bucket closest to zero ends at 4, past the maximum: the schema drops.
    h.observe(20.0);
    let got = h.collect();
    let n = got.native.as_deref().unwrap();
    assert_eq!((n.schema, n.zero_threshold, n.zero_count), (-1, 1.0, 3));
    assert_eq!(positive(&got), [(1, 1), (2, 2), (3, 1)]);
    assert_eq!(got.count, 7);
}

#[test]
fn resets_once_the_minimum_duration_has_passed() {
    let nb = native(2.0, Some(2)).with_min_reset_duration(Some(Duration::from_millis(50)));
    let classic = Buckets::new([1.0, 100.0]).unwrap();
    let h = HistogramCore::new(Some(&classic), Some(&nb));
    let start = Instant::now();
    for v in [1.0, 3.0, 10.0] {
        h.observe(v);
    }
    let got = h.collect();
    if start.elapsed() < Duration::from_millis(50) {
        // Too early to reset: the resolution dropped instead (0, 2, 4 at schema 0;
        // 0, 1, 2 at -1; 0, 1, 1 at -2).
        assert_eq!(got.native.as_deref().unwrap().schema, -2);
        assert_eq!(got.count, 3);
    }
    std::thread::sleep(Duration::from_millis(60));
    h.observe(1000.0);
    let got = h.collect();
    let n = got.native.as_deref().unwrap();
    assert_eq!((got.count, got.sum, n.schema), (1, 1000.0, 0));
    assert_eq!(positive(&got), [(10, 1)]);
    let cumulative: Vec<u64> = got.buckets.iter().map(|b| b.cumulative_count).collect();
    assert_eq!(cumulative, [0, 0]);
}

#[test]
fn nan_and_infinities() {
    let classic = Buckets::new([1.0]).unwrap();
    let h = HistogramCore::new(Some(&classic), Some(&native(2.0, None)));
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5] {
        h.observe(v);
    }
    let got = h.collect();
    assert_eq!(got.count, 4);
    assert!(got.sum.is_nan());
    assert_eq!(got.buckets[0].cumulative_count, 2); // -Inf and 0.5
    let n = got.native.as_deref().unwrap();
    assert_eq!(positive(&got), [(-1, 1), (1025, 1)]); // 0.5 ends bucket -1
    assert_eq!(n.negative_counts().collect::<Vec<_>>(), [(1025, 1)]);
}

#[test]
fn without_buckets_it_has_the_default_ones() {
    let h = HistogramCore::new(None, None);
    assert_eq!(h.bounds(), Buckets::default().bounds());
    h.observe(0.2);
    assert!(h.collect().native.is_none());
}

#[test]
fn exemplars_attach_to_their_bucket_and_native_list() {
    let classic = Buckets::new([1.0, 2.0]).unwrap();
    let nb = native(2.0, None).with_max_exemplars(2);
    let h = HistogramCore::new(Some(&classic), Some(&nb));
    let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    let e = |t: &'static str| Exemplar::new(vec![Label::new("trace_id", t)], 0.0);
    h.observe_with_exemplar(1.5, e("a").with_timestamp(at(10)));
    h.observe_with_exemplar(5.0, e("b").with_timestamp(at(20)));
    h.observe_with_exemplar(0.5, e("c").with_timestamp(at(30)));
    let before = SystemTime::now();
    h.observe_with_exemplar(1.2, e("d"));
    let got = h.collect();
    assert_eq!(got.buckets.len(), 3, "+Inf is added for its exemplar");
    let ex = |i: usize| got.buckets[i].exemplar.as_deref().unwrap();
    assert_eq!((ex(0).value, ex(0).timestamp), (0.5, Some(at(30))));
    assert_eq!(ex(1).value, 1.2);
    assert!(ex(1).timestamp.unwrap() >= before);
    assert_eq!(
        (got.buckets[2].upper_bound, got.buckets[2].cumulative_count),
        (f64::INFINITY, 4)
    );
    assert_eq!(ex(2).value, 5.0);
    // Two native exemplars: the oldest ("a", then "b") were replaced.
    let native: Vec<f64> = got
        .native
        .unwrap()
        .exemplars
        .iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(native, [0.5, 1.2]);
    // A native-only histogram keeps native exemplars only.
    let h = HistogramCore::new(None, Some(&nb));
    h.observe_with_exemplar(3.0, e("x"));
    let got = h.collect();
    assert!(got.buckets.is_empty());
    assert_eq!(got.native.unwrap().exemplars.len(), 1);
}

/// Writers on two threads and a collector at once: every read is whole.
#[test]
fn soak_reads_are_never_torn() {
    const PER_WRITER: u64 = 500_000;
    const VALUE: f64 = 0.75;
    let classic = Buckets::new([0.1, 0.5, 1.0, 5.0]).unwrap();
    // (series, whether the second writer spreads its values over many buckets).
    let cases = [
        (HistogramCore::new(Some(&classic), None), false),
        (
            HistogramCore::new(Some(&classic), Some(&native(1.1, Some(160)))),
            false,
        ),
        // Spread values and a tiny limit: the slow path runs beside the collector.
        (
            HistogramCore::new(Some(&classic), Some(&native(1.1, Some(4)))),
            true,
        ),
    ];
    for (h, spread) in &cases {
        let constant = (!spread).then_some(VALUE);
        let deadline = Instant::now() + Duration::from_secs(3);
        let writers_done = AtomicUsize::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..PER_WRITER {
                    h.observe(VALUE);
                }
                writers_done.fetch_add(1, Ordering::Release);
            });
            s.spawn(|| {
                for i in 0..PER_WRITER {
                    if *spread {
                        let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                        h.observe(sign * 2f64.powi((i % 40) as i32 - 20));
                    } else {
                        h.observe(VALUE);
                    }
                }
                writers_done.fetch_add(1, Ordering::Release);
            });
            s.spawn(|| {
                let mut last = 0;
                let mut cumulative = vec![0; h.bounds().len()];
                // Until both writers are done (or the time is up), and at least once.
                while last == 0
                    || (writers_done.load(Ordering::Acquire) < 2 && Instant::now() < deadline)
                {
                    let got = h.collect();
                    check_whole(&got, constant);
                    assert!(got.count >= last, "count went back");
                    last = got.count;
                    let (count, sum) = h.collect_classic(&mut cumulative);
                    assert!(count >= last, "count went back");
                    assert!(cumulative.windows(2).all(|w| w[0] <= w[1]));
                    assert!(cumulative.last().is_none_or(|c| *c <= count));
                    if let Some(v) = constant {
                        assert_eq!(sum, count as f64 * v);
                        assert!(cumulative.last().is_none_or(|c| *c == count));
                    }
                    last = count;
                    if last == 0 {
                        std::thread::yield_now();
                    }
                }
            });
        });
        let got = h.collect();
        assert_eq!(got.count, 2 * PER_WRITER);
        check_whole(&got, constant);
        if *spread {
            assert!(
                got.native.unwrap().schema < 3,
                "the limit reduced the schema"
            );
        }
    }
}

/// What every read must show; `constant` is the only value observed, if there is one.
fn check_whole(got: &HistogramValue, constant: Option<f64>) {
    let cumulative: Vec<u64> = got.buckets.iter().map(|b| b.cumulative_count).collect();
    assert!(
        cumulative.windows(2).all(|w| w[0] <= w[1]),
        "{cumulative:?}"
    );
    assert!(cumulative.last().is_none_or(|c| *c <= got.count));
    if let Some(value) = constant {
        // Every bucket from the one `value` falls into holds everything.
        for b in &got.buckets {
            let want = if b.upper_bound >= value { got.count } else { 0 };
            assert_eq!(b.cumulative_count, want, "{got:?}");
        }
        assert_eq!(got.sum, got.count as f64 * value);
    }
    if let Some(n) = &got.native {
        let buckets: u64 = n
            .positive_counts()
            .chain(n.negative_counts())
            .map(|(_, c)| c)
            .sum();
        assert_eq!(buckets + n.zero_count, got.count);
    }
}

/// A classic-only histogram has no completion count: its collector waits until
/// the buckets of the cold half (`+Inf` included) add up to the observations
/// started there. Four writers observe values whose bucket and sum are tied
/// (1 in `le="1"`, 100 in `+Inf`, NaN never), each also trying values that land
/// in every bucket between, while a collector reads in a loop: every read must
/// be whole (count = `+Inf` = the buckets' total, the sum exactly what those
/// counts make), never going back, and the last one must hold everything.
#[test]
fn classic_only_collections_wait_for_the_buckets() {
    const WRITERS: u64 = 4;
    const PER_WRITER: u64 = 50_000;
    let h = HistogramCore::new(Some(&Buckets::new(vec![0.5, 1.0, 2.0]).unwrap()), None);
    let mut counts = [0u64; 3];
    let done = AtomicUsize::new(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reads = 0u64;
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (h, done) = (&h, &done);
            s.spawn(move || {
                for i in 0..PER_WRITER {
                    // One in four lands above every bound.
                    h.observe(if (i + w) % 4 == 0 { 100.0 } else { 1.0 });
                }
                done.fetch_add(1, Ordering::Release);
            });
        }
        let mut last_count = 0;
        loop {
            let finished = done.load(Ordering::Acquire) == WRITERS as usize;
            let (count, sum) = h.collect_classic(&mut counts);
            reads += 1;
            assert_eq!(counts[0], 0, "nothing is at or below 0.5");
            assert_eq!(counts[1], counts[2], "nothing is in (1, 2]");
            let above = count - counts[2];
            assert_eq!(sum, counts[1] as f64 + 100.0 * above as f64, "torn read");
            assert!(
                count >= last_count,
                "count went back: {count} < {last_count}"
            );
            last_count = count;
            if finished {
                assert_eq!(count, WRITERS * PER_WRITER);
                break;
            }
            assert!(Instant::now() < deadline, "writers did not finish in time");
        }
    });
    assert!(reads > 1);
    // Every value in its own bucket, through the same path.
    for v in [0.1, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, f64::INFINITY, f64::NAN] {
        h.observe(v);
    }
    let (count, _) = h.collect_classic(&mut counts);
    assert_eq!(count, WRITERS * PER_WRITER + 9);
    let le1 = WRITERS * PER_WRITER * 3 / 4;
    assert_eq!(counts, [2, le1 + 4, le1 + 6]);
}

#[test]
fn a_classic_histogram_carries_no_native_state() {
    let classic = HistogramCore::new(Some(&Buckets::default()), None);
    assert!(classic.native.is_none());
    assert!(classic.halves.iter().all(|h| h.native().is_none()));
    // Native state (zero bucket, schema, zero threshold and bucket table per
    // half, the native settings) would take it past 300 bytes.
    let size = std::mem::size_of::<HistogramCore>();
    assert!(size <= 192, "a histogram series' core is {size} bytes");

    let dual = HistogramCore::new(Some(&Buckets::default()), Some(&native(1.1, Some(8))));
    assert!(dual.native.is_some());
    assert!(dual.halves.iter().all(|h| h.native().is_some()));
    for v in [0.0, 0.3, -2.0, f64::NAN] {
        classic.observe(v);
        dual.observe(v);
    }
    assert_eq!(classic.collect().count, 4);
    assert!(classic.collect().native.is_none());
    let dual = dual.collect();
    let n = dual
        .native
        .as_ref()
        .expect("a dual histogram has native buckets");
    assert_eq!(n.zero_count, 1);
    assert_eq!(dual.count, 4);
}
