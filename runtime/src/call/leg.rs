//! Outbound legs: flowd dials an agent (or any SIP URI) on behalf of a
//! caller, as a B2BUA. The leg sends an INVITE with the caller's identity
//! and an SDP offer from its own media session, reports ringing, answer,
//! rejection and hang-up as [`LegEvent`]s, and ends with CANCEL or BYE.
//!
//! The dispatcher routes requests inside a leg's dialog (the agent's BYE,
//! re-INVITE, INFO) to the leg by Call-ID through [`LegRoutes`].

use crate::media::g711::Codec;
use crate::media::ports::{PortError, PortPool};
use crate::media::sdp::{self, LocalMedia, SessionDescription};
use crate::media::session::{MediaEvent, MediaSession};
use crate::sip::endpoint::{ClientInvite, Endpoint, InviteEvent, random_token};
use crate::sip::header::{Uri, is_token};
use crate::sip::message::{Headers, Request, Response};
use crate::sip::transport::{Source, Transport};
use crate::sip::uac;
use crate::sip::uas::{Dialog, Incoming};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

/// The Call-IDs of running legs and where their requests go; clones share
/// the table.
#[derive(Clone, Debug, Default)]
pub(crate) struct LegRoutes {
    legs: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Box<Incoming>>>>>,
}

impl LegRoutes {
    /// Passes a request to the leg with its Call-ID; gives it back when no
    /// such leg runs.
    pub(crate) fn route(
        &self,
        call_id: &str,
        incoming: Box<Incoming>,
    ) -> Result<(), Box<Incoming>> {
        let sender = self
            .legs
            .lock()
            .ok()
            .and_then(|legs| legs.get(call_id).cloned());
        match sender {
            Some(sender) => sender.send(incoming).map_err(|error| error.0),
            None => Err(incoming),
        }
    }

    fn add(&self, call_id: &str) -> mpsc::UnboundedReceiver<Box<Incoming>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        if let Ok(mut legs) = self.legs.lock() {
            legs.insert(call_id.to_string(), sender);
        }
        receiver
    }

    fn remove(&self, call_id: &str) {
        if let Ok(mut legs) = self.legs.lock() {
            legs.remove(call_id);
        }
    }
}

/// The parts of the server a leg uses: the SIP endpoint, the RTP ports
/// and the address flowd advertises.
#[derive(Clone)]
pub struct LegContext {
    pub(crate) endpoint: Endpoint,
    pub(crate) pool: PortPool,
    pub(crate) media_ip: IpAddr,
    pub(crate) routes: LegRoutes,
}

/// The identity a leg presents as the calling party: the caller's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegIdentity {
    /// The caller's number; `None` when unknown.
    pub number: Option<String>,
    /// The caller's display name.
    pub display: Option<String>,
    /// The caller asked for privacy (`Privacy: id` or an anonymous From).
    pub private: bool,
}

/// A request to dial.
#[derive(Clone, Debug)]
pub struct DialRequest {
    /// The target, a `sip:` URI.
    pub uri: String,
    /// The address the INVITE goes to (the source of a registered phone's
    /// REGISTER). With `None` it goes by UDP to the URI's host and port.
    pub destination: Option<Source>,
    /// The caller's identity, for From and P-Asserted-Identity.
    pub caller: LegIdentity,
    /// How long the target may ring before the leg cancels it.
    pub ring_timeout: Duration,
    /// Extra headers of the INVITE, such as `X-Tok-Queue`.
    pub headers: Vec<(String, String)>,
    /// The caller's Call-ID, logged with the leg's.
    pub parent_call_id: String,
}

/// An event of a leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegEvent {
    /// The target rings (180 or 183).
    Ringing,
    /// The target answered; the media flows.
    Answered,
    /// The target rejected the call (486 busy, 480, 603 ...).
    Rejected {
        /// The final status.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The ring timeout passed; the leg was cancelled.
    Timeout,
    /// The target hung up an answered leg with BYE, answered 200.
    HungUp,
    /// The leg failed: no response, an unusable answer, a transport error.
    Failed(String),
}

