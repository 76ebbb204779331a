//! Histograms: the public configuration ([`Buckets`], [`NativeBuckets`]) and the
//! recording core of one series (`HistogramCore`), classic and native, recorded
//! without a lock, and the metrics built on it ([`Histogram`], [`HistogramVec`]).

mod config;
mod core;
mod exemplars;
mod half;
mod index;
mod limit;
mod metric;
mod table;
#[cfg(test)]
mod tests;

/// One series' storage, for the metrics-rs recorder's native histograms.
#[cfg(feature = "metrics-rs")]
pub(crate) use self::core::HistogramCore;
pub use config::{Buckets, HistogramConfigError, NativeBuckets};
pub use metric::{Histogram, HistogramOpts, HistogramTimer, HistogramVec};
