//! The call journal's writes to a real store on SQLite and PostgreSQL: a
//! record the database refuses while it still answers is rejected, never
//! taken for an outage that would hold up every later record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod store_support;

use flowd::call::journal::Sink;
use flowd::call::persist::JournalEntry;
use flowd::store::FinishedCall;
use store_support::TestDb;

on_both_backends!(refused_record_is_not_outage);

fn finished(call_id: &str, timeline: &str) -> FinishedCall {
    FinishedCall {
        call_id: call_id.to_string(),
        flow: String::from("support"),
        flow_version: String::from("ab12"),
        caller: Some(String::from("+38640111222")),
        dialled: String::from("+38615550100"),
        contact_id: None,
        started_at: 1_000,
        answered_at: Some(1_100),
        ended_at: 9_000,
        outcome: String::from("hangup"),
        ended_by: String::from("caller"),
        sip_reason: None,
        legs: Vec::new(),
        path: Vec::new(),
        queue: None,
        agent: None,
        wait_ms: 0,
        talk_ms: 0,
        wrapup_ms: 0,
        rating: None,
        recording: None,
        tags: Vec::new(),
        timeline: vec![timeline.to_string()],
        ticket: None,
        outbox: Vec::new(),
    }
}

async fn refused_record_is_not_outage(db: &TestDb) {
    // PostgreSQL refuses a NUL in text; SQLite stores it.
    let entry = JournalEntry::Finished(Box::new(finished("nul-call", "Nul\u{0}Name")));
    if let Err(error) = db.store.write(&entry).await {
        assert!(!error.unavailable, "{error}");
    }

    let entry = JournalEntry::Finished(Box::new(finished("next-call", "Support call")));
    db.store.write(&entry).await.unwrap();
    let call = db.store.call("next-call").await.unwrap();
    assert!(call.is_some());
}
