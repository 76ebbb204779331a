//! [`MetricVec`]: a family of series of one kind, keyed by label values.

use std::collections::HashMap;
use std::sync::Arc;

use super::family::{Family, Kind};
use super::labels::LabelValues;
use super::MetricError;

/// A family of metrics that share a name and label names, one series per
/// distinct set of label values (`CounterVec`, `IntGaugeVec`, `HistogramVec`, ...).
///
/// A lookup (`with_label_values`, `with_labels`, `with`) finds the series whose values
/// are *exactly* the ones given, creating it the first time; keep what it returns
/// to record without any lookup afterwards. Label values may be any UTF-8 text,
/// the empty string included.
///
/// Cloning gives another handle to the same family.
///
/// # Series limit and overflow
///
/// With [`Opts::max_series`](super::Opts::max_series) set, a label set that would
/// exceed the limit gets no series of its own:
/// [`get_metric_with_label_values`](Self::get_metric_with_label_values) returns
/// [`MetricError::SeriesLimit`], and [`with_label_values`](Self::with_label_values)
/// returns the family's *overflow series* (labelled `otel_metric_overflow="true"`),
/// so what is recorded still counts in the family's totals. `with_label_values`
/// also returns the overflow series, and logs an error, when given the wrong number
/// of values: it never panics.
///
/// ```
/// use promhttp::metrics::{IntCounterVec, Opts};
///
/// let requests = IntCounterVec::new(Opts::new("requests_total", "Requests."), &["method", "code"])
///     .unwrap();
/// let ok = requests.with_label_values(&["GET", "200"]); // keep this for the hot path
/// ok.inc();
/// requests.with_labels(&("GET", "200")).inc();
/// assert_eq!(ok.get(), 2);
/// // Exact equality: joined, these two would both read "abc".
/// requests.with_label_values(&["ab", "c"]).inc();
/// assert_eq!(requests.with_label_values(&["a", "bc"]).get(), 0);
/// requests.remove_label_values(&["ab", "c"]).unwrap();
/// ```
pub struct MetricVec<K: Kind> {
    pub(crate) family: Arc<Family<K>>,
}

impl<K: Kind> Clone for MetricVec<K> {
    fn clone(&self) -> Self {
        MetricVec {
            family: self.family.clone(),
        }
    }
}

impl<K: Kind> std::fmt::Debug for MetricVec<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricVec")
            .field("name", &self.family.desc.name)
            .field("series", &self.family.len())
            .finish()
    }
}

impl<K: Kind> MetricVec<K> {
    pub(crate) fn from_family(family: Family<K>) -> Self {
        MetricVec {
            family: Arc::new(family),
        }
    }

    /// The series with these label values (in the order of the label names),
    /// created if needed; the overflow series when the limit is reached or the
    /// number of values is wrong (see the [type documentation](Self)).
    #[inline]
    pub fn with_label_values(&self, values: &[&str]) -> K::Handle {
        K::handle(self.family.get_or_overflow(values))
    }

    /// As [`with_label_values`](Self::with_label_values), with an error instead of
    /// the overflow series.
    pub fn get_metric_with_label_values(&self, values: &[&str]) -> Result<K::Handle, MetricError> {
        self.family.get(values).map(K::handle)
    }

    /// The series for a typed label set (a tuple, an array, or a struct
    /// implementing [`LabelValues`]); as `with_label_values` otherwise.
    #[inline]
    pub fn with_labels(&self, values: &(impl LabelValues + ?Sized)) -> K::Handle {
        K::handle(self.family.get_or_overflow(values))
    }

    /// Runs `f` on the series with these label values (created if needed; the
    /// overflow series as for [`with_label_values`](Self::with_label_values)) and
    /// returns what it returns: the cheapest way to record into a series you do not
    /// keep a handle of.
    ///
    /// The lookup of an existing series takes no lock and writes nothing shared, and
    /// the handle `f` gets is lent without touching the series' reference count
    /// (clone it to keep it). While `f` runs, what is removed from this or any other
    /// family is freed later, not at once: keep `f` short.
    ///
    /// ```
    /// use promhttp::metrics::{IntCounterVec, Opts};
    ///
    /// let requests = IntCounterVec::new(Opts::new("requests_total", "Requests."), &["method", "code"])
    ///     .unwrap();
    /// requests.with_label_values_do(&["GET", "200"], |c| c.inc());
    /// let total = requests.with_label_values_do(&["GET", "200"], |c| {
    ///     c.inc_by(2);
    ///     c.get()
    /// });
    /// assert_eq!(total, 3);
    /// ```
    #[inline]
    pub fn with_label_values_do<R>(&self, values: &[&str], f: impl FnOnce(&K::Handle) -> R) -> R {
        self.family.with_handle(values, f)
    }

