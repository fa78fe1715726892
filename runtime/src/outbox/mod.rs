//! The durable outbox: webhooks, notifications and tagger requests that a
//! finished call wrote to the store, sent by one task per process until
//! each is delivered or expires.
//!
//! Delivery is at least once. A call's items go one at a time in `seq`
//! order, and different calls go concurrently up to `outbox.concurrency`.
//! Every request carries `Idempotency-Key: {call_id}:{seq}`, the same on
//! every attempt, so a receiver can drop repeats; when the hook has
//! `secret_env` it is signed as [`sign`] describes. Every attempt is
//! written to the store, and an item that fails is retried with
//! exponential back-off until `outbox.expire` after its creation.

mod retry;
mod send;
mod sign;

pub use retry::{StatusClass, backoff, classify, parse_retry_after};
pub use send::{IDEMPOTENCY_HEADER, expand_env, parse_tags};
pub use sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify};

use crate::config::OutboxConfig;
use crate::store::{Attempt, AttemptOutcome, Millis, NewOutboxItem, OutboxItem, Store};
use flowc::config::Hook;
use send::{Failure, Sender};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

/// The longest wait between two reads of the due items, so items written
/// by another process on the same database, or scheduled by a deliverer
/// that ran before this one, are found without a wake-up.
const MAX_POLL: Duration = Duration::from_secs(1);

/// The shortest wait between two reads of the due items.
const MIN_POLL: Duration = Duration::from_millis(10);

/// An error starting the deliverer.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(String),
}

/// Returns the process's HTTP client, the one [`crate::hooks::HookClient`]
/// uses too (rustls on the ring provider, no redirects).
pub fn http_client() -> Result<reqwest::Client, OutboxError> {
    crate::hooks::shared_client().map_err(OutboxError::Client)
}

/// The handle the call layer keeps: wakes the deliverer after it wrote
/// new items. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    /// Tells the deliverer that new items may be due. A wake while it is
    /// busy is kept, so none is lost.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The running deliverer. Dropping it stops it and cancels the attempts
/// in flight. Their items stay pending, so the next deliverer on the same
/// database sends them again.
pub struct Deliverer {
    outbox: Outbox,
    task: JoinHandle<()>,
}

impl Deliverer {
    /// Starts the deliverer on the current tokio runtime. `hooks` are the
    /// hooks of `tok.yaml`: an item's `secret_env` and timeout come from
    /// the hook it names.
    pub fn start(
        store: Store,
        hooks: BTreeMap<String, Hook>,
        config: OutboxConfig,
        client: reqwest::Client,
    ) -> Deliverer {
        let outbox = Outbox::default();
        let sender = Arc::new(Sender {
            client,
            hooks,
            store,
        });
        let wake = outbox.wake.clone();
        let task = tokio::spawn(run(sender, wake, config));
        Deliverer { outbox, task }
    }

    /// Returns the handle that wakes this deliverer.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }
}

impl Drop for Deliverer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Builds the item that sends `body` to the hook `name`, expiring
/// `outbox.expire` after `now`. The idempotency key is left empty, so the
/// store sets it to `{call_id}:{seq}` when it numbers the call's items.
/// Header values are stored as written in `tok.yaml`, so a `${NAME}`
/// secret is read from the environment at send time and never stored.
pub fn new_item(
    name: &str,
    hook: &Hook,
    body: String,
    now: Millis,
    config: &OutboxConfig,
) -> NewOutboxItem {
    let expire = i64::try_from(config.expire.as_millis()).unwrap_or(i64::MAX);
    NewOutboxItem {
        kind: hook.kind.as_str().to_string(),
        hook: name.to_string(),
        url: hook.url.clone(),
        method: hook.method.clone(),
        headers: hook
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        body,
        idempotency_key: String::new(),
        expires_at: now.saturating_add(expire),
    }
}

/// The report of a finished attempt task to the loop.
struct Done {
    call_id: String,
    /// The retry time written to the store.
    retry_at: Option<Millis>,
    /// Whether the attempt could be written; when it could not, the call
    /// is held back for one back-off so a dead database does not make the
    /// loop resend in a tight loop.
    recorded: bool,
}

