//! Every `Store` method on SQLite and on PostgreSQL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod store_support;

use flowd::store::{
    Attempt, AttemptOutcome, Backend, CallQuery, CallStart, ContactQuery, FinishedCall, Leg,
    NewContact, NewInteraction, NewNote, NewOutboxItem, NewTicket, OutboxQuery, PathStep, Store,
    StoreError, TagSource, TicketAction, TicketQuery, TicketUpdate, Upserted,
};
use serde_json::json;
use std::collections::BTreeMap;
use store_support::TestDb;

on_both_backends!(
    open_creates_schema,
    migrations_run_twice,
    newer_database_rejected,
    closed_store_is_unavailable,
    upsert_matches_external_id_phone_email,
    phone_of_other_contact_rejected,
    contact_lookup_by_phone,
    contacts_query_filters_and_pages,
    update_and_delete_contact,
    interactions_idempotent_by_external_id,
    interaction_checks_channel_and_contact,
    tickets_create_update_list,
    call_started_idempotent,
    call_started_stores_answer_and_legs,
    call_contact_sets_active_call,
    call_contact_of_deleted_contact,
    interrupted_call_keeps_what_was_known,
    call_finished_writes_everything,
    call_finished_idempotent,
    call_finished_links_open_ticket,
    call_finished_after_interrupt,
    interrupt_active_calls_marks_them,
    calls_query_filters,
    add_call_tags_keeps_first_source,
    concurrent_writers_all_succeed,
    find_caller_by_any_spelling,
    due_outbox_one_per_call_in_order,
    record_attempt_retry_and_expiry,
);

fn ana() -> NewContact {
    NewContact {
        external_id: Some(String::from("crm-1")),
        name: Some(String::from("Ana Novak")),
        company: Some(String::from("Novak d.o.o.")),
        email: Some(String::from("ana@example.com")),
        phones: vec![String::from("+38615550100"), String::from("+38641000001")],
        language: Some(String::from("sl")),
        vip: true,
        fields: BTreeMap::from([(String::from("tier"), json!("gold"))]),
    }
}

fn finished(call_id: &str, contact: Option<i64>) -> FinishedCall {
    FinishedCall {
        call_id: call_id.to_string(),
        flow: String::from("support"),
        flow_version: String::from("ab12"),
        caller: Some(String::from("+38615550100")),
        dialled: String::from("+38615559000"),
        contact_id: contact,
        started_at: 1_000,
        answered_at: Some(1_500),
        ended_at: 61_000,
        outcome: String::from("completed"),
        ended_by: String::from("caller"),
        sip_reason: Some(String::from("200 OK")),
        legs: vec![Leg {
            role: String::from("caller"),
            call_id: call_id.to_string(),
            from: String::from("sip:+38615550100@192.0.2.1"),
            to: String::from("sip:+38615559000@192.0.2.2"),
            remote: String::from("192.0.2.1:5060"),
            codec: Some(String::from("PCMU")),
            started_at: 1_000,
            answered_at: Some(1_500),
            ended_at: Some(61_000),
        }],
        path: vec![
            PathStep {
                at: 2_000,
                kind: String::from("menu"),
                value: String::from("2"),
            },
            PathStep {
                at: 3_000,
                kind: String::from("digits"),
                value: String::from("****"),
            },
        ],
        queue: Some(String::from("support")),
        agent: Some(String::from("maja")),
        wait_ms: 4_000,
        talk_ms: 50_000,
        wrapup_ms: 5_000,
        rating: Some(4),
        recording: Some(format!("{call_id}.wav")),
        tags: vec![
            (String::from("vip"), TagSource::Flow),
            (String::from("long-wait"), TagSource::Rule),
        ],
        timeline: vec![String::from("Asked about an invoice")],
        ticket: Some(TicketAction::LinkOrCreate(String::from("Invoice question"))),
        outbox: vec![outbox_item("first"), outbox_item("second")],
    }
}

fn outbox_item(body: &str) -> NewOutboxItem {
    NewOutboxItem {
        kind: String::from("webhook"),
        hook: String::from("crm"),
        url: String::from("http://127.0.0.1:9/hook"),
        method: String::from("POST"),
        headers: vec![(String::from("X-Source"), String::from("tok"))],
        body: body.to_string(),
        idempotency_key: String::new(),
        expires_at: i64::MAX,
    }
}

fn start(call_id: &str, started_at: i64) -> CallStart {
    CallStart {
        call_id: call_id.to_string(),
        flow: String::from("support"),
        flow_version: String::from("ab12"),
        caller: Some(String::from("+38615550100")),
        dialled: String::from("+38615559000"),
        started_at,
        answered_at: Some(started_at + 500),
        legs: vec![Leg {
            role: String::from("caller"),
            call_id: call_id.to_string(),
            from: String::from("sip:+38615550100@192.0.2.1"),
            to: String::from("sip:+38615559000@192.0.2.2"),
            remote: String::from("192.0.2.1:5060"),
            codec: Some(String::from("PCMU")),
            started_at,
            answered_at: Some(started_at + 500),
            ended_at: None,
        }],
        recording: None,
    }
}

