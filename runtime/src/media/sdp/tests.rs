#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

const LOCAL: LocalMedia = LocalMedia {
    address: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
    port: 20000,
    session_id: 42,
    session_version: 1,
};

fn parse(text: &str) -> SessionDescription {
    let parsed = SessionDescription::parse(text);
    let Ok(session) = parsed else {
        panic!("offer rejected: {parsed:?}");
    };
    session
}

fn answer_text(text: &str) -> Answer {
    let result = answer(&parse(text), &LOCAL);
    let Ok(answer) = result else {
        panic!("offer not answered: {result:?}");
    };
    answer
}

/// A common offer: PCMA with telephone-event on payload type 101.
const SIPP_OFFER: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-11,16\r\n";

#[test]
fn answer_sipp_offer() {
    let answer = answer_text(SIPP_OFFER);
    let negotiated = &answer.negotiated;
    assert_eq!(negotiated.codec, Codec::Pcma);
    assert_eq!(negotiated.payload_type, 8);
    assert_eq!(negotiated.telephone_event, Some(101));
    assert_eq!(negotiated.ptime_ms, 20);
    assert_eq!(
        negotiated.remote,
        Some("127.0.0.1:6000".parse().ok()).flatten()
    );
    assert_eq!(negotiated.direction, Direction::SendRecv);
    assert!(negotiated.sends());
    assert_eq!(
        answer.sdp,
        "v=0\r\no=flowd 42 1 IN IP4 127.0.0.1\r\ns=flowd\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 20000 RTP/AVP 8 101\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-11,16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
}

#[test]
fn offer_order_is_respected() {
    let pcmu_first = "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 18 0 8\n";
    assert_eq!(answer_text(pcmu_first).negotiated.codec, Codec::Pcmu);
    let pcma_first = "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 9 8 0\n";
    assert_eq!(answer_text(pcma_first).negotiated.codec, Codec::Pcma);
}

#[test]
fn telephone_event_on_any_payload_type() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 96\r\n\
                 a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n";
    let answer = answer_text(offer);
    assert_eq!(answer.negotiated.telephone_event, Some(96));
    assert!(answer.sdp.contains("m=audio 20000 RTP/AVP 0 96\r\n"));
    assert!(answer.sdp.contains("a=rtpmap:96 telephone-event/8000\r\n"));
    assert!(answer.sdp.contains("a=fmtp:96 0-15\r\n"));
}

#[test]
fn telephone_event_at_other_rate_is_ignored() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 97 101\r\n\
                 a=rtpmap:97 telephone-event/48000\r\na=rtpmap:101 telephone-event/8000\r\n";
    assert_eq!(answer_text(offer).negotiated.telephone_event, Some(101));
    let without = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n";
    let answer = answer_text(without);
    assert_eq!(answer.negotiated.telephone_event, None);
    assert!(!answer.sdp.contains("telephone-event"));
}

#[test]
fn dynamic_g711_payload_type() {
    let offer =
        "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 110 0\r\na=rtpmap:110 pcma/8000\r\n";
    let negotiated = answer_text(offer).negotiated;
    assert_eq!(negotiated.codec, Codec::Pcma);
    assert_eq!(negotiated.payload_type, 110);
}

#[test]
fn ptime_is_honoured() {
    let cases = [
        ("a=ptime:30\r\n", 30),
        ("a=ptime:10\r\n", 10),
        ("a=ptime:20.0\r\n", 20),
        ("a=ptime:5\r\n", 10),
        ("a=ptime:200\r\n", 60),
        ("a=ptime:25\r\n", 20),
        ("a=ptime:40\r\na=maxptime:30\r\n", 30),
        ("", 20),
    ];
    for (attributes, expected) in cases {
        let offer = format!("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n{attributes}");
        let answer = answer_text(&offer);
        assert_eq!(answer.negotiated.ptime_ms, expected, "{attributes:?}");
        assert!(
            answer.sdp.contains(&format!("a=ptime:{expected}\r\n")),
            "{attributes:?}"
        );
    }
    let session_level = "v=0\r\nc=IN IP4 10.0.0.1\r\na=ptime:30\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(answer_text(session_level).negotiated.ptime_ms, 30);
}

