//! Histograms: the public configuration ([`Buckets`], [`NativeBuckets`]) and the
//! recording core of one series ([`HistogramCore`]), classic and native, recorded
//! without a lock.

// The metric families that use the core come in a later step.
#![allow(dead_code)]

mod config;
mod core;
mod exemplars;
mod half;
mod index;
mod limit;
mod table;

pub use config::{Buckets, HistogramConfigError, NativeBuckets};
#[allow(unused_imports)]
pub(crate) use core::HistogramCore;
