//! Contact lookups by phone in the built-in CRM with 1,000,000 contacts,
//! on SQLite and on PostgreSQL. Criterion measures the time per lookup of a
//! stored number and of an unknown one. Then the benchmark prints the p50
//! and p99 latency of single lookups and the lookups per second of 100
//! concurrent tasks, and the call records per second that `call_finished`
//! writes from 50 concurrent tasks.
//!
//! Run with `CARGO_TARGET_DIR=... cargo bench -p flowd --bench crm_lookup`.
//! The SQLite file is kept under the target folder
//! (`crm_lookup/contacts-1000000.db`) and reused while its contact count is
//! right. The call records of earlier runs stay in it. PostgreSQL gets a new
//! database on the server of `TOK_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped at the end. Set `CRM_LOOKUP_BACKENDS=sqlite` to skip PostgreSQL, and
//! `CRM_LOOKUP_CONTACTS` to try the benchmark on fewer contacts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::Criterion;
use flowd::store::testing::PostgresDatabase;
use flowd::store::{
    Backend, FinishedCall, NewOutboxItem, PathStep, Store, TagSource, TicketAction,
};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Contacts in the benchmark database unless `CRM_LOOKUP_CONTACTS` sets
/// another count.
const DEFAULT_CONTACTS: u64 = 1_000_000;

fn contacts() -> u64 {
    static CONTACTS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *CONTACTS.get_or_init(|| {
        std::env::var("CRM_LOOKUP_CONTACTS")
            .ok()
            .and_then(|text| text.parse().ok())
            .filter(|&n| n > 0 && n <= 10_000_000)
            .unwrap_or(DEFAULT_CONTACTS)
    })
}

/// Sequential lookups behind the latency percentiles.
const LATENCY_SAMPLES: usize = 20_000;

/// Concurrent tasks in the throughput run, and lookups per task.
const TASKS: usize = 100;
const LOOKUPS_PER_TASK: usize = 500;

/// Returns the number of contact `n` (1-based): `+3862` and seven digits.
fn phone(n: u64) -> String {
    format!("+3862{:07}", n - 1)
}

/// Returns the next contact of a cheap pseudo-random sequence (xorshift).
fn next_contact(state: &AtomicU64) -> u64 {
    let mut x = state.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.store(x, Ordering::Relaxed);
    x % contacts() + 1
}

fn target_folder() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    )
}

/// Opens the SQLite benchmark file, filling it when it does not hold the
/// contacts yet.
async fn sqlite_store() -> Store {
    let folder = target_folder().join("crm_lookup");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(format!("contacts-{}.db", contacts()));
    let url = format!("sqlite://{}", path.display());
    if path.exists() {
        let store = Store::open(&url).await.unwrap();
        if count(&store).await == contacts() as i64 {
            println!("reusing {}", path.display());
            return store;
        }
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let store = Store::open(&url).await.unwrap();
    populate(&store).await;
    store
}

async fn count(store: &Store) -> i64 {
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM contacts")
        .fetch_one(store.pool())
        .await
        .unwrap();
    row.0
}

/// Fills the contacts with one INSERT ... SELECT per table over a series
/// generated in the database, which is far faster than row-by-row inserts.
async fn populate(store: &Store) {
    let started = Instant::now();
    let total = contacts();
    let (series, number) = match store.backend() {
        Backend::Sqlite => (
            format!(
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {total})"
            ),
            "'+3862' || printf('%07d', n - 1)",
        ),
        Backend::Postgres => (
            format!("WITH g(n) AS (SELECT generate_series(1, {total})::bigint)"),
            "'+3862' || lpad((n - 1)::text, 7, '0')",
        ),
    };
    let contacts = format!(
        "{series} INSERT INTO contacts (id, name, company, phones, language, vip, fields, created_at, updated_at) \
         SELECT n, 'Contact ' || n, 'Company ' || (n % 1000), '[\"' || {number} || '\"]', 'sl', \
         CASE WHEN n % 10 = 0 THEN 1 ELSE 0 END, '{{\"tier\":\"gold\"}}', 0, 0 FROM g"
    );
    let phones = format!(
        "{series} INSERT INTO contact_phones (phone, contact_id) SELECT {number}, n FROM g"
    );
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(contacts))
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(phones))
        .execute(&mut *tx)
        .await
        .unwrap();
    if store.backend() == Backend::Postgres {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval('contacts_id_seq', {total})"
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    println!(
        "{}: filled {total} contacts in {:.1} s",
        store.backend().as_str(),
        started.elapsed().as_secs_f64()
    );
}

