//! Normalization: families sorted, merged and checked (names, labels, value shapes, name clashes).

use std::cmp::Ordering;

use super::escaping::escape_names;
use super::{GatherError, GatherErrorKind, Gathered};
use crate::encode::Escaping;
use crate::model::{Label, Metric, MetricFamily, MetricType, Str, Value};

/// Sorts, merges and checks gathered families in place (see the module docs), with
/// names escaped for a scraper that did not ask for UTF-8 names
/// ([`Escaping::Underscores`]: what a Pushgateway, a remote write receiver or a
/// Prometheus 2.x reads). See [`normalize_with`].
pub fn normalize(g: &mut Gathered) {
    normalize_with(g, Escaping::Underscores);
}

/// Sorts, merges and checks gathered families in place (see the module docs),
/// writing metric and label names as `escaping` says.
///
/// Afterwards `families` are sorted by name with no duplicates and no empty family,
/// each family's metrics are sorted by label values with no duplicate series, and
/// labels are sorted by name. What could not be kept is described in `errors`.
///
/// Names may be any non-empty UTF-8 string (label names not starting with `__`,
/// which is reserved). Unless `escaping` is [`Escaping::AllowUtf8`], names outside
/// the legacy character set are escaped first, so every check below sees the names
/// that will be written; two different names that escape to the same one are an
/// error ([`GatherErrorKind::NameEscapingCollision`]), not a merge.
pub fn normalize_with(g: &mut Gathered, escaping: Escaping) {
    g.materialize();
    normalize_model(g, escaping);
}

/// As [`normalize_with`], keeping the direct families that clash with nothing direct
/// (sorted by name) for [`encode_page`](super::direct::encode_page).
pub(crate) fn normalize_keeping_direct(g: &mut Gathered, escaping: Escaping) {
    super::direct::settle(g, escaping);
    normalize_model(g, escaping);
}

/// Whether `name` may be a label name: not empty and not reserved (`__`).
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with("__")
}

