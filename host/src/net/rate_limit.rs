//! Per-client-IP connection rate limiting (token buckets) with bounded memory for the internet-facing listener.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::client_key::ClientKey;

/// Shards, each with its own lock, so concurrent accepts rarely contend.
const MAX_SHARDS: usize = 16;
/// When a shard is full, make room for at least this fraction of its
/// capacity at once, so the O(n) eviction scan is paid once per
/// `capacity / EVICT_FRACTION` new clients rather than on every one.
const EVICT_FRACTION: usize = 8;
/// Accepted rates: slower than one per ~17 minutes or faster than a million
/// per second is surely a config mistake, and the bounds keep the `Duration`
/// arithmetic far from overflow and rounding trouble.
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 1_000_000.0;

/// A token bucket per client: `burst` tokens, refilled at `rate_per_sec`,
/// one taken per [`check`](Self::check).
///
/// Clients are keyed by IPv4 address, or by IPv6 /64 ([`ClientKey`]).
///
/// Disabling: the limiter has no "off" state; hold an
/// `Option<RateLimiter>` and treat `None` as "allow everything".
/// [`from_settings`](Self::from_settings) maps a rate of 0 to `None`.
///
/// Each bucket is stored GCRA-style as a single `Instant`, the time at which
/// it will be full again ("theoretical arrival time"): a bucket is full iff
/// that time has passed, which makes "carries no information" a simple
/// comparison.
///
/// Memory is bounded by `max_tracked` entries (split evenly over the
/// shards). When a shard is full and a new client arrives:
/// 1. buckets that have refilled completely are dropped: forgetting them
///    changes nothing, since a new bucket also starts full;
/// 2. if that frees too little, the buckets closest to full (earliest
///    refill time) are evicted, an eighth of the shard at a time.
///
/// Why evict rather than refuse to track: with a full table, allowing
/// untracked clients lets anyone with many addresses bypass the limit
/// entirely, while denying them lets anyone with many addresses lock every
/// new legitimate player out. Evicting keeps new players working and keeps
/// limiting the clients that are furthest in debt, which are the ones
/// actively over their rate; what is lost is only the remaining debt of the
/// least-indebted clients, who get a fresh (full) bucket if they return. An
/// attacker cycling more addresses than `max_tracked` can thus partly escape
/// limiting, but cannot grow memory or block others, and no per-IP limiter
/// can stop such an attacker anyway.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time one token takes to refill: 1 / rate.
    interval: Duration,
    /// How far a bucket's refill time may lie ahead of now and still admit:
    /// (burst - 1) intervals.
    tolerance: Duration,
    /// Keyed randomly per process so an attacker cannot aim all their
    /// addresses at one shard.
    hasher: RandomState,
    shards: Box<[Shard]>,
}

