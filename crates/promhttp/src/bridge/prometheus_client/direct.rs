//! A prometheus-client family written from where it lies, without the model.
//!
//! The bridge takes the values out of prometheus-client's messages (as the model
//! has them) but leaves each series' labels in the message's strings, in the
//! order prometheus-client allocated them; the family is sorted through an index
//! and written from those strings by the same line writers the model's encoders
//! use, so the page is the same byte for byte. Building the model, checking it and
//! freeing it in sorted order (strings allocated in hash-map order, touched in
//! sorted order) cost the bridge more than writing the page.
//!
//! A family takes this path only when [`normalize`](crate::gather::normalize)
//! would have nothing to change or report in it: a non-empty family with a
//! legacy name, whose series all have the same legacy label names (none reserved,
//! none repeated), values of valid shape, no timestamp, and no two the same.
//! Anything else takes the model path, where normalize checks and reports it as
//! before; so does a family that shares or clashes with another one's name
//! (see [`settle`](crate::gather::direct)), merged and checked there.

use std::sync::Arc;
use std::time::SystemTime;

use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;

use crate::encode::float::FloatCache;
use crate::encode::{
    encode_families, is_legacy_label_name, is_legacy_metric_name, openmetrics, protobuf, text,
    EncodeOptions, Format,
};
use crate::gather::direct::DirectFamily;
use crate::gather::{check_value, is_valid_label_name, presort_series};
use crate::model::{Label, Metric, MetricFamily, MetricType, Str, Value};

/// A family's name, help, unit and type, as prometheus-client gave them.
pub(super) struct Head {
    pub(super) name: String,
    pub(super) help: String,
    pub(super) unit: String,
    pub(super) metric_type: MetricType,
}

/// One series: its labels as prometheus-client's strings, its value in the model.
pub(super) struct Series {
    pub(super) labels: Vec<pb::LabelPair>,
    pub(super) value: Value,
    pub(super) timestamp: Option<SystemTime>,
    pub(super) created: Option<SystemTime>,
}

/// A family that writes itself (see the module docs).
pub(super) struct BridgedFamily {
    head: Head,
    /// In prometheus-client's order, so that they are freed in the order they
    /// were allocated.
    series: Vec<Series>,
    /// Indexes into `series`, in page order.
    order: Vec<u32>,
    /// Each series' label pairs as the text formats write them (`a="x",b="y"`),
    /// rendered while the checks read its strings, back to back in `series`' order.
    text_labels: Vec<u8>,
    /// Where each series' pairs end in `text_labels`.
    text_ends: Vec<u32>,
}

impl BridgedFamily {
    /// The family, when it can be written directly; else its parts, for the model.
    pub(super) fn new(head: Head, mut series: Vec<Series>) -> Result<Self, (Head, Vec<Series>)> {
        match page_order(&head, &mut series) {
            Some(Checked {
                order,
                text_labels,
                text_ends,
            }) => Ok(BridgedFamily {
                head,
                series,
                order,
                text_labels,
                text_ends,
            }),
            None => Err((head, series)),
        }
    }

    fn sorted(&self) -> impl Iterator<Item = &Series> {
        self.order.iter().map(|&i| &self.series[i as usize])
    }

