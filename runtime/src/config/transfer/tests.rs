use super::*;

fn slovenia() -> Option<CountryCode> {
    CountryCode::parse("386").ok()
}

fn carrier() -> Trunk {
    Trunk {
        host: String::from("127.0.0.1"),
        port: 5070,
        transport: Transport::Udp,
        from: None,
    }
}

/// Builds a policy from `transfer.allow` entries with one trunk, `carrier`.
fn policy(allow: &[&str]) -> Result<TransferPolicy, ConfigError> {
    let trunks = BTreeMap::from([(String::from("carrier"), carrier())]);
    let section = TransferSection {
        allow: allow
            .iter()
            .map(|text| YamlScalar::Text(text.to_string()))
            .collect(),
        trunk: None,
    };
    build_transfer(section, &trunks, slovenia())
}

fn reason(result: Result<Destination, TransferDenied>) -> String {
    match result {
        Ok(destination) => format!("allowed as {}", destination.uri),
        Err(denied) => denied.to_string(),
    }
}

#[test]
fn default_policy_denies_everything() {
    let policy = TransferPolicy::default();
    assert!(policy.denies_all());
    for target in ["+38615550100", "sip:1001@pbx.example.com"] {
        let message = reason(policy.check(target, slovenia()));
        assert!(
            message.contains("not allowed by `transfer.allow`"),
            "{message}"
        );
    }
}

#[test]
fn number_spellings_match_one_pattern() {
    let policy = policy(&["+386 1 555 01*"]);
    assert!(policy.is_ok(), "{policy:?}");
    let policy = policy.unwrap_or_default();
    let expected = "sip:+38615550100@127.0.0.1:5070;user=phone";
    for target in [
        "+38615550100",
        "0038615550100",
        "015550100",
        "+386 1 555-0100",
        "tel:+386-1-555-0100",
    ] {
        let destination = policy.check(target, slovenia());
        assert_eq!(
            destination.as_ref().map(|d| d.uri.as_str()),
            Ok(expected),
            "{target}"
        );
        assert_eq!(
            destination.ok().and_then(|d| d.trunk).as_deref(),
            Some("carrier"),
            "{target}"
        );
    }
}

#[test]
fn exact_number_pattern() {
    let policy = policy(&["+386 1 555 0100"]).unwrap_or_default();
    assert!(policy.check("+38615550100", slovenia()).is_ok());
    let message = reason(policy.check("+386155501001", slovenia()));
    assert!(message.contains("not allowed"), "{message}");
    let message = reason(policy.check("+3861555010", slovenia()));
    assert!(message.contains("not allowed"), "{message}");
}

#[test]
fn toll_fraud_shapes_denied() {
    let policy = policy(&["+3861555*", "sip:*@pbx.example.com"]).unwrap_or_default();
    let cases = [
        // A longer number under a short national prefix.
        ("+386190123456", "not allowed"),
        // A premium number in another country, international prefix.
        ("00 1 900 555 0100", "not allowed"),
        // A SIP URI at a host no entry allows.
        ("sip:+1900@evil", "not allowed"),
        ("sip:+1900@evil.example.com", "not allowed"),
        // Service codes before or inside the digits.
        ("*67+38615550100", "`*` or `#`"),
        ("#31#015550100", "`*` or `#`"),
        ("01555*0100", "`*` or `#`"),
        // Parameters that redirect the request or add headers.
        ("sip:1001@pbx.example.com;maddr=203.0.113.9", "parameters"),
        (
            "sip:1001@pbx.example.com?Route=%3Csip:evil%3E",
            "parameters",
        ),
        // An allowed host on another port.
        ("sip:1001@pbx.example.com:5080", "not allowed"),
        // Not a number at all, or too long for E.164.
        ("press one", "not an E.164"),
        ("+3861555012345678901", "not an E.164"),
        ("", "empty"),
    ];
    for (target, expected) in cases {
        let message = reason(policy.check(target, slovenia()));
        assert!(message.contains(expected), "{target}: {message}");
        assert!(!message.starts_with("allowed"), "{target}: {message}");
    }
}

#[test]
fn ambiguous_number_denied_without_country() {
    let policy = policy(&["+3861*"]).unwrap_or_default();
    let message = reason(policy.check("38615550100", None));
    assert!(message.contains("ambiguous"), "{message}");
    assert!(policy.check("+38615550100", None).is_ok());
}

#[test]
fn sip_patterns_match_user_and_host() {
    let policy = policy(&[
        "sip:*@PBX.example.com",
        "sip:100*@10.0.0.5:5080",
        "sip:sales@crm.example.com",
    ])
    .unwrap_or_default();
    let allowed = [
        ("sip:1001@pbx.example.com", "sip:1001@pbx.example.com:5060"),
        (
            "sip:1001@pbx.example.com:5060",
            "sip:1001@pbx.example.com:5060",
        ),
        ("sip:1005@10.0.0.5:5080", "sip:1005@10.0.0.5:5080"),
        (
            "sip:sales@crm.example.com",
            "sip:sales@crm.example.com:5060",
        ),
    ];
    for (target, uri) in allowed {
        let destination = policy.check(target, slovenia());
        assert_eq!(
            destination.as_ref().map(|d| d.uri.as_str()),
            Ok(uri),
            "{target}"
        );
        assert_eq!(destination.ok().and_then(|d| d.trunk), None, "{target}");
    }
    for target in [
        "sip:2001@10.0.0.5:5080",
        "sip:1005@10.0.0.5",
        "sip:sales2@crm.example.com",
        "sips:1001@pbx.example.com",
        "sip:pbx.example.com",
    ] {
        assert!(policy.check(target, slovenia()).is_err(), "{target}");
    }
}

#[test]
fn invalid_patterns_name_entry() {
    let cases = [
        "*",
        "+*",
        "+386*1*",
        "5550100",
        "sip:*@*",
        "sip:*@pbx.example.com;maddr=1.2.3.4",
        "sip:@pbx.example.com",
        "sips:*@pbx.example.com",
    ];
    for pattern in cases {
        let message = policy(&[pattern])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.contains("`transfer.allow[0]`"),
            "{pattern}: {message}"
        );
    }
}

#[test]
fn number_patterns_need_a_trunk() {
    let section = TransferSection {
        allow: vec![YamlScalar::Text(String::from("+3861*"))],
        trunk: None,
    };
    let message = build_transfer(section, &BTreeMap::new(), slovenia())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("`transfer.trunk`"), "{message}");
    let section = TransferSection {
        allow: vec![YamlScalar::Text(String::from("sip:*@pbx.example.com"))],
        trunk: None,
    };
    assert!(build_transfer(section, &BTreeMap::new(), slovenia()).is_ok());
}

#[test]
fn tcp_trunk_uri() {
    let trunk = Trunk {
        transport: Transport::Tcp,
        ..carrier()
    };
    assert_eq!(
        trunk.number_uri("+38615550100"),
        "sip:+38615550100@127.0.0.1:5070;user=phone;transport=tcp"
    );
    let trunk = Trunk {
        host: String::from("2001:db8::1"),
        ..carrier()
    };
    assert_eq!(trunk.host_port(), "[2001:db8::1]:5070");
}
