//! [`LineTemplate`]: what the text 0.0.4 lines of every series of a kept family
//! have in common, and the writers that put a series' lines through it.
//!
//! The type is `pub` in a crate-private module: the metric kinds' (unnameable)
//! trait takes it, and only the crate can name it.

use super::blocks::{write_within, BlockSlice, Blocks, Cursor, NUMBER_ROOM};
use super::float::FloatCache;
use super::text::{for_each_line, line_count, write_number, Extra};
use crate::model::Value;

/// The parts of each sample line of a family that are the same for every series
/// (`name_bucket{` before the series' label pairs, `,le="0.5"} ` after them),
/// laid out once for a source that keeps its page: a scrape writes each line as
/// these two, the series' kept label pairs, a number and a newline, every piece
/// appended in whole blocks (see [`Blocks`]). The pieces a family shares stay in
/// the cache while its series are written; the series keep only their labels.
#[derive(Debug)]
pub struct LineTemplate {
    /// Per line: what comes before the label pairs and what comes after them.
    lines: Box<[(Blocks, Blocks)]>,
    /// Whether the series have labels (the braces are placed differently when
    /// they have none).
    labelled: bool,
    /// The room the pieces of `lines` take when written as blocks.
    fixed: usize,
}

impl LineTemplate {
    /// The template of the lines `value` has, in family `name`, for series with
    /// label pairs (`labelled`) or without.
    pub(crate) fn new(name: &[u8], labelled: bool, value: &Value) -> LineTemplate {
        let mut bounds = FloatCache::new(false);
        let mut lines = Vec::new();
        for_each_line(value, |suffix, extra, _| {
            let mut head = name.to_vec();
            head.extend_from_slice(suffix);
            if labelled || extra.is_some() {
                head.push(b'{');
            }
            let mut tail = Vec::new();
            if let Some(Extra(key, v)) = extra {
                if labelled {
                    tail.push(b',');
                }
                tail.extend_from_slice(key);
                tail.extend_from_slice(b"=\"");
                bounds.write(&mut tail, v);
                tail.push(b'"');
            }
            if labelled || extra.is_some() {
                tail.push(b'}');
            }
            tail.push(b' ');
            lines.push((Blocks::new(&head), Blocks::new(&tail)));
        });
        let fixed = lines
            .iter()
            .map(|(head, tail)| head.view().padded_len() + tail.view().padded_len())
            .sum();
        LineTemplate {
            lines: lines.into_boxed_slice(),
            labelled,
            fixed,
        }
    }

    /// The room the lines of a series with `labels` take at most.
    #[inline]
    fn room(&self, labels: BlockSlice<'_>) -> usize {
        self.fixed + self.lines.len() * (labels.padded_len() + NUMBER_ROOM)
    }

    /// Appends the one line of a counter or gauge whose value is `v`, as
    /// [`write`](Self::write) would for that value; `false` (nothing written)
    /// when the template is not for one line or for `labels`.
    #[inline]
    pub(crate) fn write_single(&self, out: &mut Vec<u8>, labels: BlockSlice<'_>, v: f64) -> bool {
        let [line] = &self.lines[..] else {
            return false;
        };
        if labels.is_empty() == self.labelled {
            return false;
        }
        write_within(out, self.room(labels), |c| {
            line_start(c, line, labels);
            c.float(v);
            c.byte(b'\n');
        })
    }

    /// Appends the lines of a classic histogram as [`write`](Self::write) would
    /// for its value, from its counts per bucket (not cumulative; the last one is
    /// `+Inf`), its count and its sum, summing the buckets up as it goes: no
    /// value is filled first. `false` (nothing written) when the template is not
    /// for these buckets or for `labels`.
    #[inline]
    pub(crate) fn write_classic(
        &self,
        out: &mut Vec<u8>,
        labels: BlockSlice<'_>,
        buckets: &[u64],
        count: u64,
        sum: f64,
    ) -> bool {
        if labels.is_empty() == self.labelled || self.lines.len() != buckets.len() + 2 {
            return false;
        }
        // The bounds' lines, then `+Inf`, `_sum` and `_count`.
        let (bounds, rest) = self.lines.split_at(buckets.len().saturating_sub(1));
        let [inf, sum_line, count_line] = rest else {
            return false;
        };
        write_within(out, self.room(labels), |c| {
            let mut cumulative = 0u64;
            for (line, n) in bounds.iter().zip(buckets) {
                cumulative = cumulative.wrapping_add(*n);
                line_start(c, line, labels);
                c.count(cumulative);
                c.byte(b'\n');
            }
            line_start(c, inf, labels);
            c.count(count);
            c.byte(b'\n');
            line_start(c, sum_line, labels);
            c.float(sum);
            c.byte(b'\n');
            line_start(c, count_line, labels);
            c.count(count);
            c.byte(b'\n');
        })
    }