fn normalize_model(g: &mut Gathered, escaping: Escaping) {
    let errors = &mut g.errors;
    // 0. Names valid as given (`__` is reserved in the names a source gives, not
    //    in what escaping makes of them: `_x` is `__x` under `dots`), then written
    //    as the scraper reads them, so every check below sees those.
    check_names(&mut g.families, errors);
    escape_names(&mut g.families, escaping, errors);
    // 1. Types and labels of each family on its own.
    g.families.retain_mut(|f| {
        let t = f.metric_type;
        let name = &f.name;
        f.metrics.retain_mut(|m| match check_metric(m, t) {
            Ok(()) => true,
            Err(kind) => {
                errors.push(GatherError::in_family(name, kind));
                false
            }
        });
        true
    });

    // 2. Merge same-named families; a stable sort keeps the sources' order.
    if !g.families.is_sorted_by(|a, b| a.name <= b.name) {
        g.families.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let mut merged: Vec<MetricFamily> = Vec::with_capacity(g.families.len());
    for f in g.families.drain(..) {
        match merged.last_mut() {
            Some(prev) if prev.name == f.name => {
                if prev.metric_type != f.metric_type {
                    errors.push(GatherError::in_family(
                        &f.name,
                        GatherErrorKind::TypeMismatch {
                            first: prev.metric_type,
                            second: f.metric_type,
                            dropped: f.metrics.len(),
                        },
                    ));
                } else if prev.help != f.help {
                    errors.push(GatherError::in_family(
                        &f.name,
                        GatherErrorKind::HelpMismatch {
                            first: prev.help.to_string(),
                            second: f.help.to_string(),
                        },
                    ));
                } else {
                    if prev.unit.is_empty() {
                        prev.unit = f.unit;
                    }
                    prev.metrics.extend(f.metrics);
                }
            }
            _ => merged.push(f),
        }
    }

    // 3. Sort series and drop duplicates and empty families.
    merged.retain_mut(|f| {
        // Sources such as `prometheus::Registry` already sort: one pass proves it.
        let strictly_sorted = f
            .metrics
            .windows(2)
            .all(|w| cmp_labels(&w[0].labels, &w[1].labels).is_lt());
        if !strictly_sorted {
            f.metrics.sort_by(|a, b| cmp_labels(&a.labels, &b.labels));
            let before = f.metrics.len();
            f.metrics.dedup_by(|b, a| a.labels == b.labels);
            if f.metrics.len() != before {
                errors.push(GatherError::in_family(
                    &f.name,
                    GatherErrorKind::DuplicateSeries {
                        repeats: before - f.metrics.len(),
                    },
                ));
            }
        }
        !f.metrics.is_empty()
    });

    // 4. Generated sample names (`x_bucket`, `x_sum`, `x_count`) must not clash.
    let mut clashes: Vec<usize> = Vec::new();
    for f in &merged {
        // A counter `x_total` is the OpenMetrics family `x`: no other family may be `x`.
        if f.metric_type == MetricType::Counter {
            if let Some(base) = f.name.strip_suffix("_total").filter(|b| !b.is_empty()) {
                if let Ok(i) = merged.binary_search_by(|x| x.name.as_str().cmp(base)) {
                    errors.push(GatherError::in_family(
                        base,
                        GatherErrorKind::OpenMetricsNameClash {
                            counter: f.name.to_string(),
                        },
                    ));
                    clashes.push(i);
                }
            }
        }
        let suffixes: &[&str] = match f.metric_type {
            MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            MetricType::Summary => &["_count", "_sum", "_created"],
            MetricType::Counter => &["_created"],
            _ => continue,
        };
        for s in suffixes {
            let base = match f.metric_type {
                MetricType::Counter => f.name.strip_suffix("_total").unwrap_or(&f.name),
                _ => &f.name,
            };
            let clash = format!("{base}{s}");
            if let Ok(i) = merged.binary_search_by(|x| x.name.as_str().cmp(&clash)) {
                errors.push(GatherError::in_family(
                    &clash,
                    GatherErrorKind::NameClash {
                        other: f.name.to_string(),
                        other_type: f.metric_type,
                    },
                ));
                clashes.push(i);
            }
        }
    }
    if !clashes.is_empty() {
        let mut i = 0;
        merged.retain(|_| {
            i += 1;
            !clashes.contains(&(i - 1))
        });
    }
    g.families = merged;
}

/// Leaves out (and reports) families with an empty name and metrics with an empty
/// or reserved label name.
fn check_names(families: &mut Vec<MetricFamily>, errors: &mut Vec<GatherError>) {
    families.retain_mut(|f| {
        if f.name.is_empty() {
            errors.push(GatherError::in_family(
                &f.name,
                GatherErrorKind::InvalidMetricName,
            ));
            return false;
        }
        let name = &f.name;
        // Label names repeat from metric to metric: check each distinct one once.
        let mut checked: Vec<Str> = Vec::new();
        f.metrics.retain(|m| {
            for l in &m.labels {
                if checked.contains(&l.name) {
                    continue;
                }
                if !is_valid_label_name(&l.name) {
                    errors.push(GatherError::in_family(
                        name,
                        GatherErrorKind::InvalidLabelName {
                            label: l.name.to_string(),
                        },
                    ));
                    return false;
                }
                if checked.len() < 16 {
                    checked.push(l.name.clone());
                }
            }
            true
        });
        true
    });
}

fn check_metric(m: &mut Metric, t: MetricType) -> Result<(), GatherErrorKind> {
    if m.value.metric_type() != t {
        return Err(GatherErrorKind::ValueTypeMismatch {
            family_type: t,
            value_type: m.value.metric_type(),
        });
    }
    let reserved = match t {
        MetricType::Histogram => Some("le"),
        MetricType::Summary => Some("quantile"),
        _ => None,
    };
    if let Some(l) = reserved.and_then(|r| m.labels.iter().find(|l| l.name == r)) {
        return Err(GatherErrorKind::ReservedLabelName {
            label: l.name.to_string(),
            family_type: t,
        });
    }
    check_value(&m.value)?;
    sort_label_names(&mut m.labels);
    if let Some(w) = m.labels.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(GatherErrorKind::DuplicateLabelName {
            label: w[0].name.to_string(),
        });
    }
    Ok(())
}

