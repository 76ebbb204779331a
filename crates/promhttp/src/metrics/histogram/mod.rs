//! Histograms: the public configuration ([`Buckets`], [`NativeBuckets`]) and the
//! recording core of one series ([`HistogramCore`]), classic and native, recorded
//! without a lock.

// The metric families that use the core come in a later step.
#![cfg_attr(not(test), allow(dead_code))]

mod config;
mod core;
mod exemplars;
mod half;
mod index;
mod limit;
mod table;
#[cfg(test)]
mod tests;

pub use config::{Buckets, HistogramConfigError, NativeBuckets};
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use core::HistogramCore;
