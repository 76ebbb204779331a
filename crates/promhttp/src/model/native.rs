//! Native (exponential-bucket) histograms, as the protobuf format and remote write carry them.

use super::Exemplar;

/// The exponential buckets of a native histogram, in the sparse form the wire
/// formats use.
///
/// Bucket `i` of schema `s` holds the observations in `(base^(i-1), base^i]` (their
/// absolute values, for the negative buckets) with `base = 2^(2^-s)`: schema 0
/// doubles from bucket to bucket, schema 3 grows by about 9 %, schema -4 by 2^16.
/// Observations whose absolute value is at most `zero_threshold` are counted in
/// `zero_count` instead.
///
/// Populated buckets are described by spans and deltas, as in `metrics.proto`: each
/// [`BucketSpan`] skips `offset` buckets (from the end of the previous span, or from
/// index 0 for the first) and covers `length` consecutive buckets; the deltas hold
/// the count of the first covered bucket, then each count minus the previous one,
/// over all spans in order. [`NativeHistogram::from_counts`] builds them from
/// absolute counts, [`NativeHistogram::positive_counts`] reads them back.
///
/// ```
/// use promhttp::model::{BucketSpan, NativeHistogram};
///
/// // Schema 0: bucket 1 is (1, 2], bucket 2 is (2, 4], bucket 6 is (32, 64].
/// let h = NativeHistogram::from_counts(0, 1e-128, 0, [(1, 3), (2, 1), (6, 2)], []);
/// assert_eq!(h.positive_spans, [BucketSpan::new(1, 2), BucketSpan::new(3, 1)]);
/// assert_eq!(h.positive_deltas, [3, -2, 1]);
/// assert_eq!(h.positive_counts().collect::<Vec<_>>(), [(1, 3), (2, 1), (6, 2)]);
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct NativeHistogram {
    /// The resolution, from -4 (coarsest) to 8 (finest).
    pub schema: i32,
    /// Observations with an absolute value up to this bound go to the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Where the populated positive buckets are.
    pub positive_spans: Vec<BucketSpan>,
    /// Positive bucket counts, delta-encoded (see the type's documentation).
    pub positive_deltas: Vec<i64>,
    /// Where the populated negative buckets are.
    pub negative_spans: Vec<BucketSpan>,
    /// Negative bucket counts, delta-encoded.
    pub negative_deltas: Vec<i64>,
    /// Exemplars of recent observations, each with a timestamp (Prometheus ignores
    /// a native-histogram exemplar without one).
    pub exemplars: Vec<Exemplar>,
}

/// A run of consecutive buckets of a [`NativeHistogram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BucketSpan {
    /// Buckets skipped before this span: from index 0 for the first span, from the
    /// end of the previous span for the others (may be negative only for the first).
    pub offset: i32,
    /// Consecutive buckets covered.
    pub length: u32,
}

impl BucketSpan {
    /// A span skipping `offset` buckets and covering `length`.
    pub fn new(offset: i32, length: u32) -> Self {
        BucketSpan { offset, length }
    }
}

impl NativeHistogram {
    /// An empty native histogram of `schema` with a zero bucket of `zero_threshold`.
    pub fn new(schema: i32, zero_threshold: f64) -> Self {
        NativeHistogram {
            schema,
            zero_threshold,
            ..NativeHistogram::default()
        }
    }

    /// A native histogram from absolute bucket counts: `(index, count)` pairs in
    /// increasing index order for each sign. Buckets with a zero count may be given
    /// (they are kept inside a span, as the formats allow) or left out.
    pub fn from_counts(
        schema: i32,
        zero_threshold: f64,
        zero_count: u64,
        positive: impl IntoIterator<Item = (i32, u64)>,
        negative: impl IntoIterator<Item = (i32, u64)>,
    ) -> Self {
        let (positive_spans, positive_deltas) = spans_and_deltas(positive);
        let (negative_spans, negative_deltas) = spans_and_deltas(negative);
        NativeHistogram {
            schema,
            zero_threshold,
            zero_count,
            positive_spans,
            positive_deltas,
            negative_spans,
            negative_deltas,
            exemplars: Vec::new(),
        }
    }

    /// Adds exemplars.
    pub fn with_exemplars(mut self, exemplars: impl IntoIterator<Item = Exemplar>) -> Self {
        self.exemplars.extend(exemplars);
        self
    }

    /// The positive buckets as `(index, absolute count)`, in index order.
    pub fn positive_counts(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        counts(&self.positive_spans, &self.positive_deltas)
    }

    /// The negative buckets as `(index, absolute count)`, in index order.
    pub fn negative_counts(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        counts(&self.negative_spans, &self.negative_deltas)
    }
}

impl NativeHistogram {
    /// Whether Prometheus accepts these buckets for a histogram of `count`
    /// observations: a schema from -4 to 8, a zero threshold of at least 0, spans
    /// covering exactly the deltas (only the first with a negative offset), no
    /// bucket count below 0, and no more observations in the buckets (zero bucket
    /// included) than `count`. Prometheus refuses a whole scrape or remote write
    /// request for one histogram that breaks these rules, so the encoders send
    /// such buckets nowhere.
    pub(crate) fn is_consistent(&self, count: u64) -> bool {
        let in_buckets = side_total(&self.positive_spans, &self.positive_deltas).and_then(|p| {
            side_total(&self.negative_spans, &self.negative_deltas)
                .and_then(|n| p.checked_add(n)?.checked_add(self.zero_count))
        });
        (-4..=8).contains(&self.schema)
            && self.zero_threshold >= 0.0
            && in_buckets.is_some_and(|total| total <= count)
    }
}

