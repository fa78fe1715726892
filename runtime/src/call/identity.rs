//! The VM's view of who called whom: the dialled number from the
//! Request-URI (else To), and the caller from P-Asserted-Identity when the
//! peer is trusted (else From), per RFC 3325.

use super::Flows;
use crate::sip::header::{NameAddr, Uri};
use crate::sip::message::Request;
use flowc::number::{self, CountryCode};
use flowc::vm::CallInfo;
use std::net::IpAddr;

/// Builds the call's [`CallInfo`]. `trusted` lists the peers whose
/// P-Asserted-Identity is believed; `peer` sent the INVITE.
///
/// The caller is `None` when the From and the asserted identity are
/// anonymous (`sip:anonymous@anonymous.invalid`, RFC 3323), when there is
/// no user part, or when the INVITE carries `Privacy: id`, because the
/// caller asked for their identity to be withheld.
pub(crate) fn call_info(
    flows: &Flows,
    trusted: &[IpAddr],
    request: &Request,
    peer: IpAddr,
) -> CallInfo {
    CallInfo {
        id: request
            .headers
            .get("Call-ID")
            .unwrap_or_default()
            .to_string(),
        from: caller(request, trusted.contains(&peer), flows.country_code()),
        to: dialled(flows, request),
    }
}

/// Returns the number the flow is selected by: the Request-URI's user or
/// tel number when a flow answers it, else the To user, normalised as the
/// flows' numbers are.
fn dialled(flows: &Flows, request: &Request) -> String {
    let from_uri = Uri::parse(&request.uri)
        .ok()
        .and_then(|uri| uri.user().map(str::to_string));
    let from_to = request.headers.get("To").and_then(user_of);
    for user in [from_uri.as_deref(), from_to.as_deref()]
        .into_iter()
        .flatten()
    {
        if let Some((key, _)) = flows.find(user) {
            return key;
        }
    }
    let written = from_uri.or(from_to).unwrap_or_default();
    number::table_key(&written, flows.country_code())
}

/// Returns the caller's number: E.164 when its spelling is unambiguous,
/// else the user part as sent.
fn caller(request: &Request, trusted: bool, country_code: Option<CountryCode>) -> Option<String> {
    if withheld(request) {
        return None;
    }
    number_of(request, trusted, country_code)
}

/// Returns whether the INVITE requests that the caller's identity be
/// withheld (`Privacy: id`, RFC 3325).
fn withheld(request: &Request) -> bool {
    request.headers.list("Privacy").iter().any(|value| {
        value
            .split(';')
            .any(|v| v.trim().eq_ignore_ascii_case("id"))
    })
}

/// Builds the identity an outbound leg presents for this caller: the
/// number even when withheld, since the leg asserts it to a trusted next
/// hop with `Privacy: id`, and the From display name unless private.
pub(crate) fn leg_identity(
    flows: &Flows,
    trusted: &[IpAddr],
    request: &Request,
    peer: IpAddr,
) -> super::leg::LegIdentity {
    let number = number_of(request, trusted.contains(&peer), flows.country_code());
    let private = withheld(request) || number.is_none();
    let display = request
        .headers
        .get("From")
        .and_then(|from| NameAddr::parse(from).ok())
        .and_then(|from| from.display)
        .filter(|display| !private && !display.eq_ignore_ascii_case("anonymous"));
    super::leg::LegIdentity {
        number,
        display,
        private,
    }
}

/// Returns the caller's number from P-Asserted-Identity (trusted peers)
/// or From, ignoring the Privacy header.
fn number_of(
    request: &Request,
    trusted: bool,
    country_code: Option<CountryCode>,
) -> Option<String> {
    let asserted = if trusted {
        request
            .headers
            .list("P-Asserted-Identity")
            .iter()
            .find_map(|value| user_of(value))
    } else {
        None
    };
    let user = asserted.or_else(|| request.headers.get("From").and_then(user_of))?;
    if user.is_empty() || user.eq_ignore_ascii_case("anonymous") {
        return None;
    }
    Some(match number::normalise(&user, country_code).e164() {
        Some(e164) => e164.to_string(),
        None => user,
    })
}

