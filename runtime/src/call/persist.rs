//! The bridge from call records to the store: the journal's entries, their
//! writes to the store, and the conversion of a [`CallLog`] into the
//! store's [`FinishedCall`].

use super::journal::{Sink, WriteError};
use super::record::{CallLog, LegLog, Step, TagOrigin, TicketRequest};
use crate::store::{
    CallStart, FinishedCall, Leg, NewOutboxItem, PathStep, Store, StoreError, TagSource,
    TicketAction,
};
use flowc::config::Hook;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One write of the journal: the start of a call, its recording, the
/// contact a lookup found, or its end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum JournalEntry {
    /// A call was answered.
    Started(CallStart),
    /// A call's recording started; the path is relative to the
    /// recordings folder.
    Recording {
        /// SIP Call-ID of the caller's leg.
        call_id: String,
        /// The WAV file's path relative to the recordings folder.
        recording: String,
    },
    /// A lookup found the caller's contact in the built-in CRM.
    Contact {
        /// SIP Call-ID of the caller's leg.
        call_id: String,
        /// The contact's id.
        contact_id: i64,
        /// The path up to and including the lookup.
        path: Vec<PathStep>,
    },
    /// An agent of a queue answered the call, so a crash during the talk
    /// leaves the queue, the wait and the agent on the record.
    Bridged {
        /// SIP Call-ID of the caller's leg.
        call_id: String,
        /// The queue.
        queue: String,
        /// The agent who answered.
        agent: String,
        /// Milliseconds the caller waited.
        wait_ms: i64,
    },
    /// A call ended, with everything to write in one transaction.
    Finished(Box<FinishedCall>),
}

impl JournalEntry {
    /// Returns the call id the entry is about.
    pub fn call_id(&self) -> &str {
        match self {
            JournalEntry::Started(start) => &start.call_id,
            JournalEntry::Recording { call_id, .. } => call_id,
            JournalEntry::Contact { call_id, .. } => call_id,
            JournalEntry::Bridged { call_id, .. } => call_id,
            JournalEntry::Finished(finished) => &finished.call_id,
        }
    }
}

fn write_error(error: &StoreError) -> WriteError {
    WriteError {
        unavailable: error.is_unavailable(),
        message: error.to_string(),
    }
}

/// The journal's writer: the store, and the outbox deliverer, woken once
/// a finished call's follow-ups are written.
pub struct RecordSink {
    /// The database of call records.
    pub store: Store,
    /// The deliverer's handle; `None` leaves the follow-ups to its polling.
    pub outbox: Option<crate::outbox::Outbox>,
}

impl Sink<JournalEntry> for RecordSink {
    async fn write(&self, entry: &JournalEntry) -> Result<(), WriteError> {
        self.store.write(entry).await?;
        if let (JournalEntry::Finished(finished), Some(outbox)) = (entry, &self.outbox)
            && !finished.outbox.is_empty()
        {
            outbox.wake();
        }
        Ok(())
    }
}

impl Sink<JournalEntry> for Store {
    async fn write(&self, entry: &JournalEntry) -> Result<(), WriteError> {
        let error = match write_entry(self, entry).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        tracing::warn!(call_id = entry.call_id(), %error, "call record write failed");
        if !error.is_unavailable() || self.ping().await.is_err() {
            return Err(write_error(&error));
        }
        // The database is reachable, so the failure may belong to this
        // entry (PostgreSQL rejects a NUL in text, for one), and no retry
        // fixes that. A second failure while the database is still
        // reachable rejects the entry, so it cannot hold up later records.
        let again = match write_entry(self, entry).await {
            Ok(()) => return Ok(()),
            Err(again) => again,
        };
        if self.ping().await.is_err() {
            return Err(write_error(&again));
        }
        tracing::warn!(call_id = entry.call_id(), error = %again, "the database is reachable but rejected this call record twice; moving it to the rejected file");
        Err(WriteError {
            unavailable: false,
            message: again.to_string(),
        })
    }
}

async fn write_entry(store: &Store, entry: &JournalEntry) -> Result<(), StoreError> {
    match entry {
        JournalEntry::Started(start) => store.call_started(start).await,
        JournalEntry::Recording { call_id, recording } => {
            store.call_recording(call_id, recording).await
        }
        JournalEntry::Contact {
            call_id,
            contact_id,
            path,
        } => store.call_contact(call_id, *contact_id, path).await,
        JournalEntry::Bridged {
            call_id,
            queue,
            agent,
            wait_ms,
        } => store.call_bridged(call_id, queue, agent, *wait_ms).await,
        JournalEntry::Finished(finished) => store.call_finished(finished).await,
    }
}

/// Returns the row written when a call is answered.
pub fn call_start(log: &CallLog) -> CallStart {
    CallStart {
        call_id: log.call_id.clone(),
        flow: log.flow.clone(),
        flow_version: log.flow_version.clone(),
        caller: log.caller.clone(),
        dialled: log.dialled.clone(),
        started_at: log.started_at,
        answered_at: log.answered_at,
        legs: log.legs.iter().map(leg).collect(),
        recording: log.recording.clone(),
    }
}

/// Returns the entry that sets the contact `contact_id` on the call's row,
/// with the call's path so far followed by `lookup` (the lookup's step,
/// which the VM's trace adds to the log only after its reply).
pub fn call_contact(log: &CallLog, contact_id: i64, lookup: &Step) -> JournalEntry {
    JournalEntry::Contact {
        call_id: log.call_id.clone(),
        contact_id,
        path: log.path.iter().chain([lookup]).map(path_step).collect(),
    }
}

