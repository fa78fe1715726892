//! `flowd import contacts` on CSV and YAML files, against SQLite and
//! PostgreSQL: good rows, every kind of rejected row, re-imports that
//! update, several batches, and files that cannot be read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod store_support;

use flowd::store::{ContactQuery, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Output;
use store_support::TestDb;

on_both_backends!(
    csv_lines_are_physical,
    csv_good_and_bad_rows,
    csv_reimport_updates,
    yaml_good_and_bad_items,
    many_rows_in_batches,
    unreadable_files_exit_non_zero,
);

/// Writes a tok.yaml that points at the test database.
fn write_config(db: &TestDb) -> PathBuf {
    let path = db.folder().join("tok.yaml");
    let text = format!(
        "country_code: 386\ndatabase: \"{}\"\ncrm:\n  fields:\n    tier: text\n    seats: integer\n    renewal: date\n    account: digits\n    churned: bool\n",
        db.url
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn run_import(config: &Path, file: &Path) -> Output {
    let config = config.to_path_buf();
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_flowd"))
            .arg("import")
            .arg("contacts")
            .arg(&file)
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .output()
            .expect("run flowd")
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const CSV: &str = "\
name,company,email,phones,language,vip,external_id,tier,seats,renewal,account,churned
Ana Novak,Novak d.o.o.,Ana@Example.com,+386 1 555 0100;041 000 001,sl,yes,crm-1,gold,3,2027-01-31,0042,no
Bo Kranjc,,,01 5550200,,,,,,,,
,,,,,,,,,,,
Cene,,,38615550300,,,,,,,,
Dora,,,+38615550400,,maybe,,,many,,,
Eva,,,+386 1 555 0100,,,,,,,,
,Nobody Inc,,,,,,,,,,
Fran,,fran@,+38615550500,,,,,,2027-02-30,12a,
\"Gal, Jr.\",\"Gal, Inc.\",,+38615550600,,,,,,,,
";

async fn csv_good_and_bad_rows(db: &TestDb) {
    let config = write_config(db);
    let file = db.folder().join("contacts.csv");
    std::fs::write(&file, CSV).unwrap();
    let output = run_import(&config, &file).await;
    let report = stdout(&output);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "imported 3, updated 0, rejected 5", "{report}");
    assert!(
        lines[1].starts_with("line 5: ambiguous phone number `38615550300`"),
        "{report}"
    );
    assert!(
        lines[2].starts_with("line 6: invalid vip `maybe`"),
        "{report}"
    );
    assert!(
        lines[2].contains("`many` for field `seats` (integer)"),
        "{report}"
    );
    assert!(
        lines[3].starts_with("line 7: duplicate of line 2 in this file (same phone +38615550100)"),
        "{report}"
    );
    assert!(
        lines[4].starts_with("line 8: missing name and phone"),
        "{report}"
    );
    assert!(lines[5].starts_with("line 9: "), "{report}");
    assert!(
        lines[5].contains("invalid email `fran@`") || lines[5].contains("2027-02-30"),
        "{report}"
    );
    assert!(lines[5].contains("2027-02-30"), "{report}");
    assert!(lines[5].contains("`12a`"), "{report}");
    assert_eq!(lines.len(), 6, "{report}");

    let store = Store::open(&db.url).await.unwrap();
    let ana = store
        .contact_by_phone("+38641000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ana.name.as_deref(), Some("Ana Novak"));
    assert_eq!(ana.email.as_deref(), Some("ana@example.com"));
    assert_eq!(ana.phones, vec!["+38615550100", "+38641000001"]);
    assert!(ana.vip);
    assert_eq!(ana.external_id.as_deref(), Some("crm-1"));
    assert_eq!(ana.fields["seats"], json!(3));
    assert_eq!(ana.fields["renewal"], json!("2027-01-31"));
    assert_eq!(ana.fields["account"], json!("0042"));
    assert_eq!(ana.fields["churned"], json!(false));
    let bo = store
        .contact_by_phone("+38615550200")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bo.name.as_deref(), Some("Bo Kranjc"));
    assert!(!bo.vip);
    let gal = store
        .contact_by_phone("+38615550600")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gal.company.as_deref(), Some("Gal, Inc."));
    assert!(
        store
            .contact_by_phone("+38615550400")
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;
}

async fn csv_reimport_updates(db: &TestDb) {
    let config = write_config(db);
    let file = db.folder().join("contacts.csv");
    std::fs::write(
        &file,
        "name,phone,external_id\nAna,+38615550100,crm-1\nBo,+38615550200,\n",
    )
    .unwrap();
    let first = run_import(&config, &file).await;
    assert_eq!(stdout(&first), "imported 2, updated 0, rejected 0\n");
    std::fs::write(
        &file,
        "name,phone,external_id,unknown\nAna Novak,+38615550199,crm-1,\nBo Kranjc,+38615550200,,x\nCene,+38615550300,,\n",
    )
    .unwrap();
    let second = run_import(&config, &file).await;
    let report = stdout(&second);
    assert!(second.status.success());
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "imported 1, updated 1, rejected 1", "{report}");
    assert!(
        lines[1].starts_with("line 3: unknown column `unknown`"),
        "{report}"
    );
    let store = Store::open(&db.url).await.unwrap();
    let ana = store
        .contact_by_phone("+38615550199")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ana.name.as_deref(), Some("Ana Novak"));
    assert!(
        store
            .contact_by_phone("+38615550100")
            .await
            .unwrap()
            .is_none()
    );
    let all = store.contacts(&ContactQuery::default()).await.unwrap();
    assert_eq!(all.len(), 3);

    // A number taken by another contact is rejected by the store.
    std::fs::write(&file, "name,phone,external_id\nThief,+38615550300,crm-7\n").unwrap();
    let third = run_import(&config, &file).await;
    let report = stdout(&third);
    assert!(third.status.success());
    assert!(
        report.starts_with("imported 0, updated 0, rejected 1\n"),
        "{report}"
    );
    assert!(
        report.contains("line 2: phone +38615550300 already belongs to contact"),
        "{report}"
    );
    store.close().await;
}

const YAML: &str = r#"
- name: Ana Novak
  phones: ["+386 1 555 0100", "041 000 001"]
  vip: true
  seats: 4
  renewal: 2027-01-31
  account: "0042"
- name: Bo
  phone: "01 5550200; 01 5550201"
  churned: "yes"
- name: Unquoted
  phone: +38615550300
- just a string
- name: Colour
  phone: "+38615550400"
  colour: red
- name: Ana again
  phone: "+38641000001"
"#;

async fn yaml_good_and_bad_items(db: &TestDb) {
    let config = write_config(db);
    let file = db.folder().join("contacts.yaml");
    std::fs::write(&file, YAML).unwrap();
    let output = run_import(&config, &file).await;
    let report = stdout(&output);
    assert!(output.status.success(), "{report}");
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "imported 2, updated 0, rejected 4", "{report}");
    assert!(
        lines[1].starts_with("item 3: phone 38615550300 was read as a YAML number"),
        "{report}"
    );
    assert!(
        lines[2].starts_with("item 4: the item is \"just a string\", not a map"),
        "{report}"
    );
    assert!(
        lines[3].starts_with("item 5: unknown column `colour`"),
        "{report}"
    );
    assert!(
        lines[4].starts_with("item 6: duplicate of item 1"),
        "{report}"
    );
    let store = Store::open(&db.url).await.unwrap();
    let ana = store
        .contact_by_phone("+38641000001")
        .await
        .unwrap()
        .unwrap();
    assert!(ana.vip);
    assert_eq!(ana.fields["seats"], json!(4));
    assert_eq!(ana.fields["renewal"], json!("2027-01-31"));
    assert_eq!(ana.fields["account"], json!("0042"));
    let bo = store
        .contact_by_phone("+38615550201")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bo.phones, vec!["+38615550200", "+38615550201"]);
    assert_eq!(bo.fields["churned"], json!(true));
    store.close().await;
}

