//! Checks of phone normalisation, custom field typing and the conversion
//! to the VM's contact.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use serde_json::json;

fn schema() -> CrmSchema {
    let mut fields = BTreeMap::new();
    fields.insert(String::from("tier"), FieldType::Text);
    fields.insert(String::from("seats"), FieldType::Integer);
    fields.insert(String::from("churned"), FieldType::Bool);
    fields.insert(String::from("contract_end"), FieldType::Date);
    fields.insert(String::from("account"), FieldType::Digits);
    CrmSchema {
        country_code: Some(CountryCode::parse("386").unwrap()),
        fields,
    }
}

#[test]
fn phone_spellings_are_one_number() {
    let schema = schema();
    for text in [
        "+386 1 555 0100",
        "01 5550100",
        "+38615550100",
        "00386 1 555-0100",
    ] {
        assert_eq!(schema.phone(text).as_deref(), Ok("+38615550100"), "{text}");
    }
}

#[test]
fn ambiguous_phone_names_readings() {
    let error = schema().phone("38615550100").unwrap_err();
    assert!(
        error.contains("ambiguous phone number `38615550100`"),
        "{error}"
    );
    assert!(error.contains("+38615550100"), "{error}");
    assert!(error.contains("+38638615550100"), "{error}");
}

#[test]
fn ambiguous_without_country_code() {
    let schema = CrmSchema::default();
    let error = schema.phone("38615550100").unwrap_err();
    assert!(error.contains("set `country_code`"), "{error}");
}

#[test]
fn invalid_phone_rejected() {
    let error = schema().phone("call me").unwrap_err();
    assert!(
        error.starts_with("invalid phone number `call me`"),
        "{error}"
    );
}

#[test]
fn short_phone_rejected() {
    let schema = schema();
    for text in ["+1", "+386", "+3861", "01"] {
        let error = schema.phone(text).unwrap_err();
        assert!(error.contains("too short"), "{text}: {error}");
    }
    assert_eq!(schema.phone("+6834002").as_deref(), Ok("+6834002"));
}

#[test]
fn custom_fields_typed_from_text() {
    let schema = schema();
    assert_eq!(schema.field("seats", &json!("12")), Ok(Some(json!(12))));
    assert_eq!(schema.field("seats", &json!(7)), Ok(Some(json!(7))));
    assert_eq!(
        schema.field("churned", &json!("yes")),
        Ok(Some(json!(true)))
    );
    assert_eq!(
        schema.field("contract_end", &json!("2026-02-28")),
        Ok(Some(json!("2026-02-28")))
    );
    assert_eq!(
        schema.field("account", &json!("0012")),
        Ok(Some(json!("0012")))
    );
    assert_eq!(
        schema.field("tier", &json!(" gold ")),
        Ok(Some(json!("gold")))
    );
    assert_eq!(schema.field("tier", &json!("")), Ok(None));
}

#[test]
fn custom_fields_wrong_type_rejected() {
    let schema = schema();
    let error = schema.field("seats", &json!("many")).unwrap_err();
    assert!(
        error.contains("`many` for field `seats` (integer)"),
        "{error}"
    );
    assert!(schema.field("contract_end", &json!("2026-02-30")).is_err());
    assert!(schema.field("account", &json!("12a")).is_err());
    assert!(schema.field("churned", &json!("maybe")).is_err());
    let error = schema.field("colour", &json!("red")).unwrap_err();
    assert!(error.contains("unknown field `colour`"), "{error}");
    assert!(error.contains("crm.fields"), "{error}");
}

#[test]
fn contact_needs_name_or_phone() {
    let problems = schema().contact(&ContactInput::default()).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("missing name and phone"));
}

#[test]
fn contact_lists_every_problem() {
    let input = ContactInput {
        name: Some(String::from("Ana")),
        phones: vec![String::from("12"), String::from("+38615550100")],
        email: Some(String::from("not an email")),
        fields: BTreeMap::from([(String::from("seats"), json!("x"))]),
        ..ContactInput::default()
    };
    let problems = schema().contact(&input).unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
}

#[test]
fn contact_normalised_and_deduplicated() {
    let input = ContactInput {
        name: Some(String::from(" Ana Novak ")),
        phone: Some(String::from("01 555 0100")),
        phones: vec![
            String::from("+38615550100"),
            String::from("+386 41 000 000"),
        ],
        email: Some(String::from("Ana@Example.COM")),
        vip: Some(true),
        ..ContactInput::default()
    };
    let contact = schema().contact(&input).unwrap();
    assert_eq!(contact.name.as_deref(), Some("Ana Novak"));
    assert_eq!(contact.phones, vec!["+38615550100", "+38641000000"]);
    assert_eq!(contact.email.as_deref(), Some("ana@example.com"));
    assert!(contact.vip);
}

#[test]
fn vm_contact_has_typed_fields() {
    let schema = schema();
    let record = ContactRecord {
        id: 7,
        external_id: None,
        name: Some(String::from("Ana")),
        company: None,
        email: None,
        phones: vec![String::from("+38615550100")],
        language: Some(String::from("sl")),
        vip: true,
        fields: BTreeMap::from([
            (String::from("seats"), json!(3)),
            (String::from("contract_end"), json!("2027-01-31")),
            (String::from("account"), json!("0042")),
            (String::from("churned"), json!("not a bool")),
        ]),
        last_agent: Some(String::from("maja")),
        open_tickets: 2,
        created_at: 0,
        updated_at: 0,
    };
    let contact = schema.vm_contact(&record);
    assert_eq!(contact.fields["name"], Value::Text(String::from("Ana")));
    assert_eq!(contact.fields["company"], Value::Text(String::new()));
    assert_eq!(
        contact.fields["phone"],
        Value::Text(String::from("+38615550100"))
    );
    assert_eq!(contact.fields["vip"], Value::Bool(true));
    assert_eq!(contact.fields["id"], Value::Text(String::from("7")));
    assert_eq!(contact.fields["open_tickets"], Value::Int(2));
    assert_eq!(
        contact.fields["last_agent"],
        Value::Text(String::from("maja"))
    );
    assert_eq!(contact.fields["seats"], Value::Int(3));
    assert_eq!(
        contact.fields["contract_end"],
        Value::Date(Date {
            year: 2027,
            month: 1,
            day: 31
        })
    );
    assert_eq!(
        contact.fields["account"],
        Value::Digits(String::from("0042"))
    );
    assert!(!contact.fields.contains_key("churned"));
    assert!(!contact.fields.contains_key("tier"));
}