#[test]
fn video_is_rejected_with_port_zero() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\n\
                 m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                 m=audio 4000 RTP/AVP 0\r\n\
                 m=application 5002 UDP/BFCP *\r\n";
    let answer = answer_text(offer);
    let media: Vec<&str> = answer
        .sdp
        .lines()
        .filter(|line| line.starts_with("m="))
        .collect();
    assert_eq!(
        media,
        vec![
            "m=video 0 RTP/AVP 96",
            "m=audio 20000 RTP/AVP 0",
            "m=application 0 UDP/BFCP *"
        ]
    );
}

#[test]
fn second_audio_stream_is_rejected() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n\
                 m=audio 4000 RTP/AVP 8\r\nm=audio 4002 RTP/AVP 0\r\n";
    let answer = answer_text(offer);
    assert_eq!(answer.negotiated.remote, "10.0.0.1:4000".parse().ok());
    let media: Vec<&str> = answer
        .sdp
        .lines()
        .filter(|line| line.starts_with("m="))
        .collect();
    assert_eq!(
        media,
        vec![
            "m=audio 0 RTP/AVP 0",
            "m=audio 20000 RTP/AVP 8",
            "m=audio 0 RTP/AVP 0"
        ]
    );
}

#[test]
fn media_connection_overrides_session() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n";
    assert_eq!(
        answer_text(offer).negotiated.remote,
        "10.0.0.2:4000".parse().ok()
    );
    let ipv6 = "v=0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP6 ::1\r\n";
    assert_eq!(
        answer_text(ipv6).negotiated.remote,
        "[::1]:4000".parse().ok()
    );
}

#[test]
fn hold_offers_are_answered_recvonly() {
    let sendonly = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";
    let answer = answer_text(sendonly);
    assert_eq!(answer.negotiated.direction, Direction::RecvOnly);
    assert!(!answer.negotiated.sends());
    assert!(answer.sdp.ends_with("a=recvonly\r\n"));

    let zero = "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let answer = answer_text(zero);
    assert_eq!(answer.negotiated.direction, Direction::RecvOnly);
    assert_eq!(answer.negotiated.remote, None);
    assert!(!answer.negotiated.sends());

    let session_level = "v=0\r\nc=IN IP4 10.0.0.1\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(
        answer_text(session_level).negotiated.direction,
        Direction::RecvOnly
    );

    let inactive = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=inactive\r\n";
    assert_eq!(
        answer_text(inactive).negotiated.direction,
        Direction::Inactive
    );

    let resumed = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n";
    let answer = answer_text(resumed);
    assert_eq!(answer.negotiated.direction, Direction::SendRecv);
    assert!(answer.negotiated.sends());
}

#[test]
fn no_common_codec_is_an_error() {
    let offer =
        "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 18 96\r\na=rtpmap:96 opus/48000/2\r\n";
    assert_eq!(
        answer(&parse(offer), &LOCAL),
        Err(SdpError::NoCommonCodec {
            offered: "18, 96 opus/48000".to_owned()
        })
    );
}

#[test]
fn unusable_offers_are_errors() {
    let no_audio = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=video 5000 RTP/AVP 96\r\n";
    assert_eq!(answer(&parse(no_audio), &LOCAL), Err(SdpError::NoAudio));
    let rejected = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(answer(&parse(rejected), &LOCAL), Err(SdpError::NoAudio));
    let no_connection = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(
        answer(&parse(no_connection), &LOCAL),
        Err(SdpError::NoConnection)
    );
}

#[test]
fn syntax_errors_name_the_line() {
    assert_eq!(
        SessionDescription::parse("v=0\r\nm=audio x RTP/AVP 0\r\n"),
        Err(SdpError::Syntax {
            line: 2,
            text: "m=audio x RTP/AVP 0".to_owned()
        })
    );
    assert_eq!(
        SessionDescription::parse("v=0\r\nhello\r\n"),
        Err(SdpError::Syntax {
            line: 2,
            text: "hello".to_owned()
        })
    );
    assert!(SessionDescription::parse("v=0\r\nc=IN IP4 nowhere\r\n").is_err());
}

