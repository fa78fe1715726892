//! The UAS core (RFC 3261 section 8.2): the checks every request passes
//! before the call layer sees it, the events the call layer receives, and
//! dialog state for requests the server sends inside a call.

use super::header::{NameAddr, Uri, param};
use super::message::{Request, Response};
use super::transaction::Key;
use super::transport::Source;

/// Methods this server handles.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE";

/// Methods this server handles while its registrar runs.
pub const ALLOW_WITH_REGISTER: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REGISTER";

/// Body types accepted in INVITE and UPDATE requests, and in INFO.
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, application/dtmf";

/// Methods known to SIP that this server does not handle; they get 405,
/// and every other method 501 (section 8.2.1).
const KNOWN_METHODS: [&str; 8] = [
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "MESSAGE",
    "REFER",
    "PING",
];

/// Decides whether the number in a Request-URI reaches a flow.
pub trait NumberPlan: Send + Sync {
    /// Returns whether `user` (the Request-URI user or tel number, with
    /// escapes decoded) is a number a flow answers.
    fn is_known(&self, user: &str) -> bool;

    /// Returns whether REGISTER reaches the call layer, which is true only
    /// while a registrar runs; otherwise REGISTER gets 405.
    fn registers(&self) -> bool {
        false
    }
}

/// What the UAS core does with a new request.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send this response at once.
    Answer(Response),
    /// Pass it to the call layer.
    Deliver,
}

/// Applies the checks of RFC 3261 section 8.2 in its order: method, URI
/// scheme, Require, then the number and the body.
pub fn decide(request: &Request, numbers: &dyn NumberPlan, to_tag: &str) -> Decision {
    let answer = |status: u16| request.response(status, Some(to_tag));
    let method = request.method.as_str();
    let allow = if numbers.registers() {
        ALLOW_WITH_REGISTER
    } else {
        ALLOW
    };
    if !allow.split(", ").any(|m| m == method) {
        let status = if KNOWN_METHODS.contains(&method) {
            405
        } else {
            501
        };
        let mut response = answer(status);
        response.headers.push("Allow", allow);
        return Decision::Answer(response);
    }

    // flowd has no TLS listener, so a `sips:` Request-URI, which asks for
    // TLS on every hop, is a scheme it does not support.
    let uri = Uri::parse(&request.uri);
    if matches!(
        uri,
        Ok(Uri::Other(_) | Uri::Sip { secure: true, .. }) | Err(_)
    ) {
        return Decision::Answer(answer(416));
    }

    let required: Vec<String> = request
        .headers
        .list("Require")
        .into_iter()
        .filter(|option| !option.is_empty())
        .collect();
    if !required.is_empty() {
        let mut response = answer(420);
        response.headers.push("Unsupported", required.join(", "));
        return Decision::Answer(response);
    }

    if method == "OPTIONS" {
        let mut response = answer(200);
        response.headers.push("Allow", allow);
        response.headers.push("Accept", ACCEPT);
        return Decision::Answer(response);
    }

    // The registrar answers every REGISTER, a To tag or not (RFC 3261
    // section 10.3 creates no dialog).
    if method == "REGISTER" {
        return Decision::Deliver;
    }
    let in_dialog = request
        .headers
        .get("To")
        .and_then(|to| param(to, "tag"))
        .is_some();
    if in_dialog {
        return Decision::Deliver;
    }
    if method != "INVITE" {
        return Decision::Answer(answer(481));
    }

    // The body type (415) and Accept (406) are checked before the number
    // (404), unlike the order of RFC 3261 section 8.2: those answers hold
    // whatever the Request-URI, so a caller learns the fix that applies
    // to every number, and RFC 4475 expects them for INVITEs to any user.
    if let Some(rejection) = check_session_body(request) {
        return Decision::Answer(answer_with(request, rejection, to_tag));
    }

    // The dialled number is the Request-URI's user, else the To's: some
    // SBCs put their own address in the Request-URI.
    let user = uri.ok().and_then(|u| u.user().map(str::to_string));
    let to_user = request
        .headers
        .get("To")
        .and_then(|to| NameAddr::parse(to).ok())
        .and_then(|to| Uri::parse(&to.uri).ok())
        .and_then(|uri| uri.user().map(str::to_string));
    let known = |user: Option<String>| user.is_some_and(|u| numbers.is_known(&u));
    if !known(user) && !known(to_user) {
        return Decision::Answer(answer(404));
    }
    Decision::Deliver
}

fn answer_with(
    request: &Request,
    (status, header): (u16, Option<(&str, &str)>),
    to_tag: &str,
) -> Response {
    let mut response = request.response(status, Some(to_tag));
    if let Some((name, value)) = header {
        response.headers.push(name, value);
    }
    response
}