/// Returns the user part of a name-addr's SIP URI, or the number of its
/// tel URI; `None` for an anonymous host (`anonymous.invalid`).
fn user_of(value: &str) -> Option<String> {
    let uri = Uri::parse(&NameAddr::parse(value).ok()?.uri).ok()?;
    if let Uri::Sip { host, .. } = &uri
        && host.eq_ignore_ascii_case("anonymous.invalid")
    {
        return None;
    }
    uri.user().map(str::to_string)
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse::parse_datagram;

    fn invite(uri: &str, headers: &str) -> Request {
        let text = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        match parse_datagram(text.as_bytes()) {
            Ok(Message::Request(request)) => request,
            other => panic!("not a request: {other:?}"),
        }
    }

    const PEER: [u8; 4] = [192, 0, 2, 1];

    fn from_of(request: &Request, trusted: bool) -> Option<String> {
        let trusted_list = if trusted {
            vec![IpAddr::from(PEER)]
        } else {
            Vec::new()
        };
        let flows = Flows::default();
        call_info(&flows, &trusted_list, request, IpAddr::from(PEER)).from
    }

    const PAI: &str = "P-Asserted-Identity: <sip:+38640111222@carrier.example>\r\n";
    const FROM: &str =
        "From: <sip:+38641999888@carrier.example>;tag=a\r\nTo: <sip:0805550@flowd>\r\n";

    #[test]
    fn trusted_peer_asserted_identity() {
        let request = invite("sip:0805550@flowd", &format!("{FROM}{PAI}"));
        assert_eq!(from_of(&request, true).as_deref(), Some("+38640111222"));
    }

    #[test]
    fn untrusted_peer_uses_from() {
        let request = invite("sip:0805550@flowd", &format!("{FROM}{PAI}"));
        assert_eq!(from_of(&request, false).as_deref(), Some("+38641999888"));
    }

    #[test]
    fn privacy_id_withholds_caller() {
        let headers = format!("{FROM}{PAI}Privacy: id;critical\r\n");
        let request = invite("sip:0805550@flowd", &headers);
        assert_eq!(from_of(&request, true), None);
        assert_eq!(from_of(&request, false), None);
    }

    #[test]
    fn privacy_none_keeps_caller() {
        let headers = format!("{FROM}{PAI}Privacy: none\r\n");
        let request = invite("sip:0805550@flowd", &headers);
        assert_eq!(from_of(&request, true).as_deref(), Some("+38640111222"));
    }

    #[test]
    fn anonymous_from_is_unknown() {
        let headers = "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=a\r\nTo: <sip:0805550@flowd>\r\n";
        let request = invite("sip:0805550@flowd", headers);
        assert_eq!(from_of(&request, false), None);
        assert_eq!(from_of(&request, true), None);
    }

    #[test]
    fn anonymous_from_with_trusted_asserted_identity() {
        let headers = format!(
            "From: <sip:anonymous@anonymous.invalid>;tag=a\r\nTo: <sip:0805550@flowd>\r\n{PAI}"
        );
        let request = invite("sip:0805550@flowd", &headers);
        assert_eq!(from_of(&request, true).as_deref(), Some("+38640111222"));
        assert_eq!(from_of(&request, false), None);
    }

    #[test]
    fn tel_asserted_identity() {
        let headers = format!("{FROM}P-Asserted-Identity: <tel:+386-40-111-222>\r\n");
        let request = invite("sip:0805550@flowd", &headers);
        assert_eq!(from_of(&request, true).as_deref(), Some("+38640111222"));
    }

    #[test]
    fn ambiguous_caller_kept_as_sent() {
        let headers =
            "From: <sip:38641999888@carrier.example>;tag=a\r\nTo: <sip:0805550@flowd>\r\n";
        let request = invite("sip:0805550@flowd", headers);
        assert_eq!(from_of(&request, false).as_deref(), Some("38641999888"));
    }
}
