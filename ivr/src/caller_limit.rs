//! Per-caller rate limit: how many codes one phone number may check in a window.
//!
//! SPEC "Abuse" asks for per-source rate limits on every channel. No shared limiter exists in
//! `zhenwei-core` yet, so the IVR keeps this minimal one behind the [`CallerLimit`] seam; a core
//! limiter can replace it without touching the call code. (Enumeration — one source presenting
//! many unknown codes — is detected by the core itself from the query's `source`, which the IVR
//! sets to the caller's number.) Sans-I/O: the caller passes the time.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Decides whether a caller may make one more query now.
pub trait CallerLimit: Send + Sync {
    fn allow(&self, caller: &str, now: Instant) -> bool;
}

/// A sliding-window limit: at most `max` queries per caller per `window`.
pub struct SlidingWindow {
    max: usize,
    window: Duration,
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Callers remembered before idle ones are swept.
const SWEEP_AT: usize = 100_000;

impl SlidingWindow {
    pub fn new(max: usize, window: Duration) -> SlidingWindow {
        SlidingWindow {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for SlidingWindow {
    /// 20 queries per caller per hour: far above what a shopper needs, far below guessing.
    fn default() -> Self {
        SlidingWindow::new(20, Duration::from_secs(3600))
    }
}

impl CallerLimit for SlidingWindow {
    fn allow(&self, caller: &str, now: Instant) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        let window = self.window;
        let expired = |t: &Instant| now.saturating_duration_since(*t) >= window;
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, q| q.back().is_some_and(|t| !expired(t)));
        }
        let q = seen.entry(caller.to_owned()).or_default();
        while q.front().is_some_and(expired) {
            q.pop_front();
        }
        if q.len() >= self.max {
            return false;
        }
        q.push_back(now);
        true
    }
}

/// No limit (tests and benchmarks).
pub struct Unlimited;

impl CallerLimit for Unlimited {
    fn allow(&self, _: &str, _: Instant) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_caller_within_the_window() {
        let l = SlidingWindow::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.allow("13800000001", t0 + Duration::from_secs(i)));
        }
        assert!(!l.allow("13800000001", t0 + Duration::from_secs(10)));
        assert!(
            l.allow("13800000002", t0 + Duration::from_secs(10)),
            "another caller"
        );
        // The first query leaves the window at t0 + 60 s.
        assert!(l.allow("13800000001", t0 + Duration::from_secs(60)));
        assert!(!l.allow("13800000001", t0 + Duration::from_secs(60)));
    }
}
