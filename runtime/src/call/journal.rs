//! The journal: one writer task between the calls and the store. Calls
//! hand it the start and the end of each call through a bounded channel;
//! it writes them to the store, and while the store is unavailable it
//! appends them as JSON lines to a spool file (fsynced before the call
//! goes on) and retries with back-off until the store is back. At
//! start-up the spool left by an earlier run is replayed first.
//!
//! Every write is idempotent by call id, so an entry written twice (a
//! replay after a crash between the write and the spool's truncation)
//! changes nothing.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Entries queued between the calls and the writer; a full queue makes
/// the call wait, never drops its record.
const QUEUE: usize = 1024;
/// The first retry of an unavailable store, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The maximum wait between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The spool file's name in the spool folder.
const SPOOL_FILE: &str = "journal.jsonl";
/// Entries the store rejected as invalid, kept for an operator.
const REJECTED_FILE: &str = "rejected.jsonl";

/// A failed write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WriteError {
    /// True when the store is unreachable, so the write is retried later.
    pub unavailable: bool,
    /// What failed.
    pub message: String,
}

/// The destination of journal entries: the store.
pub trait Sink<E>: Send + Sync + 'static {
    /// Writes one entry; idempotent.
    fn write(&self, entry: &E) -> impl Future<Output = Result<(), WriteError>> + Send;
}

/// Counters of the journal; clones share them.
#[derive(Clone, Debug, Default)]
pub struct JournalStats {
    inner: Arc<JournalCounters>,
}

#[derive(Debug, Default)]
struct JournalCounters {
    queue_full: AtomicU64,
    written: AtomicU64,
    spooled: AtomicU64,
    rejected: AtomicU64,
}

impl JournalStats {
    /// Returns how often a call found the queue full and waited.
    pub fn queue_full(&self) -> u64 {
        self.inner.queue_full.load(Ordering::Relaxed)
    }

    /// Returns the entries written to the store.
    pub fn written(&self) -> u64 {
        self.inner.written.load(Ordering::Relaxed)
    }

    /// Returns the entries appended to the spool.
    pub fn spooled(&self) -> u64 {
        self.inner.spooled.load(Ordering::Relaxed)
    }

    /// Returns the entries the store rejected as invalid.
    pub fn rejected(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }
}

/// The calls' handle on the writer task; clones share it.
#[derive(Debug)]
pub struct Journal<E> {
    sender: mpsc::Sender<(E, oneshot::Sender<()>)>,
    stats: JournalStats,
}

impl<E> Clone for Journal<E> {
    fn clone(&self) -> Self {
        Journal {
            sender: self.sender.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<E> Journal<E>
where
    E: Serialize + DeserializeOwned + Send + 'static,
{
    /// Replays the spool in `folder` into `sink`, then starts the writer
    /// task. Fails when the spool folder cannot be created or read, or when
    /// the store is unavailable for the replay (flowd then refuses to
    /// start rather than write new entries ahead of older ones).
    pub async fn start<S: Sink<E>>(
        folder: &Path,
        sink: S,
        stats: JournalStats,
    ) -> Result<Journal<E>, String> {
        std::fs::create_dir_all(folder).map_err(|error| {
            format!(
                "cannot create the spool folder `{}` (`spool` in tok.yaml): {error}",
                folder.display()
            )
        })?;
        let spool = Spool::new(folder);
        let replayed = spool.replay(&sink, &stats).await?;
        if replayed > 0 {
            tracing::info!(
                entries = replayed,
                "spooled call records written to the store"
            );
        }
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(receiver, sink, spool, stats.clone()));
        Ok(Journal { sender, stats })
    }

    /// Hands an entry to the writer and waits until it is in the store or
    /// fsynced in the spool. Waits while the queue is full.
    pub async fn submit(&self, entry: E) {
        if let Some(written) = self.enqueue(entry).await {
            let _ = written.await;
        }
    }

    /// Hands an entry to the writer, waiting only while the queue is full.
    /// Entries reach the store in the order they were queued. The
    /// receiver returned completes once the entry is written or spooled;
    /// `None` when the writer has stopped.
    pub async fn enqueue(&self, entry: E) -> Option<oneshot::Receiver<()>> {
        let (done, written) = oneshot::channel();
        let item = (entry, done);
        let item = match self.sender.try_send(item) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(item)) => {
                self.stats.inner.queue_full.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("the journal queue is full; the call waits for the writer");
                Some(item)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("the journal writer has stopped; the call record is lost");
                return None;
            }
        };
        if let Some(item) = item
            && self.sender.send(item).await.is_err()
        {
            tracing::error!("the journal writer has stopped; the call record is lost");
            return None;
        }
        Some(written)
    }

    /// Returns the journal's counters.
    pub fn stats(&self) -> &JournalStats {
        &self.stats
    }
}

