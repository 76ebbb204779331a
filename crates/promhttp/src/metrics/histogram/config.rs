//! What a histogram is configured with: classic bucket bounds ([`Buckets`]), native
//! bucket settings ([`NativeBuckets`]) and why a setting is refused
//! ([`HistogramConfigError`]).

use std::error::Error;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use super::index::{MAX_SCHEMA, MIN_SCHEMA};

/// The bounds of Prometheus' default buckets, for request latencies in seconds.
const DEFAULT_BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The upper bounds of a classic histogram's buckets, strictly increasing.
///
/// Each bucket counts the observations less than or equal to its bound (`le`); the
/// `+Inf` bucket is implicit (it is the histogram's count), so it is never part of
/// the bounds. The bounds are shared: cloning a `Buckets` (or creating many series
/// from it) copies a pointer, not the list.
///
/// [`Buckets::default()`] gives Prometheus' default buckets, 0.005 to 10 (seconds of
/// latency): `0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10`.
///
/// ```
/// use promhttp::metrics::{Buckets, HistogramConfigError};
///
/// let b = Buckets::new([0.1, 0.5, 1.0, f64::INFINITY])?;
/// assert_eq!(b.bounds(), [0.1, 0.5, 1.0]); // +Inf is implicit
/// assert_eq!(Buckets::linear(1.0, 2.0, 3)?.bounds(), [1.0, 3.0, 5.0]);
/// assert_eq!(Buckets::exponential(1.0, 10.0, 3)?.bounds(), [1.0, 10.0, 100.0]);
/// assert_eq!(
///     Buckets::new([1.0, 1.0]),
///     Err(HistogramConfigError::BoundsNotIncreasing { index: 1, bound: 1.0 })
/// );
/// # Ok::<(), HistogramConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Buckets {
    bounds: Arc<[f64]>,
}

impl Buckets {
    /// Buckets with these upper bounds.
    ///
    /// The bounds must be strictly increasing and not NaN; `-Inf` is allowed as the
    /// first bound (a bucket for `-Inf` observations). A trailing `+Inf` is accepted
    /// and dropped, as that bucket is always there. No bounds at all (or only
    /// `+Inf`) is valid: the histogram then has only its `+Inf` bucket, count and
    /// sum.
    ///
    /// # Errors
    ///
    /// [`HistogramConfigError::NanBound`] for a NaN bound,
    /// [`HistogramConfigError::BoundsNotIncreasing`] for a bound not above the one
    /// before it (a `+Inf` that is not the last bound is one).
    pub fn new(bounds: impl Into<Vec<f64>>) -> Result<Self, HistogramConfigError> {
        let mut bounds = bounds.into();
        if let Some(index) = bounds.iter().position(|b| b.is_nan()) {
            return Err(HistogramConfigError::NanBound { index });
        }
        if let Some(index) = (1..bounds.len()).find(|&i| bounds[i] <= bounds[i - 1]) {
            return Err(HistogramConfigError::BoundsNotIncreasing {
                index,
                bound: bounds[index],
            });
        }
        if bounds.last() == Some(&f64::INFINITY) {
            bounds.pop();
        }
        Ok(Buckets {
            bounds: bounds.into(),
        })
    }

    /// `count` buckets, the first bound at `start`, each `width` above the previous.
    ///
    /// # Errors
    ///
    /// [`HistogramConfigError::ZeroCount`] when `count` is 0,
    /// [`HistogramConfigError::InvalidLinearWidth`] when `width` is not a finite
    /// number above 0, [`HistogramConfigError::NonFiniteStart`] when `start` is
    /// not finite, and the errors of [`Buckets::new`] when the bounds overflow to
    /// infinity or stop increasing because of rounding.
    pub fn linear(start: f64, width: f64, count: usize) -> Result<Self, HistogramConfigError> {
        if count == 0 {
            return Err(HistogramConfigError::ZeroCount);
        }
        if !start.is_finite() {
            return Err(HistogramConfigError::NonFiniteStart { start });
        }
        if !(width.is_finite() && width > 0.0) {
            return Err(HistogramConfigError::InvalidLinearWidth { width });
        }
        Buckets::generated((0..count).map(|i| start + width * i as f64))
    }

