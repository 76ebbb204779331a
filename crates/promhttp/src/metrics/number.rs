//! The numbers a counter or gauge holds: `u64`/`i64` in integer atomics, `f64` in
//! the bits of an `AtomicU64` (added with a compare-and-swap loop).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

mod sealed {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
}

/// A number a metric can hold: `u64` ([`IntCounter`](super::IntCounter)), `i64`
/// ([`IntGauge`](super::IntGauge)) or `f64` ([`Counter`](super::Counter),
/// [`Gauge`](super::Gauge)). Sealed.
pub trait Number: sealed::Sealed + Copy + PartialOrd + Send + Sync + 'static {
    /// The atomic that holds it.
    #[doc(hidden)]
    type Atomic: Send + Sync + 'static;
    #[doc(hidden)]
    const ZERO: Self;
    #[doc(hidden)]
    const ONE: Self;
    #[doc(hidden)]
    fn atomic(v: Self) -> Self::Atomic;
    #[doc(hidden)]
    fn load(a: &Self::Atomic) -> Self;
    #[doc(hidden)]
    fn store(a: &Self::Atomic, v: Self);
    #[doc(hidden)]
    fn add(a: &Self::Atomic, v: Self);
    #[doc(hidden)]
    fn sub(a: &Self::Atomic, v: Self);
    #[doc(hidden)]
    fn to_f64(v: Self) -> f64;
    /// Whether a counter may be increased by this (not negative, not NaN).
    #[doc(hidden)]
    fn is_increase(v: Self) -> bool;
}

impl Number for u64 {
    type Atomic = AtomicU64;
    const ZERO: u64 = 0;
    const ONE: u64 = 1;
    fn atomic(v: u64) -> AtomicU64 {
        AtomicU64::new(v)
    }
    #[inline]
    fn load(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
    #[inline]
    fn store(a: &AtomicU64, v: u64) {
        a.store(v, Ordering::Relaxed)
    }
    #[inline]
    fn add(a: &AtomicU64, v: u64) {
        a.fetch_add(v, Ordering::Relaxed);
    }
    #[inline]
    fn sub(a: &AtomicU64, v: u64) {
        a.fetch_sub(v, Ordering::Relaxed);
    }
    fn to_f64(v: u64) -> f64 {
        v as f64
    }
    fn is_increase(_: u64) -> bool {
        true
    }
}

impl Number for i64 {
    type Atomic = AtomicI64;
    const ZERO: i64 = 0;
    const ONE: i64 = 1;
    fn atomic(v: i64) -> AtomicI64 {
        AtomicI64::new(v)
    }
    #[inline]
    fn load(a: &AtomicI64) -> i64 {
        a.load(Ordering::Relaxed)
    }
    #[inline]
    fn store(a: &AtomicI64, v: i64) {
        a.store(v, Ordering::Relaxed)
    }
    #[inline]
    fn add(a: &AtomicI64, v: i64) {
        a.fetch_add(v, Ordering::Relaxed);
    }
    #[inline]
    fn sub(a: &AtomicI64, v: i64) {
        a.fetch_sub(v, Ordering::Relaxed);
    }
    fn to_f64(v: i64) -> f64 {
        v as f64
    }
    fn is_increase(v: i64) -> bool {
        v >= 0
    }
}

impl Number for f64 {
    type Atomic = AtomicU64;
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    fn atomic(v: f64) -> AtomicU64 {
        AtomicU64::new(v.to_bits())
    }
    #[inline]
    fn load(a: &AtomicU64) -> f64 {
        f64::from_bits(a.load(Ordering::Relaxed))
    }
    #[inline]
    fn store(a: &AtomicU64, v: f64) {
        a.store(v.to_bits(), Ordering::Relaxed)
    }
    #[inline]
    fn add(a: &AtomicU64, v: f64) {
        add_f64(a, v)
    }
    #[inline]
    fn sub(a: &AtomicU64, v: f64) {
        add_f64(a, -v)
    }
    fn to_f64(v: f64) -> f64 {
        v
    }
    fn is_increase(v: f64) -> bool {
        v >= 0.0
    }
}

/// Adds `v` to the `f64` whose bits `a` holds.
#[inline]
pub(crate) fn add_f64(a: &AtomicU64, v: f64) {
    let mut old = a.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(old) + v).to_bits();
        match a.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => old = now,
        }
    }
}