    /// As [`with_label_values_do`](Self::with_label_values_do), for a typed label
    /// set (see [`with_labels`](Self::with_labels)).
    #[inline]
    pub fn with_labels_do<R>(
        &self,
        values: &(impl LabelValues + ?Sized),
        f: impl FnOnce(&K::Handle) -> R,
    ) -> R {
        self.family.with_handle(values, f)
    }

    /// As [`with_labels`](Self::with_labels), with an error instead of the overflow
    /// series.
    pub fn get_metric_with_labels(
        &self,
        values: &(impl LabelValues + ?Sized),
    ) -> Result<K::Handle, MetricError> {
        self.family.get(values).map(K::handle)
    }

    /// The series for label values given by name (every label exactly once).
    pub fn get_metric_with(&self, labels: &HashMap<&str, &str>) -> Result<K::Handle, MetricError> {
        let values = self.by_name(labels)?;
        self.family.get(&values).map(K::handle)
    }

    /// As [`get_metric_with`](Self::get_metric_with), with the overflow series
    /// instead of an error.
    pub fn with(&self, labels: &HashMap<&str, &str>) -> K::Handle {
        match self.by_name(labels) {
            Ok(values) => K::handle(self.family.get_or_overflow(&values)),
            Err(e) => {
                tracing::warn!(error = %e, "recording into the family's overflow series");
                K::handle(self.family.overflow().clone())
            }
        }
    }

    fn by_name<'a>(&self, labels: &HashMap<&str, &'a str>) -> Result<Vec<&'a str>, MetricError> {
        let names = &self.family.desc.label_names;
        if labels.len() != names.len() {
            return Err(MetricError::LabelCount {
                metric: self.family.desc.name.to_string(),
                expected: names.len(),
                got: labels.len(),
            });
        }
        names
            .iter()
            .map(|name| {
                labels
                    .get(name.as_str())
                    .copied()
                    .ok_or_else(|| MetricError::UnknownLabel {
                        metric: self.family.desc.name.to_string(),
                        label: labels
                            .keys()
                            .find(|k| !names.iter().any(|n| n.as_str() == **k))
                            .map_or_else(|| name.to_string(), |k| (*k).to_owned()),
                    })
            })
            .collect()
    }

    /// Removes the series with these label values; a handle still held keeps
    /// working but is no longer exposed. Errors when there is no such series.
    pub fn remove_label_values(&self, values: &[&str]) -> Result<(), MetricError> {
        self.family.remove(values)
    }

    /// Removes the series of a typed label set.
    pub fn remove_labels(&self, values: &(impl LabelValues + ?Sized)) -> Result<(), MetricError> {
        self.family.remove(values)
    }

    /// Removes the series with these label values given by name.
    pub fn remove(&self, labels: &HashMap<&str, &str>) -> Result<(), MetricError> {
        let values = self.by_name(labels)?;
        self.family.remove(&values)
    }

    /// Removes every series (the overflow series, once made, stays).
    pub fn reset(&self) {
        self.family.clear()
    }

    /// How many series the family holds, the overflow series aside.
    pub fn len(&self) -> usize {
        self.family.len()
    }

    /// Whether the family holds no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Kind> super::registry::sealed::Sealed for MetricVec<K> {}
