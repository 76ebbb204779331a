//! [`Histogram`] and [`HistogramVec`]: classic, native or dual histograms, alone or
//! in a family, described by [`HistogramOpts`].

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{Buckets, NativeBuckets};
use super::core::HistogramCore;
use crate::encode::blocks::BlockSlice;
use crate::encode::lines::LineTemplate;
use crate::metrics::family::{single, Family, Kind, Series};
use crate::metrics::labels::exemplar_labels;
use crate::metrics::opts::{Desc, Opts};
use crate::metrics::registry::{sealed, Collect, Register};
use crate::metrics::vec::MetricVec;
use crate::metrics::MetricError;
use crate::model::{Exemplar, MetricType, Value};

/// What describes a histogram: the common [`Opts`], its classic buckets and its
/// native buckets.
///
/// The same shape as the `prometheus` crate's `HistogramOpts`:
/// `HistogramOpts::new(name, help).buckets(vec![...])`. By default a histogram is
/// classic, with [Prometheus' default buckets](Buckets::default); [`native`](Self::native)
/// adds native buckets beside them (a *dual* histogram: old scrapers and the text
/// formats get the classic buckets, a Prometheus that scrapes native histograms
/// gets both), [`native_only`](Self::native_only) keeps only the native ones.
///
/// ```
/// use promhttp::metrics::{Histogram, HistogramOpts, NativeBuckets};
///
/// let latency = Histogram::with_opts(
///     HistogramOpts::new("request_duration_seconds", "Request latency.")
///         .unit("seconds")
///         .native(NativeBuckets::default()),
/// )
/// .unwrap();
/// latency.observe(0.25);
/// assert_eq!(latency.get_sample_count(), 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramOpts {
    /// Name, help, unit, labels and series limit.
    pub common_opts: Opts,
    /// The classic bucket bounds (checked by [`Buckets::new`] when the histogram is
    /// made); `None` for a native-only histogram. Default: Prometheus' default
    /// buckets.
    pub buckets: Option<Vec<f64>>,
    /// The native bucket settings; `None` (the default) for a classic histogram.
    pub native: Option<NativeBuckets>,
}

impl HistogramOpts {
    /// A classic histogram with the default buckets.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Self {
        HistogramOpts {
            common_opts: Opts::new(name, help),
            buckets: Some(Buckets::default().bounds().to_vec()),
            native: None,
        }
    }

    /// Sets the classic bucket bounds (a trailing `+Inf` may be given or not).
    pub fn buckets(mut self, bounds: impl Into<Vec<f64>>) -> Self {
        self.buckets = Some(bounds.into());
        self
    }

    /// Adds native buckets beside the classic ones.
    pub fn native(mut self, native: NativeBuckets) -> Self {
        self.native = Some(native);
        self
    }

    /// Native buckets only: no classic bucket, so the text formats show only the
    /// `+Inf` bucket, `_sum` and `_count` (see [`HistogramValue`](crate::model::HistogramValue)).
    pub fn native_only(mut self, native: NativeBuckets) -> Self {
        self.buckets = None;
        self.native = Some(native);
        self
    }

    /// Sets the namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.common_opts = self.common_opts.namespace(namespace);
        self
    }

    /// Sets the subsystem.
    pub fn subsystem(mut self, subsystem: impl Into<String>) -> Self {
        self.common_opts = self.common_opts.subsystem(subsystem);
        self
    }

    /// Sets the unit.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.common_opts = self.common_opts.unit(unit);
        self
    }

    /// Adds a constant label.
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.common_opts = self.common_opts.const_label(name, value);
        self
    }

    /// Limits the family's series (see [`Opts::max_series`]).
    pub fn max_series(mut self, limit: impl Into<Option<NonZeroUsize>>) -> Self {
        self.common_opts = self.common_opts.max_series(limit);
        self
    }

    fn into_parts(self, label_names: &[&str]) -> Result<(Desc, HistogramConfig), MetricError> {
        let desc = Desc::new(self.common_opts, label_names, &["le"])?;
        let classic = self.buckets.map(Buckets::new).transpose()?;
        Ok((
            desc,
            HistogramConfig {
                classic,
                native: self.native,
            },
        ))
    }
}

impl From<Opts> for HistogramOpts {
    fn from(opts: Opts) -> Self {
        HistogramOpts {
            common_opts: opts,
            ..HistogramOpts::new("", "")
        }
    }
}

/// What every series of a histogram family is made with.
pub struct HistogramConfig {
    classic: Option<Buckets>,
    native: Option<NativeBuckets>,
}

/// The histogram kind of a family (unnameable outside the crate).
pub struct HistogramKind;

impl Kind for HistogramKind {
    type Core = HistogramCore;
    type Config = HistogramConfig;
    type Handle = Histogram;
    const TYPE: MetricType = MetricType::Histogram;

    fn handle(series: Arc<Series<HistogramCore>>) -> Histogram {
        Histogram {
            series,
            family: None,
        }
    }

    fn core(config: &HistogramConfig) -> HistogramCore {
        HistogramCore::new(config.classic.as_ref(), config.native.as_ref())
    }

    fn fill(config: &HistogramConfig, core: &HistogramCore, value: &mut Value) {
        // The common case, classic buckets without exemplars: counts written into
        // the buckets the value already has, nothing allocated.
        if let Value::Histogram(h) = value {
            let bounds = core.bounds();
            if config.native.is_none() && !core.has_exemplars() && h.buckets.len() == bounds.len() {
                let mut counts = [0u64; 32];
                if let Some(counts) = counts.get_mut(..bounds.len()) {
                    let (count, sum) = core.collect_classic(counts);
                    for (bucket, c) in h.buckets.iter_mut().zip(counts.iter()) {
                        bucket.cumulative_count = *c;
                        bucket.exemplar = None;
                    }
                    h.count = count;
                    h.sum = sum;
                    return;
                }
            }
        }
        *value = Value::Histogram(core.collect());
    }