fn leg(leg: &LegLog) -> Leg {
    Leg {
        role: leg.role.clone(),
        call_id: leg.call_id.clone(),
        from: leg.from.clone(),
        to: leg.to.clone(),
        remote: leg.remote.clone(),
        codec: leg.codec.clone(),
        started_at: leg.started_at,
        answered_at: leg.answered_at,
        ended_at: leg.ended_at,
    }
}

fn path_step(step: &Step) -> PathStep {
    PathStep {
        at: step.at,
        kind: step.kind.clone(),
        value: step.value.clone(),
    }
}

/// Returns everything the store writes when the call ends, with its
/// follow-ups as outbox items expiring `outbox_expire` (`outbox.expire`)
/// after the end.
pub fn finished_call(
    log: &CallLog,
    hooks: &BTreeMap<String, Hook>,
    outbox_expire: std::time::Duration,
) -> FinishedCall {
    let millis = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let lifetime = i64::try_from(outbox_expire.as_millis()).unwrap_or(i64::MAX);
    let expires_at = log.ended_at.saturating_add(lifetime);
    FinishedCall {
        call_id: log.call_id.clone(),
        flow: log.flow.clone(),
        flow_version: log.flow_version.clone(),
        caller: log.caller.clone(),
        dialled: log.dialled.clone(),
        contact_id: log.contact_id,
        started_at: log.started_at,
        answered_at: log.answered_at,
        ended_at: log.ended_at,
        outcome: log.outcome.clone(),
        ended_by: log.ended_by.clone(),
        sip_reason: log.sip_reason.clone(),
        legs: log.legs.iter().map(leg).collect(),
        path: log.path.iter().map(path_step).collect(),
        queue: log.queue.clone(),
        agent: log.agent.clone(),
        wait_ms: millis(log.wait_ms),
        talk_ms: millis(log.talk_ms),
        wrapup_ms: millis(log.wrapup_ms),
        rating: log.rating,
        recording: log.recording.clone(),
        tags: log
            .tags
            .iter()
            .map(|(tag, origin)| {
                let source = match origin {
                    TagOrigin::Flow => TagSource::Flow,
                    TagOrigin::Rule => TagSource::Rule,
                };
                (tag.clone(), source)
            })
            .collect(),
        timeline: log.timeline.clone(),
        ticket: log.ticket.as_ref().map(|ticket| match ticket {
            TicketRequest::Link => TicketAction::Link,
            TicketRequest::Create(subject) => TicketAction::Create(subject.clone()),
            TicketRequest::LinkOrCreate(subject) => TicketAction::LinkOrCreate(subject.clone()),
        }),
        outbox: log
            .outbox(hooks)
            .into_iter()
            .map(|draft| NewOutboxItem {
                kind: draft.kind,
                hook: draft.hook,
                url: draft.url,
                method: draft.method,
                headers: draft.headers,
                body: draft.body,
                idempotency_key: draft.idempotency_key,
                expires_at,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn answered_log() -> CallLog {
        let mut log = CallLog::new("abc@host", 1_000);
        log.answered_at = Some(1_200);
        log.legs.push(LegLog {
            role: String::from("caller"),
            call_id: String::from("abc@host"),
            from: String::from("<sip:+38615550100@127.0.0.1>"),
            to: String::from("<sip:+38615550777@127.0.0.1>"),
            remote: String::from("127.0.0.1:5060"),
            codec: Some(String::from("PCMU")),
            started_at: 1_000,
            answered_at: Some(1_200),
            ended_at: None,
        });
        log.path.push(Step {
            at: 1_500,
            kind: String::from("menu"),
            value: String::from("1"),
        });
        log
    }

    #[test]
    fn start_carries_answer_and_legs() {
        let start = call_start(&answered_log());
        assert_eq!(start.answered_at, Some(1_200));
        assert_eq!(start.legs.len(), 1);
        assert_eq!(start.legs[0].role, "caller");
        assert_eq!(start.legs[0].answered_at, Some(1_200));
    }

    #[test]
    fn contact_entry_ends_path_with_lookup() {
        let lookup = Step {
            at: 1_800,
            kind: String::from("lookup"),
            value: String::from("crm: found"),
        };
        let entry = call_contact(&answered_log(), 7, &lookup);
        let JournalEntry::Contact {
            call_id,
            contact_id,
            path,
        } = entry
        else {
            panic!("not a contact entry: {entry:?}");
        };
        assert_eq!(call_id, "abc@host");
        assert_eq!(contact_id, 7);
        let kinds: Vec<&str> = path.iter().map(|step| step.kind.as_str()).collect();
        assert_eq!(kinds, vec!["menu", "lookup"]);
        assert_eq!(path[1].value, "crm: found");
    }

    #[test]
    fn start_entry_without_answer_reads() {
        // A spool entry written before the start carried the answer and
        // legs still replays.
        let text = r#"{"entry":"started","call_id":"a","flow":"f","flow_version":"v",
            "caller":null,"dialled":"+38615550777","started_at":5,"recording":null}"#;
        let entry: JournalEntry = serde_json::from_str(text).unwrap();
        let JournalEntry::Started(start) = entry else {
            panic!("not a start entry: {entry:?}");
        };
        assert_eq!(start.answered_at, None);
        assert!(start.legs.is_empty());
    }
}
