#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use proptest::prelude::*;

const NOW_MS: u64 = 1_700_000_000_000;
const KEY: [u8; 32] = [7; 32];

/// The example of RFC 2617 section 3.5 (MD5, qop=auth).
fn rfc2617_example() -> Authorization {
    Authorization::parse(
        "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
         qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
         response=\"6629fae49393a05397450978507c4ef1\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap()
}

#[test]
fn rfc2617_md5_response() {
    let authorization = rfc2617_example();
    let ha1 = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    let expected = expected_response(Algorithm::Md5, &ha1, &authorization, "GET");
    assert_eq!(expected, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc7616_sha256_response() {
    // RFC 7616 section 3.9.1: the SHA-256 and MD5 responses of one request.
    let text = "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
        uri=\"/dir/index.html\", algorithm=SHA-256, \
        nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
        cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
        response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    let authorization = Authorization::parse(text).unwrap();
    assert_eq!(authorization.algorithm, Algorithm::Sha256);
    let realm = "http-auth@example.org";
    let sha256 = ha1(Algorithm::Sha256, "Mufasa", realm, "Circle of Life");
    assert_eq!(
        expected_response(Algorithm::Sha256, &sha256, &authorization, "GET"),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    let md5 = ha1(Algorithm::Md5, "Mufasa", realm, "Circle of Life");
    assert_eq!(
        expected_response(Algorithm::Md5, &md5, &authorization, "GET"),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
}

/// Builds the Authorization a client sends for `nonce` with `password`.
fn client_authorization(
    auth: &DigestAuth,
    algorithm: Algorithm,
    nonce: &str,
    password: &str,
) -> Authorization {
    let mut authorization = Authorization {
        username: String::from("ana"),
        realm: auth.realm().to_string(),
        nonce: nonce.to_string(),
        uri: String::from("sip:tok.example"),
        response: String::new(),
        algorithm,
        qop: Some(String::from("auth")),
        nc: Some(String::from("00000001")),
        cnonce: Some(String::from("c0ffee")),
    };
    let ha1 = ha1(algorithm, "ana", auth.realm(), password);
    authorization.response = expected_response(algorithm, &ha1, &authorization, "REGISTER");
    authorization
}

fn ana(auth: &DigestAuth) -> Credential {
    Credential::from_password("agent-ana", "ana", auth.realm(), "secret")
}

#[test]
fn verify_accepts_both_algorithms() {
    let auth = DigestAuth::with_key("tok", KEY);
    for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
        let nonce = auth.nonce(NOW_MS);
        let authorization = client_authorization(&auth, algorithm, &nonce, "secret");
        let verdict = auth.verify(
            &authorization,
            "REGISTER",
            "sip:tok.example",
            Some(&ana(&auth)),
            NOW_MS + 1000,
        );
        assert_eq!(verdict, Verdict::Valid(String::from("agent-ana")));
    }
}

#[test]
fn verify_rejects_wrong_password_and_unknown_user() {
    let auth = DigestAuth::with_key("tok", KEY);
    let nonce = auth.nonce(NOW_MS);
    let wrong = client_authorization(&auth, Algorithm::Md5, &nonce, "guess");
    let verdict = auth.verify(
        &wrong,
        "REGISTER",
        "sip:tok.example",
        Some(&ana(&auth)),
        NOW_MS,
    );
    assert_eq!(verdict, Verdict::Wrong);
    let right = client_authorization(&auth, Algorithm::Md5, &nonce, "secret");
    let verdict = auth.verify(&right, "REGISTER", "sip:tok.example", None, NOW_MS);
    assert_eq!(verdict, Verdict::Wrong);
}

#[test]
fn verify_marks_expired_nonce_stale() {
    let auth = DigestAuth::with_key("tok", KEY);
    let nonce = auth.nonce(NOW_MS);
    let later = NOW_MS + 5 * 60 * 1000 + 1;
    let right = client_authorization(&auth, Algorithm::Md5, &nonce, "secret");
    let verdict = auth.verify(
        &right,
        "REGISTER",
        "sip:tok.example",
        Some(&ana(&auth)),
        later,
    );
    assert_eq!(verdict, Verdict::Stale);
    // A wrong password stays wrong with an expired nonce.
    let wrong = client_authorization(&auth, Algorithm::Md5, &nonce, "guess");
    let verdict = auth.verify(
        &wrong,
        "REGISTER",
        "sip:tok.example",
        Some(&ana(&auth)),
        later,
    );
    assert_eq!(verdict, Verdict::Wrong);
}

#[test]
fn verify_rejects_tampered_nonce() {
    let auth = DigestAuth::with_key("tok", KEY);
    let nonce = auth.nonce(NOW_MS);
    // Flip one character of the signed issue time.
    let mut chars: Vec<char> = nonce.chars().collect();
    chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let authorization = client_authorization(&auth, Algorithm::Md5, &tampered, "secret");
    let verdict = auth.verify(
        &authorization,
        "REGISTER",
        "sip:tok.example",
        Some(&ana(&auth)),
        NOW_MS,
    );
    assert!(matches!(verdict, Verdict::Unusable(_)), "{verdict:?}");

    let other_server = DigestAuth::with_key("tok", [8; 32]);
    let foreign = other_server.nonce(NOW_MS);
    let authorization = client_authorization(&auth, Algorithm::Md5, &foreign, "secret");
    let verdict = auth.verify(
        &authorization,
        "REGISTER",
        "sip:tok.example",
        Some(&ana(&auth)),
        NOW_MS,
    );
    assert!(matches!(verdict, Verdict::Unusable(_)), "{verdict:?}");
}

#[test]
fn verify_checks_realm_uri_and_qop() {
    let auth = DigestAuth::with_key("tok", KEY);
    let nonce = auth.nonce(NOW_MS);
    let credential = ana(&auth);
    let check = |authorization: &Authorization| {
        auth.verify(
            authorization,
            "REGISTER",
            "sip:tok.example",
            Some(&credential),
            NOW_MS,
        )
    };
    let right = client_authorization(&auth, Algorithm::Md5, &nonce, "secret");

    let mut other_realm = right.clone();
    other_realm.realm = String::from("elsewhere");
    assert!(matches!(check(&other_realm), Verdict::Unusable(_)));

    let mut other_uri = right.clone();
    other_uri.uri = String::from("sip:other.example");
    assert!(matches!(check(&other_uri), Verdict::Unusable(_)));

    let mut no_qop = right.clone();
    no_qop.qop = None;
    assert!(matches!(check(&no_qop), Verdict::Unusable(_)));

    let mut bad_nc = right.clone();
    bad_nc.nc = Some(String::from("1"));
    assert!(matches!(check(&bad_nc), Verdict::Unusable(_)));

    let mut no_cnonce = right.clone();
    no_cnonce.cnonce = None;
    assert!(matches!(check(&no_cnonce), Verdict::Unusable(_)));

    let mut upper = right.clone();
    upper.response = upper.response.to_ascii_uppercase();
    assert_eq!(check(&upper), Verdict::Valid(String::from("agent-ana")));
}

#[test]
fn challenges_offer_md5_first() {
    let auth = DigestAuth::with_key("tok", KEY);
    let [md5, sha256] = auth.challenges(NOW_MS, false);
    assert!(md5.starts_with("Digest realm=\"tok\", nonce=\""), "{md5}");
    assert!(md5.contains("qop=\"auth\""), "{md5}");
    assert!(md5.ends_with("algorithm=MD5"), "{md5}");
    assert!(sha256.ends_with("algorithm=SHA-256"), "{sha256}");
    let [stale, _] = auth.challenges(NOW_MS, true);
    assert!(stale.ends_with(", stale=true"), "{stale}");
}

#[test]
fn parse_rejects_malformed_values() {
    let cases = [
        ("", "empty"),
        ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", "other scheme"),
        ("Digest", "no parameters"),
        ("Digest username=\"ana", "unclosed quote"),
        ("Digest username=", "missing value"),
        ("Digest =ana", "missing name"),
        ("Digest username ana", "missing ="),
        ("Digest username=\"a\" realm=\"tok\"", "missing comma"),
        (
            "Digest username=\"a\", username=\"b\", realm=\"tok\", nonce=\"n\", uri=\"u\", response=\"r\"",
            "repeated parameter",
        ),
        (
            "Digest username=\"a\", realm=\"tok\", nonce=\"n\", uri=\"u\"",
            "missing response",
        ),
        (
            "Digest username=\"a\", realm=\"tok\", nonce=\"n\", uri=\"u\", response=\"r\", algorithm=SHA-512",
            "unsupported algorithm",
        ),
    ];
    for (text, case) in cases {
        assert!(Authorization::parse(text).is_err(), "{case}: {text}");
    }
    let long = format!("Digest username=\"{}\"", "a".repeat(5000));
    assert!(Authorization::parse(&long).is_err());
}

#[test]
fn parse_unescapes_quoted_values() {
    let text = "digest USERNAME=\"a\\\"b\", realm=tok, nonce=\"n\", uri=\"sip:x\", response=\"r\"";
    let authorization = Authorization::parse(text).unwrap();
    assert_eq!(authorization.username, "a\"b");
    assert_eq!(authorization.realm, "tok");
    assert_eq!(authorization.algorithm, Algorithm::Md5);
}

proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC{0,300}") {
        let _ = Authorization::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_digest_like_text(
        text in "Digest [a-z=\", \\\\]{0,200}"
    ) {
        let _ = Authorization::parse(&text);
    }

    #[test]
    fn verify_never_panics(nonce in "\\PC{0,120}", response in "\\PC{0,80}") {
        let auth = DigestAuth::with_key("tok", KEY);
        let mut authorization = client_authorization(&auth, Algorithm::Md5, &nonce, "secret");
        authorization.response = response;
        let verdict = auth.verify(&authorization, "REGISTER", "sip:tok.example", None, NOW_MS);
        prop_assert!(verdict != Verdict::Valid(String::from("agent-ana")));
    }
}
