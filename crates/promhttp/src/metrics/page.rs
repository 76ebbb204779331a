//! A family's part of the page, kept rendered: the `# HELP`/`# TYPE` lines and each
//! series' label block are escaped and laid out once, the series kept sorted until
//! one is added or removed; a scrape only writes numbers.
//!
//! Every format is written directly, by the encoders' own per-metric writers (one
//! home for each format's rules), from label bytes kept per series and format (the
//! text formats share theirs; protobuf keeps its encoded label fields) and a value
//! filled in place.

use std::cmp::Ordering;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::{Arc, Mutex, OnceLock};

use super::family::{Family, Kind, Series};
use crate::encode::blocks::BlockArena;
use crate::encode::float::FloatCache;
use crate::encode::lines::LineTemplate;
use crate::encode::text::write_label_pairs;
use crate::encode::{encode_families, openmetrics, protobuf, text, EncodeOptions, Format};
use crate::gather::direct::DirectFamily;
use crate::model::{Label, MetricFamily, Str, Value};
use crate::util::lock;

/// Series in page order.
type SortedSeries<C> = Arc<[Arc<Series<C>>]>;

/// The series of one generation of a family in page order, and what is kept
/// for them in that order.
struct Sorted<C> {
    generation: u64,
    series: SortedSeries<C>,
    /// The label pairs of each series as both text formats write them
    /// (`a="x",b="y"`), made at the first text scrape of the generation.
    text: Option<Arc<BlockArena>>,
}

/// What a family keeps for its page.
pub(crate) struct PageCache<C> {
    /// The series in page order, of the family's generation it holds.
    sorted: Mutex<Sorted<C>>,
    /// `# HELP` and `# TYPE` in text 0.0.4.
    text_head: OnceLock<Box<[u8]>>,
    /// `# TYPE`, `# UNIT` and `# HELP` in OpenMetrics.
    openmetrics_head: OnceLock<Box<[u8]>>,
    /// Label positions in name order: `Ok(i)` a constant label, `Err(i)` a variable one.
    order: OnceLock<Box<[Result<usize, usize>]>>,
    /// What text 0.0.4 lines of every series have in common.
    text_lines: OnceLock<LineTemplate>,
}

impl<C> Default for PageCache<C> {
    fn default() -> Self {
        PageCache {
            sorted: Mutex::new(Sorted {
                generation: u64::MAX,
                series: Arc::from(Vec::new()),
                text: None,
            }),
            text_head: OnceLock::new(),
            openmetrics_head: OnceLock::new(),
            order: OnceLock::new(),
            text_lines: OnceLock::new(),
        }
    }
}

/// What a series keeps of its page, made at its first protobuf scrape (so a
/// series never scraped so pays one pointer for it). Its label pairs in the text
/// formats are kept by the family, with every series' (see [`Sorted`]).
#[derive(Default)]
pub(crate) struct Kept {
    /// Protobuf `label` fields.
    protobuf: OnceLock<Box<[u8]>>,
}

