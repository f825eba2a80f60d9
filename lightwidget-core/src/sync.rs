//! One way to take a lock across the workspace: [`Locked`] on `std::sync::Mutex` and
//! [`RwLocked`] on `RwLock`, recovering the data of a lock poisoned by a panic elsewhere.
//!
//! Recovering is right here because no critical section in the workspace leaves its data
//! half-written: each one validates first and then writes, or only reads, copies,
//! inserts or removes one entry. A panic in one task must not take every later caller
//! down with it (a keeper that panicked once in a hook would otherwise stop for good).
//!
//! ```
//! use std::sync::Mutex;
//! use lightwidget_core::sync::Locked;
//! let m = Mutex::new(1);
//! *m.locked() += 1;
//! assert_eq!(*m.locked(), 2);
//! ```

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A poison-recovering `lock`.
pub trait Locked<T: ?Sized> {
    /// The mutex's guard, recovering a poisoned lock.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Poison-recovering read and write locks.
pub trait RwLocked<T: ?Sized> {
    /// A read guard, recovering a poisoned lock.
    fn read_locked(&self) -> RwLockReadGuard<'_, T>;
    /// A write guard, recovering a poisoned lock.
    fn write_locked(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> RwLocked<T> for RwLock<T> {
    fn read_locked(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_locked(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_recovered_with_its_data() {
        let m = std::sync::Arc::new(Mutex::new(7));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*m.locked(), 7);
        let rw = RwLock::new(3);
        *rw.write_locked() += 1;
        assert_eq!(*rw.read_locked(), 4);
    }
}
