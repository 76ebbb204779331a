//! The exemplars of a histogram series: one per classic bucket, and a bounded list
//! for the native histogram. Kept behind short locks that recording never waits
//! for: when another thread holds one, the new exemplar is dropped (the
//! observation itself is always counted).

use std::sync::{Mutex, PoisonError};

use crate::model::{Bucket, Exemplar};
use crate::util::try_lock;

pub(super) struct Exemplars {
    /// One per classic bound, then one for `+Inf`.
    classic: Box<[Mutex<Option<Exemplar>>]>,
    native: Mutex<Vec<Exemplar>>,
}

impl Exemplars {
    pub(super) fn new(classic_buckets: usize) -> Self {
        Exemplars {
            classic: (0..classic_buckets).map(|_| Mutex::new(None)).collect(),
            native: Mutex::new(Vec::new()),
        }
    }

    /// Replaces the exemplar of classic bucket `bucket`.
    pub(super) fn set_classic(&self, bucket: usize, exemplar: Exemplar) {
        if let Some(mut slot) = self.classic.get(bucket).and_then(try_lock) {
            *slot = Some(exemplar);
        }
    }

    /// Adds a native exemplar (timestamped), replacing the oldest when there are
    /// `max` already.
    pub(super) fn add_native(&self, exemplar: Exemplar, max: usize) {
        let Some(mut list) = try_lock(&self.native) else {
            return;
        };
        if list.len() < max {
            list.push(exemplar);
            return;
        }
        let oldest = list
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.timestamp)
            .map(|(i, _)| i);
        if let Some(i) = oldest {
            list[i] = exemplar;
        }
    }

    /// The native exemplars, oldest first.
    pub(super) fn native(&self) -> Vec<Exemplar> {
        let mut list = self
            .native
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        list.sort_by_key(|e| e.timestamp);
        list
    }

    /// Attaches the classic exemplars to `buckets`; an exemplar of the `+Inf` bucket
    /// adds that bucket (cumulative count `count`).
    pub(super) fn attach_classic(&self, buckets: &mut Vec<Bucket>, count: u64) {
        for (bucket, slot) in buckets.iter_mut().zip(self.classic.iter()) {
            let exemplar = slot.lock().unwrap_or_else(PoisonError::into_inner).clone();
            bucket.exemplar = exemplar.map(Box::new);
        }
        let inf = self
            .classic
            .get(buckets.len())
            .and_then(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner).clone());
        if let Some(exemplar) = inf {
            buckets.push(Bucket::new(f64::INFINITY, count).with_exemplar(exemplar));
        }
    }
}
