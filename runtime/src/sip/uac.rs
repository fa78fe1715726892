//! The UAC core (RFC 3261 section 8.1 and 13.2): the dialog an answered
//! INVITE creates on the side that sent it, and the ACK of its 2xx.

use super::header::NameAddr;
use super::message::{Request, Response};
use super::transport::Source;
use super::uas::Dialog;

/// Builds the dialog of an INVITE sent by flowd and answered with
/// `response`, a 2xx (section 12.1.2): the remote target from the 2xx's
/// Contact, the route set from its Record-Route in reverse, and the next
/// CSeq above the INVITE's. Requests in it go to `peer`, where the INVITE
/// went. Returns `None` when the 2xx has no To tag or no Contact.
pub fn dialog_from_answer(invite: &Request, response: &Response, peer: Source) -> Option<Dialog> {
    let from = invite.headers.get("From")?;
    let local = NameAddr::parse(from).ok()?;
    let to = response.headers.get("To")?;
    let remote = NameAddr::parse(to).ok()?;
    let contact = response.headers.list("Contact").into_iter().next()?;
    let contact = NameAddr::parse(&contact).ok()?;
    let mut route_set = response.headers.list("Record-Route");
    route_set.reverse();
    Some(Dialog {
        call_id: invite.headers.get("Call-ID")?.to_string(),
        local_tag: local.tag()?.to_string(),
        remote_tag: remote.tag()?.to_string(),
        local_uri: without_tag(from),
        remote_uri: without_tag(to),
        local_seq: invite.cseq_number()?.saturating_add(1),
        remote_seq: 0,
        remote_target: contact.uri,
        route_set,
        peer,
    })
}

/// Builds the ACK of a 2xx to the INVITE with CSeq `invite_seq` (section
/// 13.2.2.4): a request of the dialog that reuses the INVITE's number.
/// The endpoint adds Via when it sends it.
pub fn ack_for_answer(dialog: &Dialog, invite_seq: u32) -> Request {
    let mut copy = dialog.clone();
    copy.local_seq = invite_seq;
    copy.request("ACK")
}

/// Returns a From or To value without its `tag` parameter.
fn without_tag(value: &str) -> String {
    let mut kept = String::new();
    let (address, params) = match value.rfind('>') {
        Some(end) => value.split_at(end + 1),
        None => match value.find(';') {
            Some(start) => value.split_at(start),
            None => (value, ""),
        },
    };
    kept.push_str(address.trim());
    for param in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let name = param.split('=').next().unwrap_or_default().trim();
        if !name.eq_ignore_ascii_case("tag") {
            kept.push(';');
            kept.push_str(param);
        }
    }
    kept
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::sip::transport::Transport;

    fn peer() -> Source {
        let address = "127.0.0.1:5060"
            .parse()
            .unwrap_or(([127, 0, 0, 1], 5060).into());
        Source {
            transport: Transport::Udp,
            remote: address,
            local: address,
            connection: None,
        }
    }

    fn invite() -> Request {
        let mut headers = crate::sip::message::Headers::default();
        headers.push("From", "\"Ana\" <sip:+38640111222@flowd>;tag=abc");
        headers.push("To", "<sip:agent@127.0.0.1>");
        headers.push("Call-ID", "leg-1");
        headers.push("CSeq", "1 INVITE");
        Request {
            method: String::from("INVITE"),
            uri: String::from("sip:agent@127.0.0.1"),
            headers,
            body: Vec::new(),
        }
    }

    #[test]
    fn dialog_takes_contact_and_tags() {
        let invite = invite();
        let mut ok = invite.response(200, Some("xyz"));
        ok.headers.push("Contact", "<sip:agent@10.0.0.5:5062>");
        ok.headers.push("Record-Route", "<sip:p1;lr>");
        ok.headers.push("Record-Route", "<sip:p2;lr>");
        let dialog = dialog_from_answer(&invite, &ok, peer());
        let Some(mut dialog) = dialog else {
            panic!("no dialog from the 2xx");
        };
        assert_eq!(dialog.remote_tag, "xyz");
        assert_eq!(dialog.local_tag, "abc");
        assert_eq!(dialog.remote_target, "sip:agent@10.0.0.5:5062");
        assert_eq!(dialog.route_set, vec!["<sip:p2;lr>", "<sip:p1;lr>"]);
        let ack = ack_for_answer(&dialog, 1);
        assert_eq!(ack.headers.get("CSeq"), Some("1 ACK"));
        let bye = dialog.request("BYE");
        assert_eq!(bye.headers.get("CSeq"), Some("2 BYE"));
        assert_eq!(
            bye.headers.get("From"),
            Some("\"Ana\" <sip:+38640111222@flowd>;tag=abc")
        );
        assert_eq!(bye.headers.get("To"), Some("<sip:agent@127.0.0.1>;tag=xyz"));
    }

    #[test]
    fn dialog_needs_contact() {
        let invite = invite();
        let ok = invite.response(200, Some("xyz"));
        assert!(dialog_from_answer(&invite, &ok, peer()).is_none());
    }
}