    /// Writes each series with `write` into `out`, in page order. The series are
    /// written in the order prometheus-client allocated them (their strings and
    /// values read front to back) into a buffer, whose pieces are then copied in
    /// page order: reading them in page order would miss the cache at every
    /// string of a large family.
    fn write_series(&self, out: &mut Vec<u8>, mut write: impl FnMut(&mut Vec<u8>, usize, &Series)) {
        let mut written = Vec::new();
        let mut ends = Vec::with_capacity(self.series.len());
        for (i, s) in self.series.iter().enumerate() {
            write(&mut written, i, s);
            if i == 0 {
                // Every series of a family has about as many bytes as the first.
                written.reserve((written.len() + 16) * self.series.len());
            }
            ends.push(written.len());
        }
        out.reserve(written.len());
        for &i in &self.order {
            let i = i as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] };
            out.extend_from_slice(&written[start..ends[i]]);
        }
    }

    /// Series `i`'s label pairs as the text formats write them.
    fn text_labels(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.text_ends[i - 1] };
        &self.text_labels[start as usize..self.text_ends[i] as usize]
    }

    fn encode_text(&self, out: &mut Vec<u8>) {
        let h = &self.head;
        text::write_head(out, &h.name, &h.help, h.metric_type);
        let name = text::SeriesName::of(&h.name);
        let mut bounds = FloatCache::new(false);
        self.write_series(out, |out, i, s| {
            let labels = self.text_labels(i);
            text::write_metric(out, &mut bounds, name, labels, &s.value, None);
        });
    }

    fn encode_openmetrics(&self, opts: &EncodeOptions, out: &mut Vec<u8>) {
        let h = &self.head;
        let head = openmetrics::write_head(out, &h.name, &h.help, &h.unit, h.metric_type);
        let mut bounds = FloatCache::new(true);
        self.write_series(out, |out, i, s| {
            let labels = self.text_labels(i);
            let created = s.created;
            openmetrics::write_metric(
                out,
                &mut bounds,
                head,
                labels,
                &s.value,
                None,
                created,
                opts,
            );
        });
    }

    fn encode_protobuf(&self, out: &mut Vec<u8>) {
        let h = &self.head;
        let first = &self.series[0];
        let each = first
            .labels
            .iter()
            .map(|l| l.name.len() + l.value.len() + 6)
            .sum::<usize>()
            + protobuf::value_size_guess(&first.value)
            + 3;
        let guess = h.name.len() + h.help.len() + h.unit.len() + 12 + each * self.order.len();
        let mut labels = Vec::with_capacity(256);
        let names = (h.name.as_str(), h.help.as_str(), h.unit.as_str());
        protobuf::write_family_with(out, names, h.metric_type, guess, |out| {
            self.write_series(out, |out, _, s| {
                labels.clear();
                protobuf::write_label_pair_fields(&mut labels, pairs(&s.labels));
                protobuf::write_metric_field(out, &labels, &s.value, s.created);
            });
        });
    }
}

impl DirectFamily for BridgedFamily {
    fn name(&self) -> &str {
        &self.head.name
    }

    fn encode(&self, format: Format, opts: &EncodeOptions, out: &mut Vec<u8>) {
        match format {
            Format::Text => self.encode_text(out),
            Format::OpenMetrics => self.encode_openmetrics(opts, out),
            Format::Protobuf => self.encode_protobuf(out),
            // OpenMetrics 2.0 (experimental) and any format added later go
            // through the model.
            _ => encode_families(format, std::slice::from_ref(&self.to_model()), opts, out),
        }
    }

    fn to_model(&self) -> MetricFamily {
        let h = &self.head;
        let metrics = self
            .sorted()
            .map(|s| Metric {
                labels: s
                    .labels
                    .iter()
                    .map(|l| Label {
                        name: Str::Owned(l.name.clone()),
                        value: Str::Owned(l.value.clone()),
                    })
                    .collect(),
                value: s.value.clone(),
                timestamp: s.timestamp,
                created: s.created,
            })
            .collect();
        MetricFamily {
            name: Str::Owned(h.name.clone()),
            help: Str::Owned(h.help.clone()),
            unit: Str::Owned(h.unit.clone()),
            metric_type: h.metric_type,
            metrics,
        }
    }

    fn into_model(self: Arc<Self>) -> MetricFamily {
        match Arc::try_unwrap(self) {
            Ok(family) => model_family(family.head, family.series),
            Err(shared) => shared.to_model(),
        }
    }
}

/// The family in the model, its strings moved, its series sorted as normalize
/// sorts them.
pub(super) fn model_family(head: Head, series: Vec<Series>) -> MetricFamily {
    let mut metrics: Vec<Metric> = series
        .into_iter()
        .map(|s| Metric {
            labels: s
                .labels
                .into_iter()
                .map(|l| Label {
                    name: Str::Owned(l.name),
                    value: Str::Owned(l.value),
                })
                .collect(),
            value: s.value,
            timestamp: s.timestamp,
            created: s.created,
        })
        .collect();
    // prometheus-client keeps a family's series in a hash map.
    presort_series(&mut metrics);
    MetricFamily {
        name: Str::Owned(head.name),
        help: Str::Owned(head.help),
        unit: Str::Owned(head.unit),
        metric_type: head.metric_type,
        metrics,
    }
}