async fn run(sender: Arc<Sender>, wake: Arc<Notify>, config: OutboxConfig) {
    let concurrency = config.concurrency.max(1);
    let poll = config.backoff.clamp(MIN_POLL, MAX_POLL);
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut task_calls: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut held: HashMap<String, Millis> = HashMap::new();
    let mut retries: BinaryHeap<Reverse<Millis>> = BinaryHeap::new();
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut store_failing = false;
    tracing::info!(concurrency, "outbox deliverer started");
    loop {
        let now = now_millis();
        held.retain(|_, until| *until > now);
        while retries.peek().is_some_and(|Reverse(at)| *at <= now) {
            retries.pop();
        }
        if in_flight.len() < concurrency {
            // Due items of calls already in flight or held come back too,
            // so the limit leaves room for them.
            let requested = concurrency + in_flight.len() + held.len();
            let limit = u32::try_from(requested).unwrap_or(u32::MAX);
            match sender.store.due_outbox(now, limit).await {
                Ok(items) => {
                    if store_failing {
                        tracing::info!("outbox store reachable again");
                        store_failing = false;
                    }
                    for item in items {
                        if in_flight.len() >= concurrency {
                            break;
                        }
                        if in_flight.contains(&item.call_id) || held.contains_key(&item.call_id) {
                            continue;
                        }
                        in_flight.insert(item.call_id.clone());
                        let call_id = item.call_id.clone();
                        let task = tasks.spawn(deliver(sender.clone(), item, config));
                        task_calls.insert(task.id(), call_id);
                    }
                }
                Err(error) => {
                    if !store_failing {
                        tracing::warn!(%error, "cannot read due outbox items; retrying");
                        store_failing = true;
                    }
                }
            }
        }
        let now = now_millis();
        let mut wait = poll;
        if let Some(Reverse(at)) = retries.peek() {
            wait = wait.min(millis_until(*at, now));
        }
        if let Some(until) = held.values().min() {
            wait = wait.min(millis_until(*until, now));
        }
        tokio::select! {
            () = wake.notified() => {}
            Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let hold_until = now_millis().saturating_add(
                    i64::try_from(config.backoff.as_millis()).unwrap_or(i64::MAX),
                );
                match joined {
                    Ok((id, done)) => {
                        task_calls.remove(&id);
                        in_flight.remove(&done.call_id);
                        if let Some(at) = done.retry_at {
                            retries.push(Reverse(at));
                        }
                        if !done.recorded {
                            held.insert(done.call_id, hold_until);
                        }
                    }
                    Err(error) => {
                        // The item stays pending; holding its call for one
                        // back-off keeps a panicking item from looping.
                        let call_id = task_calls.remove(&error.id()).unwrap_or_default();
                        tracing::error!(%call_id, %error, "an outbox attempt task failed; retrying");
                        in_flight.remove(&call_id);
                        held.insert(call_id, hold_until);
                    }
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Makes one attempt at `item` and writes it to the store.
async fn deliver(sender: Arc<Sender>, item: OutboxItem, config: OutboxConfig) -> Done {
    let span = tracing::info_span!(
        "outbox",
        call_id = %item.call_id,
        seq = item.seq,
        hook = %item.hook,
        kind = %item.kind,
    );
    async move {
        let at = now_millis();
        let started = Instant::now();
        let result = sender.attempt(&item).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (attempt, outcome) = match result {
            Ok(status) => {
                tracing::debug!(status, duration_ms, "outbox item delivered");
                let attempt = Attempt {
                    at,
                    status_code: Some(status),
                    error: None,
                    duration_ms,
                };
                (attempt, AttemptOutcome::Delivered)
            }
            Err(failure) => {
                let outcome = after_failure(&item, &failure, &config);
                log_failure(&item, &failure, outcome);
                let attempt = Attempt {
                    at,
                    status_code: failure.status,
                    error: Some(failure.error),
                    duration_ms,
                };
                (attempt, outcome)
            }
        };
        let recorded = match sender.store.record_attempt(item.id, &attempt, outcome).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "cannot record an outbox attempt; the item stays pending and is sent again");
                false
            }
        };
        Done {
            call_id: item.call_id.clone(),
            retry_at: match outcome {
                AttemptOutcome::Retry(at) if recorded => Some(at),
                _ => None,
            },
            recorded,
        }
    }
    .instrument(span)
    .await
}

/// Decides when a failed item is tried again: at the receiver's
/// `Retry-After` (never sooner than `outbox.backoff`) or after the next
/// back-off, and at the latest at its expiry, where one last attempt is
/// made. An item that fails at or after its expiry is expired.
fn after_failure(item: &OutboxItem, failure: &Failure, config: &OutboxConfig) -> AttemptOutcome {
    let now = now_millis();
    if now >= item.expires_at {
        return AttemptOutcome::Expired;
    }
    let delay = match failure.retry_after {
        Some(delay) => delay.max(config.backoff),
        None => backoff(
            item.attempts.saturating_add(1),
            config.backoff,
            config.max_backoff,
        ),
    };
    let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    AttemptOutcome::Retry(now.saturating_add(delay).min(item.expires_at))
}

fn log_failure(item: &OutboxItem, failure: &Failure, outcome: AttemptOutcome) {
    let attempts = item.attempts.saturating_add(1);
    let error = failure.error.as_str();
    let status = failure.status;
    match outcome {
        AttemptOutcome::Expired => tracing::warn!(
            attempts,
            status,
            error,
            "outbox item expired undelivered; the receiver never accepted it"
        ),
        AttemptOutcome::Retry(at) if failure.misconfigured => tracing::warn!(
            attempts,
            status,
            error,
            retry_in_ms = at.saturating_sub(now_millis()),
            "outbox item failed; check the receiver or the hook in tok.yaml; retrying"
        ),
        AttemptOutcome::Retry(at) => tracing::info!(
            attempts,
            status,
            error,
            retry_in_ms = at.saturating_sub(now_millis()),
            "outbox delivery failed; retrying"
        ),
        AttemptOutcome::Delivered => {}
    }
}

fn millis_until(at: Millis, now: Millis) -> Duration {
    Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
}

/// Returns the current time in milliseconds since the Unix epoch.
fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
