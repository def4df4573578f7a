//! Per-source rate limits: a keyed token bucket, sans-I/O.
//!
//! Every source (a phone number, a kiosk, an IP address) owns a bucket of `burst` tokens that
//! refills at `per_minute` tokens a minute; a request takes one token, and a source whose bucket
//! is empty is told how long to wait. The limiter never reads a clock: the caller passes `now`
//! (any monotonic [`Instant`]), so the rules are unit-tested with made-up times and the SMS
//! gateway, the kiosk listener and the IVR can share this one implementation.
//!
//! Memory is bounded: at most `max_sources` buckets are kept, least recently used first out. A
//! bucket that was evicted starts full again, which is only generous to a source that has been
//! quiet longer than all the others.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

/// The limit: a burst, then a steady rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// Requests allowed at once from a full bucket (at least 1).
    pub burst: u32,
    /// Tokens added per minute (more than 0).
    pub per_minute: f64,
}

/// What the limiter says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Refused; one token will be back after this long.
    Limited {
        retry_after: Duration,
    },
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per key.
pub struct RateLimiter<K: Hash + Eq> {
    limit: Limit,
    buckets: LruCache<K, Bucket>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// A limiter keeping at most `max_sources` buckets (at least 1).
    pub fn new(limit: Limit, max_sources: usize) -> RateLimiter<K> {
        let limit = Limit {
            burst: limit.burst.max(1),
            per_minute: if limit.per_minute.is_finite() && limit.per_minute > 0.0 {
                limit.per_minute
            } else {
                f64::MIN_POSITIVE
            },
        };
        RateLimiter {
            limit,
            buckets: LruCache::new(NonZeroUsize::new(max_sources).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Takes one token from `key`'s bucket at time `now`.
    pub fn check(&mut self, key: K, now: Instant) -> Decision {
        let burst = f64::from(self.limit.burst);
        let per_sec = self.limit.per_minute / 60.0;
        let b = self.buckets.get_or_insert_mut(key, || Bucket {
            tokens: burst,
            at: now,
        });
        // A clock that went backwards (it should not) adds nothing.
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_sec).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Decision::Allowed
        } else {
            let wait = ((1.0 - b.tokens) / per_sec).min(86_400.0 * 365.0);
            Decision::Limited {
                retry_after: Duration::from_secs_f64(wait),
            }
        }
    }

    /// Number of buckets held.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, per_minute: f64) -> RateLimiter<&'static str> {
        RateLimiter::new(Limit { burst, per_minute }, 100)
    }

    #[test]
    fn a_burst_then_refused_then_refilled() {
        let t0 = Instant::now();
        let mut l = limiter(3, 6.0); // one token every 10 s
        for _ in 0..3 {
            assert_eq!(l.check("a", t0), Decision::Allowed);
        }
        assert_eq!(
            l.check("a", t0),
            Decision::Limited {
                retry_after: Duration::from_secs(10)
            }
        );
        // 4 s later: still 6 s to wait.
        assert_eq!(
            l.check("a", t0 + Duration::from_secs(4)),
            Decision::Limited {
                retry_after: Duration::from_secs(6)
            }
        );
        assert_eq!(
            l.check("a", t0 + Duration::from_secs(10)),
            Decision::Allowed
        );
        assert!(matches!(
            l.check("a", t0 + Duration::from_secs(10)),
            Decision::Limited { .. }
        ));
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(l.check("a", later), Decision::Allowed);
        }
        assert!(matches!(l.check("a", later), Decision::Limited { .. }));
    }

    #[test]
    fn keys_are_independent() {
        let t0 = Instant::now();
        let mut l = limiter(1, 1.0);
        assert_eq!(l.check("a", t0), Decision::Allowed);
        assert!(matches!(l.check("a", t0), Decision::Limited { .. }));
        assert_eq!(l.check("b", t0), Decision::Allowed);
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Instant::now();
        let mut l: RateLimiter<u32> = RateLimiter::new(
            Limit {
                burst: 1,
                per_minute: 1.0,
            },
            10,
        );
        for k in 0..1000 {
            l.check(k, t0);
        }
        assert_eq!(l.len(), 10);
    }

    #[test]
    fn nonsense_limits_are_made_safe() {
        let t0 = Instant::now();
        let mut l = limiter(0, f64::NAN);
        assert_eq!(l.check("a", t0), Decision::Allowed);
        assert!(matches!(l.check("a", t0), Decision::Limited { .. }));
        // A clock going backwards neither panics nor adds tokens.
        assert!(matches!(
            l.check("a", t0 - Duration::from_secs(1)),
            Decision::Limited { .. }
        ));
    }
}
