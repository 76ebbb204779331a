//! What the builder configures per histogram name: classic bucket bounds and the
//! histogram's layout (classic, native or both), each looked up by exact name, then
//! longest prefix, then the default.

use std::collections::HashMap;

use crate::metrics::{Buckets, HistogramConfigError, NativeBuckets};

use super::InvalidBuckets;

/// Which buckets a histogram recorded through the `metrics` facade has.
///
/// Chosen per histogram name or prefix with
/// [`PrometheusRecorderBuilder::histogram_for`](super::PrometheusRecorderBuilder::histogram_for)
/// and friends; [`Classic`](Self::Classic) by default. Native buckets are recorded
/// by promhttp's own histogram storage (the same bucketing, bucket limit and
/// zero-bucket rules as [`crate::metrics::Histogram`]), configured by the
/// [`NativeBuckets`] given.
///
/// Only the protobuf format carries native buckets: a Prometheus scraping with
/// native histograms enabled gets them, the text formats show a native-only
/// histogram as its `+Inf` bucket, `_sum` and `_count`, and a dual one as its
/// classic buckets.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub enum HistogramLayout {
    /// Classic buckets only (the bounds configured for the name): the default.
    #[default]
    Classic,
    /// Native (exponential) buckets only.
    Native(NativeBuckets),
    /// Classic buckets and native buckets: every scraper gets what it reads.
    Dual(NativeBuckets),
}

/// A setting for every histogram, per exact name and per prefix.
#[derive(Debug)]
pub(super) struct ByName<T> {
    pub(super) default: T,
    pub(super) exact: HashMap<String, T>,
    /// Longest prefix first.
    pub(super) prefix: Vec<(String, T)>,
}

impl<T> ByName<T> {
    /// `default` for every name.
    pub(super) fn only(default: T) -> Self {
        ByName {
            default,
            exact: HashMap::new(),
            prefix: Vec::new(),
        }
    }

    /// The rules with values checked by `check`; the first error is returned.
    pub(super) fn new<U, E>(
        default: T,
        exact: Vec<(String, U)>,
        prefix: Vec<(String, U)>,
        check: impl Fn(&str, U) -> Result<T, E>,
    ) -> Result<Self, E> {
        let mut by_name = ByName {
            default,
            exact: HashMap::with_capacity(exact.len()),
            prefix: Vec::with_capacity(prefix.len()),
        };
        for (name, v) in exact {
            let v = check(&name, v)?;
            by_name.exact.insert(name, v);
        }
        for (p, v) in prefix {
            let v = check(&p, v)?;
            by_name.prefix.push((p, v));
        }
        // Longest first, so the first match is the longest.
        by_name.prefix.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Ok(by_name)
    }

    /// The setting of `name`: its own, else the longest matching prefix's, else
    /// the default.
    pub(super) fn for_name(&self, name: &str) -> &T {
        if let Some(v) = self.exact.get(name) {
            return v;
        }
        self.prefix
            .iter()
            .find(|(p, _)| name.starts_with(p.as_str()))
            .map_or(&self.default, |(_, v)| v)
    }
}

/// Bucket bounds as [`Buckets::new`] takes them (strictly increasing, no NaN, a
/// trailing `+Inf` dropped), with at least one bound besides `+Inf`.
pub(super) fn check_buckets(
    name: Option<&str>,
    bounds: Vec<f64>,
) -> Result<Buckets, InvalidBuckets> {
    let histograms = name.map(str::to_owned);
    let buckets = Buckets::new(bounds.clone()).map_err(|e| match e {
        HistogramConfigError::BoundsNotIncreasing { index, bound } => {
            InvalidBuckets::NotIncreasing {
                histograms: histograms.clone(),
                bound,
                previous: index
                    .checked_sub(1)
                    .and_then(|i| bounds.get(i))
                    .copied()
                    .unwrap_or(f64::NAN),
            }
        }
        _ => InvalidBuckets::NanBound {
            histograms: histograms.clone(),
        },
    })?;
    if buckets.bounds().is_empty() {
        return Err(InvalidBuckets::NoFiniteBound { histograms });
    }
    Ok(buckets)
}
