#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::sip::digest::{Algorithm, StaticCredentials, expected_response};
use crate::sip::message::Message;
use crate::sip::parse::parse_datagram;
use crate::sip::transport::Transport;
use std::net::SocketAddr;

fn source(ip: [u8; 4]) -> Source {
    Source {
        transport: Transport::Udp,
        remote: SocketAddr::from((ip, 5062)),
        local: SocketAddr::from(([127, 0, 0, 1], 5060)),
        connection: None,
    }
}

fn registrar() -> (Registrar, mpsc::UnboundedReceiver<RegistrarEvent>) {
    let credentials = StaticCredentials::new()
        .with_password("ana", "agent-ana", "tok", "secret")
        .with_password("bo", "agent-bo", "tok", "hunter2");
    let (events, receiver) = mpsc::unbounded_channel();
    let registrar =
        Registrar::new(RegistrarConfig::default(), Arc::new(credentials), events).unwrap();
    (registrar, receiver)
}

/// Builds a REGISTER for `user` with `extra` header lines.
fn register(user: &str, call_id: &str, cseq: u32, extra: &str) -> Request {
    let text = format!(
        "REGISTER sip:tok.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK{call_id}{cseq}\r\n\
         From: <sip:{user}@tok.example>;tag=f1\r\n\
         To: <sip:{user}@tok.example>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Max-Forwards: 70\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    );
    match parse_datagram(text.as_bytes()) {
        Ok(Message::Request(request)) => request,
        other => panic!("invalid test REGISTER: {other:?}"),
    }
}

/// Adds an Authorization answering `challenge` with `password` for `user`.
fn authorize(mut request: Request, challenge: &Response, user: &str, password: &str) -> Request {
    let header = challenge.headers.get("WWW-Authenticate").unwrap();
    let nonce = header
        .split("nonce=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let mut authorization = Authorization {
        username: user.to_string(),
        realm: String::from("tok"),
        nonce,
        uri: request.uri.clone(),
        response: String::new(),
        algorithm: Algorithm::Md5,
        qop: Some(String::from("auth")),
        nc: Some(String::from("00000001")),
        cnonce: Some(String::from("abc123")),
    };
    let ha1 = crate::sip::digest::ha1(Algorithm::Md5, user, "tok", password);
    authorization.response = expected_response(Algorithm::Md5, &ha1, &authorization, "REGISTER");
    let value = format!(
        "Digest username=\"{user}\", realm=\"tok\", nonce=\"{}\", uri=\"{}\", \
         response=\"{}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc123\"",
        authorization.nonce, authorization.uri, authorization.response
    );
    request.headers.push("Authorization", value);
    request
}

/// Sends a REGISTER, answers the 401 with `password`, and returns the
/// final response.
async fn register_with(
    registrar: &Registrar,
    from: Source,
    user: &str,
    password: &str,
    cseq: u32,
    extra: &str,
) -> Response {
    let first = register(user, "reg-1", cseq, extra);
    let challenge = registrar.register(&first, from, "t1").await;
    assert_eq!(challenge.status, 401);
    let second = authorize(
        register(user, "reg-1", cseq + 1, extra),
        &challenge,
        user,
        password,
    );
    registrar.register(&second, from, "t1").await
}

#[tokio::test]
async fn register_binds_contact_and_reports_it() {
    let (registrar, mut events) = registrar();
    let from = source([192, 0, 2, 7]);
    let extra = "Contact: <sip:ana@10.0.0.5:5062>\r\nExpires: 120\r\n";
    let response = register_with(&registrar, from, "ana", "secret", 1, extra).await;
    assert_eq!(response.status, 200);
    let contact = response.headers.get("Contact").unwrap();
    assert!(
        contact.starts_with("<sip:ana@10.0.0.5:5062>;expires="),
        "{contact}"
    );

    let bindings = registrar.lookup("agent-ana");
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].contact_uri, "sip:ana@10.0.0.5:5062");
    assert_eq!(bindings[0].source, from);
    match events.recv().await.unwrap() {
        RegistrarEvent::Registered {
            agent_id, expires, ..
        } => {
            assert_eq!(agent_id, "agent-ana");
            assert_eq!(expires, Duration::from_secs(120));
        }
        other => panic!("expected Registered, got {other:?}"),
    }
}