/// Prints p50 and p99 of sequential lookups of stored numbers.
fn latency(runtime: &Runtime, store: &Store) {
    let state = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut samples: Vec<Duration> = Vec::with_capacity(LATENCY_SAMPLES);
    runtime.block_on(async {
        for _ in 0..LATENCY_SAMPLES {
            let number = phone(next_contact(&state));
            let started = Instant::now();
            let found = store.contact_by_phone(&number).await.unwrap();
            samples.push(started.elapsed());
            assert!(found.is_some(), "{number} not found");
        }
    });
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{}: single lookup latency over {LATENCY_SAMPLES} lookups: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        store.backend().as_str(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

/// Prints the lookups per second of 100 concurrent tasks.
fn concurrent(runtime: &Runtime, store: &Store) {
    let started = Instant::now();
    let worst = runtime.block_on(async {
        let mut tasks = Vec::with_capacity(TASKS);
        for task in 0..TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let state = AtomicU64::new(0x2545_f491_4f6c_dd1d + task as u64);
                let mut worst = Duration::ZERO;
                for _ in 0..LOOKUPS_PER_TASK {
                    let number = phone(next_contact(&state));
                    let one = Instant::now();
                    let found = store.contact_by_phone(&number).await.unwrap();
                    worst = worst.max(one.elapsed());
                    assert!(found.is_some());
                }
                worst
            }));
        }
        let mut worst = Duration::ZERO;
        for task in tasks {
            worst = worst.max(task.await.unwrap());
        }
        worst
    });
    let elapsed = started.elapsed().as_secs_f64();
    let total = TASKS * LOOKUPS_PER_TASK;
    println!(
        "{}: {TASKS} concurrent tasks: {total} lookups in {elapsed:.2} s = {:.0} lookups/s, slowest {:.2} ms",
        store.backend().as_str(),
        total as f64 / elapsed,
        worst.as_secs_f64() * 1e3,
    );
}

/// Call records written by 50 concurrent tasks.
const RECORD_TASKS: usize = 50;
const RECORDS_PER_TASK: usize = 40;

/// Prints the call records per second that `call_finished` writes from
/// concurrent tasks, each record with a timeline entry, a ticket link,
/// tags and two outbox items, for contacts picked at random.
fn record_writes(runtime: &Runtime, store: &Store) {
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::with_capacity(RECORD_TASKS);
        for task in 0..RECORD_TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let state = AtomicU64::new(0x6a09_e667_f3bc_c908 + task as u64);
                for i in 0..RECORDS_PER_TASK {
                    let contact = next_contact(&state) as i64;
                    let call_id = format!("bench-{}-{task}-{i}", std::process::id());
                    store
                        .call_finished(&finished_call(&call_id, contact))
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let total = RECORD_TASKS * RECORDS_PER_TASK;
    println!(
        "{}: {RECORD_TASKS} concurrent tasks: {total} call records in {elapsed:.2} s = {:.0} records/s",
        store.backend().as_str(),
        total as f64 / elapsed,
    );
}

fn finished_call(call_id: &str, contact: i64) -> FinishedCall {
    let item = |body: &str| NewOutboxItem {
        kind: String::from("webhook"),
        hook: String::from("crm"),
        url: String::from("http://127.0.0.1:9/"),
        method: String::from("POST"),
        headers: Vec::new(),
        body: body.to_string(),
        idempotency_key: String::new(),
        expires_at: i64::MAX,
    };
    FinishedCall {
        call_id: call_id.to_string(),
        flow: String::from("support"),
        flow_version: String::from("ab12"),
        caller: Some(phone(contact as u64)),
        dialled: String::from("+38615559000"),
        contact_id: Some(contact),
        started_at: 1_000,
        answered_at: Some(1_100),
        ended_at: 60_000,
        outcome: String::from("completed"),
        ended_by: String::from("caller"),
        sip_reason: None,
        legs: Vec::new(),
        path: vec![PathStep {
            at: 2_000,
            kind: String::from("menu"),
            value: String::from("1"),
        }],
        queue: Some(String::from("support")),
        agent: Some(String::from("maja")),
        wait_ms: 3_000,
        talk_ms: 50_000,
        wrapup_ms: 0,
        rating: None,
        recording: None,
        tags: vec![(String::from("bench"), TagSource::Flow)],
        timeline: vec![String::from("Benchmark call")],
        ticket: Some(TicketAction::LinkOrCreate(String::from("Benchmark"))),
        outbox: vec![item("{\"n\":1}"), item("{\"n\":2}")],
    }
}

fn bench_backend(c: &mut Criterion, runtime: &Runtime, store: &Store) {
    let name = store.backend().as_str();
    let mut group = c.benchmark_group(format!("crm_lookup/{name}"));
    let state = Arc::new(AtomicU64::new(0x1234_5678_9abc_def1));
    group.bench_function("stored number", |b| {
        b.iter(|| {
            let number = phone(next_contact(&state));
            let found = runtime.block_on(store.contact_by_phone(&number)).unwrap();
            black_box(found)
        });
    });
    group.bench_function("unknown number", |b| {
        b.iter(|| {
            let found = runtime
                .block_on(store.contact_by_phone("+38690000000"))
                .unwrap();
            black_box(found)
        });
    });
    group.finish();
    latency(runtime, store);
    concurrent(runtime, store);
    record_writes(runtime, store);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let backends =
        std::env::var("CRM_LOOKUP_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    if backends.contains("sqlite") {
        let store = runtime.block_on(sqlite_store());
        bench_backend(&mut criterion, &runtime, &store);
        runtime.block_on(store.close());
    }
    if backends.contains("postgres") {
        let database = runtime
            .block_on(PostgresDatabase::create())
            .unwrap_or_else(|message| panic!("{message}"));
        let store = runtime.block_on(Store::open(&database.url)).unwrap();
        runtime.block_on(populate(&store));
        bench_backend(&mut criterion, &runtime, &store);
        runtime.block_on(store.close());
        runtime.block_on(database.drop_database()).unwrap();
    }
    criterion.final_summary();
}