impl<K: Kind> super::Register for MetricVec<K> {
    fn collector(&self) -> Result<Arc<dyn super::registry::Collect>, MetricError> {
        Ok(self.family.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use super::super::{IntCounterVec, Opts};

    /// xorshift64: each thread's own sequence of choices.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    /// Series every thread increments and none removes.
    const SHARED: usize = 16;
    /// Series of each thread's own, added and removed by that thread only.
    const OWN: usize = 24;

    /// One thread's work: what it added to each shared series, and the count each
    /// of its own series must have now (`None`: removed or never made).
    fn work(vec: &IntCounterVec, t: usize) -> ([u64; SHARED], [Option<u64>; OWN]) {
        let shared_keys: Vec<String> = (0..SHARED).map(|k| format!("shared-{k}")).collect();
        let own_keys: Vec<String> = (0..OWN).map(|k| format!("own-{t}-{k}")).collect();
        let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((t as u64 + 1) << 32);
        let mut shared = [0u64; SHARED];
        let mut own = [None; OWN];
        for _ in 0..ROUNDS {
            let r = next(&mut rng);
            let (s, o) = ((r >> 8) as usize % SHARED, (r >> 8) as usize % OWN);
            let own_key = own_keys[o].as_str();
            match r % 8 {
                0..=2 => {
                    vec.with_label_values_do(&[shared_keys[s].as_str()], |c| c.inc());
                    shared[s] += 1;
                }
                3 => {
                    vec.with_label_values(&[shared_keys[s].as_str()]).inc();
                    shared[s] += 1;
                }
                4 | 5 => {
                    if r & 0x100_0000 == 0 {
                        vec.with_label_values(&[own_key]).inc();
                    } else {
                        vec.with_label_values_do(&[own_key], |c| c.inc());
                    }
                    own[o] = Some(own[o].unwrap_or(0) + 1);
                }
                6 => {
                    let removed = vec.remove_label_values(&[own_key]);
                    assert_eq!(removed.is_ok(), own[o].is_some(), "{own_key}");
                    own[o] = None;
                }
                _ => {
                    if let Some(expected) = own[o] {
                        assert_eq!(vec.with_label_values_do(&[own_key], |c| c.get()), expected);
                    }
                }
            }
        }
        (shared, own)
    }

    #[test]
    fn lookups_inserts_and_removals_race_without_losing_a_series_or_a_count() {
        let vec = IntCounterVec::new(Opts::new("race_total", "Races."), &["key"]).unwrap();
        let done = AtomicBool::new(false);
        let results = std::thread::scope(|s| {
            // A scraper: every set of series it takes holds each label set once.
            let scraper = s.spawn(|| {
                let mut scrapes = 0;
                while !done.load(Ordering::Relaxed) || scrapes == 0 {
                    let all = vec.family.all();
                    let mut seen = HashSet::new();
                    for series in &all {
                        let key: Vec<&str> = series.values.iter().collect();
                        assert!(
                            matches!(&key[..], [k] if k.starts_with("shared-") || k.starts_with("own-")),
                            "a series read as {key:?}"
                        );
                        assert!(seen.insert(key.concat()), "{key:?} listed twice");
                    }
                    scrapes += 1;
                }
                scrapes
            });
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let vec = &vec;
                    s.spawn(move || work(vec, t))
                })
                .collect();
            let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            done.store(true, Ordering::Relaxed);
            assert!(scraper.join().unwrap() > 0);
            results
        });
        for k in 0..SHARED {
            let expected: u64 = results.iter().map(|(shared, _)| shared[k]).sum();
            let key = format!("shared-{k}");
            assert_eq!(
                vec.with_label_values(&[key.as_str()]).get(),
                expected,
                "{key}"
            );
        }
        let mut own_present = 0;
        for (t, (_, own)) in results.iter().enumerate() {
            for (k, expected) in own.iter().enumerate() {
                let key = format!("own-{t}-{k}");
                match expected {
                    Some(n) => {
                        own_present += 1;
                        assert_eq!(vec.with_label_values(&[key.as_str()]).get(), *n, "{key}");
                    }
                    None => assert!(vec.remove_label_values(&[key.as_str()]).is_err(), "{key}"),
                }
            }
        }
        assert_eq!(vec.len(), SHARED + own_present);
        assert_eq!(vec.family.all().len(), SHARED + own_present);
    }

    #[test]
    fn a_lent_handle_can_be_kept_and_a_reset_starts_afresh_while_lookups_run() {
        let vec = IntCounterVec::new(Opts::new("lent_total", "Lent."), &["key"]).unwrap();
        let kept = vec.with_label_values_do(&["a"], |c| c.clone());
        kept.inc();
        assert_eq!(vec.with_label_values_do(&["a"], |c| c.get()), 1);
        // Nested lookups, in this family and while another is removed.
        vec.with_label_values_do(&["a"], |a| {
            vec.with_label_values_do(&["b"], |b| b.inc_by(2));
            vec.remove_label_values(&["b"]).unwrap();
            a.inc();
        });
        assert_eq!((kept.get(), vec.len()), (2, 1));
        let stop = AtomicBool::new(false);
        let looked = AtomicU64::new(0);
        std::thread::scope(|s| {
            let looker = s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    vec.with_label_values_do(&["c"], |c| c.inc());
                    looked.fetch_add(1, Ordering::Relaxed);
                }
            });
            // The resets start once lookups run (a loaded machine may start the
            // thread late); bounded, so a thread that never runs fails below.
            let started = std::time::Instant::now();
            while looked.load(Ordering::Relaxed) == 0
                && started.elapsed() < std::time::Duration::from_secs(10)
            {
                std::thread::yield_now();
            }
            for _ in 0..200 {
                vec.reset();
                std::thread::yield_now();
            }
            stop.store(true, Ordering::Relaxed);
            looker.join().unwrap();
        });
        assert!(looked.load(Ordering::Relaxed) > 0, "no lookup ran");
        // The held handle of a series reset away keeps counting, unexported.
        kept.inc();
        assert_eq!(kept.get(), 3);
        assert!(vec.len() <= 1);
        vec.reset();
        assert_eq!(vec.with_label_values_do(&["a"], |c| c.get()), 0);
    }
}