    /// `count` buckets, the first bound at `start`, each `factor` times the previous.
    ///
    /// # Errors
    ///
    /// [`HistogramConfigError::ZeroCount`] when `count` is 0,
    /// [`HistogramConfigError::InvalidExponentialStart`] when `start` is not a
    /// finite number above 0, [`HistogramConfigError::InvalidExponentialFactor`]
    /// when `factor` is not a finite number above 1, and the errors of
    /// [`Buckets::new`] when the bounds overflow to infinity.
    pub fn exponential(
        start: f64,
        factor: f64,
        count: usize,
    ) -> Result<Self, HistogramConfigError> {
        if count == 0 {
            return Err(HistogramConfigError::ZeroCount);
        }
        if !(start.is_finite() && start > 0.0) {
            return Err(HistogramConfigError::InvalidExponentialStart { start });
        }
        if !(factor.is_finite() && factor > 1.0) {
            return Err(HistogramConfigError::InvalidExponentialFactor { factor });
        }
        Buckets::generated((0..count).scan(start, |next, _| {
            let bound = *next;
            *next *= factor;
            Some(bound)
        }))
    }

    /// Generated bounds: an infinite one (overflow) is an error, not the implicit
    /// `+Inf` bucket.
    fn generated(bounds: impl Iterator<Item = f64>) -> Result<Self, HistogramConfigError> {
        let bounds: Vec<f64> = bounds.collect();
        if let Some(index) = bounds.iter().position(|b| b.is_infinite()) {
            return Err(HistogramConfigError::BoundsNotIncreasing {
                index,
                bound: bounds[index],
            });
        }
        Buckets::new(bounds)
    }

    /// The upper bounds, without the implicit `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// The shared bounds.
    pub(crate) fn shared(&self) -> Arc<[f64]> {
        Arc::clone(&self.bounds)
    }
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            bounds: DEFAULT_BOUNDS.as_slice().into(),
        }
    }
}

/// The zero threshold Go's client uses by default: 2^-128.
const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// How a native (exponential-bucket) histogram records, with Go's settings.
///
/// The defaults ([`NativeBuckets::default()`]):
///
/// | setting | default | why |
/// |---|---|---|
/// | bucket factor | 1.1, schema 3 (8 buckets per power of two, each ≤ 9.05 % wider than the one before) | Go's recommended trade-off between cost and accuracy |
/// | zero threshold | 2^-128 | Go's `DefNativeHistogramZeroThreshold` |
/// | max buckets | 160 (both signs together) | OpenTelemetry's default: memory stays bounded; at schema 3 it covers 20 powers of two (e.g. 1 µs to 1 s) before the resolution drops |
/// | min reset duration | none (never reset) | a reset loses the counts and looks like a counter reset to Prometheus |
/// | max zero threshold | 0 (never widen) | as Go: widening is opt-in |
/// | max exemplars | 10 | Go's default |
///
/// When an observation would need more buckets than the maximum, the histogram
/// limits itself in Go's order: it is reset if the last reset (or its creation) is
/// at least the minimum reset duration ago; otherwise the zero bucket is widened to
/// take in the bucket closest to zero, if that stays within the maximum zero
/// threshold; otherwise the resolution is halved (the schema drops by one, merging
/// pairs of buckets), down to schema -4. The limit is best effort: observations
/// recorded concurrently may pass it briefly, and at schema -4 nothing is left to
/// reduce. Unlike Go, which schedules a timer to restore the resolution once the
/// minimum reset duration has passed, a reduced histogram is reset the next time
/// it hits the bucket limit after that duration.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use promhttp::metrics::{HistogramConfigError, NativeBuckets};
///
/// let native = NativeBuckets::new(1.05)? // schema 4
///     .with_max_buckets(NonZeroU32::new(100))
///     .with_min_reset_duration(Some(Duration::from_secs(3600)))
///     .with_zero_threshold(1e-6)?
///     .with_max_zero_threshold(1e-3)?;
/// assert_eq!(native.schema(), 4);
/// assert_eq!(NativeBuckets::default().schema(), 3);
/// assert_eq!(
///     NativeBuckets::new(1.0),
///     Err(HistogramConfigError::InvalidBucketFactor { factor: 1.0 })
/// );
/// # Ok::<(), HistogramConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NativeBuckets {
    schema: i32,
    zero_threshold: f64,
    max_buckets: Option<NonZeroU32>,
    min_reset_duration: Option<Duration>,
    max_zero_threshold: f64,
    max_exemplars: usize,
}