#[test]
fn unusable_ptime_is_ignored() {
    for attribute in ["a=ptime:0\r\n", "a=ptime:x\r\n", "a=maxptime:0\r\n"] {
        let text = format!("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n{attribute}");
        assert_eq!(answer_text(&text).negotiated.ptime_ms, 20, "{attribute:?}");
    }
}

#[test]
fn unknown_lines_are_skipped() {
    let offer = "v=0\r\nx=whatever\r\nc=IN IP4 10.0.0.1\r\nb=AS:64\r\nm=audio 4000 RTP/AVP 0\r\n\
                 a=rtcp:4001\r\na=silenceSupp:off - - - -\r\na=rtpmap:0 PCMU/8000\r\n\r\n";
    assert_eq!(answer_text(offer).negotiated.codec, Codec::Pcmu);
}

#[test]
fn late_offer_round_trip() {
    let offer = offer(&LOCAL);
    let ours = parse(&offer);
    let audio = ours.media.first();
    assert_eq!(
        audio.map(|media| media.formats.clone()),
        Some(vec!["0".into(), "8".into(), "101".into()])
    );

    let reply = "v=0\r\no=peer 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
                 m=audio 7000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\n";
    let taken = take_answer(&parse(reply));
    assert_eq!(
        taken,
        Ok(Negotiated {
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event: Some(101),
            ptime_ms: 30,
            remote: "10.0.0.9:7000".parse().ok(),
            direction: Direction::SendRecv,
        })
    );

    let unknown = "v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 7000 RTP/AVP 18\r\n";
    assert!(matches!(
        take_answer(&parse(unknown)),
        Err(SdpError::NoCommonCodec { .. })
    ));
}

#[test]
fn our_offer_answers_itself() {
    let ours = parse(&offer(&LOCAL));
    let negotiated = answer(&ours, &LOCAL).map(|answer| answer.negotiated);
    assert_eq!(
        negotiated,
        Ok(Negotiated {
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            ptime_ms: 20,
            remote: "127.0.0.1:20000".parse().ok(),
            direction: Direction::SendRecv,
        })
    );
}

proptest! {
    #[test]
    fn parse_and_answer_never_panic(text in "(([vmcatos]|xx)=[ -~]{0,40}\r?\n){0,12}") {
        if let Ok(session) = SessionDescription::parse(&text) {
            let _ = answer(&session, &LOCAL);
            let _ = take_answer(&session);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(session) = SessionDescription::parse(&text) {
            let _ = answer(&session, &LOCAL);
        }
    }

    #[test]
    fn answer_keeps_media_count(kinds in proptest::collection::vec(0usize..3, 1..6), ptime in 1u32..200) {
        let mut offer = String::from("v=0\r\nc=IN IP4 10.0.0.1\r\n");
        for kind in &kinds {
            offer.push_str(match kind {
                0 => "m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
                1 => "m=video 5000 RTP/AVP 96\r\n",
                _ => "m=audio 4002 RTP/AVP 18\r\n",
            });
        }
        offer.push_str(&format!("a=ptime:{ptime}\r\n"));
        let session = SessionDescription::parse(&offer);
        prop_assert!(session.is_ok());
        if let Ok(session) = session {
            // Only the first audio stream is used; G.729 alone has no
            // common codec.
            let first_audio = kinds.iter().find(|kind| **kind != 1);
            match answer(&session, &LOCAL) {
                Ok(answer) => {
                    prop_assert_eq!(first_audio, Some(&0));
                    let lines = answer.sdp.lines().filter(|line| line.starts_with("m=")).count();
                    prop_assert_eq!(lines, kinds.len());
                    prop_assert!(answer.negotiated.ptime_ms % 10 == 0);
                    prop_assert!((10..=60).contains(&answer.negotiated.ptime_ms));
                }
                Err(_) => prop_assert_ne!(first_audio, Some(&0)),
            }
        }
    }
}
