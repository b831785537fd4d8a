//! What a run's threads wait on: one condition variable over the run's
//! state (cancelled, the trainer child done, the run finished), so the
//! supervisor and the recorder's main thread sleep until something happens
//! instead of polling a flag.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunState {
    pub cancelled: bool,
    pub child_done: bool,
    pub finished: bool,
}

/// Shared by a run's threads. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct RunSignals {
    inner: Arc<(Mutex<RunState>, Condvar)>,
    /// The trainer child's supervisor reads this flag between steps.
    cancel_flag: Arc<AtomicBool>,
}

impl RunSignals {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, RunState> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut RunState)) {
        f(&mut self.lock());
        self.inner.1.notify_all();
    }

    /// Ask the run to stop: the trainer stops at its next step, the file is finalised.
    pub fn cancel(&self) {
        self.cancel_flag.store(true, Ordering::SeqCst);
        self.update(|s| s.cancelled = true);
    }

    pub fn child_done(&self) {
        self.update(|s| s.child_done = true);
    }

    pub fn finished(&self) {
        self.update(|s| s.finished = true);
    }

    pub fn state(&self) -> RunState {
        *self.lock()
    }

    /// The flag a trainer child's supervisor reads.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel_flag.clone()
    }

    /// Sleep until `until` holds or `deadline` passes (for ever when None).
    /// Returns the state then.
    pub fn wait(&self, deadline: Option<Instant>, until: impl Fn(&RunState) -> bool) -> RunState {
        let mut s = self.lock();
        while !until(&s) {
            match deadline {
                None => s = self.inner.1.wait(s).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    s = self
                        .inner
                        .1
                        .wait_timeout(s, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        *s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_waiter_wakes_on_the_event_not_on_a_timer() {
        let s = RunSignals::new();
        let t = s.clone();
        let h = std::thread::spawn(move || t.wait(None, |st| st.cancelled));
        s.cancel();
        assert!(h.join().unwrap().cancelled);
        assert!(s.cancel_flag().load(Ordering::SeqCst));
    }

    #[test]
    fn a_deadline_ends_the_wait() {
        let s = RunSignals::new();
        let st = s.wait(Some(Instant::now() + Duration::from_millis(10)), |st| {
            st.finished
        });
        assert!(!st.finished);
    }
}
