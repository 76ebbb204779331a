//! The names of a page as the scraper reads them: escaped with the negotiated
//! [`Escaping`] before merging and the name-clash checks, so that every check sees
//! the names that will be written.

use std::borrow::Cow;
use std::collections::HashMap;

use super::{GatherError, GatherErrorKind};
use crate::encode::Escaping;
use crate::model::{MetricFamily, Str};

/// Renames `families` and their labels as `escaping` writes them. Families whose
/// different names become one are reported and all but one left out (the one whose
/// name did not change, else the first in name order); a metric two of whose label
/// names become one is reported and left out.
pub(super) fn escape_names(
    families: &mut Vec<MetricFamily>,
    escaping: Escaping,
    errors: &mut Vec<GatherError>,
) {
    if escaping == Escaping::AllowUtf8 {
        return;
    }
    let mut originals: Vec<Str> = Vec::with_capacity(families.len());
    let mut any_renamed = false;
    for f in families.iter_mut() {
        let original = f.name.clone();
        // An empty name stays empty: normalization reports it.
        if !f.name.is_empty() {
            if let Cow::Owned(escaped) = escaping.escape_metric_name(&f.name) {
                f.name = escaped.into();
                any_renamed = true;
            }
        }
        originals.push(original);
        escape_label_names(f, escaping, errors);
    }
    if !any_renamed {
        return;
    }
    // The original name kept for each escaped name: one that needed no escaping,
    // else the smallest.
    let mut kept: HashMap<Str, Str> = HashMap::new();
    for (f, original) in families.iter().zip(&originals) {
        let escaped = &f.name;
        kept.entry(escaped.clone())
            .and_modify(|current| {
                let better = *current != *escaped && (*original == *escaped || original < current);
                if better {
                    *current = original.clone();
                }
            })
            .or_insert_with(|| original.clone());
    }
    let mut i = 0;
    families.retain(|f| {
        let original = &originals[i];
        i += 1;
        let keep = &kept[&f.name];
        if keep == original {
            return true;
        }
        errors.push(GatherError::in_family(
            original,
            GatherErrorKind::NameEscapingCollision {
                escaped: f.name.to_string(),
                kept: keep.to_string(),
                dropped: original.to_string(),
                escaping,
            },
        ));
        false
    });
}

/// Escapes the label names of every metric of `f`, leaving out (and reporting)
/// metrics two of whose label names become one.
fn escape_label_names(f: &mut MetricFamily, escaping: Escaping, errors: &mut Vec<GatherError>) {
    let family = &f.name;
    f.metrics.retain_mut(|m| {
        let mut renamed = false;
        let mut originals: Vec<(usize, Str)> = Vec::new();
        for (i, l) in m.labels.iter_mut().enumerate() {
            // An empty name stays empty: normalization reports it.
            if l.name.is_empty() {
                continue;
            }
            if let Cow::Owned(escaped) = escaping.escape_label_name(&l.name) {
                originals.push((i, std::mem::replace(&mut l.name, escaped.into())));
                renamed = true;
            }
        }
        if !renamed {
            return true;
        }
        let original = |i: usize| -> &str {
            originals
                .iter()
                .find(|(j, _)| *j == i)
                .map_or(&m.labels[i].name, |(_, n)| n)
        };
        for (i, l) in m.labels.iter().enumerate() {
            // Two labels of the same name before escaping are a duplicate that
            // normalization reports; here only names escaping made equal.
            let same = m.labels[..i]
                .iter()
                .enumerate()
                .position(|(j, o)| o.name == l.name && original(j) != original(i));
            if let Some(j) = same {
                errors.push(GatherError::in_family(
                    family,
                    GatherErrorKind::LabelNameEscapingCollision {
                        escaped: l.name.to_string(),
                        first: original(j).to_owned(),
                        second: original(i).to_owned(),
                        escaping,
                    },
                ));
                return false;
            }
        }
        true
    });
}