#[tokio::test]
async fn register_caps_and_rejects_expiry() {
    let (registrar, _events) = registrar();
    let from = source([192, 0, 2, 8]);
    let brief = "Contact: <sip:ana@10.0.0.5>;expires=30\r\n";
    let response = register_with(&registrar, from, "ana", "secret", 1, brief).await;
    assert_eq!(response.status, 423);
    assert_eq!(response.headers.get("Min-Expires"), Some("60"));
    assert!(registrar.lookup("agent-ana").is_empty());

    let long = "Contact: <sip:ana@10.0.0.5>\r\nExpires: 86400\r\n";
    let response = register_with(&registrar, from, "ana", "secret", 10, long).await;
    assert_eq!(response.status, 200);
    let bindings = registrar.lookup("agent-ana");
    let granted = bindings[0].expires_at.duration_since(Instant::now());
    assert!(granted <= Duration::from_secs(3600), "{granted:?}");
}

#[tokio::test]
async fn register_star_removes_every_binding() {
    let (registrar, mut events) = registrar();
    let from = source([192, 0, 2, 9]);
    let two = "Contact: <sip:ana@10.0.0.5>, <sip:ana@10.0.0.6>\r\n";
    let response = register_with(&registrar, from, "ana", "secret", 1, two).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.headers.list("Contact").len(), 2);
    assert_eq!(registrar.lookup("agent-ana").len(), 2);

    let star_without_zero = "Contact: *\r\n";
    let response = register_with(&registrar, from, "ana", "secret", 3, star_without_zero).await;
    assert_eq!(response.status, 400);

    let star = "Contact: *\r\nExpires: 0\r\n";
    let response = register_with(&registrar, from, "ana", "secret", 5, star).await;
    assert_eq!(response.status, 200);
    assert!(registrar.lookup("agent-ana").is_empty());
    let mut last = None;
    while let Ok(event) = events.try_recv() {
        last = Some(event);
    }
    assert_eq!(
        last,
        Some(RegistrarEvent::Unregistered {
            agent_id: String::from("agent-ana")
        })
    );
}

#[tokio::test]
async fn register_rejects_old_cseq_of_same_call_id() {
    let (registrar, _events) = registrar();
    let from = source([192, 0, 2, 10]);
    let extra = "Contact: <sip:ana@10.0.0.5>\r\n";
    let response = register_with(&registrar, from, "ana", "secret", 5, extra).await;
    assert_eq!(response.status, 200);
    // The binding was set by CSeq 6; CSeq 3 of the same Call-ID is older.
    let response = register_with(&registrar, from, "ana", "secret", 2, extra).await;
    assert_eq!(response.status, 500);
}

#[tokio::test]
async fn register_rejects_other_users_address() {
    let (registrar, _events) = registrar();
    let from = source([192, 0, 2, 11]);
    let first = register("bo", "reg-x", 1, "Contact: <sip:bo@10.0.0.5>\r\n");
    let challenge = registrar.register(&first, from, "t1").await;
    // Ana's password, but the To is Bo's address.
    let second = authorize(
        register("bo", "reg-x", 2, "Contact: <sip:bo@10.0.0.5>\r\n"),
        &challenge,
        "ana",
        "secret",
    );
    let response = registrar.register(&second, from, "t1").await;
    assert_eq!(response.status, 403);
    assert!(registrar.lookup("agent-bo").is_empty());
}