impl NativeBuckets {
    /// Native buckets growing by at most `bucket_factor` from one to the next.
    ///
    /// The schema is Go's pick: the largest in -4..=8 whose growth factor
    /// `2^(2^-schema)` is at most `bucket_factor`. A factor between 1 and
    /// schema 8's (about 1.0027) gives schema 8; a factor of 65536 or more gives
    /// schema -4. The other settings start at their defaults.
    ///
    /// # Errors
    ///
    /// [`HistogramConfigError::InvalidBucketFactor`] when `bucket_factor` is not
    /// above 1 (or is NaN).
    pub fn new(bucket_factor: f64) -> Result<Self, HistogramConfigError> {
        if bucket_factor.is_nan() || bucket_factor <= 1.0 {
            return Err(HistogramConfigError::InvalidBucketFactor {
                factor: bucket_factor,
            });
        }
        let floor = bucket_factor.log2().log2().floor();
        let schema = if floor <= -f64::from(MAX_SCHEMA) {
            MAX_SCHEMA
        } else if floor >= -f64::from(MIN_SCHEMA) {
            MIN_SCHEMA
        } else {
            -(floor as i32)
        };
        Ok(NativeBuckets {
            schema,
            zero_threshold: DEFAULT_ZERO_THRESHOLD,
            max_buckets: NonZeroU32::new(160),
            min_reset_duration: None,
            max_zero_threshold: 0.0,
            max_exemplars: 10,
        })
    }

    /// Observations whose absolute value is at most `threshold` are counted in the
    /// zero bucket. 0 is allowed: only exact zeros go there. Default 2^-128.
    ///
    /// # Errors
    ///
    /// [`HistogramConfigError::InvalidZeroThreshold`] when `threshold` is negative,
    /// infinite or NaN.
    pub fn with_zero_threshold(mut self, threshold: f64) -> Result<Self, HistogramConfigError> {
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(HistogramConfigError::InvalidZeroThreshold { threshold });
        }
        self.zero_threshold = threshold;
        Ok(self)
    }

    /// The most populated buckets, positive and negative together (as Go counts
    /// them), before the histogram limits itself (see the type's documentation).
    /// `None` removes the limit: memory then grows with the spread of the observed
    /// values, which an outside party may control. Default 160.
    ///
    /// Memory: a native series keeps its buckets in two tables of 16-byte slots,
    /// allocated at its first native observation, each with room for 4/3 of the
    /// limit rounded up to a power of two (256 slots, 8 KiB for both, with the
    /// default; 256 slots each without a limit, and a slower overflow list past
    /// 192 buckets).
    pub fn with_max_buckets(mut self, max: Option<NonZeroU32>) -> Self {
        self.max_buckets = max;
        self
    }

    /// When the bucket limit is hit and the last reset (or the creation) is at
    /// least `duration` ago, the histogram is reset instead of losing resolution.
    /// `None` (the default) never resets.
    pub fn with_min_reset_duration(mut self, duration: Option<Duration>) -> Self {
        self.min_reset_duration = duration;
        self
    }

    /// How far the zero bucket may be widened to stay within the bucket limit. At
    /// or below the zero threshold (the default is 0), it is never widened.
    ///
    /// # Errors
    ///
    /// [`HistogramConfigError::InvalidZeroThreshold`] when `threshold` is negative,
    /// infinite or NaN.
    pub fn with_max_zero_threshold(mut self, threshold: f64) -> Result<Self, HistogramConfigError> {
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(HistogramConfigError::InvalidZeroThreshold { threshold });
        }
        self.max_zero_threshold = threshold;
        Ok(self)
    }

    /// How many exemplars the native histogram keeps (each timestamped); a new one
    /// replaces the oldest once there are `max`. 0 keeps none (the classic buckets
    /// of a dual histogram still keep theirs). Default 10, as Go.
    ///
    /// Go also has an exemplar TTL, which decides between replacing the oldest
    /// exemplar and one whose value is close to another's; always replacing the
    /// oldest needs no TTL.
    pub fn with_max_exemplars(mut self, max: usize) -> Self {
        self.max_exemplars = max;
        self
    }

    /// The schema picked from the bucket factor, -4 (coarsest) to 8 (finest).
    pub fn schema(&self) -> i32 {
        self.schema
    }

    /// The zero threshold.
    pub fn zero_threshold(&self) -> f64 {
        self.zero_threshold
    }

    /// The bucket limit, `None` when unlimited.
    pub fn max_buckets(&self) -> Option<NonZeroU32> {
        self.max_buckets
    }

    /// The minimum time between two resets, `None` when it never resets.
    pub fn min_reset_duration(&self) -> Option<Duration> {
        self.min_reset_duration
    }

    /// The widest the zero bucket may become.
    pub fn max_zero_threshold(&self) -> f64 {
        self.max_zero_threshold
    }

    /// How many exemplars the native histogram keeps.
    pub fn max_exemplars(&self) -> usize {
        self.max_exemplars
    }
}