fn kept<C>(series: &Series<C>) -> &Kept {
    series.kept.get_or_init(Default::default)
}

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
        if cached.generation == generation {
            return cached.series.clone();
        }
        let order: Vec<usize> = self.order().iter().filter_map(|at| at.err()).collect();
        let mut all = self.all();
        all.sort_by(|a, b| match (a.values.is_empty(), b.values.is_empty()) {
            (false, false) => order
                .iter()
                .map(|&i| a.values.get(i).cmp(b.values.get(i)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal),
            (a_overflow, b_overflow) => a_overflow.cmp(&b_overflow),
        });
        let sorted: Arc<[_]> = all.into();
        *cached = Sorted {
            generation,
            series: sorted.clone(),
            text: None,
        };
        sorted
    }

    /// The series in page order with their label pairs as both text formats
    /// write them (`a="x",b="y"`), in the same order; the pairs are written
    /// once per generation of the family (when a series is added or removed,
    /// as the order is).
    fn sorted_with_text(&self) -> (SortedSeries<K::Core>, Arc<BlockArena>) {
        let series = self.sorted();
        let mut cached = lock(&self.page.sorted);
        if !Arc::ptr_eq(&cached.series, &series) {
            // The family changed meanwhile: pairs for the list we have.
            drop(cached);
            let text = Arc::new(self.text_labels(&series));
            return (series, text);
        }
        if let Some(text) = &cached.text {
            return (series, text.clone());
        }
        let text = Arc::new(self.text_labels(&series));
        cached.text = Some(text.clone());
        (series, text)
    }

    /// The label pairs of `series` as both text formats write them, in order.
    fn text_labels(&self, series: &[Arc<Series<K::Core>>]) -> BlockArena {
        BlockArena::new(series.len(), |i, out| {
            write_label_pairs(out, &self.sorted_labels(&series[i]));
        })
    }

    /// The series' labels in name order (constant and variable), as the model
    /// has them once normalized.
    fn sorted_labels(&self, series: &Series<K::Core>) -> Vec<Label> {
        if series.values.is_empty() && !self.desc.label_names.is_empty() {
            // The overflow series: constant labels, then its own.
            let mut labels = self.desc.const_labels.to_vec();
            labels.push(Label::new(super::family::OVERFLOW_LABEL, "true"));
            return labels;
        }
        self.order()
            .iter()
            .map(|at| match *at {
                Ok(i) => self.desc.const_labels[i].clone(),
                Err(i) => Label::new(
                    self.desc.label_names[i].clone(),
                    series.values.get(i).to_owned(),
                ),
            })
            .collect()
    }

    /// The series' label fields as protobuf writes them.
    fn protobuf_labels<'a>(&self, series: &'a Series<K::Core>) -> &'a [u8] {
        kept(series).protobuf.get_or_init(|| {
            let mut out = Vec::new();
            protobuf::write_label_fields(&mut out, &self.sorted_labels(series));
            out.into_boxed_slice()
        })
    }

    /// Writes the family as one protobuf `MetricFamily` message.
    fn encode_protobuf(&self, out: &mut Vec<u8>) {
        let sorted = self.sorted();
        if sorted.is_empty() {
            return;
        }
        let mut value = K::value(&sorted[0].core);
        let each = self.protobuf_labels(&sorted[0]).len() + protobuf::value_size_guess(&value) + 3;
        let d = &self.desc;
        let guess = d.name.len() + d.help.len() + d.unit.len() + 12 + each * sorted.len();
        protobuf::write_family_with(out, (&d.name, &d.help, &d.unit), K::TYPE, guess, |out| {
            for (i, series) in sorted.iter().enumerate() {
                // The first series' value was read above.
                if i > 0 {
                    K::fill(&self.config, &series.core, &mut value);
                }
                let labels = self.protobuf_labels(series);
                let at = Self::start_time(series);
                protobuf::write_metric_field(out, labels, &value, at);
            }
        });
    }

    /// The family's head in `format`, written once.
    fn head(&self, format: Format) -> &[u8] {
        let (slot, write): (_, fn(&Self, &mut Vec<u8>)) = match format {
            Format::OpenMetrics => (&self.page.openmetrics_head, |f, out| {
                let d = &f.desc;
                openmetrics::write_head(out, &d.name, &d.help, &d.unit, K::TYPE);
            }),
            _ => (&self.page.text_head, |f, out| {
                text::write_head(out, &f.desc.name, &f.desc.help, K::TYPE)
            }),
        };
        slot.get_or_init(|| {
            let mut out = Vec::new();
            write(self, &mut out);
            out.into_boxed_slice()
        })
    }

    /// Writes the family in a text format: the head and label blocks as kept,
    /// the numbers read now.
    fn encode_text(&self, format: Format, opts: &EncodeOptions, out: &mut Vec<u8>) {
        let (sorted, text) = self.sorted_with_text();
        if sorted.is_empty() {
            return;
        }
        out.extend_from_slice(self.head(format));
        let mut bounds = FloatCache::new(format == Format::OpenMetrics);
        let om = openmetrics::Head::of(&self.desc.name, K::TYPE);
        let name = text::SeriesName::of(&self.desc.name);
        // Every series has the lines of the first one (see `LineTemplate::write`).
        // Own metrics have legacy names, which the template writes bare.
        let lines = self.page.text_lines.get_or_init(|| {
            let labelled = !text.get(0).is_empty();
            LineTemplate::new(name.bytes, labelled, &K::value(&sorted[0].core))
        });
        let plain = format == Format::Text && !name.quoted;
        // Filled only for a series that has no direct path, its storage reused.
        let mut value: Option<Value> = None;
        for (i, series) in sorted.iter().enumerate() {
            let labels = text.get(i);
            // Most series write their lines with no value in between.
            if plain && K::write_text(&self.config, &series.core, lines, labels, out) {
                continue;
            }
            let value = match &mut value {
                Some(value) => {
                    K::fill(&self.config, &series.core, value);
                    value
                }
                None => value.insert(K::value(&series.core)),
            };
            if format == Format::OpenMetrics {
                let at = Self::start_time(series);
                let labels = labels.as_bytes();
                openmetrics::write_metric(out, &mut bounds, om, labels, value, None, at, opts);
                continue;
            }
            if name.quoted || !lines.write(out, labels, value) {
                text::write_metric(out, &mut bounds, name, labels.as_bytes(), value, None);
            }
        }
    }
}

impl<K: Kind> DirectFamily for Family<K> {
    fn name(&self) -> &str {
        &self.desc.name
    }

    fn encode(&self, format: Format, opts: &EncodeOptions, out: &mut Vec<u8>) {
        match format {
            Format::Text | Format::OpenMetrics => self.encode_text(format, opts, out),
            Format::Protobuf => self.encode_protobuf(out),
            // A format added later goes through the model until it has its own path.
            #[allow(unreachable_patterns)]
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
