//! Injected time. The schedulers take `now` as an argument; this trait is
//! what the switch (wall clock) and the tests (manual clock) implement to
//! produce it, so no scheduler ever reads the system clock itself.

use std::cell::Cell;

/// Nanoseconds on a monotonic time line chosen by the caller.
pub type Nanos = u64;

/// One nanosecond-resolution monotonic clock.
pub trait Clock {
    /// The current time. Must never go backwards; the schedulers treat a
    /// step backwards as "no time passed".
    fn now(&self) -> Nanos;
}

/// A clock that only moves when told to: simulated time for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Cell<Nanos>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Nanos) -> Self {
        Self {
            now: Cell::new(start),
        }
    }

    /// Move forward by `ns`.
    pub fn advance(&self, ns: Nanos) {
        self.now.set(self.now.get().saturating_add(ns));
    }

    /// Jump to `t` if it is later than the current reading.
    pub fn set(&self, t: Nanos) {
        if t > self.now.get() {
            self.now.set(t);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Nanos {
        self.now.get()
    }
}
