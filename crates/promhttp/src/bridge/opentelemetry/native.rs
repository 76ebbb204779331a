//! OpenTelemetry exponential histogram buckets as Prometheus native histogram buckets.
//!
//! Both use base `2^(2^-scale)`; they differ in three ways, each handled here:
//!
//! * **Bucket index.** OpenTelemetry's bucket `i` holds `(base^i, base^(i+1)]`,
//!   Prometheus's bucket `i` holds `(base^(i-1), base^i]`: the Prometheus index is
//!   the OpenTelemetry one plus 1.
//! * **Scale range.** Prometheus schemas go from -4 to 8; OpenTelemetry scales from
//!   -10 to 20 (the SDK starts at 20 and lowers the scale as the range of values
//!   grows). A scale above 8 is lowered to 8 by merging `2^(scale-8)` neighbouring
//!   buckets into one (OpenTelemetry index `i` goes to `i >> (scale-8)`): exact, only
//!   coarser. A scale below -4 cannot be represented without inventing where in a
//!   wider bucket the observations were, so such a point is refused
//!   ([`NativeError::ScaleTooLow`]).
//! * **Encoding.** OpenTelemetry gives an offset and dense counts; Prometheus spans
//!   and deltas ([`NativeHistogram::from_counts`] builds them, skipping empty buckets).

use crate::model::NativeHistogram;

/// The finest Prometheus schema.
pub(crate) const MAX_SCHEMA: i8 = 8;
/// The coarsest Prometheus schema.
pub(crate) const MIN_SCHEMA: i8 = -4;

/// Why an exponential histogram point has no native histogram form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NativeError {
    /// The scale is below -4, the coarsest Prometheus schema.
    ScaleTooLow(i8),
}

/// One side (positive or negative) of an exponential histogram: the
/// OpenTelemetry index of the first count, and the dense counts from there.
pub(crate) struct Side<I> {
    pub offset: i32,
    pub counts: I,
}

/// The native histogram for an exponential histogram point of `scale`.
pub(crate) fn native_histogram<P, N>(
    scale: i8,
    zero_threshold: f64,
    zero_count: u64,
    positive: Side<P>,
    negative: Side<N>,
) -> Result<NativeHistogram, NativeError>
where
    P: IntoIterator<Item = u64>,
    N: IntoIterator<Item = u64>,
{
    if scale < MIN_SCHEMA {
        return Err(NativeError::ScaleTooLow(scale));
    }
    let shift = u32::try_from(scale.saturating_sub(MAX_SCHEMA)).unwrap_or(0);
    let schema = i32::from(scale.min(MAX_SCHEMA));
    Ok(NativeHistogram::from_counts(
        schema,
        zero_threshold.max(0.0),
        zero_count,
        merged(positive, shift),
        merged(negative, shift),
    ))
}

/// `(Prometheus index, count)` pairs, in increasing index order, of the
/// populated buckets of `side` after merging `2^shift` buckets into one.
fn merged<I: IntoIterator<Item = u64>>(side: Side<I>, shift: u32) -> Vec<(i32, u64)> {
    let mut out: Vec<(i32, u64)> = Vec::new();
    for (i, count) in side.counts.into_iter().enumerate() {
        if count == 0 {
            continue;
        }
        let Some(index) = i32::try_from(i)
            .ok()
            .and_then(|i| side.offset.checked_add(i))
        else {
            break;
        };
        // An arithmetic shift rounds towards minus infinity, as the merge must:
        // index -1 at scale 9 is in bucket -1 at scale 8, as index -2 is.
        let index = (index >> shift).saturating_add(1);
        match out.last_mut() {
            Some((last, total)) if *last == index => *total = total.saturating_add(count),
            _ => out.push((index, count)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(offset: i32, counts: &[u64]) -> Side<Vec<u64>> {
        Side {
            offset,
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn indexes_shift_by_one_and_empty_buckets_are_skipped() {
        // Scale 0: OTel bucket 0 is (1, 2], Prometheus calls it bucket 1.
        let h = native_histogram(0, 0.0, 2, side(0, &[3, 0, 1]), side(-1, &[4])).unwrap();
        assert_eq!(h.schema, 0);
        assert_eq!(h.zero_count, 2);
        assert_eq!(
            h.positive_counts().collect::<Vec<_>>(),
            [(1, 3), (2, 0), (3, 1)]
        );
        assert_eq!(h.negative_counts().collect::<Vec<_>>(), [(0, 4)]);
        assert!(h.is_consistent(10));
    }

    #[test]
    fn scales_above_8_merge_buckets_down_to_8() {
        // Scale 10 → 8 merges 4 buckets: OTel 0..=3 → 0, 4..=7 → 1, -1..=-4 → -1.
        let h = native_histogram(
            10,
            0.0,
            0,
            side(-2, &[1, 1, 2, 0, 0, 0, 5, 7]),
            side(0, &[]),
        )
        .unwrap();
        assert_eq!(h.schema, 8);
        assert_eq!(
            h.positive_counts().collect::<Vec<_>>(),
            [(0, 2), (1, 2), (2, 12)]
        );
        // A merged bucket spans exactly the originals: OTel scale-10 buckets 4..=7
        // run from 2^(4/1024) to 2^(8/1024), scale-8 bucket 1 from 2^(1/256) to 2^(2/256).
        let lower = |scale: i32, i: i32| 2f64.powf(f64::from(i) / 2f64.powi(scale));
        assert_eq!((lower(10, 4), lower(10, 8)), (lower(8, 1), lower(8, 2)));
    }

    #[test]
    fn scale_20_is_brought_to_8() {
        let h = native_histogram(20, 0.0, 0, side(1 << 20, &[1]), side(0, &[])).unwrap();
        // 2^(2^20 / 2^20) = 2 at scale 20 is bucket 2^8 + 1 = 257 at schema 8.
        assert_eq!((h.schema, h.positive_counts().next()), (8, Some((257, 1))));
    }

    #[test]
    fn scales_from_8_to_minus_4_are_kept() {
        for scale in MIN_SCHEMA..=MAX_SCHEMA {
            let h = native_histogram(scale, 0.0, 0, side(5, &[1]), side(0, &[])).unwrap();
            assert_eq!(
                (h.schema, h.positive_counts().next()),
                (i32::from(scale), Some((6, 1)))
            );
        }
    }

    #[test]
    fn scales_below_minus_4_are_refused() {
        let e = native_histogram(-5, 0.0, 0, side(0, &[1]), side(0, &[])).unwrap_err();
        assert_eq!(e, NativeError::ScaleTooLow(-5));
    }

    #[test]
    fn a_negative_zero_threshold_becomes_zero() {
        let h = native_histogram(0, -1.0, 0, side(0, &[]), side(0, &[])).unwrap();
        assert_eq!(h.zero_threshold, 0.0);
    }
}