async fn many_rows_in_batches(db: &TestDb) {
    let config = write_config(db);
    let file = db.folder().join("many.csv");
    let rows = flowd::crm::import::BATCH_SIZE * 2 + 500;
    let mut text = String::from("name,phone,seats\n");
    for i in 0..rows {
        text.push_str(&format!("Person {i},+3861{:07},{i}\n", i));
    }
    // One bad row in the middle of the second batch.
    text.push_str("Bad,+3861000000x,1\n");
    std::fs::write(&file, text).unwrap();
    let output = run_import(&config, &file).await;
    let report = stdout(&output);
    assert!(output.status.success(), "{report}");
    assert!(
        report.starts_with(&format!("imported {rows}, updated 0, rejected 1\n")),
        "{report}"
    );
    let store = Store::open(&db.url).await.unwrap();
    let last = store
        .contact_by_phone(&format!("+3861{:07}", rows - 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.fields["seats"], json!(rows - 1));
    store.close().await;
}

async fn unreadable_files_exit_non_zero(db: &TestDb) {
    let config = write_config(db);
    let missing = db.folder().join("missing.csv");
    let output = run_import(&config, &missing).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot read"), "{stderr}");
    assert!(stderr.contains("missing.csv"), "{stderr}");

    let text = db.folder().join("contacts.txt");
    std::fs::write(&text, "name\nAna\n").unwrap();
    let output = run_import(&config, &text).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("name the file `.csv`, `.yaml` or `.yml`"),
        "{stderr}"
    );

    let broken = db.folder().join("broken.yaml");
    std::fs::write(&broken, "name: [unclosed\n").unwrap();
    let output = run_import(&config, &broken).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.yaml"), "{stderr}");
}

async fn csv_lines_are_physical(db: &TestDb) {
    let config = write_config(db);
    let file = db.folder().join("contacts.csv");
    // A blank line, and CRLF line ends as spreadsheets write them.
    std::fs::write(
        &file,
        "name,phone\r\nAna,+38615550100\r\n\r\nBo,+38615550100\r\n",
    )
    .unwrap();
    let output = run_import(&config, &file).await;
    let report = stdout(&output);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "imported 1, updated 0, rejected 1", "{report}");
    assert!(
        lines[1].starts_with("line 4: duplicate of line 2"),
        "{report}"
    );
}