/// Checks an INVITE's body type (415) and Accept (406, section 21.4.7).
fn check_session_body(request: &Request) -> Option<(u16, Option<(&'static str, &'static str)>)> {
    let content_type = request.headers.get("Content-Type").map(|t| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let sdp_body = content_type
        .as_deref()
        .is_none_or(|t| t == "application/sdp");
    if !request.body.is_empty() && !sdp_body {
        return Some((415, Some(("Accept", "application/sdp"))));
    }
    let accepts = request.headers.list("Accept");
    let sdp_accepted = accepts.iter().any(|value| {
        let media = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        matches!(
            media.as_str(),
            "application/sdp" | "application/*" | "*/*" | ""
        )
    });
    if request.headers.get("Accept").is_some() && !sdp_accepted {
        return Some((
            406,
            Some(("Warning", "399 flowd \"only application/sdp can be sent\"")),
        ));
    }
    None
}

/// Something the call layer must act on.
#[derive(Debug)]
pub enum UasEvent {
    /// A request that passed the core's checks: a new INVITE to a known
    /// number, or a request inside a dialog (BYE, INFO, re-INVITE, UPDATE).
    /// The call layer must respond through [`Incoming::key`].
    Request(Incoming),
    /// The ACK of a 2xx answer, carrying an SDP answer for a late offer.
    Ack(Request),
    /// The caller cancelled an INVITE; the core already answered 487.
    Cancelled {
        /// The cancelled INVITE's transaction.
        key: Key,
        /// Its Call-ID.
        call_id: String,
    },
    /// No ACK came for a 2xx answer within 64*T1: the call should end.
    AckTimeout {
        /// The INVITE's transaction.
        key: Key,
        /// Its Call-ID.
        call_id: String,
    },
}

/// A request delivered to the call layer.
#[derive(Debug)]
pub struct Incoming {
    /// The server transaction to answer through.
    pub key: Key,
    /// The request, with `received` and `rport` stamped on its top Via.
    pub request: Request,
    /// The transport and address the request came from.
    pub source: Source,
    /// The To tag to put on responses that create a dialog.
    pub to_tag: String,
}

/// The state of a dialog on the server's side (RFC 3261 section 12.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// The tag this server put on To.
    pub local_tag: String,
    /// The caller's From tag.
    pub remote_tag: String,
    /// The local URI with its display name, as the caller's To.
    pub local_uri: String,
    /// The caller's From URI with its display name.
    pub remote_uri: String,
    /// The CSeq of the next request this server sends.
    pub local_seq: u32,
    /// The highest CSeq received from the caller.
    pub remote_seq: u32,
    /// The caller's Contact URI.
    pub remote_target: String,
    /// Record-Route values in order, for the Route of requests sent.
    pub route_set: Vec<String>,
    /// The transport and address the INVITE came from, which requests in
    /// the dialog are sent to.
    pub peer: Source,
}

impl Dialog {
    /// Builds the dialog of an INVITE answered with `local_tag`; `None`
    /// when the INVITE lacks a From tag or a Contact.
    pub fn from_invite(request: &Request, local_tag: &str, peer: Source) -> Option<Dialog> {
        let from = NameAddr::parse(request.headers.get("From")?).ok()?;
        let to = request.headers.get("To")?;
        let contact = request.headers.list("Contact").into_iter().next()?;
        let contact = NameAddr::parse(&contact).ok()?;
        let remote_uri = request
            .headers
            .get("From")?
            .split(";tag=")
            .next()
            .unwrap_or_default()
            .to_string();
        Some(Dialog {
            call_id: request.headers.get("Call-ID")?.to_string(),
            local_tag: local_tag.to_string(),
            remote_tag: from.tag()?.to_string(),
            local_uri: to.to_string(),
            remote_uri,
            local_seq: 1,
            remote_seq: request.cseq_number().unwrap_or_default(),
            remote_target: contact.uri,
            route_set: request.headers.list("Record-Route"),
            peer,
        })
    }

    /// Builds the next request of the dialog, such as BYE (section 12.2.1.1).
    /// The endpoint adds Via when it sends it.
    pub fn request(&mut self, method: &str) -> Request {
        let mut headers = super::message::Headers::default();
        for route in &self.route_set {
            headers.push("Route", route.clone());
        }
        headers.push("Max-Forwards", "70");
        headers.push("From", format!("{};tag={}", self.local_uri, self.local_tag));
        headers.push("To", format!("{};tag={}", self.remote_uri, self.remote_tag));
        headers.push("Call-ID", self.call_id.clone());
        headers.push("CSeq", format!("{} {method}", self.local_seq));
        self.local_seq += 1;
        Request {
            method: method.to_string(),
            uri: self.remote_target.clone(),
            headers,
            body: Vec::new(),
        }
    }
}

/// Answers a delivered request while no call layer takes calls: 481 for a
/// request inside a dialog (no dialog exists), 480 for a new INVITE.
pub fn answer_without_calls(incoming: &Incoming) -> Response {
    let in_dialog = incoming
        .request
        .headers
        .get("To")
        .and_then(|to| param(to, "tag"))
        .is_some();
    let status = if in_dialog { 481 } else { 480 };
    incoming.request.response(status, Some(&incoming.to_tag))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse::parse_datagram;

    struct Plan {
        registers: bool,
    }

    impl NumberPlan for Plan {
        fn is_known(&self, _user: &str) -> bool {
            false
        }

        fn registers(&self) -> bool {
            self.registers
        }
    }

    fn register() -> Request {
        let text = "REGISTER sip:tok.example SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
            From: <sip:ana@tok.example>;tag=1\r\n\
            To: <sip:ana@tok.example>\r\n\
            Call-ID: r1\r\n\
            CSeq: 1 REGISTER\r\n\
            Max-Forwards: 70\r\n\
            Content-Length: 0\r\n\r\n";
        match parse_datagram(text.as_bytes()) {
            Ok(Message::Request(request)) => request,
            other => panic!("invalid test REGISTER: {other:?}"),
        }
    }

    #[test]
    fn register_without_registrar_gets_405() {
        let decision = decide(&register(), &Plan { registers: false }, "t");
        let Decision::Answer(response) = decision else {
            panic!("REGISTER was delivered without a registrar");
        };
        assert_eq!(response.status, 405);
        assert_eq!(response.headers.get("Allow"), Some(ALLOW));
    }

    #[test]
    fn register_with_registrar_is_delivered() {
        let decision = decide(&register(), &Plan { registers: true }, "t");
        assert_eq!(decision, Decision::Deliver);
    }
}
