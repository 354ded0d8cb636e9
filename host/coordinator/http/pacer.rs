//! Pacing the HTTP side per client address: a token bucket for each peer
//! IP (`--http-rate` requests a second, bursts of twice that). A request
//! over the rate waits its turn; one that would wait longer than
//! [`MAX_WAIT`] is refused with `429 Too Many Requests`, after
//! [`REFUSAL_DELAY`] (so that a client that retries at once cannot turn
//! refusals into a flood of their own; the connection cap bounds how many
//! wait). A browser or a
//! Prometheus scraper never notices; a flood of scrapes from one address
//! then costs the coordinator a few dozen requests a second instead of
//! the CPU its jobs need (the benchmark: 12,000 scrapes a second
//! took a third of the scheduler's two cores).
//!
//! Pure and clock-injected, so that it is tested without sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a request waits for its turn before it is refused.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// How long a refused request waits before its 429.
pub const REFUSAL_DELAY: Duration = Duration::from_secs(1);

/// Addresses remembered at most; beyond it, full buckets (of clients that
/// have been quiet long enough to refill) are forgotten.
const MAX_PEERS: usize = 10_000;

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Serve it now.
    Now,
    /// Serve it after this wait (its turn is reserved).
    After(Duration),
    /// Refuse it: the client may retry after this long.
    Refuse(Duration),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Requests that may start now; negative: turns already reserved.
    tokens: f64,
    at: Instant,
}

/// Token buckets per client address.
#[derive(Debug)]
pub struct Pacer {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Pacer {
    /// `rate` requests a second per address (bursts of twice that); `None`
    /// for a rate of 0, which means no pacing.
    pub fn new(rate: u32) -> Option<Self> {
        (rate > 0).then(|| Pacer {
            rate: f64::from(rate),
            burst: 2.0 * f64::from(rate),
            buckets: Mutex::default(),
        })
    }

    /// Takes a turn for a request from `peer` at `now`.
    pub fn admit(&self, peer: IpAddr, now: Instant) -> Admission {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_PEERS && !buckets.contains_key(&peer) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + rate * now.duration_since(b.at).as_secs_f64() < burst);
        }
        let bucket = buckets.entry(peer).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = self.rate * now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Admission::Now;
        }
        let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate);
        if wait > MAX_WAIT {
            return Admission::Refuse(wait - MAX_WAIT);
        }
        bucket.tokens -= 1.0;
        Admission::After(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_burst_passes_then_requests_wait_their_turn_then_are_refused() {
        let pacer = Pacer::new(10).unwrap();
        let t0 = Instant::now();
        for i in 0..20 {
            assert_eq!(
                pacer.admit(ip(1), t0),
                Admission::Now,
                "request {i} of the burst"
            );
        }
        // Then one every 100 ms, each reserved after the one before.
        for i in 1..=20u32 {
            match pacer.admit(ip(1), t0) {
                Admission::After(w) => {
                    let want = Duration::from_millis(100) * i;
                    assert!(w.abs_diff(want) < Duration::from_millis(1), "{i}: {w:?}");
                }
                other => panic!("{i}: {other:?}"),
            }
        }
        // Beyond two seconds of waiting: refused, saying when to retry.
        assert!(matches!(pacer.admit(ip(1), t0), Admission::Refuse(_)));
        // Another address is not held up.
        assert_eq!(pacer.admit(ip(2), t0), Admission::Now);
        // Time refills the bucket: after the reserved turns and 1 s more,
        // ten requests pass at once.
        let later = t0 + Duration::from_secs(3);
        for _ in 0..10 {
            assert_eq!(pacer.admit(ip(1), later), Admission::Now);
        }
        assert!(matches!(pacer.admit(ip(1), later), Admission::After(_)));
    }

    #[test]
    fn a_rate_of_zero_paces_nothing_and_memory_is_bounded() {
        assert!(Pacer::new(0).is_none());
        let pacer = Pacer::new(5).unwrap();
        let t0 = Instant::now();
        for i in 0..(MAX_PEERS as u32 + 10) {
            let peer = IpAddr::from(i.to_be_bytes());
            pacer.admit(peer, t0 + Duration::from_secs(u64::from(i / 1000)));
        }
        let kept = pacer.buckets.lock().unwrap().len();
        assert!(kept <= MAX_PEERS, "{kept} addresses kept");
    }
}
