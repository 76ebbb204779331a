//! A family's part of the page, kept rendered: the `# HELP`/`# TYPE` lines and each
//! series' label block are escaped and laid out once, the series kept sorted until
//! one is added or removed; a scrape only writes numbers.
//!
//! Text 0.0.4 is written directly. OpenMetrics and protobuf go through the model
//! for now (the same bytes as any other source's), one family at a time.

use std::cmp::Ordering;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::{Arc, Mutex, OnceLock};

use super::family::{Family, Kind, Series};
use crate::encode::escape::{write_help_text, write_label_value};
use crate::encode::float::write_float;
use crate::encode::{encode_families, EncodeOptions, Format};
use crate::gather::direct::DirectFamily;
use crate::model::{MetricFamily, Str};
use crate::util::lock;

/// Series in page order.
type SortedSeries<C> = Arc<[Arc<Series<C>>]>;

/// What a family keeps for its page.
pub(crate) struct PageCache<C> {
    /// The series in page order, and the generation of the family they are from.
    sorted: Mutex<(u64, SortedSeries<C>)>,
    /// `# HELP` and `# TYPE` in text 0.0.4.
    text_head: OnceLock<Box<[u8]>>,
    /// Label positions in name order: `Ok(i)` a constant label, `Err(i)` a variable one.
    order: OnceLock<Box<[Result<usize, usize>]>>,
}

impl<C> Default for PageCache<C> {
    fn default() -> Self {
        PageCache {
            sorted: Mutex::new((u64::MAX, Arc::from(Vec::new()))),
            text_head: OnceLock::new(),
            order: OnceLock::new(),
        }
    }
}

/// A series' label block in text form: `{a="x",b="y"` (no closing brace), empty
/// when the series has no labels.
pub(crate) type TextLabels = OnceLock<Box<[u8]>>;

impl<K: Kind> Family<K> {
    fn order(&self) -> &[Result<usize, usize>] {
        self.page.order.get_or_init(|| {
            let mut order: Vec<(&Str, Result<usize, usize>)> = self
                .desc
                .const_labels
                .iter()
                .enumerate()
                .map(|(i, l)| (&l.name, Ok(i)))
                .chain(
                    self.desc
                        .label_names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n, Err(i))),
                )
                .collect();
            order.sort_by(|a, b| a.0.cmp(b.0));
            order.into_iter().map(|(_, at)| at).collect()
        })
    }

    /// The series in page order: by label values in label-name order (as
    /// [`normalize`](crate::gather::normalize) sorts), the overflow series last.
    pub(crate) fn sorted(&self) -> SortedSeries<K::Core> {
        let generation = self.generation.load(AtomicOrdering::Acquire);
        let mut cached = lock(&self.page.sorted);
        if cached.0 == generation {
            return cached.1.clone();
        }
        let order: Vec<usize> = self.order().iter().filter_map(|at| at.err()).collect();
        let mut all = self.all();
        all.sort_by(|a, b| match (a.values.is_empty(), b.values.is_empty()) {
            (false, false) => order
                .iter()
                .map(|&i| a.values[i].cmp(&b.values[i]))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal),
            (a_overflow, b_overflow) => a_overflow.cmp(&b_overflow),
        });
        let sorted: Arc<[_]> = all.into();
        *cached = (generation, sorted.clone());
        sorted
    }

    fn text_labels<'a>(&self, series: &'a Series<K::Core>) -> &'a [u8] {
        series.text.get_or_init(|| {
            let mut out = Vec::new();
            let mut first = true;
            let mut pair = |out: &mut Vec<u8>, name: &str, value: &str| {
                out.push(if first { b'{' } else { b',' });
                first = false;
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"=\"");
                write_label_value(out, value);
                out.push(b'"');
            };
            if series.values.is_empty() && !self.desc.label_names.is_empty() {
                // The overflow series: constant labels, then its own.
                for l in self.desc.const_labels.iter() {
                    pair(&mut out, &l.name, &l.value);
                }
                pair(&mut out, super::family::OVERFLOW_LABEL, "true");
            } else {
                for at in self.order() {
                    match *at {
                        Ok(i) => {
                            let l = &self.desc.const_labels[i];
                            pair(&mut out, &l.name, &l.value)
                        }
                        Err(i) => pair(&mut out, &self.desc.label_names[i], &series.values[i]),
                    }
                }
            }
            out.into_boxed_slice()
        })
    }

    fn text_head(&self) -> &[u8] {
        self.page.text_head.get_or_init(|| {
            let mut out = Vec::new();
            let name = self.desc.name.as_bytes();
            if !self.desc.help.is_empty() {
                out.extend_from_slice(b"# HELP ");
                out.extend_from_slice(name);
                out.push(b' ');
                write_help_text(&mut out, &self.desc.help);
                out.push(b'\n');
            }
            out.extend_from_slice(b"# TYPE ");
            out.extend_from_slice(name);
            out.push(b' ');
            out.extend_from_slice(K::TYPE.as_text().as_bytes());
            out.push(b'\n');
            out.into_boxed_slice()
        })
    }

    fn encode_text(&self, out: &mut Vec<u8>) {
        let sorted = self.sorted();
        if sorted.is_empty() {
            return;
        }
        out.extend_from_slice(self.text_head());
        let name = self.desc.name.as_bytes();
        for series in sorted.iter() {
            let labels = self.text_labels(series);
            K::write_text(&self.config, name, labels, &series.core, out);
        }
    }
}

/// Writes `name{labels} value\n` for a series with `labels` from its
/// [`TextLabels`].
#[inline]
pub(crate) fn text_line(out: &mut Vec<u8>, name: &[u8], labels: &[u8], value: f64) {
    out.extend_from_slice(name);
    out.extend_from_slice(labels);
    if labels.is_empty() {
        out.push(b' ');
    } else {
        out.extend_from_slice(b"} ");
    }
    write_float(out, value);
    out.push(b'\n');
}

impl<K: Kind> DirectFamily for Family<K> {
    fn name(&self) -> &str {
        &self.desc.name
    }

    fn encode(&self, format: Format, opts: &EncodeOptions, out: &mut Vec<u8>) {
        match format {
            Format::Text => self.encode_text(out),
            _ => {
                let family = self.to_model();
                if !family.metrics.is_empty() {
                    encode_families(format, std::slice::from_ref(&family), opts, out);
                }
            }
        }
    }

    fn to_model(&self) -> MetricFamily {
        self.collect()
    }
}
