//! Small helpers the whole crate shares, each written once: locks that survive a
//! poisoning panic, the text of a panic, the text of an error with its sources.
//!
//! Every lock in this crate guards data that is whole between any two statements
//! (counters, maps, caches, connection tables), so a panic elsewhere while one was
//! held leaves nothing half-written. Taking the guard of a poisoned lock keeps one
//! panic from becoming a panic in every later scrape or request.

use std::any::Any;
use std::error::Error;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, also when a panic poisoned it.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `m` if no one holds it (a poisoned lock is taken as is); `None` when it is
/// held: for paths that must never wait, such as recording an exemplar.
pub(crate) fn try_lock<T: ?Sized>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// Read-locks `lock`, also when a panic poisoned it.
#[cfg_attr(
    not(any(
        feature = "instrument",
        feature = "metrics-rs",
        feature = "prometheus-client"
    )),
    allow(dead_code)
)]
pub(crate) fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `lock`, also when a panic poisoned it.
#[cfg_attr(
    not(any(feature = "instrument", feature = "metrics-rs")),
    allow(dead_code)
)]
pub(crate) fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// The message of a caught panic: the `&str` or `String` that `panic!` carries, or
/// `unknown panic payload` for any other payload.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// The error's message and its sources', outermost first (`outer: inner: root`),
/// leaving out a source whose message the text already holds (hyper's errors, for
/// one, repeat their cause).
#[cfg_attr(not(feature = "push"), allow(dead_code))]
pub(crate) fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[test]
    fn locks_survive_a_poisoning_panic() {
        let m = Mutex::new(1);
        let rw = RwLock::new(2);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _m = m.lock();
            let _rw = rw.write();
            panic!("while holding both");
        }));
        assert!(m.is_poisoned() && rw.is_poisoned());
        *lock(&m) += 1;
        *write(&rw) += 1;
        assert_eq!((*lock(&m), *read(&rw)), (2, 3));
    }

    #[test]
    fn panic_messages() {
        let caught = |f: fn()| catch_unwind(f).unwrap_err();
        assert_eq!(panic_message(&*caught(|| panic!("static"))), "static");
        assert_eq!(
            panic_message(&*caught(|| panic!("formatted {}", 7))),
            "formatted 7"
        );
        let other = caught(|| std::panic::panic_any(42u8));
        assert_eq!(panic_message(&*other), "unknown panic payload");
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn error_chains() {
        let root = Layer("connection refused", None);
        let mid = Layer("client error (Connect)", Some(Box::new(root)));
        let top = Layer("request failed", Some(Box::new(mid)));
        assert_eq!(
            error_chain(&top),
            "request failed: client error (Connect): connection refused"
        );
        // A source already quoted by its parent is not repeated.
        let quoted = Layer(
            "tcp connect error: connection refused",
            Some(Box::new(Layer("connection refused", None))),
        );
        assert_eq!(
            error_chain(&quoted),
            "tcp connect error: connection refused"
        );
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }
}
