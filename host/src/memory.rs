//! Gives freed heap memory back to the operating system once a burst of
//! connections is over.
//!
//! glibc's allocator keeps memory freed by finished connections in its arenas:
//! after 10,000 connections closed, the router stayed at ~60 MB instead of its
//! idle ~18 MB (BENCHMARKS.md). `malloc_trim(0)` returns it; it costs a walk over
//! the heap (milliseconds), so it runs at most once per sweep, and only after
//! real traffic has died down.

/// Connections accepted since the last trim before another one is worth it.
const MIN_CONNECTIONS: u64 = 256;

/// Fewer connections than this in flight counts as "the burst is over".
const QUIET_BELOW: usize = 64;

/// Decides when to trim; fed by the accept loop.
#[derive(Debug, Default)]
pub struct Reclaimer {
    accepted_since_trim: u64,
}

impl Reclaimer {
    pub fn accepted(&mut self) {
        self.accepted_since_trim = self.accepted_since_trim.saturating_add(1);
    }

    /// Called periodically with the connections in flight; trims the heap when a
    /// burst has ended. Returns whether it trimmed.
    pub fn tick(&mut self, in_flight: usize) -> bool {
        if self.accepted_since_trim < MIN_CONNECTIONS || in_flight >= QUIET_BELOW {
            return false;
        }
        self.accepted_since_trim = 0;
        trim();
        true
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: `malloc_trim` takes no pointers and touches only glibc's own
    // allocator state, under the arena locks every malloc/free also takes, so it
    // is safe to call from any thread at any time. Its return value (whether
    // memory was released) needs no handling.
    let released = unsafe { libc::malloc_trim(0) };
    tracing::debug!(released, "returned freed heap memory to the OS");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_after_traffic_and_when_quiet() {
        let mut r = Reclaimer::default();
        assert!(!r.tick(0), "no traffic yet");
        for _ in 0..MIN_CONNECTIONS {
            r.accepted();
        }
        assert!(!r.tick(QUIET_BELOW), "still busy");
        assert!(r.tick(3));
        assert!(!r.tick(0), "nothing new since the trim");
    }
}