fn pairs(labels: &[pb::LabelPair]) -> impl Iterator<Item = (&str, &str)> {
    labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))
}

/// What [`page_order`] found: the page order, and the series' label pairs as the
/// text formats write them.
struct Checked {
    order: Vec<u32>,
    text_labels: Vec<u8>,
    text_ends: Vec<u32>,
}

/// The order normalize would leave `series` in (labels sorted by name in place),
/// or `None` when normalize has something to check or report in the family (see
/// the module docs). One pass over the series, in the order their strings were
/// allocated, checks them, gathers their sort keys and writes their label pairs.
fn page_order(head: &Head, series: &mut [Series]) -> Option<Checked> {
    if series.is_empty() || series.len() > u32::MAX as usize {
        return None;
    }
    if head.name.is_empty() || !is_legacy_metric_name(&head.name) {
        return None;
    }
    let reserved = match head.metric_type {
        MetricType::Histogram => "le",
        MetricType::Summary => "quantile",
        _ => "",
    };
    // The label names of the first series, which every other one must have.
    let first = &mut series[0].labels;
    if !first.is_sorted_by(|a, b| a.name <= b.name) {
        first.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let names: Vec<String> = first.iter().map(|l| l.name.clone()).collect();
    let names_ok = names.iter().enumerate().all(|(i, n)| {
        is_valid_label_name(n)
            && is_legacy_label_name(n)
            && n != reserved
            && (i == 0 || names[i - 1] != *n)
    });
    if !names_ok {
        return None;
    }
    // Every series has the same label names: the order is that of the values,
    // compared as one key per series (the values joined by NUL bytes, so that a
    // comparison is one `memcmp`), exact while no value holds a NUL byte.
    let mut joined = Vec::new();
    let mut keys: Vec<(u32, u32, u32)> = Vec::with_capacity(series.len());
    let mut text_labels = Vec::new();
    let mut text_ends = Vec::with_capacity(series.len());
    let n = series.len();
    for (i, s) in series.iter_mut().enumerate() {
        if s.timestamp.is_some() || check_value(&s.value).is_err() {
            return None;
        }
        if !s.labels.is_sorted_by(|a, b| a.name <= b.name) {
            s.labels.sort_by(|a, b| a.name.cmp(&b.name));
        }
        let same_names =
            s.labels.len() == names.len() && s.labels.iter().zip(&names).all(|(l, n)| l.name == *n);
        if !same_names {
            return None;
        }
        let start = joined.len();
        for l in &s.labels {
            if l.value.as_bytes().contains(&0) {
                return None;
            }
            joined.extend_from_slice(l.value.as_bytes());
            joined.push(0);
        }
        text::write_pairs(&mut text_labels, pairs(&s.labels));
        if i == 0 {
            // Every series' labels are about as long as the first one's.
            joined.reserve((joined.len() + 8) * n);
            text_labels.reserve((text_labels.len() + 8) * n);
        }
        let (Ok(start), Ok(end), Ok(text_end)) = (
            u32::try_from(start),
            u32::try_from(joined.len()),
            u32::try_from(text_labels.len()),
        ) else {
            return None;
        };
        keys.push((start, end, i as u32));
        text_ends.push(text_end);
    }
    let key = |k: &(u32, u32, u32)| &joined[k.0 as usize..k.1 as usize];
    keys.sort_unstable_by(|a, b| key(a).cmp(key(b)));
    // The same series twice: normalize reports it.
    if keys.windows(2).any(|w| key(&w[0]) == key(&w[1])) {
        return None;
    }
    Some(Checked {
        order: keys.iter().map(|k| k.2).collect(),
        text_labels,
        text_ends,
    })
}