/// The shape rules of each type (OpenMetrics, and Prometheus' own parser for
/// histograms): what breaks them would be rejected by the scraper or poison rates.
pub(crate) fn check_value(v: &Value) -> Result<(), GatherErrorKind> {
    match v {
        Value::Counter(c) if c.value.is_nan() || c.value < 0.0 => {
            Err(GatherErrorKind::InvalidCounterValue { value: c.value })
        }
        Value::Histogram(h) => {
            let mut prev_bound = f64::NEG_INFINITY;
            let mut prev_count = 0;
            for (i, b) in h.buckets.iter().enumerate() {
                if b.upper_bound.is_nan() || (i > 0 && b.upper_bound <= prev_bound) {
                    return Err(GatherErrorKind::BucketBoundsNotIncreasing {
                        bound: b.upper_bound,
                        previous: prev_bound,
                    });
                }
                if b.cumulative_count < prev_count {
                    return Err(GatherErrorKind::BucketCountsDecreasing {
                        bound: b.upper_bound,
                        count: b.cumulative_count,
                        previous: prev_count,
                    });
                }
                prev_bound = b.upper_bound;
                prev_count = b.cumulative_count;
            }
            if h.count < prev_count {
                return Err(GatherErrorKind::HistogramCountBelowBuckets {
                    count: h.count,
                    bucket_count: prev_count,
                });
            }
            if prev_bound == f64::INFINITY && prev_count != h.count {
                return Err(GatherErrorKind::InfBucketMismatch {
                    inf_bucket: prev_count,
                    count: h.count,
                });
            }
            Ok(())
        }
        Value::Summary(s) => match s
            .quantiles
            .iter()
            .find(|q| !(0.0..=1.0).contains(&q.quantile))
        {
            Some(q) => Err(GatherErrorKind::QuantileOutOfRange {
                quantile: q.quantile,
            }),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Sorts labels by name (one pass when they already are).
fn sort_label_names(labels: &mut [Label]) {
    if !labels.is_sorted_by(|a, b| a.name <= b.name) {
        labels.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// Puts a family's series in the order [`normalize`] leaves them (labels by name,
/// series by label values), so that its check of the order passes in one pass.
/// For sources whose series come in hash-map order: an unstable sort, faster than
/// the stable one `normalize` falls back to, whose order differs only between
/// duplicate series (which `normalize` reports either way).
///
/// What is sorted is one key per series, its label values joined by NUL bytes
/// into one buffer, so a comparison is one `memcmp` (series whose keys are equal
/// are compared label by label); then each series moves once into its place.
/// That order is [`cmp_labels`]' as long as no value holds a NUL byte; a family
/// with one is sorted with `cmp_labels` itself.
#[cfg(feature = "prometheus-client")]
pub(crate) fn presort_series(metrics: &mut [Metric]) {
    let mut joined = Vec::new();
    let mut keys: Vec<(usize, usize, usize)> = Vec::with_capacity(metrics.len());
    let mut nul = false;
    for (i, m) in metrics.iter_mut().enumerate() {
        sort_label_names(&mut m.labels);
        let start = joined.len();
        for l in &m.labels {
            nul |= l.value.as_bytes().contains(&0);
            joined.extend_from_slice(l.value.as_bytes());
            joined.push(0);
        }
        keys.push((start, joined.len(), i));
    }
    let mut order: Vec<usize> = if nul {
        let mut order: Vec<usize> = (0..metrics.len()).collect();
        order.sort_unstable_by(|&a, &b| cmp_labels(&metrics[a].labels, &metrics[b].labels));
        order
    } else {
        keys.sort_unstable_by(|a, b| {
            joined[a.0..a.1]
                .cmp(&joined[b.0..b.1])
                .then_with(|| cmp_labels(&metrics[a.2].labels, &metrics[b.2].labels))
        });
        keys.iter().map(|k| k.2).collect()
    };
    permute(metrics, &mut order);
}

/// Rearranges `items` so that position `k` holds what was at `order[k]`, each
/// cycle of the permutation followed once (`order` is left as the identity).
/// `order` must be a permutation of `0..items.len()`.
#[cfg(feature = "prometheus-client")]
fn permute<T>(items: &mut [T], order: &mut [usize]) {
    for start in 0..order.len() {
        let mut at = start;
        // Positions already in place hold their own index.
        while order[at] != at {
            let from = order[at];
            order[at] = at;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

/// Orders label sets by their values, then by their names, then by length, so that
/// equal sets end up next to each other.
fn cmp_labels(a: &[Label], b: &[Label]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.value.cmp(&y.value) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().map(|l| &l.name).cmp(b.iter().map(|l| &l.name)))
}

#[cfg(all(test, feature = "prometheus-client"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn permute_puts_each_item_where_the_order_says(
            order in (0usize..40).prop_flat_map(|n| Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        ) {
            let items: Vec<usize> = (100..100 + order.len()).collect();
            let want: Vec<usize> = order.iter().map(|&i| items[i]).collect();
            let mut got = items.clone();
            let mut o = order.clone();
            permute(&mut got, &mut o);
            prop_assert_eq!(got, want);
            prop_assert!(o.iter().enumerate().all(|(k, &i)| k == i));
        }

        #[test]
        fn presorted_series_are_in_normalize_order(
            series in proptest::collection::vec(
                proptest::collection::vec(("[xyz]", "[ab]{0,2}"), 0..3), 0..30),
        ) {
            check_presort(series)?;
        }

        #[test]
        fn presorted_series_with_nul_bytes_are_in_normalize_order(
            series in proptest::collection::vec(
                proptest::collection::vec(("[xyz]", "[a\\x00]{0,2}"), 0..3), 0..30),
        ) {
            check_presort(series)?;
        }
    }

    fn check_presort(series: Vec<Vec<(String, String)>>) -> Result<(), TestCaseError> {
        let mut metrics: Vec<Metric> = series
            .into_iter()
            .map(|labels| {
                let labels = labels.into_iter().map(|(n, v)| Label::new(n, v)).collect();
                Metric::new(labels, Value::Gauge(1.0))
            })
            .collect();
        let mut stable = metrics.clone();
        presort_series(&mut metrics);
        for m in &mut stable {
            sort_label_names(&mut m.labels);
        }
        stable.sort_by(|a, b| cmp_labels(&a.labels, &b.labels));
        let labels = |ms: &[Metric]| ms.iter().map(|m| m.labels.clone()).collect::<Vec<_>>();
        // The order of normalize's stable sort (series it keeps equal are equal).
        prop_assert_eq!(labels(&metrics), labels(&stable));
        Ok(())
    }
}
