use super::header::{NameAddr, Uri, Via};
use super::message::Message;
use super::parse::{Framed, ParseError, frame_stream, parse_datagram};

const OPTIONS: &str = "OPTIONS sip:100@example.com SIP/2.0\r\n\
    Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport\r\n\
    From: <sip:a@example.com>;tag=1\r\n\
    To: <sip:100@example.com>\r\n\
    Call-ID: c1\r\n\
    CSeq: 1 OPTIONS\r\n\
    Max-Forwards: 70\r\n\
    Content-Length: 0\r\n\r\n";

fn request(text: &[u8]) -> super::message::Request {
    match parse_datagram(text) {
        Ok(Message::Request(request)) => request,
        other => unreachable!("expected a request, got {other:?}"),
    }
}

fn bad_reason(text: &[u8]) -> (u16, String) {
    match parse_datagram(text) {
        Err(ParseError::BadRequest { status, reason, .. }) => (status, reason),
        other => unreachable!("expected a bad request, got {other:?}"),
    }
}

#[test]
fn compact_and_odd_case_names() {
    let text = "INVITE sip:1@h SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKx\r\nf: <sip:a@h>;tag=1\r\n\
        t: sip:1@h\r\ni: c2\r\nCSEQ: 2 INVITE\r\nc: application/sdp\r\nl: 3\r\n\r\nabc";
    let request = request(text.as_bytes());
    assert_eq!(request.headers.get("Call-ID"), Some("c2"));
    assert_eq!(request.headers.get("cseq"), Some("2 INVITE"));
    assert_eq!(request.headers.get("Content-Type"), Some("application/sdp"));
    assert_eq!(request.body, b"abc");
}

#[test]
fn folded_lines_are_joined() {
    let text = OPTIONS.replace(
        "Call-ID: c1\r\n",
        "Subject: one\r\n  two\r\n\tthree\r\nCall-ID: c1\r\n",
    );
    let request = request(text.as_bytes());
    assert_eq!(request.headers.get("Subject"), Some("one two three"));
}

#[test]
fn via_values_in_one_row_and_across_rows() {
    let text = OPTIONS.replace(
        "Max-Forwards",
        "Via: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK2, SIP/2.0/UDP b;branch=z9hG4bK3\r\nMax-Forwards",
    );
    let request = request(text.as_bytes());
    let vias = request.headers.list("Via");
    assert_eq!(vias.len(), 3);
    let second = Via::parse(vias.get(1).map(String::as_str).unwrap_or_default());
    assert_eq!(second.as_ref().map(|v| v.host.as_str()), Ok("2001:db8::1"));
    assert_eq!(second.as_ref().map(|v| v.port), Ok(Some(5061)));
    assert_eq!(second.map(|v| v.transport), Ok(String::from("TCP")));
}

#[test]
fn quoted_display_with_escapes() {
    let parsed = NameAddr::parse(r#""Bell, \"Alex\" <x>" <sip:a@h>;tag=9"#);
    assert_eq!(
        parsed.as_ref().map(|n| n.display.clone()),
        Ok(Some(String::from(r#"Bell, "Alex" <x>"#)))
    );
    assert_eq!(parsed.as_ref().map(|n| n.tag()), Ok(Some("9")));
}

#[test]
fn uri_schemes() {
    assert_eq!(
        Uri::parse("tel:+38615550100;phone-context=x"),
        Ok(Uri::Tel(String::from("+38615550100")))
    );
    let sips = Uri::parse("sips:%2B386@[2001:db8::2]:5061;transport=tcp");
    assert_eq!(sips.as_ref().map(|u| u.user()), Ok(Some("+386")));
    assert!(matches!(
        sips,
        Ok(Uri::Sip {
            secure: true,
            port: Some(5061),
            ..
        })
    ));
    assert!(matches!(Uri::parse("urn:x:y"), Ok(Uri::Other(_))));
    assert!(Uri::parse("<sip:a@h>").is_err());
}

#[test]
fn nul_and_invalid_utf8_never_panic() {
    let mut bytes = OPTIONS.as_bytes().to_vec();
    bytes.splice(10..10, [0u8, 0xff, 0xfe, b'\r']);
    let _ = parse_datagram(&bytes);
    for cut in 0..bytes.len() {
        let _ = parse_datagram(bytes.get(..cut).unwrap_or_default());
        let _ = frame_stream(bytes.get(..cut).unwrap_or_default());
    }
}

#[test]
fn udp_ignores_bytes_after_body() {
    let text = OPTIONS.replace("Content-Length: 0", "Content-Length: 2") + "hiGARBAGE";
    assert_eq!(request(text.as_bytes()).body, b"hi");
}

#[test]
fn udp_without_length_takes_rest() {
    let text = OPTIONS.replace("Content-Length: 0\r\n", "") + "rest";
    assert_eq!(request(text.as_bytes()).body, b"rest");
}

#[test]
fn udp_short_body_is_bad_request() {
    let text = OPTIONS.replace("Content-Length: 0", "Content-Length: 10") + "short";
    assert_eq!(bad_reason(text.as_bytes()).0, 400);
}

#[test]
fn bad_version_is_505() {
    let text = OPTIONS.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia");
    assert_eq!(bad_reason(text.as_bytes()).0, 505);
}

#[test]
fn cseq_method_mismatch_is_400() {
    let text = OPTIONS.replace("1 OPTIONS", "1 INVITE");
    assert_eq!(bad_reason(text.as_bytes()).0, 400);
}

#[test]
fn stream_two_messages_in_one_segment() {
    let both = format!("{OPTIONS}{OPTIONS}");
    assert_eq!(
        frame_stream(both.as_bytes()),
        Framed::Message(OPTIONS.len())
    );
}

#[test]
fn stream_message_split_over_segments() {
    let text = OPTIONS.replace("Content-Length: 0", "Content-Length: 4") + "body";
    let bytes = text.as_bytes();
    for cut in 0..bytes.len() {
        assert_eq!(
            frame_stream(bytes.get(..cut).unwrap_or_default()),
            Framed::Incomplete,
            "cut {cut}"
        );
    }
    assert_eq!(frame_stream(bytes), Framed::Message(bytes.len()));
}

#[test]
fn stream_without_length_is_invalid() {
    let text = OPTIONS.replace("Content-Length: 0\r\n", "");
    assert!(matches!(frame_stream(text.as_bytes()), Framed::Invalid(_)));
}

#[test]
fn stream_skips_keepalive() {
    assert_eq!(frame_stream(b"\r\n\r\n"), Framed::Keepalive(4));
}

#[test]
fn serialization_round_trips() {
    let original = request(OPTIONS.as_bytes());
    let again = request(&original.to_bytes());
    assert_eq!(again, original);
    let response = original.response(200, Some("t1"));
    let bytes = response.to_bytes();
    match parse_datagram(&bytes) {
        Ok(Message::Response(parsed)) => {
            assert_eq!(parsed.status, 200);
            assert_eq!(
                parsed.headers.get("To"),
                Some("<sip:100@example.com>;tag=t1")
            );
        }
        other => unreachable!("expected a response, got {other:?}"),
    }
}

proptest::proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let _ = parse_datagram(&bytes);
        let _ = frame_stream(&bytes);
    }

    #[test]
    fn mutated_request_never_panics(at in 0usize..400, byte in proptest::prelude::any::<u8>()) {
        let mut bytes = OPTIONS.as_bytes().to_vec();
        if let Some(slot) = bytes.get_mut(at) {
            *slot = byte;
        }
        let _ = parse_datagram(&bytes);
        let _ = frame_stream(&bytes);
    }
}
