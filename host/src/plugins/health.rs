//! A plugin's health: call counters for the CLI, and the back-off after repeated
//! malfunctions, during which the plugin is not called (Prometheus gets its own
//! counters, in `metrics`).

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use super::pool::{Limits, PluginError};

/// A plugin's health: call counters for the CLI, and the back-off after repeated
/// failures (Prometheus gets its own counters, in `metrics`).
#[derive(Debug, Default)]
pub struct Health {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    /// Calls that found every instance busy (not failures of the plugin).
    pub saturated: AtomicU64,
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
pub(super) struct HealthState {
    /// Malfunctions in a row (traps, deadlines, memory cap, failed instantiation).
    in_a_row: u32,
    /// Current back-off; zero while healthy.
    backoff: Duration,
    /// Not called before this instant.
    until: Option<Instant>,
    last_error: Option<String>,
}

/// A plugin's health as shown to operators.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HealthView {
    Healthy,
    /// Failed recently, below the threshold.
    Failing {
        in_a_row: u32,
        last_error: String,
    },
    /// Backing off: calls fail at once until `retry_in_ms` passes.
    Unhealthy {
        in_a_row: u32,
        retry_in_ms: u64,
        last_error: String,
    },
}

impl Health {
    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(wait)` while backing off. When the back-off has passed, calls go
    /// through again: the next outcome decides between recovery and a longer wait.
    pub(super) fn blocked(&self, now: Instant) -> Option<Duration> {
        let state = self.state();
        state
            .until
            .and_then(|until| until.checked_duration_since(now))
    }

    pub(super) fn succeeded(&self, plugin: &str) {
        let mut state = self.state();
        if state.in_a_row == 0 {
            return;
        }
        if state.until.is_some() {
            tracing::info!(
                plugin,
                "plugin recovered: its call succeeded after the back-off"
            );
            crate::metrics::metrics().plugin_unhealthy(plugin, false);
        }
        *state = HealthState::default();
    }

    pub(super) fn failed(&self, plugin: &str, error: &PluginError, limits: &Limits) {
        let mut state = self.state();
        state.in_a_row = state.in_a_row.saturating_add(1);
        state.last_error = Some(error.to_string());
        if state.in_a_row < limits.failure_threshold {
            return;
        }
        state.backoff = if state.backoff.is_zero() {
            Duration::from_secs(1)
        } else {
            state.backoff * 2
        }
        .min(limits.max_backoff);
        state.until = Some(Instant::now() + state.backoff);
        tracing::warn!(
            plugin,
            failures_in_a_row = state.in_a_row,
            backoff_ms = state.backoff.as_millis() as u64,
            "plugin unhealthy: not called until its back-off passes (last error: {error})"
        );
        crate::metrics::metrics().plugin_unhealthy(plugin, true);
    }

    pub fn view(&self) -> HealthView {
        let state = self.state();
        let last_error = state.last_error.clone().unwrap_or_default();
        match state.until {
            Some(until) => HealthView::Unhealthy {
                in_a_row: state.in_a_row,
                retry_in_ms: until.saturating_duration_since(Instant::now()).as_millis() as u64,
                last_error,
            },
            None if state.in_a_row > 0 => HealthView::Failing {
                in_a_row: state.in_a_row,
                last_error,
            },
            None => HealthView::Healthy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        let mut l = crate::config::PluginRuntime::default().limits_for("p");
        l.failure_threshold = 2;
        l.max_backoff = Duration::from_secs(4);
        l
    }

    #[test]
    fn backoff_starts_at_the_threshold_doubles_and_is_capped() {
        let (h, l) = (Health::default(), limits());
        let trap = PluginError::Trap {
            trap: "x".into(),
            stderr: String::new(),
        };
        h.failed("p", &trap, &l);
        assert!(matches!(h.view(), HealthView::Failing { in_a_row: 1, .. }));
        assert!(h.blocked(Instant::now()).is_none());
        let mut waits = Vec::new();
        for _ in 0..4 {
            h.failed("p", &trap, &l);
            waits.push(h.state().backoff);
        }
        assert_eq!(
            waits,
            [1, 2, 4, 4].map(Duration::from_secs),
            "1 s, doubling, capped at max_backoff"
        );
        assert!(h.blocked(Instant::now()).is_some());
        assert!(matches!(
            h.view(),
            HealthView::Unhealthy { in_a_row: 5, .. }
        ));
        h.succeeded("p");
        assert!(matches!(h.view(), HealthView::Healthy));
        assert!(h.blocked(Instant::now()).is_none());
    }
}