    /// Appends the lines of `value` for the series whose label pairs
    /// ([`write_label_pairs`](super::text::write_label_pairs)) are `labels`; `false` (and nothing written) when
    /// the template was made for other lines (a histogram that gained an explicit
    /// `+Inf` bucket has as many) or for series with(out) labels. Every series of
    /// a family has the same lines: a histogram's buckets are the family's.
    #[inline]
    pub(crate) fn write(&self, out: &mut Vec<u8>, labels: BlockSlice<'_>, value: &Value) -> bool {
        if labels.is_empty() == self.labelled || line_count(value) != self.lines.len() {
            return false;
        }
        let mut lines = self.lines.iter();
        for_each_line(value, |_, _, v| {
            if let Some((head, tail)) = lines.next() {
                head.append_to(out);
                labels.append_to(out);
                tail.append_to(out);
                write_number(out, v);
                out.push(b'\n');
            }
        });
        true
    }
}

/// Writes a line up to its number: the template's head, the label pairs, the
/// template's tail.
#[inline(always)]
fn line_start(c: &mut Cursor<'_>, (head, tail): &(Blocks, Blocks), labels: BlockSlice<'_>) {
    c.blocks(head.view());
    c.blocks(labels);
    c.blocks(tail.view());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bucket, CounterValue, HistogramValue};

    fn histogram(cumulative: &[u64], count: u64, sum: f64) -> Value {
        let bounds = [0.1, 1.0, 2.5];
        let buckets = bounds
            .iter()
            .zip(cumulative)
            .map(|(b, c)| Bucket::new(*b, *c))
            .collect();
        Value::Histogram(HistogramValue::new(buckets, count, sum))
    }

    /// The lines written from counts per bucket are those of the value with the
    /// same cumulative counts.
    #[test]
    fn classic_lines_from_counts_are_the_values_lines() {
        for labels in [&b"a=\"x\",path=\"/very/long/path/over/blocks\""[..], b""] {
            let labels = Blocks::new(labels);
            let template = LineTemplate::new(
                b"h_seconds",
                !labels.view().is_empty(),
                &histogram(&[0; 3], 0, 0.0),
            );
            for (per_bucket, sum) in [
                ([0u64, 0, 0, 0], 0.0),
                ([1, 2, 3, 4], 87.11699999999999),
                ([999_999, 1, 0, 7], f64::NAN),
                ([5, 0, 0, 1_000_000], -1e-7),
            ] {
                let count: u64 = per_bucket.iter().sum();
                let mut cumulative = [0u64; 3];
                let mut total = 0;
                for (c, n) in cumulative.iter_mut().zip(per_bucket) {
                    total += n;
                    *c = total;
                }
                let mut want = b"before\n".to_vec();
                assert!(template.write(
                    &mut want,
                    labels.view(),
                    &histogram(&cumulative, count, sum)
                ));
                let mut out = b"before\n".to_vec();
                assert!(template.write_classic(&mut out, labels.view(), &per_bucket, count, sum));
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&want)
                );
            }
        }
    }

    #[test]
    fn a_single_line_is_the_values_line() {
        let labels = Blocks::new(b"code=\"200\"");
        let template = LineTemplate::new(b"c_total", true, &Value::Counter(CounterValue::new(0.0)));
        for v in [0.0, 3.0, -2.5, 1e6, 0.1 + 0.2, f64::INFINITY] {
            let mut want = Vec::new();
            assert!(template.write(
                &mut want,
                labels.view(),
                &Value::Counter(CounterValue::new(v))
            ));
            let mut out = Vec::new();
            assert!(template.write_single(&mut out, labels.view(), v));
            assert_eq!(out, want);
        }
    }

    /// A template made for other lines or other series writes nothing.
    #[test]
    fn a_template_for_other_lines_writes_nothing() {
        let labels = Blocks::new(b"a=\"x\"");
        let none = Blocks::new(b"");
        let hist = LineTemplate::new(b"h", true, &histogram(&[0; 3], 0, 0.0));
        let single = LineTemplate::new(b"c", true, &Value::Gauge(1.0));
        let mut out = b"kept".to_vec();
        assert!(!hist.write_classic(&mut out, labels.view(), &[1, 2, 3], 6, 1.0));
        assert!(!hist.write_classic(&mut out, labels.view(), &[], 0, 0.0));
        assert!(!hist.write_classic(&mut out, none.view(), &[1, 2, 3, 4], 10, 1.0));
        assert!(!hist.write_single(&mut out, labels.view(), 1.0));
        assert!(!single.write_single(&mut out, none.view(), 1.0));
        assert!(!single.write_classic(&mut out, labels.view(), &[1], 1, 1.0));
        assert_eq!(out, b"kept");
    }
}