/// The total count of one side's buckets, `None` when the spans and deltas do
/// not agree or a count falls below 0.
fn side_total(spans: &[BucketSpan], deltas: &[i64]) -> Option<u64> {
    let mut covered = 0usize;
    for (i, span) in spans.iter().enumerate() {
        if i > 0 && span.offset < 0 {
            return None;
        }
        covered = covered.checked_add(usize::try_from(span.length).ok()?)?;
    }
    if covered != deltas.len() {
        return None;
    }
    let (mut count, mut total) = (0i64, 0u64);
    for delta in deltas {
        count = count.checked_add(*delta)?;
        total = total.checked_add(u64::try_from(count).ok()?)?;
    }
    Some(total)
}

/// Spans and deltas for `(index, count)` pairs in increasing index order; a gap of
/// up to two empty buckets is bridged with zero counts (cheaper than a new span, as
/// Go's client does).
fn spans_and_deltas(buckets: impl IntoIterator<Item = (i32, u64)>) -> (Vec<BucketSpan>, Vec<i64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::new();
    let mut previous_count = 0i64;
    let mut next_index: Option<i32> = None;
    for (index, count) in buckets {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        match next_index {
            Some(next) if index >= next && index - next <= 2 && !spans.is_empty() => {
                for _ in next..index {
                    deltas.push(-previous_count);
                    previous_count = 0;
                }
                if let Some(span) = spans.last_mut() {
                    span.length += (index - next) as u32 + 1;
                }
            }
            Some(next) => spans.push(BucketSpan::new(index.saturating_sub(next), 1)),
            None => spans.push(BucketSpan::new(index, 1)),
        }
        deltas.push(count.wrapping_sub(previous_count));
        previous_count = count;
        next_index = Some(index.saturating_add(1));
    }
    (spans, deltas)
}

fn counts<'a>(spans: &'a [BucketSpan], deltas: &'a [i64]) -> impl Iterator<Item = (i32, u64)> + 'a {
    let mut deltas = deltas.iter();
    let mut index = 0i32;
    let mut count = 0i64;
    spans
        .iter()
        .flat_map(move |span| {
            index = index.saturating_add(span.offset);
            let start = index;
            index = index.saturating_add(span.length as i32);
            (start..index).collect::<Vec<_>>()
        })
        .map_while(move |i| {
            count = count.wrapping_add(*deltas.next()?);
            Some((i, count.max(0) as u64))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_bridge_small_gaps_and_split_large_ones() {
        let h =
            NativeHistogram::from_counts(3, 0.0, 0, [(-2, 1), (0, 4), (5, 2), (6, 2)], [(3, 7)]);
        assert_eq!(
            h.positive_spans,
            [BucketSpan::new(-2, 3), BucketSpan::new(4, 2)]
        );
        assert_eq!(h.positive_deltas, [1, -1, 4, -2, 0]);
        assert_eq!(
            h.positive_counts().collect::<Vec<_>>(),
            [(-2, 1), (-1, 0), (0, 4), (5, 2), (6, 2)]
        );
        assert_eq!(h.negative_spans, [BucketSpan::new(3, 1)]);
        assert_eq!(h.negative_counts().collect::<Vec<_>>(), [(3, 7)]);
        let empty = NativeHistogram::from_counts(0, 0.0, 0, [], []);
        assert!(empty.positive_spans.is_empty() && empty.positive_deltas.is_empty());
    }

    #[test]
    fn consistency_is_what_prometheus_accepts() {
        let good = NativeHistogram::from_counts(0, 0.0, 1, [(1, 3), (2, 1)], [(0, 2)]);
        assert!(good.is_consistent(7) && good.is_consistent(8) && !good.is_consistent(6));
        assert!(NativeHistogram::new(0, 0.0).is_consistent(0));
        let broken = |change: fn(&mut NativeHistogram)| {
            let mut h = good.clone();
            change(&mut h);
            !h.is_consistent(u64::MAX)
        };
        assert!(broken(|h| {
            h.positive_deltas.pop();
        }));
        assert!(broken(|h| h.positive_deltas = vec![1, -2]));
        assert!(broken(|h| h.positive_deltas = vec![i64::MAX, 1]));
        assert!(broken(|h| {
            h.positive_spans = vec![BucketSpan::new(1, 1), BucketSpan::new(-1, 1)]
        }));
        assert!(broken(|h| h.schema = 9));
        assert!(broken(|h| h.schema = -5));
        assert!(broken(|h| h.zero_threshold = f64::NAN));
        assert!(broken(|h| h.zero_threshold = -1.0));
        assert!(broken(|h| h.zero_count = u64::MAX));
        // The first span may start below bucket 0.
        let low = NativeHistogram::from_counts(8, 0.0, 0, [(i32::MIN, 1)], []);
        assert!(low.is_consistent(1));
    }
}