impl Default for NativeBuckets {
    fn default() -> Self {
        NativeBuckets {
            schema: 3,
            zero_threshold: DEFAULT_ZERO_THRESHOLD,
            max_buckets: NonZeroU32::new(160),
            min_reset_duration: None,
            max_zero_threshold: 0.0,
            max_exemplars: 10,
        }
    }
}

/// Why a histogram setting is refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum HistogramConfigError {
    /// A bucket bound is NaN.
    NanBound {
        /// Its position in the list.
        index: usize,
    },
    /// A bucket bound is not above the one before it (or a generated bound
    /// overflowed to infinity).
    BoundsNotIncreasing {
        /// Its position in the list.
        index: usize,
        /// The offending bound.
        bound: f64,
    },
    /// Generated buckets were asked for with a count of 0.
    ZeroCount,
    /// The start of linear buckets is not finite.
    NonFiniteStart {
        /// The offending start.
        start: f64,
    },
    /// The width of linear buckets is not a finite number above 0.
    InvalidLinearWidth {
        /// The offending width.
        width: f64,
    },
    /// The start of exponential buckets is not a finite number above 0.
    InvalidExponentialStart {
        /// The offending start.
        start: f64,
    },
    /// The factor of exponential buckets is not a finite number above 1.
    InvalidExponentialFactor {
        /// The offending factor.
        factor: f64,
    },
    /// The native bucket factor is not above 1.
    InvalidBucketFactor {
        /// The offending factor.
        factor: f64,
    },
    /// A zero threshold is negative, infinite or NaN.
    InvalidZeroThreshold {
        /// The offending threshold.
        threshold: f64,
    },
}

impl fmt::Display for HistogramConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistogramConfigError::NanBound { index } => {
                write!(f, "bucket bound {index} is NaN")
            }
            HistogramConfigError::BoundsNotIncreasing { index, bound } => write!(
                f,
                "bucket bound {index} ({bound}) is not above the bound before it"
            ),
            HistogramConfigError::ZeroCount => f.write_str("bucket count is 0"),
            HistogramConfigError::NonFiniteStart { start } => {
                write!(f, "linear bucket start {start} is not finite")
            }
            HistogramConfigError::InvalidLinearWidth { width } => {
                write!(
                    f,
                    "linear bucket width {width} is not a finite number above 0"
                )
            }
            HistogramConfigError::InvalidExponentialStart { start } => write!(
                f,
                "exponential bucket start {start} is not a finite number above 0"
            ),
            HistogramConfigError::InvalidExponentialFactor { factor } => write!(
                f,
                "exponential bucket factor {factor} is not a finite number above 1"
            ),
            HistogramConfigError::InvalidBucketFactor { factor } => {
                write!(f, "native bucket factor {factor} is not above 1")
            }
            HistogramConfigError::InvalidZeroThreshold { threshold } => write!(
                f,
                "zero threshold {threshold} is not a finite number of at least 0"
            ),
        }
    }
}