#[derive(Debug)]
struct Shard {
    capacity: usize,
    /// Client → when its bucket is full again.
    buckets: Mutex<HashMap<ClientKey, Instant>>,
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, HashMap<ClientKey, Instant>> {
        // Nothing panics while the lock is held except allocation failure,
        // and the map is consistent between statements, so a poisoned lock
        // still holds usable data.
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RateLimiter {
    /// A limiter allowing `burst` checks at once per client, refilled at
    /// `rate_per_sec`, tracking at most `max_tracked` clients.
    ///
    /// # Panics
    /// If the settings are invalid (see [`from_settings`](Self::from_settings));
    /// validate configuration with that first.
    pub fn new(rate_per_sec: f64, burst: u32, max_tracked: usize) -> Self {
        match Self::from_settings(rate_per_sec, burst, max_tracked) {
            Ok(Some(limiter)) => limiter,
            Ok(None) => panic!("a rate of 0 means no limiter; use Option<RateLimiter>"),
            Err(e) => panic!("invalid rate limiter settings: {e}"),
        }
    }

    /// From configuration: `Ok(None)` when `rate_per_sec` is 0 (limiting
    /// off), an error naming the problem when a setting is out of range.
    pub fn from_settings(
        rate_per_sec: f64,
        burst: u32,
        max_tracked: usize,
    ) -> Result<Option<Self>, String> {
        if rate_per_sec == 0.0 {
            return Ok(None);
        }
        if !(MIN_RATE..=MAX_RATE).contains(&rate_per_sec) {
            return Err(format!(
                "rate must be 0 (off) or between {MIN_RATE} and {MAX_RATE} per second"
            ));
        }
        if burst == 0 {
            return Err("burst must be at least 1".into());
        }
        if max_tracked == 0 {
            return Err("max_tracked must be at least 1".into());
        }
        Ok(Some(Self::with_shards(
            rate_per_sec,
            burst,
            max_tracked,
            MAX_SHARDS.min(max_tracked),
        )))
    }

    /// Spreads `max_tracked` over `shards` so the capacities sum to exactly
    /// `max_tracked` and each shard holds at least one client.
    fn with_shards(rate_per_sec: f64, burst: u32, max_tracked: usize, shards: usize) -> Self {
        let interval = Duration::from_secs_f64(1.0 / rate_per_sec);
        let tolerance = interval.saturating_mul(burst - 1);
        let (base, extra) = (max_tracked / shards, max_tracked % shards);
        let shards = (0..shards)
            .map(|i| Shard {
                capacity: base + usize::from(i < extra),
                buckets: Mutex::new(HashMap::new()),
            })
            .collect();
        RateLimiter {
            interval,
            tolerance,
            hasher: RandomState::new(),
            shards,
        }
    }

    /// Whether `ip` may proceed at `now`; if so, takes one of its tokens.
    /// `now` is a parameter so callers can take it once per event and tests
    /// can use synthetic times. A `now` slightly older than one already
    /// seen (racing threads) is judged as of that older time: no panic, no
    /// refund, at worst a denial stricter by the skew.
    pub fn check(&self, ip: IpAddr, now: Instant) -> bool {
        let key = ClientKey::from(ip);
        let shard = self.shard(key);
        let mut buckets = shard.lock();
        if let Some(full_at) = buckets.get_mut(&key) {
            // A bucket full in the past is simply full: start from now.
            let start = (*full_at).max(now);
            if start.saturating_duration_since(now) > self.tolerance {
                return false;
            }
            *full_at = start + self.interval;
            return true;
        }
        if buckets.len() >= shard.capacity {
            self.make_room(&mut buckets, shard.capacity, now);
        }
        // A new client starts full (burst >= 1) and spends one token.
        buckets.insert(key, now + self.interval);
        true
    }

    /// Drops every bucket that has refilled completely by `now`. Call it
    /// periodically (e.g. every minute) so idle clients free their memory
    /// without waiting for a shard to fill up.
    pub fn sweep(&self, now: Instant) {
        for shard in &self.shards {
            shard.lock().retain(|_, full_at| *full_at > now);
        }
    }

    /// How many clients have a bucket right now (at most `max_tracked`).
    pub fn tracked(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    fn shard(&self, key: ClientKey) -> &Shard {
        // The modulo of a 64-bit hash fits in usize.
        let i = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        &self.shards[i]
    }

    /// Brings a full shard down to at most `capacity - capacity / 8` (at
    /// least one free slot): full buckets first, then those refilling soonest.
    fn make_room(&self, buckets: &mut HashMap<ClientKey, Instant>, capacity: usize, now: Instant) {
        let target = capacity - (capacity / EVICT_FRACTION).max(1);
        buckets.retain(|_, full_at| *full_at > now);
        if buckets.len() <= target {
            return;
        }
        let excess = buckets.len() - target;
        let mut times: Vec<Instant> = buckets.values().copied().collect();
        let (_, &mut cutoff, _) = times.select_nth_unstable(excess - 1);
        // Remove everything before the cutoff, and of the entries equal to it
        // only as many as needed, so exactly `excess` go.
        let below = times.iter().filter(|t| **t < cutoff).count();
        let mut equal_to_drop = excess - below;
        buckets.retain(|_, full_at| {
            if *full_at < cutoff {
                false
            } else if *full_at == cutoff && equal_to_drop > 0 {
                equal_to_drop -= 1;
                false
            } else {
                true
            }
        });
        tracing::debug!(
            evicted = excess,
            capacity,
            "rate limiter shard full of active clients; evicted those closest to refilled"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// How many consecutive checks pass at `now`, up to `limit`.
    fn allowed(l: &RateLimiter, addr: IpAddr, now: Instant, limit: usize) -> usize {
        (0..limit).take_while(|_| l.check(addr, now)).count()
    }

    #[test]
    fn burst_then_deny() {
        let l = RateLimiter::new(1.0, 3, 100);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert!(l.check(a, t0));
        assert!(l.check(a, t0));
        assert!(l.check(a, t0));
        assert!(!l.check(a, t0));
        assert!(!l.check(a, t0 + secs(0.5)));
    }

    #[test]
    fn refills_over_time_up_to_burst() {
        let l = RateLimiter::new(2.0, 4, 100);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(allowed(&l, a, t0, 10), 4);
        // 2 per second: one token after 0.5 s, not before.
        assert!(!l.check(a, t0 + secs(0.49)));
        assert!(l.check(a, t0 + secs(0.5)));
        assert!(!l.check(a, t0 + secs(0.5)));
        assert_eq!(allowed(&l, a, t0 + secs(1.5), 10), 2);
        // A long idle time refills to the burst, never beyond.
        assert_eq!(allowed(&l, a, t0 + secs(3600.0), 10), 4);
    }

    #[test]
    fn slow_rates() {
        let l = RateLimiter::new(0.1, 1, 10);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert!(l.check(a, t0));
        assert!(!l.check(a, t0 + secs(9.9)));
        assert!(l.check(a, t0 + secs(10.0)));
    }

    #[test]
    fn denied_checks_do_not_cost_tokens() {
        let l = RateLimiter::new(1.0, 1, 10);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert!(l.check(a, t0));
        for i in 0..100 {
            assert!(!l.check(a, t0 + secs(0.9 * f64::from(i) / 100.0)));
        }
        assert!(l.check(a, t0 + secs(1.0)));
    }

    #[test]
    fn clients_are_independent() {
        let l = RateLimiter::new(1.0, 2, 100);
        let t0 = Instant::now();
        assert_eq!(allowed(&l, ip("192.0.2.1"), t0, 10), 2);
        assert_eq!(allowed(&l, ip("192.0.2.2"), t0, 10), 2);
        assert_eq!(allowed(&l, ip("2001:db8::1"), t0, 10), 2);
        assert_eq!(l.tracked(), 3);
    }

    #[test]
    fn ipv6_grouped_by_slash_64() {
        let l = RateLimiter::new(1.0, 2, 100);
        let t0 = Instant::now();
        assert!(l.check(ip("2001:db8:1:2::1"), t0));
        assert!(l.check(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), t0));
        assert!(!l.check(ip("2001:db8:1:2:abcd::9"), t0));
        // The neighbouring /64 is another client.
        assert!(l.check(ip("2001:db8:1:3::1"), t0));
        assert_eq!(l.tracked(), 2);
    }

    #[test]
    fn mapped_ipv4_is_the_ipv4_client() {
        let l = RateLimiter::new(1.0, 2, 100);
        let t0 = Instant::now();
        assert!(l.check(ip("198.51.100.4"), t0));
        assert!(l.check(ip("::ffff:198.51.100.4"), t0));
        assert!(!l.check(ip("198.51.100.4"), t0));
        assert_eq!(l.tracked(), 1);
        // ...and does not share with all of ::ffff:0:0/64's other addresses.
        assert!(l.check(ip("::ffff:198.51.100.5"), t0));
        assert_eq!(
            ClientKey::from(ip("::ffff:1.2.3.4")),
            ClientKey::V4(0x0102_0304)
        );
    }

    #[test]
    fn out_of_order_now_is_harmless() {
        let l = RateLimiter::new(1.0, 3, 10);
        let t0 = Instant::now() + secs(10.0);
        let a = ip("192.0.2.1");
        assert!(l.check(a, t0));
        // A slightly earlier `now` from a racing thread is judged as of that
        // time: no panic, no refund, at worst stricter by the skew.
        assert!(l.check(a, t0 - secs(0.005)));
        assert!(!l.check(a, t0 - secs(0.005)));
        assert!(!l.check(a, t0 - secs(5.0)));
        assert!(l.check(a, t0));
        assert!(!l.check(a, t0));
        assert!(l.check(a, t0 + secs(1.0)));
    }

    #[test]
    fn memory_bound_holds_under_100k_clients() {
        let l = RateLimiter::new(1.0, 5, 1000);
        let t0 = Instant::now();
        for i in 0..100_000u32 {
            let now = t0 + Duration::from_millis(u64::from(i / 100));
            let addr = if i % 2 == 0 {
                IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + i))
            } else {
                IpAddr::V6(Ipv6Addr::from_bits(u128::from(i) << 64))
            };
            // Every new client gets its first connection.
            assert!(l.check(addr, now));
            if i % 97 == 0 {
                assert!(l.tracked() <= 1000, "tracked {} at {i}", l.tracked());
            }
        }
        assert!(l.tracked() <= 1000);
        // Shard capacities add up to exactly the bound.
        assert_eq!(l.shards.iter().map(|s| s.capacity).sum::<usize>(), 1000);
    }

    #[test]
    fn tiny_bounds_still_work() {
        let l = RateLimiter::new(1.0, 1, 1);
        let t0 = Instant::now();
        for i in 0..50u32 {
            assert!(l.check(IpAddr::V4(Ipv4Addr::from_bits(i)), t0));
            assert_eq!(l.tracked(), 1);
        }
        let l = RateLimiter::new(1.0, 1, 5);
        for i in 0..50u32 {
            assert!(l.check(IpAddr::V4(Ipv4Addr::from_bits(i)), t0));
            assert!(l.tracked() <= 5);
        }
    }

    #[test]
    fn full_shard_drops_refilled_buckets_first() {
        let l = RateLimiter::with_shards(1.0, 3, 8, 1);
        let t0 = Instant::now();
        let heavy = ip("203.0.113.66");
        // One client with a depleted bucket, seven light ones.
        assert_eq!(allowed(&l, heavy, t0, 10), 3);
        for i in 1..=7u32 {
            assert!(l.check(IpAddr::V4(Ipv4Addr::from_bits(i)), t0));
        }
        assert_eq!(l.tracked(), 8);
        // Two seconds on, the light buckets (one token used) have refilled:
        // the newcomer replaces them all, the depleted one stays.
        assert!(l.check(ip("198.51.100.1"), t0 + secs(2.0)));
        assert_eq!(l.tracked(), 2);
        // Its debt is intact: 2 of its 3 tokens back after 2 s, not 3.
        assert_eq!(allowed(&l, heavy, t0 + secs(2.0), 10), 2);
    }

    #[test]
    fn full_shard_evicts_those_closest_to_full() {
        let l = RateLimiter::with_shards(1.0, 3, 8, 1);
        let t0 = Instant::now();
        let heavy = ip("203.0.113.66");
        assert_eq!(allowed(&l, heavy, t0, 10), 3);
        for i in 1..=7u32 {
            assert!(l.check(IpAddr::V4(Ipv4Addr::from_bits(i)), t0));
        }
        // Nobody has refilled yet; a flood of new clients evicts the least
        // indebted each time, never the depleted client.
        let later = t0 + secs(0.5);
        for i in 100..130u32 {
            assert!(l.check(IpAddr::V4(Ipv4Addr::from_bits(i)), later));
            assert!(l.tracked() <= 8);
            assert!(
                !l.check(heavy, later),
                "depleted client was forgotten at {i}"
            );
        }
    }

    #[test]
    fn eviction_removes_exactly_the_excess_among_ties() {
        let l = RateLimiter::with_shards(1.0, 2, 16, 1);
        let t0 = Instant::now();
        for i in 0..16u32 {
            assert!(l.check(IpAddr::V4(Ipv4Addr::from_bits(i)), t0));
        }
        // All 16 tie; making room for 16 / 8 = 2 leaves 14, plus the newcomer.
        assert!(l.check(ip("198.51.100.1"), t0));
        assert_eq!(l.tracked(), 15);
    }

    #[test]
    fn sweep_forgets_only_full_buckets() {
        let l = RateLimiter::new(1.0, 3, 100);
        let t0 = Instant::now();
        let heavy = ip("203.0.113.66");
        let light = ip("203.0.113.1");
        assert_eq!(allowed(&l, heavy, t0, 10), 3);
        assert!(l.check(light, t0));
        l.sweep(t0 + secs(0.5));
        assert_eq!(l.tracked(), 2);
        // Light refills after 1 s, heavy after 3 s.
        l.sweep(t0 + secs(1.0));
        assert_eq!(l.tracked(), 1);
        assert!(!l.check(heavy, t0 + secs(0.9)));
        l.sweep(t0 + secs(10.0));
        assert_eq!(l.tracked(), 0);
        // Forgetting a full bucket changes nothing: the full burst is back.
        assert_eq!(allowed(&l, heavy, t0 + secs(10.0), 10), 3);
    }

    #[test]
    fn concurrent_checks_share_one_bucket() {
        let l = Arc::new(RateLimiter::new(1.0, 50, 1000));
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || (0..100).filter(|_| l.check(a, t0)).count())
            })
            .collect();
        let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 50);
    }

    #[test]
    fn settings_validation() {
        assert!(RateLimiter::from_settings(0.0, 5, 10).unwrap().is_none());
        assert!(RateLimiter::from_settings(1.0, 5, 10).unwrap().is_some());
        assert!(
            RateLimiter::from_settings(MIN_RATE, 1, 1)
                .unwrap()
                .is_some()
        );
        assert!(
            RateLimiter::from_settings(MAX_RATE, u32::MAX, 1)
                .unwrap()
                .is_some()
        );
        for rate in [
            -1.0,
            f64::NAN,
            f64::INFINITY,
            MIN_RATE / 2.0,
            MAX_RATE * 2.0,
        ] {
            let e = RateLimiter::from_settings(rate, 5, 10).unwrap_err();
            assert!(e.contains("rate"), "{rate}: {e}");
        }
        assert!(
            RateLimiter::from_settings(1.0, 0, 10)
                .unwrap_err()
                .contains("burst")
        );
        assert!(
            RateLimiter::from_settings(1.0, 1, 0)
                .unwrap_err()
                .contains("max_tracked")
        );
    }

    #[test]
    #[should_panic(expected = "Option<RateLimiter>")]
    fn new_refuses_zero_rate() {
        let _ = RateLimiter::new(0.0, 1, 1);
    }

    #[test]
    #[should_panic(expected = "burst")]
    fn new_refuses_bad_settings() {
        let _ = RateLimiter::new(1.0, 0, 1);
    }

    #[test]
    fn fast_rates_and_huge_bursts_do_not_overflow() {
        let l = RateLimiter::new(MAX_RATE, u32::MAX, 4);
        let t0 = Instant::now();
        assert_eq!(allowed(&l, ip("192.0.2.1"), t0, 10_000), 10_000);
        let l = RateLimiter::new(MIN_RATE, u32::MAX, 4);
        assert_eq!(allowed(&l, ip("192.0.2.1"), t0, 10_000), 10_000);
    }
}
