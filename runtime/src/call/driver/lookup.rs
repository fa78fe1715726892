//! Lookups from the flow: the built-in CRM (`crm`) or a `crm` hook of
//! tok.yaml. A lookup runs while the media task keeps sending, and the
//! caller hanging up cancels it at once (its future is dropped).

use super::{Leg, Shared, Waited, Wake};
use crate::call::persist;
use crate::call::record::{Step, now_millis};
use crate::crm::CrmSchema;
use crate::store::Store;
use flowc::config::HookKind;
use flowc::vm::{Contact, Reply};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A lookup's timeout when the flow sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// The maximum lookup timeout, because the caller waits meanwhile.
const MAX_TIMEOUT: Duration = Duration::from_secs(8);

/// The built-in CRM's answer: the contact's id and its fields.
type CrmAnswer = Result<Option<(i64, Contact)>, String>;

/// The CRM lookup started at the INVITE and the answers given so far.
#[derive(Default)]
pub(super) struct Lookups {
    /// The caller's number in E.164 form and the running lookup.
    prefetch: Option<(String, JoinHandle<CrmAnswer>)>,
    /// Answers by source and key; failures are not kept.
    answers: Vec<(String, String, Reply)>,
}

impl Lookups {
    /// Starts the built-in CRM lookup of `caller` when the server has a
    /// store and the number reads as E.164.
    pub(super) fn prefetch(shared: &Arc<Shared>, caller: Option<&str>) -> Lookups {
        let mut lookups = Lookups::default();
        let (Some(store), Some(caller)) = (shared.store.clone(), caller) else {
            return lookups;
        };
        let Some(e164) = e164_candidates(caller, shared.flows.country_code())
            .into_iter()
            .next()
        else {
            return lookups;
        };
        let schema = crm_schema(shared);
        let number = e164.clone();
        let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
            crm_lookup(&store, &[number], &schema).await
        }));
        lookups.prefetch = Some((e164, task));
        lookups
    }
}

impl Drop for Lookups {
    fn drop(&mut self) {
        if let Some((_, task)) = self.prefetch.take() {
            task.abort();
        }
    }
}

/// Returns the CRM settings of the config the flows were compiled with.
fn crm_schema(shared: &Shared) -> CrmSchema {
    CrmSchema {
        country_code: shared.flows.country_code(),
        fields: shared.flows.config().crm_fields.clone(),
    }
}

/// Returns the E.164 readings of `key` in lookup order.
fn e164_candidates(key: &str, country: Option<flowc::number::CountryCode>) -> Vec<String> {
    flowc::number::normalise(key, country)
        .candidates()
        .into_iter()
        .filter(|candidate| candidate.starts_with('+'))
        .collect()
}

/// Reads the first contact with one of `numbers` from the store.
async fn crm_lookup(store: &Store, numbers: &[String], schema: &CrmSchema) -> CrmAnswer {
    for number in numbers {
        match store.contact_by_phone(number).await {
            Ok(Some(record)) => return Ok(Some((record.id, schema.vm_contact(&record)))),
            Ok(None) => {}
            Err(error) => return Err(error.to_string()),
        }
    }
    Ok(None)
}

impl Leg {
    /// Carries out a lookup: waits for its answer, the timeout (the
    /// flow's, default 3 s, at most 8 s, and the hook's, whichever is
    /// shorter) or the caller hanging up.
    pub(super) async fn lookup(&mut self, source: &str, key: &str, timeout_ms: u64) -> Reply {
        if self.hung_up {
            return Reply::HungUp;
        }
        if let Some((_, _, reply)) = self
            .lookups
            .answers
            .iter()
            .find(|(s, k, _)| s == source && k == key)
        {
            return reply.clone();
        }
        let mut timeout = if timeout_ms == 0 {
            DEFAULT_TIMEOUT
        } else {
            Duration::from_millis(timeout_ms)
        }
        .min(MAX_TIMEOUT);
        let started = Instant::now();
        let reply = if source == "crm" {
            self.lookup_crm(key, timeout).await
        } else {
            let config = self.shared.flows.config();
            let Some(hook) = config
                .hooks
                .get(source)
                .filter(|hook| hook.kind == HookKind::Crm)
                .cloned()
            else {
                tracing::warn!(source, "lookup names no `crm` hook of tok.yaml");
                return Reply::LookupFailed {
                    timed_out: false,
                    reason: format!("no `crm` hook named `{source}` in tok.yaml"),
                };
            };
            timeout = timeout.min(Duration::from_millis(hook.timeout_ms));
            let types = config.crm_fields.clone();
            let client = self.shared.hooks.clone();
            let name = source.to_string();
            let key_text = key.to_string();
            let work = async move {
                client
                    .lookup(&name, &hook, &key_text, &types, timeout)
                    .await
            };
            self.await_lookup(work, timeout).await
        };
        // Keys pressed during the lookup go back to the media task, which
        // reports them again for the next menu or collect.
        for key in self.held_keys.drain(..) {
            let _ = self.media.key(key);
        }
        tracing::debug!(
            source,
            result = lookup_result(&reply),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "lookup done"
        );
        if matches!(reply, Reply::Found(_) | Reply::Missing) {
            self.lookups
                .answers
                .push((source.to_string(), key.to_string(), reply.clone()));
        }
        reply
    }