#[tokio::test]
async fn failures_block_the_address() {
    let (registrar, _events) = registrar();
    let from = source([192, 0, 2, 12]);
    let extra = "Contact: <sip:ana@10.0.0.5>\r\n";
    for attempt in 1..=4 {
        let response = register_with(&registrar, from, "ana", "guess", attempt * 2, extra).await;
        assert_eq!(response.status, 403, "attempt {attempt}");
        assert_eq!(
            response.headers.get("Retry-After"),
            None,
            "attempt {attempt}"
        );
    }
    let fifth = register_with(&registrar, from, "nobody", "guess", 20, extra).await;
    assert_eq!(fifth.status, 403);
    assert_eq!(fifth.headers.get("Retry-After"), Some("60"));

    // Blocked: even the right password gets 403 at once, without a
    // challenge.
    let blocked = registrar
        .register(&register("ana", "reg-1", 30, extra), from, "t1")
        .await;
    assert_eq!(blocked.status, 403);
    assert!(blocked.headers.get("Retry-After").is_some());

    // A right answer to a current challenge, taken from another address,
    // is rejected from the blocked one.
    let challenge = registrar
        .register(
            &register("ana", "reg-2", 1, extra),
            source([192, 0, 2, 99]),
            "t1",
        )
        .await;
    assert_eq!(challenge.status, 401);
    let right = authorize(
        register("ana", "reg-2", 2, extra),
        &challenge,
        "ana",
        "secret",
    );
    let blocked = registrar.register(&right, from, "t1").await;
    assert_eq!(blocked.status, 403);
    assert!(registrar.lookup("agent-ana").is_empty());

    // Another address is not blocked.
    let other = register_with(
        &registrar,
        source([192, 0, 2, 13]),
        "ana",
        "secret",
        40,
        extra,
    )
    .await;
    assert_eq!(other.status, 200);
}

#[tokio::test]
async fn unusable_authorization_is_challenged_again() {
    let (registrar, _events) = registrar();
    let from = source([192, 0, 2, 14]);
    let mut request = register("ana", "reg-m", 1, "Contact: <sip:ana@10.0.0.5>\r\n");
    request
        .headers
        .push("Authorization", "Digest username=\"ana\", realm=");
    let response = registrar.register(&request, from, "t1").await;
    assert_eq!(response.status, 401);
    assert_eq!(response.headers.rows("WWW-Authenticate").count(), 2);
}

#[tokio::test]
async fn expired_binding_sends_expired() {
    let (registrar, mut events) = registrar();
    let from = source([192, 0, 2, 15]);
    let extra = "Contact: <sip:ana@10.0.0.5>\r\nExpires: 60\r\n";
    let response = register_with(&registrar, from, "ana", "secret", 1, extra).await;
    assert_eq!(response.status, 200);
    assert!(matches!(
        events.recv().await,
        Some(RegistrarEvent::Registered { .. })
    ));
    registrar.remove_expired(Instant::now() + Duration::from_secs(61));
    assert!(registrar.lookup("agent-ana").is_empty());
    assert_eq!(
        events.recv().await,
        Some(RegistrarEvent::Expired {
            agent_id: String::from("agent-ana")
        })
    );
}

#[tokio::test]
async fn register_limits_contacts_per_agent() {
    let (registrar, _events) = registrar();
    let from = source([192, 0, 2, 11]);
    let contacts: Vec<String> = (0..=MAX_CONTACTS)
        .map(|port| format!("<sip:ana@10.0.0.5:{}>", 6000 + port))
        .collect();
    let too_many = format!("Contact: {}\r\nExpires: 120\r\n", contacts.join(", "));
    let response = register_with(&registrar, from, "ana", "secret", 1, &too_many).await;
    assert_eq!(response.status, 403);
    assert!(registrar.lookup("agent-ana").is_empty());

    let allowed = format!(
        "Contact: {}\r\nExpires: 120\r\n",
        contacts[..MAX_CONTACTS].join(", ")
    );
    let response = register_with(&registrar, from, "ana", "secret", 10, &allowed).await;
    assert_eq!(response.status, 200);
    assert_eq!(registrar.lookup("agent-ana").len(), MAX_CONTACTS);
}
