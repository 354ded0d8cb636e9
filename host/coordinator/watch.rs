//! [`JobWatchers`]: one wake-up channel per watched job, so a change to one
//! job wakes only its own `WatchJob` streams (never every open stream), and
//! the caps on how many streams may be open, per connection and in total.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::core::JobId;

/// Why a watch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// Every stream the coordinator allows is open.
    #[error("too many open WatchJob streams ({0}, the coordinator's limit); poll instead or retry later")]
    Total(usize),
    /// This connection has as many streams as it may.
    #[error("too many WatchJob streams on this connection ({0}, the per-connection limit)")]
    PerConnection(usize),
}

#[derive(Debug, Default)]
struct Inner {
    /// A sender per job with at least one watcher.
    jobs: HashMap<JobId, watch::Sender<u64>>,
    /// Open streams by the peer's address (a TCP connection's identity).
    by_conn: HashMap<SocketAddr, usize>,
    total: usize,
}

/// Per-job wake-ups and the stream caps.
#[derive(Debug)]
pub struct JobWatchers {
    inner: Arc<Mutex<Inner>>,
    max_total: usize,
    max_per_conn: usize,
}

/// One open watch: wakes when its job may have changed; releases its place
/// under the caps when dropped.
#[derive(Debug)]
pub struct Watch {
    /// Changes whenever the job may have changed (closed: forgotten).
    pub changed: watch::Receiver<u64>,
    inner: Arc<Mutex<Inner>>,
    conn: Option<SocketAddr>,
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

impl JobWatchers {
    /// No watchers yet; at most `max_total` streams, `max_per_conn` on one
    /// connection.
    pub fn new(max_total: usize, max_per_conn: usize) -> Self {
        JobWatchers {
            inner: Default::default(),
            max_total,
            max_per_conn,
        }
    }

    /// Opens a watch on `job` for the connection from `conn` (`None`: not
    /// known, only the total cap applies).
    pub fn watch(&self, job: JobId, conn: Option<SocketAddr>) -> Result<Watch, WatchError> {
        let mut inner = lock(&self.inner);
        if inner.total >= self.max_total {
            return Err(WatchError::Total(self.max_total));
        }
        if let Some(addr) = conn {
            let n = inner.by_conn.entry(addr).or_default();
            if *n >= self.max_per_conn {
                return Err(WatchError::PerConnection(self.max_per_conn));
            }
            *n += 1;
        }
        inner.total += 1;
        let changed = inner
            .jobs
            .entry(job)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        Ok(Watch {
            changed,
            inner: Arc::clone(&self.inner),
            conn,
        })
    }

    /// Wakes `job`'s watchers, if it has any (`O(1)` otherwise).
    pub fn notify(&self, job: JobId) {
        let mut inner = lock(&self.inner);
        let Some(tx) = inner.jobs.get(&job) else {
            return;
        };
        if tx.receiver_count() == 0 {
            inner.jobs.remove(&job);
            return;
        }
        tx.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// `job` was forgotten: its watchers see their channel close.
    pub fn forget(&self, job: JobId) {
        lock(&self.inner).jobs.remove(&job);
    }

    /// How many streams are open.
    pub fn open(&self) -> usize {
        lock(&self.inner).total
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut inner = lock(&self.inner);
        inner.total -= 1;
        if let Some(addr) = self.conn {
            if let Some(n) = inner.by_conn.get_mut(&addr) {
                *n -= 1;
                if *n == 0 {
                    inner.by_conn.remove(&addr);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Option<SocketAddr> {
        Some(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn caps_count_open_streams_per_connection_and_in_total() {
        let w = JobWatchers::new(3, 2);
        let a1 = w.watch(JobId(0), addr(1)).unwrap();
        let _a2 = w.watch(JobId(1), addr(1)).unwrap();
        assert_eq!(
            w.watch(JobId(2), addr(1)).unwrap_err(),
            WatchError::PerConnection(2)
        );
        let _b1 = w.watch(JobId(2), addr(2)).unwrap();
        assert_eq!(
            w.watch(JobId(2), addr(3)).unwrap_err(),
            WatchError::Total(3)
        );
        drop(a1);
        assert_eq!(w.open(), 2);
        w.watch(JobId(3), addr(1)).unwrap();
    }

    #[test]
    fn only_the_changed_jobs_watchers_wake() {
        let w = JobWatchers::new(10, 10);
        let mut a = w.watch(JobId(0), None).unwrap();
        let b = w.watch(JobId(1), None).unwrap();
        w.notify(JobId(0));
        assert!(a.changed.has_changed().unwrap());
        assert!(!b.changed.has_changed().unwrap());
        a.changed.borrow_and_update();
        w.forget(JobId(1));
        assert!(b.changed.has_changed().is_err(), "a forgotten job closes");
        w.notify(JobId(7));
    }
}
