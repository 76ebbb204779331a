//! Histograms: the public configuration ([`Buckets`], [`NativeBuckets`]) and the
//! native bucket index.

// The metric families that use the histograms come in a later step.
#![allow(dead_code)]

mod config;
mod index;

pub use config::{Buckets, HistogramConfigError, NativeBuckets};
