//! [`Journal`]: the group-commit writer in front of a [`JobStore`]. One
//! thread owns the store's writes; callers hand it records through a
//! channel, and it gathers everything queued since its last commit into
//! the next transaction (one sync for many submissions: the way databases
//! make durable commits cheap under concurrency).
//!
//! - [`Journal::commit`]: durable when the returned future resolves (a
//!   submission's reply waits for it);
//! - [`Journal::record`]: queued, written with the next transaction, not
//!   waited for (finished tasks, job ends: losing the last few on a crash
//!   only re-runs work);
//! - [`Journal::flush`]: waits until everything queued so far is written
//!   (at shutdown).

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::{JobStore, Record, StoreError};

/// Most records in one transaction (bounds the latency of a commit).
const MAX_BATCH: usize = 4096;

struct Batch {
    records: Vec<Record>,
    done: Option<oneshot::Sender<Result<(), Arc<StoreError>>>>,
}

/// The group-commit writer. Cheap to clone; the thread stops when the last
/// clone is dropped, after writing what was queued.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Batch>,
    _thread: Arc<Writer>,
}

struct Writer(Option<JoinHandle<()>>);

impl Drop for Writer {
    fn drop(&mut self) {
        // Every sender is gone by now (the journal's fields drop in order:
        // the sender first), so the thread ends after its last batch.
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

impl Journal {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<dyn JobStore>) -> Self {
        let (tx, rx) = mpsc::channel::<Batch>();
        let thread = std::thread::Builder::new()
            .name("mr-job-store".into())
            .spawn(move || write_loop(&*store, rx))
            .ok();
        if thread.is_none() {
            tracing::error!("cannot start the job store's writer thread");
        }
        Journal {
            tx,
            _thread: Arc::new(Writer(thread)),
        }
    }

    /// Queues `records` for the next transaction and returns a future that
    /// resolves once that transaction is synced. The records are queued
    /// when this returns (call it under the lock that orders them).
    pub fn commit(
        &self,
        records: Vec<Record>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let (done, wait) = oneshot::channel();
        let sent = self.tx.send(Batch {
            records,
            done: Some(done),
        });
        async move {
            sent.map_err(|_| StoreError::Stopped)?;
            match wait.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(StoreError::Failed(e)),
                Err(_) => Err(StoreError::Stopped),
            }
        }
    }

    /// Queues `records` for the next transaction without waiting.
    pub fn record(&self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        if self
            .tx
            .send(Batch {
                records,
                done: None,
            })
            .is_err()
        {
            tracing::warn!("the job store's writer has stopped; a record was not kept");
        }
    }

    /// Waits until everything queued before this call is written.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.commit(Vec::new()).await
    }
}

fn write_loop(store: &dyn JobStore, rx: mpsc::Receiver<Batch>) {
    while let Ok(first) = rx.recv() {
        let mut records = first.records;
        let mut waiting: Vec<_> = first.done.into_iter().collect();
        while records.len() < MAX_BATCH {
            let Ok(next) = rx.try_recv() else { break };
            records.extend(next.records);
            waiting.extend(next.done);
        }
        let result = if records.is_empty() {
            Ok(())
        } else {
            store.append(&records).map_err(Arc::new)
        };
        if let Err(e) = &result {
            tracing::error!(records = records.len(), "job store write failed: {e}");
        }
        for w in waiting {
            let _ = w.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::store::Snapshot;
    use crate::core::JobId;
    use std::sync::Mutex;

    /// A store that counts transactions, each taking a while (a sync).
    #[derive(Default)]
    struct Counting {
        batches: Mutex<Vec<usize>>,
    }

    impl JobStore for Counting {
        fn load(&self) -> Result<Snapshot, StoreError> {
            Ok(Snapshot::default())
        }
        fn append(&self, records: &[Record]) -> Result<(), StoreError> {
            std::thread::sleep(std::time::Duration::from_millis(20));
            self.batches.lock().unwrap().push(records.len());
            Ok(())
        }
    }

    fn forget(job: u32) -> Record {
        Record::Forget { job: JobId(job) }
    }

    #[tokio::test]
    async fn concurrent_commits_share_transactions_and_all_are_acknowledged() {
        let store = Arc::new(Counting::default());
        let journal = Journal::start(store.clone());
        let waits: Vec<_> = (0..200).map(|i| journal.commit(vec![forget(i)])).collect();
        for w in futures::future::join_all(waits).await {
            w.unwrap();
        }
        let batches = store.batches.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), 200);
        assert!(
            batches.len() < 20,
            "200 commits queued together took {} transactions",
            batches.len()
        );
    }

    #[tokio::test]
    async fn flush_waits_for_records_queued_before_it() {
        let store = Arc::new(Counting::default());
        let journal = Journal::start(store.clone());
        journal.record(vec![forget(1)]);
        journal.record(vec![forget(2), forget(3)]);
        journal.flush().await.unwrap();
        assert_eq!(store.batches.lock().unwrap().iter().sum::<usize>(), 3);
    }
}