fn lookup_path(at: i64) -> Vec<PathStep> {
    vec![
        PathStep {
            at,
            kind: String::from("menu"),
            value: String::from("1"),
        },
        PathStep {
            at: at + 100,
            kind: String::from("lookup"),
            value: String::from("crm: found"),
        },
    ]
}

async fn open_creates_schema(db: &TestDb) {
    let store = &db.store;
    let expected = if db.url.starts_with("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    assert_eq!(store.backend(), expected);
    store.ping().await.unwrap();
    assert!(
        store
            .contacts(&ContactQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
    if expected == Backend::Sqlite {
        let path = flowd::store::sqlite_path(&db.url).unwrap();
        assert!(path.is_file(), "{} was not created", path.display());
        let row: (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(row.0, "wal");
    }
}

async fn migrations_run_twice(db: &TestDb) {
    let store = &db.store;
    store.upsert_contact(&ana()).await.unwrap();
    let again = Store::open(&db.url).await.unwrap();
    let found = again.contact_by_phone("+38615550100").await.unwrap();
    assert_eq!(found.unwrap().name.as_deref(), Some("Ana Novak"));
    let versions: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations")
        .fetch_all(again.pool())
        .await
        .unwrap();
    let known = Store::migrator(store.backend()).iter().count();
    assert_eq!(versions.len(), known);
    again.close().await;
}

async fn newer_database_rejected(db: &TestDb) {
    let store = &db.store;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, $1, 0)",
    )
    .bind(vec![0_u8; 48])
    .execute(store.pool())
    .await
    .unwrap();
    let error = Store::open(&db.url).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::NewerDatabase {
                version: 99990101000000,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("99990101000000"), "{message}");
    assert!(message.contains("upgrade flowd"), "{message}");
    assert!(!error.is_unavailable());
}

async fn closed_store_is_unavailable(db: &TestDb) {
    let store = Store::open(&db.url).await.unwrap();
    store.close().await;
    let error = store.ping().await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    let error = store.contact_by_phone("+38615550100").await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}

async fn upsert_matches_external_id_phone_email(db: &TestDb) {
    let store = &db.store;
    let id = store.upsert_contact(&ana()).await.unwrap();

    let mut renamed = ana();
    renamed.name = Some(String::from("Ana Kovač"));
    renamed.phones = vec![String::from("+38615550199")];
    assert_eq!(store.upsert_contact(&renamed).await.unwrap(), id);
    let stored = store.contact(id).await.unwrap().unwrap();
    assert_eq!(stored.name.as_deref(), Some("Ana Kovač"));
    assert_eq!(stored.phones, vec!["+38615550199"]);
    assert!(
        store
            .contact_by_phone("+38615550100")
            .await
            .unwrap()
            .is_none()
    );

    let by_phone = NewContact {
        name: Some(String::from("Ana by phone")),
        phones: vec![String::from("+38615550199")],
        ..NewContact::default()
    };
    assert_eq!(store.upsert_contact(&by_phone).await.unwrap(), id);

    let by_email = NewContact {
        name: Some(String::from("Ana by email")),
        email: Some(String::from("ana@example.com")),
        ..NewContact::default()
    };
    // The previous upsert replaced the email with none, so this is new.
    let other = store.upsert_contact(&by_email).await.unwrap();
    assert_ne!(other, id);
    assert_eq!(store.upsert_contact(&by_email).await.unwrap(), other);

    let results = store
        .upsert_contacts(&[
            by_email.clone(),
            NewContact {
                name: Some(String::from("Bo")),
                phones: vec![String::from("+38615550300")],
                ..NewContact::default()
            },
        ])
        .await
        .unwrap();
    assert!(matches!(results[0], Ok(Upserted::Updated(i)) if i == other));
    assert!(matches!(results[1], Ok(Upserted::Created(_))));
}

async fn phone_of_other_contact_rejected(db: &TestDb) {
    let store = &db.store;
    let first = store.upsert_contact(&ana()).await.unwrap();
    let thief = NewContact {
        external_id: Some(String::from("crm-2")),
        name: Some(String::from("Bo")),
        phones: vec![String::from("+38615550100")],
        ..NewContact::default()
    };
    let error = store.upsert_contact(&thief).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("+38615550100"), "{message}");
    assert!(message.contains(&format!("contact {first}")), "{message}");
    assert!(!error.is_unavailable());
    // The failed upsert left nothing behind.
    let all = store.contacts(&ContactQuery::default()).await.unwrap();
    assert_eq!(all.len(), 1);

    let results = store
        .upsert_contacts(&[
            thief,
            NewContact {
                name: Some(String::from("Cene")),
                ..NewContact::default()
            },
        ])
        .await
        .unwrap();
    assert!(matches!(&results[0], Err(StoreError::Invalid(_))));
    assert!(matches!(results[1], Ok(Upserted::Created(_))));
}

async fn contact_lookup_by_phone(db: &TestDb) {
    let store = &db.store;
    let id = store.upsert_contact(&ana()).await.unwrap();
    for phone in ["+38615550100", "+38641000001"] {
        let found = store.contact_by_phone(phone).await.unwrap().unwrap();
        assert_eq!(found.id, id);
        assert_eq!(found.phones, vec!["+38615550100", "+38641000001"]);
        assert!(found.vip);
        assert_eq!(found.fields["tier"], json!("gold"));
        assert_eq!(found.open_tickets, 0);
        assert_eq!(found.language.as_deref(), Some("sl"));
    }
    assert!(
        store
            .contact_by_phone("+38615550101")
            .await
            .unwrap()
            .is_none()
    );
}

async fn contacts_query_filters_and_pages(db: &TestDb) {
    let store = &db.store;
    for i in 0..5 {
        store
            .upsert_contact(&NewContact {
                name: Some(format!("Person {i}")),
                company: Some(if i % 2 == 0 { "Even_Co" } else { "Odd%Co" }.to_string()),
                phones: vec![format!("+3861555010{i}")],
                ..NewContact::default()
            })
            .await
            .unwrap();
    }
    let all = store.contacts(&ContactQuery::default()).await.unwrap();
    assert_eq!(all.len(), 5);
    let page = store
        .contacts(&ContactQuery {
            limit: 2,
            offset: 2,
            ..ContactQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].id, all[2].id);
    let by_phone = store
        .contacts(&ContactQuery {
            phone: Some(String::from("+38615550103")),
            ..ContactQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_phone.len(), 1);
    assert_eq!(by_phone[0].name.as_deref(), Some("Person 3"));
    let even = store
        .contacts(&ContactQuery {
            text: Some(String::from("EVEN_")),
            ..ContactQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(even.len(), 3);
    // `%` is matched literally, not as a wildcard.
    let percent = store
        .contacts(&ContactQuery {
            text: Some(String::from("d%c")),
            ..ContactQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(percent.len(), 2);
    let none = store
        .contacts(&ContactQuery {
            text: Some(String::from("n%co")),
            ..ContactQuery::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn update_and_delete_contact(db: &TestDb) {
    let store = &db.store;
    let id = store.upsert_contact(&ana()).await.unwrap();
    let mut changed = ana();
    changed.vip = false;
    changed.phones = vec![String::from("+38615550111")];
    assert!(store.update_contact(id, &changed).await.unwrap());
    let stored = store.contact(id).await.unwrap().unwrap();
    assert!(!stored.vip);
    assert!(stored.updated_at >= stored.created_at);
    assert!(
        store
            .contact_by_phone("+38615550111")
            .await
            .unwrap()
            .is_some()
    );
    assert!(!store.update_contact(id + 100, &changed).await.unwrap());

    let other = store
        .upsert_contact(&NewContact {
            external_id: Some(String::from("crm-9")),
            name: Some(String::from("Bo")),
            ..NewContact::default()
        })
        .await
        .unwrap();
    let mut clash = changed.clone();
    clash.external_id = Some(String::from("crm-9"));
    let error = store.update_contact(id, &clash).await.unwrap_err();
    assert!(error.to_string().contains("crm-9"), "{error}");

    let ticket = store
        .create_ticket(&NewTicket {
            contact_id: Some(id),
            subject: String::from("Kept after delete"),
            caller: None,
        })
        .await
        .unwrap();
    store
        .add_interaction(&NewInteraction {
            contact_id: id,
            channel: String::from("email"),
            direction: String::from("inbound"),
            occurred_at: 5,
            summary: String::from("hello"),
            call_id: None,
            external_id: None,
        })
        .await
        .unwrap();
    assert!(store.delete_contact(id).await.unwrap());
    assert!(!store.delete_contact(id).await.unwrap());
    assert!(store.contact(id).await.unwrap().is_none());
    assert!(
        store
            .contact_by_phone("+38615550111")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.interactions(id).await.unwrap().is_empty());
    let kept = store.ticket(ticket).await.unwrap().unwrap();
    assert_eq!(kept.contact_id, None);
    assert!(store.contact(other).await.unwrap().is_some());
}

async fn interactions_idempotent_by_external_id(db: &TestDb) {
    let store = &db.store;
    let id = store.upsert_contact(&ana()).await.unwrap();
    let email = NewInteraction {
        contact_id: id,
        channel: String::from("email"),
        direction: String::from("inbound"),
        occurred_at: 10,
        summary: String::from("Invoice 42 is wrong"),
        call_id: None,
        external_id: Some(String::from("mail-1")),
    };
    let first = store.add_interaction(&email).await.unwrap();
    let again = store.add_interaction(&email).await.unwrap();
    assert_eq!(first, again);
    let chat = NewInteraction {
        channel: String::from("chat"),
        direction: String::from("outbound"),
        occurred_at: 20,
        external_id: None,
        ..email.clone()
    };
    store.add_interaction(&chat).await.unwrap();
    let timeline = store.interactions(id).await.unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0].channel, "chat");
    assert_eq!(timeline[1].external_id.as_deref(), Some("mail-1"));
}

async fn interaction_checks_channel_and_contact(db: &TestDb) {
    let store = &db.store;
    let id = store.upsert_contact(&ana()).await.unwrap();
    let fax = NewInteraction {
        contact_id: id,
        channel: String::from("fax"),
        direction: String::from("inbound"),
        occurred_at: 1,
        summary: String::from("x"),
        call_id: None,
        external_id: None,
    };
    let message = store.add_interaction(&fax).await.unwrap_err().to_string();
    assert!(message.contains("`fax`"), "{message}");
    let sideways = NewInteraction {
        channel: String::from("sms"),
        direction: String::from("sideways"),
        ..fax.clone()
    };
    let message = store
        .add_interaction(&sideways)
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("`sideways`"), "{message}");
    let nobody = NewInteraction {
        contact_id: id + 1000,
        channel: String::from("sms"),
        ..fax
    };
    let error = store.add_interaction(&nobody).await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid(_)), "{error:?}");
}

async fn tickets_create_update_list(db: &TestDb) {
    let store = &db.store;
    let contact = store.upsert_contact(&ana()).await.unwrap();
    let id = store
        .create_ticket(&NewTicket {
            contact_id: Some(contact),
            subject: String::from("Router does not connect"),
            caller: None,
        })
        .await
        .unwrap();
    let ticket = store.ticket(id).await.unwrap().unwrap();
    assert_eq!(ticket.status, "open");
    assert_eq!(
        store.contact(contact).await.unwrap().unwrap().open_tickets,
        1
    );

    let update = TicketUpdate {
        status: Some(String::from("pending")),
        subject: Some(String::from("Router drops the line")),
        notes: vec![NewNote {
            author: Some(String::from("maja")),
            text: String::from("Sent a new router"),
        }],
        tags: vec![
            String::from("hardware"),
            String::from("hardware"),
            String::from("b2b"),
        ],
    };
    assert!(store.update_ticket(id, &update).await.unwrap());
    let ticket = store.ticket(id).await.unwrap().unwrap();
    assert_eq!(ticket.status, "pending");
    assert_eq!(ticket.subject, "Router drops the line");
    assert_eq!(ticket.notes.len(), 1);
    assert_eq!(ticket.notes[0].author.as_deref(), Some("maja"));
    assert_eq!(ticket.tags, vec!["b2b", "hardware"]);
    assert!(!store.update_ticket(id + 50, &update).await.unwrap());

    let bad = TicketUpdate {
        status: Some(String::from("done")),
        ..TicketUpdate::default()
    };
    let message = store.update_ticket(id, &bad).await.unwrap_err().to_string();
    assert!(message.contains("`done`"), "{message}");
    let empty = NewTicket {
        contact_id: None,
        subject: String::from("  "),
        caller: None,
    };
    assert!(store.create_ticket(&empty).await.is_err());
    let orphan = NewTicket {
        contact_id: Some(contact + 99),
        subject: String::from("x"),
        caller: None,
    };
    assert!(matches!(
        store.create_ticket(&orphan).await,
        Err(StoreError::Invalid(_))
    ));

    store
        .create_ticket(&NewTicket {
            contact_id: None,
            subject: String::from("Unknown caller"),
            caller: Some(String::from("+38640000000")),
        })
        .await
        .unwrap();
    let mine = store
        .tickets(&TicketQuery {
            contact_id: Some(contact),
            ..TicketQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    let open = store
        .tickets(&TicketQuery {
            status: Some(String::from("open")),
            ..TicketQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].caller.as_deref(), Some("+38640000000"));
    let all = store.tickets(&TicketQuery::default()).await.unwrap();
    assert_eq!(all.len(), 2);
}

async fn call_started_idempotent(db: &TestDb) {
    let store = &db.store;
    store.call_started(&start("c1", 100)).await.unwrap();
    let mut later = start("c1", 999);
    later.flow = String::from("other");
    store.call_started(&later).await.unwrap();
    let call = store.call("c1").await.unwrap().unwrap();
    assert_eq!(call.status, "active");
    assert_eq!(call.started_at, 100);
    assert_eq!(call.flow, "support");
    assert!(store.call("c2").await.unwrap().is_none());
}

async fn call_started_stores_answer_and_legs(db: &TestDb) {
    let store = &db.store;
    let started = start("c1", 1_000);
    store.call_started(&started).await.unwrap();
    let call = store.call("c1").await.unwrap().unwrap();
    assert_eq!(call.answered_at, Some(1_500));
    assert_eq!(call.legs, started.legs);
    assert_eq!(call.caller.as_deref(), Some("+38615550100"));
    assert_eq!(call.dialled, "+38615559000");
    assert_eq!(call.flow_version, "ab12");
    assert!(call.path.is_empty());
    assert_eq!(call.contact_id, None);
}

async fn call_contact_sets_active_call(db: &TestDb) {
    let store = &db.store;
    let contact = store.upsert_contact(&ana()).await.unwrap();
    store.call_started(&start("c1", 1_000)).await.unwrap();
    store
        .call_contact("c1", contact, &lookup_path(2_000))
        .await
        .unwrap();
    // A replayed entry writes the same values again.
    store
        .call_contact("c1", contact, &lookup_path(2_000))
        .await
        .unwrap();
    let call = store.call("c1").await.unwrap().unwrap();
    assert_eq!(call.status, "active");
    assert_eq!(call.contact_id, Some(contact));
    assert_eq!(call.path, lookup_path(2_000));
    // An ended call keeps its final record, and a call not stored is
    // ignored.
    store.call_finished(&finished("c2", None)).await.unwrap();
    store
        .call_contact("c2", contact, &lookup_path(9_000))
        .await
        .unwrap();
    let ended = store.call("c2").await.unwrap().unwrap();
    assert_eq!(ended.contact_id, None);
    assert_eq!(ended.path, finished("c2", None).path);
    store
        .call_contact("missing", contact, &lookup_path(2_000))
        .await
        .unwrap();
    assert!(store.call("missing").await.unwrap().is_none());
}

async fn call_contact_of_deleted_contact(db: &TestDb) {
    let store = &db.store;
    let contact = store.upsert_contact(&ana()).await.unwrap();
    store.call_started(&start("c1", 1_000)).await.unwrap();
    assert!(store.delete_contact(contact).await.unwrap());
    store
        .call_contact("c1", contact, &lookup_path(2_000))
        .await
        .unwrap();
    let call = store.call("c1").await.unwrap().unwrap();
    assert_eq!(call.contact_id, None);
    assert_eq!(call.path, lookup_path(2_000));
}

async fn interrupted_call_keeps_what_was_known(db: &TestDb) {
    let store = &db.store;
    let contact = store.upsert_contact(&ana()).await.unwrap();
    let started = start("c1", 1_000);
    store.call_started(&started).await.unwrap();
    store.call_recording("c1", "c1.wav").await.unwrap();
    store
        .call_contact("c1", contact, &lookup_path(2_000))
        .await
        .unwrap();
    assert_eq!(
        store.interrupt_active_calls(9_000).await.unwrap(),
        vec!["c1"]
    );
    let call = store.call("c1").await.unwrap().unwrap();
    assert_eq!(call.status, "interrupted");
    assert_eq!(call.outcome.as_deref(), Some("interrupted"));
    assert_eq!(call.ended_at, Some(9_000));
    assert_eq!(call.answered_at, Some(1_500));
    assert_eq!(call.legs, started.legs);
    assert_eq!(call.contact_id, Some(contact));
    assert_eq!(call.path, lookup_path(2_000));
    assert_eq!(call.recording.as_deref(), Some("c1.wav"));
    let of_contact = store
        .calls(&CallQuery {
            contact_id: Some(contact),
            ..CallQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = of_contact.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, vec!["c1"]);
}

async fn call_finished_writes_everything(db: &TestDb) {
    let store = &db.store;
    let contact = store.upsert_contact(&ana()).await.unwrap();
    store.call_started(&start("c1", 1_000)).await.unwrap();
    let record = finished("c1", Some(contact));
    store.call_finished(&record).await.unwrap();

    let call = store.call("c1").await.unwrap().unwrap();
    assert_eq!(call.status, "ended");
    assert_eq!(call.contact_id, Some(contact));
    assert_eq!(call.legs, record.legs);
    assert_eq!(call.path, record.path);
    assert_eq!(call.rating, Some(4));
    assert_eq!(call.recording.as_deref(), Some("c1.wav"));
    assert_eq!(call.wait_ms, 4_000);
    assert_eq!(call.outcome.as_deref(), Some("completed"));
    assert_eq!(call.sip_reason.as_deref(), Some("200 OK"));
    let tags: Vec<(&str, TagSource)> = call
        .tags
        .iter()
        .map(|t| (t.tag.as_str(), t.source))
        .collect();
    assert_eq!(
        tags,
        vec![("long-wait", TagSource::Rule), ("vip", TagSource::Flow)]
    );

    let timeline = store.interactions(contact).await.unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0].channel, "call");
    assert_eq!(timeline[0].call_id.as_deref(), Some("c1"));
    assert_eq!(timeline[0].summary, "Asked about an invoice");

    let ticket_id = call.ticket_id.expect("a ticket was created");
    let ticket = store.ticket(ticket_id).await.unwrap().unwrap();
    assert_eq!(ticket.subject, "Invoice question");
    assert_eq!(ticket.call_ids, vec!["c1"]);
    assert_eq!(ticket.contact_id, Some(contact));

    let stored = store.contact(contact).await.unwrap().unwrap();
    assert_eq!(stored.last_agent.as_deref(), Some("maja"));
    assert_eq!(stored.open_tickets, 1);

    let items = store
        .outbox(&OutboxQuery {
            call_id: Some(String::from("c1")),
            ..OutboxQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].seq, 1);
    assert_eq!(items[0].body, "first");
    assert_eq!(items[0].idempotency_key, "c1:1");
    assert_eq!(items[1].idempotency_key, "c1:2");
    assert_eq!(items[0].status, "pending");
    assert_eq!(
        items[0].headers,
        vec![(String::from("X-Source"), String::from("tok"))]
    );
}

async fn call_finished_idempotent(db: &TestDb) {
    let store = &db.store;
    let contact = store.upsert_contact(&ana()).await.unwrap();
    let record = finished("c1", Some(contact));
    store.call_finished(&record).await.unwrap();
    let mut replay = record.clone();
    replay.outcome = String::from("changed");
    store.call_finished(&replay).await.unwrap();
    let call = store.call("c1").await.unwrap().unwrap();
    assert_eq!(call.outcome.as_deref(), Some("completed"));
    assert_eq!(store.interactions(contact).await.unwrap().len(), 1);
    assert_eq!(
        store.outbox(&OutboxQuery::default()).await.unwrap().len(),
        2
    );
    assert_eq!(
        store.tickets(&TicketQuery::default()).await.unwrap().len(),
        1
    );

    let mut bad = finished("c2", None);
    bad.rating = Some(6);
    let message = store.call_finished(&bad).await.unwrap_err().to_string();
    assert!(message.contains("rating 6"), "{message}");
    assert!(store.call("c2").await.unwrap().is_none());
}

async fn call_finished_links_open_ticket(db: &TestDb) {
    let store = &db.store;
    let contact = store.upsert_contact(&ana()).await.unwrap();
    let mut first = finished("c1", Some(contact));
    first.ticket = Some(TicketAction::Link);
    first.outbox.clear();
    store.call_finished(&first).await.unwrap();
    assert_eq!(store.call("c1").await.unwrap().unwrap().ticket_id, None);

    let open = store
        .create_ticket(&NewTicket {
            contact_id: Some(contact),
            subject: String::from("Open one"),
            caller: None,
        })
        .await
        .unwrap();
    let mut second = finished("c2", Some(contact));
    second.outbox.clear();
    store.call_finished(&second).await.unwrap();
    assert_eq!(
        store.call("c2").await.unwrap().unwrap().ticket_id,
        Some(open)
    );

    let mut third = finished("c3", Some(contact));
    third.ticket = Some(TicketAction::Create(String::from("Separate")));
    third.outbox.clear();
    store.call_finished(&third).await.unwrap();
    let created = store.call("c3").await.unwrap().unwrap().ticket_id.unwrap();
    assert_ne!(created, open);
    assert_eq!(
        store.ticket(open).await.unwrap().unwrap().call_ids,
        vec!["c2"]
    );

    // A caller without a contact gets a ticket with the number.
    let mut unknown = finished("c4", None);
    unknown.outbox.clear();
    store.call_finished(&unknown).await.unwrap();
    let ticket = store.call("c4").await.unwrap().unwrap().ticket_id.unwrap();
    let ticket = store.ticket(ticket).await.unwrap().unwrap();
    assert_eq!(ticket.contact_id, None);
    assert_eq!(ticket.caller.as_deref(), Some("+38615550100"));
}

async fn call_finished_after_interrupt(db: &TestDb) {
    let store = &db.store;
    store.call_started(&start("c1", 1_000)).await.unwrap();
    assert_eq!(
        store.interrupt_active_calls(5_000).await.unwrap(),
        vec!["c1"]
    );
    store.call_finished(&finished("c1", None)).await.unwrap();
    let call = store.call("c1").await.unwrap().unwrap();
    assert_eq!(call.status, "ended");
    assert_eq!(call.ended_at, Some(61_000));
}

async fn interrupt_active_calls_marks_them(db: &TestDb) {
    let store = &db.store;
    store.call_started(&start("b", 1)).await.unwrap();
    store.call_started(&start("a", 2)).await.unwrap();
    store.call_finished(&finished("done", None)).await.unwrap();
    let ids = store.interrupt_active_calls(7_000).await.unwrap();
    assert_eq!(ids, vec!["a", "b"]);
    let call = store.call("a").await.unwrap().unwrap();
    assert_eq!(call.status, "interrupted");
    assert_eq!(call.ended_at, Some(7_000));
    assert_eq!(call.outcome.as_deref(), Some("interrupted"));
    assert_eq!(store.call("done").await.unwrap().unwrap().status, "ended");
    assert!(
        store
            .interrupt_active_calls(8_000)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn calls_query_filters(db: &TestDb) {
    let store = &db.store;
    let contact = store.upsert_contact(&ana()).await.unwrap();
    for (i, id) in ["c1", "c2", "c3"].iter().enumerate() {
        let mut record = finished(id, if i == 0 { None } else { Some(contact) });
        record.started_at = 1_000 * (i as i64 + 1);
        record.outbox.clear();
        record.ticket = None;
        if i == 2 {
            record.caller = Some(String::from("+38640000000"));
        }
        store.call_finished(&record).await.unwrap();
    }
    let all = store.calls(&CallQuery::default()).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, vec!["c3", "c2", "c1"]);
    let mine = store
        .calls(&CallQuery {
            contact_id: Some(contact),
            ..CallQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    let from = store
        .calls(&CallQuery {
            caller: Some(String::from("+38640000000")),
            ..CallQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(from.len(), 1);
    let since = store
        .calls(&CallQuery {
            since: Some(2_000),
            limit: 1,
            offset: 1,
            ..CallQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].call_id, "c2");
}

async fn add_call_tags_keeps_first_source(db: &TestDb) {
    let store = &db.store;
    let mut record = finished("c1", None);
    record.outbox.clear();
    store.call_finished(&record).await.unwrap();
    store
        .add_call_tags(
            "c1",
            &[String::from("vip"), String::from("angry")],
            TagSource::Tagger,
        )
        .await
        .unwrap();
    let call = store.call("c1").await.unwrap().unwrap();
    let tags: Vec<(&str, TagSource)> = call
        .tags
        .iter()
        .map(|t| (t.tag.as_str(), t.source))
        .collect();
    assert_eq!(
        tags,
        vec![
            ("angry", TagSource::Tagger),
            ("long-wait", TagSource::Rule),
            ("vip", TagSource::Flow)
        ]
    );
    let error = store
        .add_call_tags("nope", &[String::from("x")], TagSource::Api)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("`nope`"), "{error}");
    assert!(
        store
            .add_call_tags("c1", &[String::from(" ")], TagSource::Api)
            .await
            .is_err()
    );
}

async fn due_outbox_one_per_call_in_order(db: &TestDb) {
    let store = &db.store;
    let mut a = finished("a", None);
    a.outbox = vec![outbox_item("a1"), outbox_item("a2"), outbox_item("a3")];
    let mut b = finished("b", None);
    b.outbox = vec![outbox_item("b1")];
    store.call_finished(&a).await.unwrap();
    store.call_finished(&b).await.unwrap();

    let bodies = |items: &[flowd::store::OutboxItem]| {
        let mut bodies: Vec<String> = items.iter().map(|i| i.body.clone()).collect();
        bodies.sort();
        bodies
    };
    let now = flowd::store::now_millis();
    let due = store.due_outbox(now, 10).await.unwrap();
    assert_eq!(bodies(&due), vec!["a1", "b1"]);
    assert_eq!(store.due_outbox(now, 1).await.unwrap().len(), 1);

    let a1 = due.iter().find(|i| i.body == "a1").unwrap().id;
    let attempt = Attempt {
        at: now,
        status_code: Some(500),
        error: Some(String::from("HTTP 500")),
        duration_ms: 12,
    };
    // a1 waits for its retry; a2 stays behind it.
    store
        .record_attempt(a1, &attempt, AttemptOutcome::Retry(now + 60_000))
        .await
        .unwrap();
    let due = store.due_outbox(now, 10).await.unwrap();
    assert_eq!(bodies(&due), vec!["b1"]);
    let later = store.due_outbox(now + 60_000, 10).await.unwrap();
    assert_eq!(bodies(&later), vec!["a1", "b1"]);

    let ok = Attempt {
        at: now + 1,
        status_code: Some(200),
        error: None,
        duration_ms: 3,
    };
    store
        .record_attempt(a1, &ok, AttemptOutcome::Delivered)
        .await
        .unwrap();
    let due = store.due_outbox(now + 60_000, 10).await.unwrap();
    assert_eq!(bodies(&due), vec!["a2", "b1"]);
}

async fn record_attempt_retry_and_expiry(db: &TestDb) {
    let store = &db.store;
    let mut a = finished("a", None);
    a.outbox = vec![outbox_item("a1"), outbox_item("a2")];
    store.call_finished(&a).await.unwrap();
    let now = flowd::store::now_millis();
    let item = store.due_outbox(now, 10).await.unwrap().remove(0);
    let failed = Attempt {
        at: now,
        status_code: None,
        error: Some(String::from("connection refused")),
        duration_ms: 1,
    };
    store
        .record_attempt(item.id, &failed, AttemptOutcome::Retry(now + 10))
        .await
        .unwrap();
    store
        .record_attempt(item.id, &failed, AttemptOutcome::Expired)
        .await
        .unwrap();
    let items = store
        .outbox(&OutboxQuery {
            call_id: Some(String::from("a")),
            ..OutboxQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(items[0].status, "expired");
    assert_eq!(items[0].attempts, 2);
    assert_eq!(items[0].attempt_log.len(), 2);
    assert_eq!(items[0].last_error.as_deref(), Some("connection refused"));
    assert_eq!(items[0].delivered_at, None);
    // The expired item no longer holds back the next one.
    let due = store.due_outbox(now + 20, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].body, "a2");
    let delivered = Attempt {
        at: now + 30,
        status_code: Some(204),
        error: None,
        duration_ms: 2,
    };
    store
        .record_attempt(due[0].id, &delivered, AttemptOutcome::Delivered)
        .await
        .unwrap();
    let done = store
        .outbox(&OutboxQuery {
            status: Some(String::from("delivered")),
            ..OutboxQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].delivered_at, Some(now + 30));
    assert_eq!(done[0].attempt_log[0].status_code, Some(204));
    assert!(
        store
            .due_outbox(now + 1_000_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let missing = store
        .record_attempt(9_999, &delivered, AttemptOutcome::Delivered)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::Invalid(_)), "{missing:?}");
}

async fn concurrent_writers_all_succeed(db: &TestDb) {
    let store = &db.store;
    let contact = store.upsert_contact(&ana()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let call_id = format!("c{i}");
            store.call_started(&start(&call_id, i)).await?;
            store
                .upsert_contact(&NewContact {
                    name: Some(format!("Caller {i}")),
                    phones: vec![format!("+3864000{i:04}")],
                    ..NewContact::default()
                })
                .await?;
            store
                .call_finished(&finished(&call_id, Some(contact)))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let calls = store
        .calls(&CallQuery {
            limit: 100,
            ..CallQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(calls.len(), 40);
    assert!(calls.iter().all(|c| c.status == "ended"));
    assert_eq!(store.interactions(contact).await.unwrap().len(), 40);
    // Every call linked the one open ticket the first call opened.
    let tickets = store.tickets(&TicketQuery::default()).await.unwrap();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0].call_ids.len(), 40);
    assert_eq!(
        store
            .outbox(&OutboxQuery {
                limit: 1000,
                ..OutboxQuery::default()
            })
            .await
            .unwrap()
            .len(),
        80
    );
}

async fn find_caller_by_any_spelling(db: &TestDb) {
    let store = &db.store;
    let id = store.upsert_contact(&ana()).await.unwrap();
    let schema = flowd::crm::CrmSchema {
        country_code: Some(flowc::number::CountryCode::parse("386").unwrap()),
        fields: BTreeMap::new(),
    };
    for spelling in [
        "+386 1 555 0100",
        "01 5550100",
        "+38615550100",
        "sip:+38615550100@192.0.2.1;user=phone",
        "38615550100",
    ] {
        let found = flowd::crm::find_caller(store, &schema, spelling)
            .await
            .unwrap();
        assert_eq!(found.map(|c| c.id), Some(id), "{spelling}");
    }
    // `41000001` reads as +38641000001 only as a national number, the
    // second reading of this ambiguous spelling.
    let found = flowd::crm::find_caller(store, &schema, "41000001")
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.id), Some(id));
    for unknown in ["+38615550101", "112", "anonymous"] {
        let found = flowd::crm::find_caller(store, &schema, unknown)
            .await
            .unwrap();
        assert!(found.is_none(), "{unknown}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    // Port 1 on loopback has no server, so the connection is refused.
    let error = Store::open("postgres://tok:s3cret@127.0.0.1:1/tok")
        .await
        .unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("postgres://tok:***@127.0.0.1:1/tok"),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
}

#[tokio::test]
async fn invalid_database_urls_rejected() {
    for url in ["mysql://h/db", "sqlite::memory:", "tok.db"] {
        let error = Store::open(url).await.unwrap_err();
        assert!(matches!(error, StoreError::Url { .. }), "{url}: {error:?}");
        assert!(!error.is_unavailable(), "{url}");
        let message = error.to_string();
        assert!(message.contains("sqlite://tok.db"), "{url}: {message}");
    }
}
