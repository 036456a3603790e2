//! What one plugin instance may allocate: all of its linear memories together
//! within `memory_limit_mib`, and bounded numbers of memories, tables, table
//! elements and core instances, so a component cannot multiply its memory cap or
//! fill the host with tables.

use wasmtime::ResourceLimiter;

/// Linear memories one instance may create: one, as a component compiled from
/// Rust, Python (componentize-py) or JavaScript (componentize-js) has. (The
/// memory cap counts every memory together anyway.)
const MAX_MEMORIES: usize = 1;
/// Tables one instance may create (a component's core modules each have a few).
const MAX_TABLES: usize = 64;
/// Elements of one table: function references of a large interpreter fit.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Core instances one component instance may create (one per core module,
/// adapters and shims included).
const MAX_CORE_INSTANCES: usize = 64;

/// A grow past the memory cap: reported as "exceeded its memory limit".
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes reached: {used} in use, {wanted} more asked for")]
pub struct MemoryLimitExceeded {
    pub limit: usize,
    pub used: usize,
    pub wanted: usize,
}

#[derive(Debug)]
pub struct PluginLimiter {
    /// Bytes all linear memories may take together.
    memory_limit: usize,
    /// Bytes they take now.
    memory_used: usize,
    /// The last grow granted, given back if it fails after all.
    last_grant: usize,
}

impl PluginLimiter {
    pub fn new(memory_limit: usize) -> PluginLimiter {
        PluginLimiter {
            memory_limit,
            memory_used: 0,
            last_grant: 0,
        }
    }

    /// Bytes of linear memory the instance holds now.
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }
}

impl ResourceLimiter for PluginLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let wanted = desired.saturating_sub(current);
        let total = self.memory_used.saturating_add(wanted);
        if total > self.memory_limit {
            // A trap rather than a failed grow: the guest would abort somewhere
            // less telling, and the host names this one.
            return Err(MemoryLimitExceeded {
                limit: self.memory_limit,
                used: self.memory_used,
                wanted,
            }
            .into());
        }
        self.memory_used = total;
        self.last_grant = wanted;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // Granted in `memory_growing`, but it did not happen.
        self.memory_used = self.memory_used.saturating_sub(self.last_grant);
        self.last_grant = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 64 << 10;

    #[test]
    fn every_memory_counts_toward_one_cap() {
        let mut l = PluginLimiter::new(4 * PAGE);
        // Two memories of two pages each: the cap is reached, not doubled.
        assert!(l.memory_growing(0, 2 * PAGE, None).unwrap());
        assert!(l.memory_growing(0, 2 * PAGE, None).unwrap());
        assert_eq!(l.memory_used(), 4 * PAGE);
        let e = l.memory_growing(2 * PAGE, 3 * PAGE, None).unwrap_err();
        assert!(e.downcast_ref::<MemoryLimitExceeded>().is_some(), "{e}");
        assert_eq!(l.memory_used(), 4 * PAGE);
        assert!(l.table_growing(0, 1000, None).unwrap());
        assert!(!l.table_growing(0, MAX_TABLE_ELEMENTS + 1, None).unwrap());
    }
}
