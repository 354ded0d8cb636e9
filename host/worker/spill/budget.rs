//! Memory accounting: [`MemoryLimits`] (how a worker's `--memory-limit` is
//! divided), [`MemoryBudget`] (a byte counter that decides what may stay in
//! memory) and [`Charge`] (bytes taken from a budget, given back on drop).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The most a map task buffers before it sorts, combines and spills, what
/// Hadoop calls `io.sort.mb` (100 MB there): sorting a larger buffer is not
/// faster but slower, as its entries no longer fit the caches and its every
/// page is new memory, while a buffer emptied by a spill is reused. 100,000
/// files of 1 KiB on 2 workers at the default limit (a 1.5 GiB buffer on a
/// 24 GiB machine, one spill-free sort of 5 million records a task) took
/// 1.98 s and 490 MiB; with 64 MiB buffers 1.74 s and 195 MiB; at 32 MiB
/// the merge of more spills costs more than the smaller sorts save.
pub const MAP_BUFFER_MAX: usize = 64 << 20;

/// The most of a split of lines one map call is given at any limit: the
/// default split size, so that a worker with memory to spare maps each
/// split in one call.
pub const MAP_CALL_MAX: usize = 64 << 20;

/// How a worker divides its memory limit between the places that hold data.
/// The map input file itself (handed whole to the app) is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Map output buffered before it is sorted and spilled to disk.
    pub map_buffer: usize,
    /// Finished map output kept in memory (the rest lives on disk).
    pub store: usize,
    /// Map output a reduce task holds in memory while fetching (the rest is
    /// written to disk).
    pub reduce_fetch: usize,
    /// Read buffers of one k-way merge, shared by its runs.
    pub merge_buffers: usize,
    /// The most of a split of lines one map call is given: a larger range
    /// is read and mapped in pieces of whole lines, one at a time, so that
    /// a task never holds its whole split (whole files are handed to the
    /// app as they are).
    pub map_call: usize,
}

impl MemoryLimits {
    /// The split of `limit` bytes: a quarter each for the map buffer (at
    /// most [`MAP_BUFFER_MAX`]), the store and reduce fetches, an eighth
    /// for merge buffers; map calls over lines get a sixteenth of it
    /// (1 MiB to [`MAP_CALL_MAX`]).
    pub fn from_limit(limit: u64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        MemoryLimits {
            map_buffer: (limit / 4).clamp(64 << 10, MAP_BUFFER_MAX),
            store: limit / 4,
            reduce_fetch: limit / 4,
            merge_buffers: (limit / 8).max(1 << 20),
            map_call: (limit / 16).clamp(1 << 20, MAP_CALL_MAX),
        }
    }

    /// The read buffer of each of `k` merged runs.
    pub fn merge_buffer_per_run(&self, k: usize) -> usize {
        (self.merge_buffers / k.max(1)).clamp(16 << 10, 1 << 20)
    }
}

/// A byte counter with a limit. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes `n` bytes if they fit.
    pub fn try_reserve(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&u| u <= self.limit)
            })
            .is_ok()
    }

    /// Takes `n` bytes whether or not they fit.
    pub fn force_reserve(&self, n: usize) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    /// Gives back `n` bytes.
    pub fn release(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }

    /// Bytes taken.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Bytes taken from a [`MemoryBudget`], given back on drop.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Charge {
    /// Wraps `bytes` already reserved in `budget`.
    pub fn reserved(budget: Arc<MemoryBudget>, bytes: usize) -> Self {
        Charge { budget, bytes }
    }

    /// Changes the charge to `bytes` (reserving or releasing the difference).
    pub fn resize(&mut self, bytes: usize) {
        if bytes > self.bytes {
            self.budget.force_reserve(bytes - self.bytes);
        } else {
            self.budget.release(self.bytes - bytes);
        }
        self.bytes = bytes;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_buffer_is_a_quarter_of_the_limit_within_its_bounds() {
        let mib = 1usize << 20;
        let at = |limit: usize| MemoryLimits::from_limit(limit as u64);
        assert_eq!(at(256 * mib).map_buffer, 64 * mib);
        assert_eq!(at(64 * mib).map_buffer, 16 * mib);
        assert_eq!(at(64 << 10).map_buffer, 64 << 10, "never below 64 KiB");
        let big = at(6 << 30);
        assert_eq!(
            big.map_buffer, MAP_BUFFER_MAX,
            "a sort buffer, not a quarter"
        );
        assert_eq!(big.store, 1536 * mib, "the other shares stay a quarter");
        assert_eq!(big.map_call, MAP_CALL_MAX);
        assert_eq!(at(256 * mib).map_call, 16 * mib);
        assert_eq!(at(4 * mib).map_call, mib, "never below 1 MiB");
    }

    #[test]
    fn budgets_refuse_what_does_not_fit_and_charges_give_back() {
        let b = Arc::new(MemoryBudget::new(100));
        assert!(b.try_reserve(60));
        assert!(!b.try_reserve(50));
        let mut c = Charge::reserved(b.clone(), 60);
        c.resize(30);
        assert_eq!(b.used(), 30);
        drop(c);
        assert_eq!(b.used(), 0);
    }
}