/// A leg that cannot be dialled.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The target is not a usable `sip:` URI.
    #[error("invalid target `{0}`: expected a sip: URI such as sip:agent@192.0.2.10:5060")]
    InvalidUri(String),
    /// The URI's host does not resolve.
    #[error("cannot resolve the host of `{uri}`: {error}")]
    Resolve {
        /// The target.
        uri: String,
        /// The resolver's error.
        error: String,
    },
    /// An extra header has an invalid name or value.
    #[error("invalid extra header `{0}`: the name must be a token and the value one line")]
    InvalidHeader(String),
    /// No RTP port pair is free.
    #[error("no RTP port for the leg: {0}")]
    NoPorts(#[from] PortError),
    /// flowd has no listener of the destination's transport.
    #[error("flowd has no {0} listener to send the INVITE from")]
    NoListener(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LegState {
    Calling,
    Ringing,
    Answered,
    Ended,
}

/// One outbound call leg. Dropping a leg that is still ringing cancels it,
/// dropping an answered leg sends BYE, and its media task ends with it.
pub struct OutboundLeg {
    call_id: String,
    endpoint: Endpoint,
    routes: LegRoutes,
    invite: ClientInvite,
    invite_request: Request,
    destination: Source,
    media: MediaSession,
    dialog: Option<Dialog>,
    /// The codec the agent's answer chose.
    codec: Option<Codec>,
    state: LegState,
    ring_deadline: Instant,
    requests: mpsc::UnboundedReceiver<Box<Incoming>>,
    span: tracing::Span,
    /// True once the INVITE transaction has ended and reports nothing more.
    invite_done: bool,
}

/// Returns the host of flowd's From, P-Asserted-Identity and Contact: the
/// advertised address, with brackets for IPv6.
fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Quotes a display name (RFC 3261 section 25.1 quoted-string).
fn quoted(display: &str) -> String {
    let escaped: String = display
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            _ => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

/// Resolves where the INVITE goes: the given destination, else the URI's
/// host and port (5060 when absent) by UDP.
async fn resolve(
    endpoint: &Endpoint,
    request: &DialRequest,
    uri: &Uri,
) -> Result<Source, DialError> {
    if let Some(destination) = request.destination {
        return Ok(destination);
    }
    let Uri::Sip { host, port, .. } = uri else {
        return Err(DialError::InvalidUri(request.uri.clone()));
    };
    let port = port.unwrap_or(5060);
    let remote = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|error| DialError::Resolve {
                uri: request.uri.clone(),
                error: error.to_string(),
            })?
            .next()
            .ok_or_else(|| DialError::Resolve {
                uri: request.uri.clone(),
                error: String::from("no address"),
            })?,
    };
    // TODO: dial `;transport=tcp` URIs over a new TCP connection; only a
    // destination with an open connection is reached by TCP now.
    let local = endpoint
        .local_addrs()
        .iter()
        .find(|(kind, _)| *kind == Transport::Udp)
        .map(|(_, address)| *address)
        .ok_or(DialError::NoListener("UDP"))?;
    Ok(Source {
        transport: Transport::Udp,
        remote,
        local,
        connection: None,
    })
}

/// Builds the INVITE's identity headers: From, and P-Asserted-Identity and
/// Privacy (RFC 3325) when the caller's number is known. A private caller
/// gets the anonymous From of RFC 3323 and `Privacy: id`, so the trusted
/// next hop removes the asserted identity before it leaves the trust
/// domain.
fn identity_headers(caller: &LegIdentity, host: &str, tag: &str, headers: &mut Headers) {
    let display = caller
        .display
        .as_deref()
        .or(caller.number.as_deref())
        .map(quoted);
    let asserted = caller
        .number
        .as_ref()
        .map(|number| format!("<sip:{number}@{host}>"));
    let from = match (&asserted, caller.private) {
        (Some(address), false) => match &display {
            Some(display) => format!("{display} {address}"),
            None => address.clone(),
        },
        _ => String::from("\"Anonymous\" <sip:anonymous@anonymous.invalid>"),
    };
    headers.push("From", format!("{from};tag={tag}"));
    if let Some(address) = asserted {
        let value = match (&display, caller.private) {
            (Some(display), false) => format!("{display} {address}"),
            _ => address,
        };
        headers.push("P-Asserted-Identity", value);
    }
    if caller.private {
        headers.push("Privacy", "id");
    }
}

impl OutboundLeg {
    /// Sends the INVITE of a new leg and returns it; its progress comes
    /// from [`next_event`](Self::next_event).
    pub async fn dial(
        context: &LegContext,
        request: DialRequest,
    ) -> Result<OutboundLeg, DialError> {
        let uri = match Uri::parse(&request.uri) {
            Ok(uri @ Uri::Sip { secure: false, .. }) => uri,
            _ => return Err(DialError::InvalidUri(request.uri.clone())),
        };
        for (name, value) in &request.headers {
            if !is_token(name) || value.contains(['\r', '\n']) {
                return Err(DialError::InvalidHeader(format!("{name}: {value}")));
            }
        }
        let destination = resolve(&context.endpoint, &request, &uri).await?;
        let host = host_of(context.media_ip);
        let call_id = format!("{}@{host}", random_token());
        let span = tracing::info_span!(
            "leg",
            call_id = %call_id,
            parent_call_id = %request.parent_call_id,
        );
        let media = {
            // The media task logs in the leg's span.
            let _entered = span.enter();
            MediaSession::start(&context.pool, context.media_ip)?
        };
        let local = LocalMedia {
            address: context.media_ip,
            port: media.local_addr().port(),
            session_id: u64::from(media.local_addr().port()) << 32 | 1,
            session_version: 1,
        };
        let listener = context
            .endpoint
            .local_addrs()
            .iter()
            .find(|(kind, _)| *kind == destination.transport)
            .map_or(destination.local, |(_, address)| *address);
        let transport = destination.transport.as_str().to_ascii_lowercase();

        let mut headers = Headers::default();
        headers.push("Max-Forwards", "70");
        identity_headers(&request.caller, &host, &random_token(), &mut headers);
        headers.push("To", format!("<{}>", request.uri));
        headers.push("Call-ID", call_id.clone());
        headers.push("CSeq", "1 INVITE");
        headers.push(
            "Contact",
            format!(
                "<sip:flowd@{host}:{port};transport={transport}>",
                port = listener.port()
            ),
        );
        headers.push("Allow", crate::sip::uas::ALLOW);
        for (name, value) in &request.headers {
            headers.push(name, value.clone());
        }
        headers.push("Content-Type", "application/sdp");
        let invite_request = Request {
            method: String::from("INVITE"),
            uri: request.uri.clone(),
            headers,
            body: sdp::offer(&local).into_bytes(),
        };
        let requests = context.routes.add(&call_id);
        let invite = context.endpoint.invite(invite_request.clone(), destination);
        span.in_scope(|| {
            tracing::info!(
                uri = %request.uri,
                peer = %destination.remote,
                rtp = %media.local_addr(),
                ring_timeout_ms = request.ring_timeout.as_millis() as u64,
                "leg dialled"
            );
        });
        Ok(OutboundLeg {
            call_id,
            endpoint: context.endpoint.clone(),
            routes: context.routes.clone(),
            invite,
            invite_request,
            destination,
            media,
            dialog: None,
            codec: None,
            state: LegState::Calling,
            ring_deadline: Instant::now() + request.ring_timeout,
            requests,
            span,
            invite_done: false,
        })
    }

    /// Returns the leg's Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Returns the leg's media session, for bridging and recording.
    pub fn media(&mut self) -> &mut MediaSession {
        &mut self.media
    }

    /// Returns the INVITE's From header.
    pub fn from_header(&self) -> &str {
        self.invite_request.headers.get("From").unwrap_or_default()
    }

    /// Returns the To header of the dialog, with the agent's tag once
    /// answered.
    pub fn to_header(&self) -> String {
        match &self.dialog {
            Some(dialog) => format!("{};tag={}", dialog.remote_uri, dialog.remote_tag),
            None => self
                .invite_request
                .headers
                .get("To")
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// Returns the address the leg's requests go to.
    pub fn remote(&self) -> SocketAddr {
        self.destination.remote
    }

    /// Returns the codec of the agent's answer, once answered.
    pub fn codec(&self) -> Option<Codec> {
        self.codec
    }

    /// Returns true once the agent answered and until the leg ends.
    pub fn is_answered(&self) -> bool {
        self.state == LegState::Answered
    }

    /// Waits for the leg's next event. The agent's keys are not reported:
    /// they are read and dropped here. After the last event (Rejected,
    /// Timeout, HungUp, Failed) it waits forever, so it can stay in a
    /// `select!`.
    pub async fn next_event(&mut self) -> LegEvent {
        let span = self.span.clone();
        self.next_event_inner().instrument(span).await
    }

    async fn next_event_inner(&mut self) -> LegEvent {
        loop {
            if self.state == LegState::Ended {
                std::future::pending::<()>().await;
            }
            let ringing = matches!(self.state, LegState::Calling | LegState::Ringing);
            let deadline = self.ring_deadline;
            let ring_timeout = async {
                if ringing {
                    tokio::time::sleep_until(deadline).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            let invite_open = !self.invite_done;
            tokio::select! {
                event = self.invite.next_event(), if invite_open => {
                    if let Some(event) = self.invite_event(event).await {
                        return event;
                    }
                }
                Some(incoming) = self.requests.recv() => {
                    if let Some(event) = self.request(incoming) {
                        return event;
                    }
                }
                event = self.media.next_event() => match event {
                    Some(MediaEvent::Key(key)) => {
                        tracing::debug!(key = %key.as_char(), "key from the agent dropped");
                    }
                    Some(other) => tracing::debug!(event = ?other, "media event of the leg"),
                    None => {
                        tracing::warn!("the leg's media task ended; hanging up");
                        self.hangup_inner().await;
                        return LegEvent::Failed(String::from("the leg's media task ended"));
                    }
                },
                () = ring_timeout => {
                    tracing::info!("ring timeout; cancelling the leg");
                    self.cancel_inner().await;
                    return LegEvent::Timeout;
                }
            }
        }
    }

    /// Handles a response or failure of the INVITE; returns the event to
    /// report, if any.
    async fn invite_event(&mut self, event: Option<InviteEvent>) -> Option<LegEvent> {
        // Once answered, the INVITE transaction only absorbs copies of the
        // 2xx until it ends after 64*T1; its end is not the call's.
        if self.state == LegState::Answered
            && !matches!(&event, Some(InviteEvent::Final(response)) if response.status < 300)
        {
            if event.is_none() {
                self.invite_done = true;
            }
            return None;
        }
        let Some(event) = event else {
            self.invite_done = true;
            self.state = LegState::Ended;
            return Some(LegEvent::Failed(String::from(
                "the INVITE transaction ended",
            )));
        };
        match event {
            InviteEvent::Provisional(response) => {
                let ringing = matches!(response.status, 180 | 183);
                if ringing && self.state == LegState::Calling {
                    tracing::info!(status = response.status, "leg ringing");
                    self.state = LegState::Ringing;
                    return Some(LegEvent::Ringing);
                }
                None
            }
            InviteEvent::Final(response) if response.status < 300 => self.answered(response),
            InviteEvent::Final(response) => {
                if self.state == LegState::Ended {
                    return None;
                }
                tracing::info!(status = response.status, reason = %response.reason, "leg rejected");
                self.state = LegState::Ended;
                Some(LegEvent::Rejected {
                    status: response.status,
                    reason: response.reason,
                })
            }
            InviteEvent::Timeout => {
                self.state = LegState::Ended;
                tracing::info!("no response to the leg's INVITE");
                Some(LegEvent::Failed(String::from(
                    "no response to the INVITE within 64*T1",
                )))
            }
            InviteEvent::Failed(error) => {
                self.state = LegState::Ended;
                tracing::warn!(%error, "the leg's INVITE failed");
                Some(LegEvent::Failed(error))
            }
        }
    }

    /// ACKs a 2xx, and on the first one sets up the dialog and the media.
    fn answered(&mut self, response: Response) -> Option<LegEvent> {
        let invite_seq = self.invite_request.cseq_number().unwrap_or(1);
        if let Some(dialog) = &self.dialog {
            // A copy of the 2xx: its ACK was lost, so it is sent again.
            self.invite.ack(uac::ack_for_answer(dialog, invite_seq));
            return None;
        }
        let Some(dialog) =
            uac::dialog_from_answer(&self.invite_request, &response, self.destination)
        else {
            tracing::warn!("the 2xx has no To tag or Contact; the leg is dropped");
            self.state = LegState::Ended;
            return Some(LegEvent::Failed(String::from(
                "the 2xx has no To tag or no Contact",
            )));
        };
        self.invite.ack(uac::ack_for_answer(&dialog, invite_seq));
        self.dialog = Some(dialog);
        let text = String::from_utf8_lossy(&response.body);
        let negotiated =
            SessionDescription::parse(&text).and_then(|answer| sdp::take_answer(&answer));
        match negotiated {
            Ok(negotiated) => {
                tracing::info!(codec = ?negotiated.codec, remote = ?negotiated.remote, "leg answered");
                self.codec = Some(negotiated.codec);
                let _ = self.media.configure(negotiated);
                self.state = LegState::Answered;
                Some(LegEvent::Answered)
            }
            Err(error) => {
                tracing::warn!(%error, "the leg's SDP answer is unusable; hanging up");
                self.state = LegState::Answered;
                let bye = self.send_bye();
                tokio::spawn(bye);
                self.state = LegState::Ended;
                Some(LegEvent::Failed(format!("unusable SDP answer: {error}")))
            }
        }
    }

    /// Answers a request of the leg's dialog; returns the event to report.
    fn request(&mut self, incoming: Box<Incoming>) -> Option<LegEvent> {
        let request = &incoming.request;
        let answered = self.state == LegState::Answered;
        let response = match request.method.as_str() {
            "BYE" if answered => {
                tracing::info!("the agent hung up");
                self.state = LegState::Ended;
                self.endpoint
                    .respond(&incoming.key, request.response(200, None));
                return Some(LegEvent::HungUp);
            }
            "INVITE" | "UPDATE" if answered => self.renegotiate(request),
            "INFO" if answered => request.response(200, None),
            _ => request.response(481, None),
        };
        self.endpoint.respond(&incoming.key, response);
        None
    }

    /// Answers a new offer from the agent (hold, resume, codec change).
    fn renegotiate(&mut self, request: &Request) -> Response {
        if request.body.is_empty() {
            // TODO: answer an offerless re-INVITE with a new offer.
            return request.response(488, None);
        }
        let local = LocalMedia {
            address: self.media.local_addr().ip(),
            port: self.media.local_addr().port(),
            session_id: u64::from(self.media.local_addr().port()) << 32 | 1,
            session_version: u64::from(request.cseq_number().unwrap_or(2)),
        };
        let text = String::from_utf8_lossy(&request.body);
        match SessionDescription::parse(&text).and_then(|offer| sdp::answer(&offer, &local)) {
            Ok(answer) => {
                let _ = self.media.configure(answer.negotiated);
                let mut ok = request.response(200, None);
                if let Some(contact) = self.invite_request.headers.get("Contact") {
                    ok.headers.push("Contact", contact.to_string());
                }
                ok.headers.push("Content-Type", "application/sdp");
                ok.body = answer.sdp.into_bytes();
                ok
            }
            Err(error) => {
                tracing::info!(%error, "the agent's new offer rejected");
                request.response(488, None)
            }
        }
    }

    /// Cancels a leg that has not been answered, and waits for the
    /// INVITE's final response. A 2xx that crosses the CANCEL is ACKed and
    /// ended with BYE. An answered leg is hung up instead.
    pub async fn cancel(&mut self) {
        let span = self.span.clone();
        self.cancel_inner().instrument(span).await;
    }

    async fn cancel_inner(&mut self) {
        match self.state {
            LegState::Calling | LegState::Ringing => {}
            LegState::Answered => {
                self.send_bye().await;
                self.state = LegState::Ended;
                return;
            }
            LegState::Ended => return,
        }
        self.invite.cancel();
        tracing::info!("leg cancelled");
        // The INVITE's final response is awaited in the background, so a
        // phone slow to answer the CANCEL never delays the next agent or
        // the caller's bridge.
        let invite = std::mem::replace(&mut self.invite, ClientInvite::detached());
        self.invite_done = true;
        let finish = finish_cancelled(
            invite,
            self.invite_request.clone(),
            self.destination,
            self.endpoint.clone(),
        );
        tokio::spawn(finish.instrument(self.span.clone()));
        self.state = LegState::Ended;
    }

    /// Ends the leg: BYE when answered, CANCEL while ringing.
    pub async fn hangup(&mut self) {
        let span = self.span.clone();
        self.hangup_inner().instrument(span).await;
    }

    async fn hangup_inner(&mut self) {
        match self.state {
            LegState::Calling | LegState::Ringing => self.cancel_inner().await,
            LegState::Answered => {
                self.send_bye().await;
                self.state = LegState::Ended;
            }
            LegState::Ended => {}
        }
    }

    /// Returns the BYE of the answered leg as a future that sends it and
    /// logs its outcome.
    fn send_bye(&mut self) -> impl Future<Output = ()> + Send + 'static {
        let bye = self.dialog.as_mut().map(|dialog| dialog.request("BYE"));
        let endpoint = self.endpoint.clone();
        let destination = self.destination;
        let span = self.span.clone();
        async move {
            let Some(bye) = bye else {
                return;
            };
            match endpoint.send_request(bye, destination).await {
                Ok(response) => {
                    tracing::info!(status = response.status, "leg's BYE got its final response")
                }
                Err(error) => tracing::info!(%error, "leg's BYE got no final response"),
            }
        }
        .instrument(span)
    }
}

/// Waits for the final response of a cancelled INVITE: 487 ends it (the
/// transaction ACKs it), and a 2xx that crossed the CANCEL is ACKed, each
/// copy again, and ended with BYE.
async fn finish_cancelled(
    mut invite: ClientInvite,
    request: Request,
    destination: Source,
    endpoint: Endpoint,
) {
    let invite_seq = request.cseq_number().unwrap_or(1);
    let mut dialog: Option<Dialog> = None;
    while let Some(event) = invite.next_event().await {
        match event {
            InviteEvent::Provisional(_) => {}
            InviteEvent::Final(response) if response.status < 300 => {
                if let Some(dialog) = &dialog {
                    invite.ack(uac::ack_for_answer(dialog, invite_seq));
                    continue;
                }
                let Some(mut answered) = uac::dialog_from_answer(&request, &response, destination)
                else {
                    tracing::warn!(
                        "a 2xx crossed the CANCEL without To tag or Contact; it cannot be ended"
                    );
                    continue;
                };
                tracing::info!("a 2xx crossed the CANCEL; sending ACK and BYE");
                invite.ack(uac::ack_for_answer(&answered, invite_seq));
                let bye = answered.request("BYE");
                dialog = Some(answered);
                let endpoint = endpoint.clone();
                tokio::spawn(
                    async move {
                        match endpoint.send_request(bye, destination).await {
                            Ok(response) => tracing::info!(status = response.status, "BYE after the crossed 2xx answered"),
                            Err(error) => tracing::info!(%error, "BYE after the crossed 2xx got no final response"),
                        }
                    }
                    .in_current_span(),
                );
            }
            InviteEvent::Final(response) => {
                tracing::info!(status = response.status, "the cancelled INVITE ended");
            }
            InviteEvent::Timeout | InviteEvent::Failed(_) => {
                tracing::info!("the cancelled INVITE got no final response");
                break;
            }
        }
    }
}

impl Drop for OutboundLeg {
    fn drop(&mut self) {
        self.routes.remove(&self.call_id);
        match self.state {
            LegState::Calling | LegState::Ringing => {
                // The transaction sends the CANCEL and ACKs the 487; a 2xx
                // that crosses it is not ACKed by anyone, so the agent's
                // phone ends that call on its own.
                self.invite.cancel();
            }
            LegState::Answered => {
                tokio::spawn(self.send_bye());
            }
            LegState::Ended => {}
        }
    }
}