    /// A classic-only histogram writes its lines from the counts it collects
    /// (under its collection lock, which writers never take), with no value in
    /// between; text 0.0.4 has no place for exemplars, so they do not matter.
    #[inline]
    fn write_text(
        _: &HistogramConfig,
        core: &HistogramCore,
        lines: &LineTemplate,
        labels: BlockSlice<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        core.read_totals(|buckets, count, sum| {
            lines.write_classic(out, labels, buckets, count, sum)
        })
        .unwrap_or(false)
    }

    fn value(core: &HistogramCore) -> Value {
        Value::Histogram(core.collect())
    }
}

/// A histogram: observations counted in buckets, with their count and sum.
///
/// Cloning gives another handle to the same histogram. Observing takes no lock
/// (see the [module notes on native buckets](NativeBuckets) for the one slow path
/// past the bucket limit) and allocates nothing; a scrape reads the buckets,
/// `+Inf`, count and sum from one moment, however many threads are observing.
///
/// ```
/// use promhttp::metrics::Histogram;
///
/// let latency = Histogram::new("job_duration_seconds", "Job latency.").unwrap();
/// latency.observe(0.3);
/// let timer = latency.start_timer(); // observes the elapsed seconds when dropped
/// timer.observe_duration();
/// assert_eq!(latency.get_sample_count(), 2);
/// ```
pub struct Histogram {
    series: Arc<Series<HistogramCore>>,
    family: Option<Arc<Family<HistogramKind>>>,
}

/// A family of [`Histogram`]s keyed by label values.
pub type HistogramVec = MetricVec<HistogramKind>;

impl Clone for Histogram {
    fn clone(&self) -> Self {
        Histogram {
            series: self.series.clone(),
            family: self.family.clone(),
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").finish_non_exhaustive()
    }
}

impl Histogram {
    /// A classic histogram with the default buckets.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Result<Self, MetricError> {
        Self::with_opts(HistogramOpts::new(name, help))
    }

    /// A histogram described by `opts` (no variable labels: use a
    /// [`HistogramVec`] for labels). Errors on an invalid name or label, a `le`
    /// label, or invalid buckets.
    pub fn with_opts(opts: impl Into<HistogramOpts>) -> Result<Self, MetricError> {
        let (desc, config) = opts.into().into_parts(&[])?;
        let family = Arc::new(Family::new(desc, config));
        Ok(Histogram {
            series: single(&family),
            family: Some(family),
        })
    }

    /// Records an observation. NaN counts in the count and the `+Inf` bucket and
    /// makes the sum NaN, as in Go's client.
    #[inline]
    pub fn observe(&self, v: f64) {
        self.series.core.observe(v);
    }

    /// Records an observation with an exemplar (its labels, timestamped now):
    /// it is kept on the classic bucket the value fell into and, for native
    /// buckets, among the histogram's recent exemplars.
    pub fn observe_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) {
        let labels = exemplar_labels(labels);
        self.series
            .core
            .observe_with_exemplar(v, Exemplar::new(labels, v));
    }

    /// Records a duration in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// A timer that observes the seconds elapsed from now when it is stopped or
    /// dropped.
    pub fn start_timer(&self) -> HistogramTimer {
        HistogramTimer {
            histogram: Some(self.clone()),
            start: Instant::now(),
        }
    }

    /// Observations so far.
    pub fn get_sample_count(&self) -> u64 {
        self.series.core.collect().count
    }

    /// Sum of the observations so far.
    pub fn get_sample_sum(&self) -> f64 {
        self.series.core.collect().sum
    }
}

/// Observes the seconds since it was started into its histogram, once: when
/// [`observe_duration`](Self::observe_duration) or
/// [`stop_and_record`](Self::stop_and_record) is called, or when dropped;
/// [`stop_and_discard`](Self::stop_and_discard) observes nothing.
#[must_use = "a timer observes when it is dropped: dropped at once, it observes nothing useful"]
#[derive(Debug)]
pub struct HistogramTimer {
    histogram: Option<Histogram>,
    start: Instant,
}

impl HistogramTimer {
    /// Observes the elapsed time.
    pub fn observe_duration(self) {
        self.stop_and_record();
    }

    /// Observes the elapsed time and returns it in seconds.
    pub fn stop_and_record(mut self) -> f64 {
        self.record().unwrap_or(0.0)
    }

    /// Stops without observing; returns the elapsed seconds.
    pub fn stop_and_discard(mut self) -> f64 {
        self.histogram = None;
        self.start.elapsed().as_secs_f64()
    }

    fn record(&mut self) -> Option<f64> {
        let histogram = self.histogram.take()?;
        let secs = self.start.elapsed().as_secs_f64();
        histogram.observe(secs);
        Some(secs)
    }
}

impl Drop for HistogramTimer {
    fn drop(&mut self) {
        self.record();
    }
}

impl MetricVec<HistogramKind> {
    /// A histogram family described by `opts` with these label names; errors on an
    /// invalid or repeated name, a `le` label, or invalid buckets.
    pub fn new(opts: impl Into<HistogramOpts>, label_names: &[&str]) -> Result<Self, MetricError> {
        let (desc, config) = opts.into().into_parts(label_names)?;
        Ok(MetricVec::from_family(Family::new(desc, config)))
    }
}

impl sealed::Sealed for Histogram {}
impl Register for Histogram {
    fn collector(&self) -> Result<Arc<dyn Collect>, MetricError> {
        crate::metrics::family::collector(self.family.as_ref())
    }
}