/// Writes entries as they come. While the spool holds entries, new ones
/// are appended behind them, so the store receives every call's entries
/// in order.
async fn write_loop<E, S>(
    mut receiver: mpsc::Receiver<(E, oneshot::Sender<()>)>,
    sink: S,
    spool: Spool,
    stats: JournalStats,
) where
    E: Serialize + DeserializeOwned + Send + 'static,
    S: Sink<E>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut retry_at: Option<tokio::time::Instant> = spool
        .has_entries()
        .then(|| tokio::time::Instant::now() + backoff);
    loop {
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            item = receiver.recv() => {
                let Some((entry, done)) = item else { break };
                if retry_at.is_none() {
                    match sink.write(&entry).await {
                        Ok(()) => {
                            stats.inner.written.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) if error.unavailable => {
                            tracing::warn!(%error, "the store is unavailable; spooling call records");
                            spool.append(&entry, &stats);
                            backoff = FIRST_BACKOFF;
                            retry_at = Some(tokio::time::Instant::now() + backoff);
                        }
                        Err(error) => spool.reject(&entry, &error, &stats),
                    }
                } else {
                    spool.append(&entry, &stats);
                }
                let _ = done.send(());
            }
            () = retry => {
                match spool.replay(&sink, &stats).await {
                    Ok(count) => {
                        tracing::info!(entries = count, "the store is back; spooled call records written");
                        retry_at = None;
                        backoff = FIRST_BACKOFF;
                    }
                    Err(error) => {
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        tracing::debug!(%error, retry_in_ms = backoff.as_millis() as u64, "the store is still unavailable");
                        retry_at = Some(tokio::time::Instant::now() + backoff);
                    }
                }
            }
        }
    }
}

/// The spool files of one folder.
struct Spool {
    path: PathBuf,
    rejected: PathBuf,
}

impl Spool {
    fn new(folder: &Path) -> Spool {
        Spool {
            path: folder.join(SPOOL_FILE),
            rejected: folder.join(REJECTED_FILE),
        }
    }

    fn has_entries(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|meta| meta.len() > 0)
    }

    /// Appends one entry as a JSON line and fsyncs it.
    fn append<E: Serialize>(&self, entry: &E, stats: &JournalStats) {
        match append_line(&self.path, entry) {
            Ok(()) => {
                stats.inner.spooled.fetch_add(1, Ordering::Relaxed);
            }
            // NOTE: with the store down and the spool unwritable (a full
            // disk) the entry exists only in this log line.
            Err(error) => tracing::error!(
                path = %self.path.display(),
                %error,
                entry = %serde_json::to_string(entry).unwrap_or_default(),
                "cannot append to the spool; the call record is only in this log"
            ),
        }
    }

    /// Keeps an entry the store rejected as invalid, so an operator can
    /// fix and replay it.
    fn reject<E: Serialize>(&self, entry: &E, error: &WriteError, stats: &JournalStats) {
        stats.inner.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%error, path = %self.rejected.display(), "the store rejected a call record; kept in the rejected file");
        if let Err(write_error) = append_line(&self.rejected, entry) {
            tracing::error!(
                %write_error,
                entry = %serde_json::to_string(entry).unwrap_or_default(),
                "cannot keep the rejected call record"
            );
        }
    }

    /// Writes every spooled entry to the store in order, then empties the
    /// spool. Stops at the first unavailable error, keeping the spool;
    /// an entry rejected as invalid moves to the rejected file. A line
    /// that is not a complete entry (cut by a crash) is skipped.
    async fn replay<E, S>(&self, sink: &S, stats: &JournalStats) -> Result<usize, String>
    where
        E: Serialize + DeserializeOwned,
        S: Sink<E>,
    {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(error) => {
                return Err(format!(
                    "cannot read the spool `{}`: {error}",
                    self.path.display()
                ));
            }
        };
        let mut count = 0;
        for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|error| {
                format!("cannot read the spool `{}`: {error}", self.path.display())
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let entry: E = match serde_json::from_str(&line) {
                Ok(entry) => entry,
                Err(error) => {
                    tracing::warn!(path = %self.path.display(), line = number + 1, %error, "incomplete spool line skipped");
                    continue;
                }
            };
            match sink.write(&entry).await {
                Ok(()) => {
                    stats.inner.written.fetch_add(1, Ordering::Relaxed);
                    count += 1;
                }
                Err(error) if error.unavailable => {
                    return Err(format!("the store is unavailable: {error}"));
                }
                Err(error) => self.reject(&entry, &error, stats),
            }
        }
        // Every entry is in the store now; a crash before this truncation
        // replays them again, which the store ignores.
        std::fs::File::create(&self.path)
            .and_then(|file| file.sync_all())
            .map_err(|error| {
                format!("cannot empty the spool `{}`: {error}", self.path.display())
            })?;
        Ok(count)
    }
}

/// Appends `entry` as one JSON line to `path` and fsyncs the file.
fn append_line<E: Serialize>(path: &Path, entry: &E) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}