impl Error for HistogramConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_buckets_are_prometheus_defaults() {
        let b = Buckets::default();
        assert_eq!(b.bounds().len(), 11);
        assert_eq!(b.bounds()[0], 0.005);
        assert_eq!(b.bounds()[10], 10.0);
        assert_eq!(Buckets::new(DEFAULT_BOUNDS.to_vec()), Ok(b));
    }

    #[test]
    fn bounds_are_checked() {
        assert_eq!(Buckets::new(Vec::new()).map(|b| b.bounds().len()), Ok(0));
        assert_eq!(
            Buckets::new([f64::INFINITY]).map(|b| b.bounds().len()),
            Ok(0)
        );
        assert!(Buckets::new([f64::NEG_INFINITY, 0.0]).is_ok());
        assert_eq!(
            Buckets::new([1.0, f64::NAN]),
            Err(HistogramConfigError::NanBound { index: 1 })
        );
        assert_eq!(
            Buckets::new([1.0, f64::INFINITY, 2.0]),
            Err(HistogramConfigError::BoundsNotIncreasing {
                index: 2,
                bound: 2.0
            })
        );
        assert_eq!(
            Buckets::new([2.0, 1.0]).unwrap_err().to_string(),
            "bucket bound 1 (1) is not above the bound before it"
        );
    }

    #[test]
    fn generated_buckets() {
        assert_eq!(
            Buckets::linear(-1.0, 0.5, 4).unwrap().bounds(),
            [-1.0, -0.5, 0.0, 0.5]
        );
        assert_eq!(
            Buckets::exponential(0.5, 2.0, 3).unwrap().bounds(),
            [0.5, 1.0, 2.0]
        );
        assert_eq!(
            Buckets::linear(0.0, 1.0, 0),
            Err(HistogramConfigError::ZeroCount)
        );
        assert_eq!(
            Buckets::linear(0.0, 0.0, 2),
            Err(HistogramConfigError::InvalidLinearWidth { width: 0.0 })
        );
        assert_eq!(
            Buckets::linear(f64::NAN, 1.0, 2).unwrap_err().to_string(),
            "linear bucket start NaN is not finite"
        );
        // Rounding: adding 1 to 1e17 changes nothing.
        assert!(matches!(
            Buckets::linear(1e17, 1.0, 2),
            Err(HistogramConfigError::BoundsNotIncreasing { index: 1, .. })
        ));
        assert_eq!(
            Buckets::exponential(0.0, 2.0, 2),
            Err(HistogramConfigError::InvalidExponentialStart { start: 0.0 })
        );
        assert_eq!(
            Buckets::exponential(1.0, 1.0, 2),
            Err(HistogramConfigError::InvalidExponentialFactor { factor: 1.0 })
        );
        assert_eq!(
            Buckets::exponential(1e300, 1e10, 3),
            Err(HistogramConfigError::BoundsNotIncreasing {
                index: 1,
                bound: f64::INFINITY
            })
        );
    }

    #[test]
    fn bucket_factor_picks_go_schema() {
        let schema = |f: f64| NativeBuckets::new(f).unwrap().schema();
        assert_eq!(schema(1.1), 3);
        assert_eq!(schema(2.0), 0);
        assert_eq!(schema(1.999), 1);
        assert_eq!(schema(4.0), -1);
        assert_eq!(schema(65536.0), -4);
        assert_eq!(schema(1e300), -4);
        assert_eq!(schema(f64::INFINITY), -4);
        assert_eq!(schema(1.0001), 8);
        assert_eq!(schema(1.5), 1);
        for bad in [1.0, 0.5, -2.0, f64::NAN] {
            assert!(matches!(
                NativeBuckets::new(bad),
                Err(HistogramConfigError::InvalidBucketFactor { .. })
            ));
        }
        assert_eq!(
            NativeBuckets::new(1.0).unwrap_err().to_string(),
            "native bucket factor 1 is not above 1"
        );
        assert_eq!(NativeBuckets::new(1.1), Ok(NativeBuckets::default()));
    }

    #[test]
    fn zero_thresholds_are_checked() {
        let n = NativeBuckets::default();
        assert_eq!(n.zero_threshold(), 2f64.powi(-128));
        assert_eq!(
            n.clone().with_zero_threshold(0.0).unwrap().zero_threshold(),
            0.0
        );
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                n.clone().with_zero_threshold(bad),
                Err(HistogramConfigError::InvalidZeroThreshold { .. })
            ));
            assert!(matches!(
                n.clone().with_max_zero_threshold(bad),
                Err(HistogramConfigError::InvalidZeroThreshold { .. })
            ));
        }
        assert_eq!(
            n.with_zero_threshold(-1.0).unwrap_err().to_string(),
            "zero threshold -1 is not a finite number of at least 0"
        );
    }
}
