//! The journal: one writer task between the calls and the store, and a
//! write-ahead log. Calls hand it their entries (start, recording, end)
//! through a bounded channel; it appends them as JSON lines to a spool
//! file, with one fsync per batch of entries that arrived together, tells
//! the calls, then writes them to the store and empties the spool. While
//! the store is unavailable the entries stay in the spool and the writer
//! retries with back-off until the store is back. At start-up the spool
//! left by an earlier run is replayed first.
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
/// The maximum entries appended to the spool with one fsync.
const BATCH: usize = 64;
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

    /// Returns the entries left in the spool because the store was
    /// unavailable.
    pub fn spooled(&self) -> u64 {
        self.inner.spooled.load(Ordering::Relaxed)
    }

    /// Returns the entries the store rejected as invalid.
    pub fn rejected(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }
}

/// The writer's side of a [`Receipt`].
#[derive(Debug)]
struct Ticket {
    durable: oneshot::Sender<()>,
    settled: oneshot::Sender<()>,
}

/// The progress of one queued entry.
#[derive(Debug)]
pub struct Receipt {
    durable: oneshot::Receiver<()>,
    settled: oneshot::Receiver<()>,
}

impl Receipt {
    /// Waits until the entry survives a crash: fsynced in the spool, or
    /// in the store when the spool cannot be written. Returns at once when
    /// the writer has stopped.
    pub async fn durable(&mut self) {
        let _ = (&mut self.durable).await;
    }

    /// Waits until the writer is done with the entry: written to the
    /// store, rejected by it, or left in the spool for an unavailable
    /// store. Returns at once when the writer has stopped.
    pub async fn settled(self) {
        let _ = self.settled.await;
    }
}

/// The calls' handle on the writer task; clones share it.
#[derive(Debug)]
pub struct Journal<E> {
    sender: mpsc::Sender<(E, Ticket)>,
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
    E: Serialize + DeserializeOwned + Send + Sync + 'static,
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

    /// Hands an entry to the writer and waits until it is durable: fsynced
    /// in the spool, or in the store when the spool cannot be written.
    /// Waits while the queue is full.
    pub async fn submit(&self, entry: E) {
        if let Some(mut receipt) = self.enqueue(entry).await {
            receipt.durable().await;
        }
    }

    /// Hands an entry to the writer, waiting only while the queue is full.
    /// Entries reach the store in the order they were queued. Returns the
    /// entry's [`Receipt`], or `None` when the writer has stopped.
    pub async fn enqueue(&self, entry: E) -> Option<Receipt> {
        let (durable, durable_receiver) = oneshot::channel();
        let (settled, settled_receiver) = oneshot::channel();
        let item = (entry, Ticket { durable, settled });
        let receipt = Receipt {
            durable: durable_receiver,
            settled: settled_receiver,
        };
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
        Some(receipt)
    }

    /// Returns the journal's counters.
    pub fn stats(&self) -> &JournalStats {
        &self.stats
    }
}

/// Writes entries as they come. Each batch of entries that arrived
/// together is appended to the spool with one fsync before any call is
/// told, then written to the store; the spool is emptied once the store
/// has every entry in it. While the store is unavailable new entries stay
/// in the spool behind the older ones, so the store receives every
/// call's entries in order.
async fn write_loop<E, S>(
    mut receiver: mpsc::Receiver<(E, Ticket)>,
    sink: S,
    spool: Spool,
    stats: JournalStats,
) where
    E: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Sink<E>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut retry_at: Option<tokio::time::Instant> = spool
        .has_entries()
        .then(|| tokio::time::Instant::now() + backoff);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // TODO: write a batch in one transaction, or release calls once
        // their entries are spooled, so a slow database never fills the queue.
        tokio::select! {
            count = receiver.recv_many(&mut batch, BATCH) => {
                if count == 0 {
                    break;
                }
                let (entries, tickets): (Vec<E>, Vec<Ticket>) = batch.drain(..).unzip();
                let mut settled = Vec::with_capacity(tickets.len());
                if spool.append(&entries) {
                    // The entries survive a crash from here on.
                    for ticket in tickets {
                        let _ = ticket.durable.send(());
                        settled.push(ticket.settled);
                    }
                    if retry_at.is_none()
                        && let Err(error) = spool.replay(&sink, &stats).await
                    {
                        tracing::warn!(%error, "the store is unavailable; call records stay in the spool");
                        backoff = FIRST_BACKOFF;
                        retry_at = Some(tokio::time::Instant::now() + backoff);
                    }
                    if retry_at.is_some() {
                        stats.inner.spooled.fetch_add(entries.len() as u64, Ordering::Relaxed);
                    }
                } else {
                    // Without a spool the store is the only copy, so the
                    // calls wait for the write.
                    for entry in entries {
                        write_direct(&sink, &spool, &entry, &stats).await;
                    }
                    for ticket in tickets {
                        let _ = ticket.durable.send(());
                        settled.push(ticket.settled);
                    }
                }
                for settled in settled {
                    let _ = settled.send(());
                }
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

/// Writes one entry to the store when the spool cannot be written (a full
/// disk). An unavailable store then leaves the entry only in the log.
async fn write_direct<E, S>(sink: &S, spool: &Spool, entry: &E, stats: &JournalStats)
where
    E: Serialize,
    S: Sink<E>,
{
    match sink.write(entry).await {
        Ok(()) => {
            stats.inner.written.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) if error.unavailable => tracing::error!(
            %error,
            entry = %serde_json::to_string(entry).unwrap_or_default(),
            "the store is unavailable and the spool cannot be written; the call record is only in this log"
        ),
        Err(error) => spool.reject(entry, &error, stats),
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

    /// Appends entries as JSON lines with one fsync. Returns false, after
    /// logging the error, when the spool cannot be written.
    fn append<E: Serialize>(&self, entries: &[E]) -> bool {
        match append_lines(&self.path, entries) {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(
                    path = %self.path.display(),
                    %error,
                    "cannot append to the spool; call records go to the store unspooled"
                );
                false
            }
        }
    }

    /// Keeps an entry the store rejected as invalid, so an operator can
    /// fix and replay it.
    fn reject<E: Serialize>(&self, entry: &E, error: &WriteError, stats: &JournalStats) {
        stats.inner.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%error, path = %self.rejected.display(), "the store rejected a call record; kept in the rejected file");
        if let Err(write_error) = append_lines(&self.rejected, std::slice::from_ref(entry)) {
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
        // Every entry is in the store now. The truncation is not fsynced:
        // a crash that undoes it replays the entries again, which the store
        // ignores.
        std::fs::File::create(&self.path).map_err(|error| {
            format!("cannot empty the spool `{}`: {error}", self.path.display())
        })?;
        Ok(count)
    }
}

/// Appends each entry as one JSON line to `path` and fsyncs the file once.
fn append_lines<E: Serialize>(path: &Path, entries: &[E]) -> std::io::Result<()> {
    let mut lines = Vec::new();
    for entry in entries {
        serde_json::to_writer(&mut lines, entry).map_err(std::io::Error::other)?;
        lines.push(b'\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&lines)?;
    file.sync_data()
}