    /// Reads the built-in CRM, reusing the lookup started at the INVITE
    /// when the key is the same number.
    async fn lookup_crm(&mut self, key: &str, timeout: Duration) -> Reply {
        // A server started without a store (tests, embedding) has an empty
        // built-in CRM; flowd itself always opens one.
        let Some(store) = self.shared.store.clone() else {
            return Reply::Missing;
        };
        let numbers = e164_candidates(key, self.shared.flows.country_code());
        if numbers.is_empty() {
            tracing::debug!("the lookup key is not a phone number; no contact");
            return Reply::Missing;
        }
        let reuse = self
            .lookups
            .prefetch
            .as_ref()
            .is_some_and(|(number, _)| numbers.first() == Some(number));
        let answer = if reuse && let Some((_, task)) = self.lookups.prefetch.take() {
            let work = async move {
                match task.await {
                    Ok(answer) => answer,
                    Err(error) => Err(format!("the CRM lookup task failed: {error}")),
                }
            };
            self.await_crm(work, timeout).await
        } else {
            let schema = crm_schema(&self.shared);
            let work = async move { crm_lookup(&store, &numbers, &schema).await };
            self.await_crm(work, timeout).await
        };
        match answer {
            Ok(Ok(Some((id, contact)))) => {
                self.log.contact_id = Some(id);
                self.journal_contact(id).await;
                Reply::Found(contact)
            }
            Ok(Ok(None)) => Reply::Missing,
            Ok(Err(reason)) => {
                tracing::warn!(%reason, "CRM lookup failed");
                Reply::LookupFailed {
                    timed_out: false,
                    reason,
                }
            }
            Err(reply) => reply,
        }
    }

    /// Queues the contact found by the built-in CRM, with the path up to
    /// this lookup, for the call's row, so a crash leaves the call in the
    /// contact's calls; the call does not wait for the write.
    async fn journal_contact(&mut self, contact_id: i64) {
        let Some(journal) = &self.shared.journal else {
            return;
        };
        let lookup = Step {
            at: now_millis(),
            kind: String::from("lookup"),
            value: String::from("crm: found"),
        };
        let entry = persist::call_contact(&self.log, contact_id, &lookup);
        let _ = journal.enqueue(entry).await;
    }

    /// Waits for a CRM answer; `Err` carries the reply for a timeout or a
    /// hang-up.
    async fn await_crm(
        &mut self,
        work: impl Future<Output = CrmAnswer>,
        timeout: Duration,
    ) -> Result<CrmAnswer, Reply> {
        let deadline = Instant::now() + timeout;
        tokio::pin!(work);
        loop {
            match self.wait_for(Some(deadline), &mut work).await {
                Waited::Done(answer) => return Ok(answer),
                Waited::Wake(Wake::HungUp) => return Err(Reply::HungUp),
                Waited::Wake(Wake::Timeout) => return Err(timed_out(timeout)),
                Waited::Wake(Wake::Key(key)) => self.held_keys.push(key),
                Waited::Wake(Wake::PlaybackEnded(_)) => {}
            }
        }
    }

    /// Waits for a hook's reply, the timeout or the caller hanging up.
    async fn await_lookup(
        &mut self,
        work: impl Future<Output = Reply>,
        timeout: Duration,
    ) -> Reply {
        let deadline = Instant::now() + timeout;
        tokio::pin!(work);
        loop {
            match self.wait_for(Some(deadline), &mut work).await {
                Waited::Done(reply) => return reply,
                Waited::Wake(Wake::HungUp) => return Reply::HungUp,
                Waited::Wake(Wake::Timeout) => return timed_out(timeout),
                Waited::Wake(Wake::Key(key)) => self.held_keys.push(key),
                Waited::Wake(Wake::PlaybackEnded(_)) => {}
            }
        }
    }
}

fn timed_out(timeout: Duration) -> Reply {
    Reply::LookupFailed {
        timed_out: true,
        reason: format!("no answer within {} ms", timeout.as_millis()),
    }
}

/// Names a lookup's reply for the log.
fn lookup_result(reply: &Reply) -> &'static str {
    match reply {
        Reply::Found(_) => "found",
        Reply::Missing => "missing",
        Reply::LookupFailed {
            timed_out: true, ..
        } => "timeout",
        Reply::LookupFailed { .. } => "failed",
        Reply::HungUp => "hung up",
        _ => "other",
    }
}
