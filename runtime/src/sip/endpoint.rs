//! The SIP endpoint: listeners, the transaction layer and the UAS core in
//! one task.
//!
//! One core task owns every transaction, so transaction state needs no
//! locks; readers, timers and the call layer talk to it through channels.
//! The call layer receives [`UasEvent`]s and answers through [`Endpoint`].

use super::header::{CSeq, Via};
use super::message::{Message, Request, Response};
use super::parse::ParseError;
use super::transaction::{InviteState, Key, ServerTransaction, State, TimerKind, Timers};
use super::transport::{self, Outlet, Received, Source, Transport};
use super::uas::{self, Decision, Incoming, NumberPlan, UasEvent};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The `Retry-After` value, in seconds, of 503 responses sent when the
/// server is overloaded or shutting down.
const RETRY_AFTER_SECONDS: u32 = 5;

/// The listeners and transaction timers of an endpoint.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Addresses to listen on; port 0 picks a free port.
    pub listen: Vec<(Transport, SocketAddr)>,
    /// Transaction timer values.
    pub timers: Timers,
    /// Send UDP responses to the source port even when the top Via has no
    /// `rport` (symmetric responses for peers behind NAT).
    pub force_rport: bool,
    /// Requests waiting for the call layer before new INVITEs get 503.
    pub queue: usize,
}

/// The failure of a request sent by the server.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Timer F fired: no final response within 64*T1.
    #[error("no final response within 64*T1 (timer F)")]
    Timeout,
    /// The transport could not send.
    #[error("cannot send the request: {0}")]
    Transport(#[from] std::io::Error),
    /// The endpoint has stopped.
    #[error("the SIP endpoint has stopped")]
    Stopped,
}

enum Command {
    Respond(Key, Response),
    Send(
        Request,
        Source,
        oneshot::Sender<Result<Response, SendError>>,
    ),
    Timer(Key, TimerKind),
    Invite {
        branch: String,
        request: Request,
        to: Source,
        events: mpsc::UnboundedSender<InviteEvent>,
    },
    CancelInvite(String),
    AckInvite(String, Request),
    Accept(bool),
    Stop,
}

/// An event of a client INVITE transaction, for its user.
#[derive(Clone, Debug)]
pub enum InviteEvent {
    /// A 1xx response, 100 Trying included.
    Provisional(Response),
    /// A final response. Each copy of a 2xx is reported, because the user
    /// ACKs every one (RFC 3261 section 13.2.2.4). A non-2xx is reported
    /// once, and the transaction has already ACKed it.
    Final(Response),
    /// No response within 64*T1 over UDP (timer B), or no final response
    /// within 64*T1 of the CANCEL.
    Timeout,
    /// The transport could not send the INVITE.
    Failed(String),
}

/// The user's handle on a client INVITE transaction.
pub struct ClientInvite {
    branch: String,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<InviteEvent>,
}

impl ClientInvite {
    /// Returns a handle tied to no transaction: it reports no events and
    /// its commands go nowhere. It takes the place of a handle moved out.
    pub(crate) fn detached() -> ClientInvite {
        let (commands, _) = mpsc::unbounded_channel();
        let (_, events) = mpsc::unbounded_channel();
        ClientInvite {
            branch: String::new(),
            commands,
            events,
        }
    }

    /// Waits for the next response or failure; `None` once the endpoint
    /// has stopped or the transaction has ended and nothing is left.
    pub async fn next_event(&mut self) -> Option<InviteEvent> {
        self.events.recv().await
    }

    /// Cancels the INVITE (RFC 3261 section 9.1). The CANCEL leaves once a
    /// provisional response has arrived, at once when one already has.
    /// The INVITE's final response still follows: 487 (ACKed by the
    /// transaction), or a 2xx that crossed the CANCEL, which the user must
    /// ACK and end with BYE.
    pub fn cancel(&self) {
        let _ = self
            .commands
            .send(Command::CancelInvite(self.branch.clone()));
    }

    /// Sends the ACK of a 2xx to the INVITE's destination, with a Via of
    /// its own. Calls for later copies of the 2xx re-send the first ACK.
    pub fn ack(&self, ack: Request) {
        let _ = self
            .commands
            .send(Command::AckInvite(self.branch.clone(), ack));
    }
}

/// A handle to a running endpoint; clones share it.
#[derive(Clone)]
pub struct Endpoint {
    commands: mpsc::UnboundedSender<Command>,
    local: Vec<(Transport, SocketAddr)>,
    transactions: Arc<AtomicUsize>,
    outlet: Outlet,
}

impl Endpoint {
    /// Binds every listener and starts the core. Returns the handle and
    /// the events for the call layer.
    pub async fn start(
        config: EndpointConfig,
        numbers: Arc<dyn NumberPlan>,
    ) -> std::io::Result<(Endpoint, mpsc::Receiver<UasEvent>)> {
        let outlet = Outlet::default();
        let (received_tx, received_rx) = mpsc::unbounded_channel();
        let mut local = Vec::new();
        for (kind, address) in &config.listen {
            match kind {
                Transport::Udp => {
                    let socket = transport::bind_udp(*address, &outlet).await?;
                    local.push((Transport::Udp, socket.local_addr()?));
                    tokio::spawn(transport::read_udp(socket, received_tx.clone()));
                }
                Transport::Tcp => {
                    let listener = tokio::net::TcpListener::bind(address).await?;
                    local.push((Transport::Tcp, listener.local_addr()?));
                    let accept =
                        transport::accept_tcp(listener, outlet.clone(), received_tx.clone());
                    tokio::spawn(accept);
                }
            }
        }
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::channel(config.queue.max(1));
        let transactions = Arc::new(AtomicUsize::new(0));
        let core = Core {
            config,
            outlet: outlet.clone(),
            numbers,
            events,
            commands: commands.clone(),
            server: HashMap::new(),
            accepted: HashMap::new(),
            client: HashMap::new(),
            invites: HashMap::new(),
            accepting: true,
            transactions: transactions.clone(),
            local: local.clone(),
        };
        tokio::spawn(core.run(received_rx, commands_rx));
        let endpoint = Endpoint {
            commands,
            local,
            transactions,
            outlet,
        };
        Ok((endpoint, events_rx))
    }

    /// Returns the bound listener addresses, in the order configured.
    pub fn local_addrs(&self) -> &[(Transport, SocketAddr)] {
        &self.local
    }

    /// Sends a response in a server transaction; a final response ends
    /// the handler's part of it.
    pub fn respond(&self, key: &Key, response: Response) {
        let _ = self.commands.send(Command::Respond(key.clone(), response));
    }

    /// Sends a request outside any server transaction, such as a BYE from
    /// [`uas::Dialog::request`], and waits for its final response. Only
    /// non-INVITE requests are supported.
    pub async fn send_request(&self, request: Request, to: Source) -> Result<Response, SendError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(Command::Send(request, to, reply))
            .map_err(|_| SendError::Stopped)?;
        response.await.map_err(|_| SendError::Stopped)?
    }

    /// Sends an INVITE to `to` in a new client transaction (RFC 3261
    /// section 17.1.1) and returns its handle. The endpoint adds the Via.
    /// Over UDP the INVITE is retransmitted from T1 doubling (timer A)
    /// until a response, and abandoned after 64*T1 (timer B).
    pub fn invite(&self, request: Request, to: Source) -> ClientInvite {
        let branch = format!("{}{}", super::transaction::MAGIC_COOKIE, random_token());
        let (events, receiver) = mpsc::unbounded_channel();
        let command = Command::Invite {
            branch: branch.clone(),
            request,
            to,
            events: events.clone(),
        };
        if self.commands.send(command).is_err() {
            let _ = events.send(InviteEvent::Failed(String::from(
                "the SIP endpoint has stopped",
            )));
        }
        ClientInvite {
            branch,
            commands: self.commands.clone(),
            events: receiver,
        }
    }

    /// Stops or resumes accepting new INVITEs; while stopped they get 503
    /// with Retry-After.
    pub fn set_accepting(&self, accepting: bool) {
        let _ = self.commands.send(Command::Accept(accepting));
    }

    /// Stops the core; listeners end when they next receive.
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }

    /// Returns the number of live server and client transactions.
    pub fn transaction_count(&self) -> usize {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Returns the number of open TCP connections.
    pub fn connection_count(&self) -> usize {
        self.outlet.connection_count()
    }
}

struct ClientTransaction {
    bytes: Vec<u8>,
    to: Source,
    reply: oneshot::Sender<Result<Response, SendError>>,
}

/// A client INVITE transaction.
struct InviteClient {
    /// The INVITE as sent, with its Via.
    request: Request,
    bytes: Vec<u8>,
    to: Source,
    state: InviteState,
    events: mpsc::UnboundedSender<InviteEvent>,
    /// The user asked to cancel before any provisional response.
    cancel_pending: bool,
    /// The CANCEL as sent, until its final response.
    cancel: Option<Vec<u8>>,
    /// The ACK sent for a non-2xx final response.
    ack: Option<Vec<u8>>,
    /// The ACK the user sent for the 2xx.
    ack_2xx: Option<Vec<u8>>,
}

struct Core {
    config: EndpointConfig,
    outlet: Outlet,
    numbers: Arc<dyn NumberPlan>,
    events: mpsc::Sender<UasEvent>,
    commands: mpsc::UnboundedSender<Command>,
    server: HashMap<Key, ServerTransaction>,
    /// INVITEs answered 2xx and waiting for their ACK, by Call-ID and CSeq.
    accepted: HashMap<(String, u32), Key>,
    client: HashMap<String, ClientTransaction>,
    /// Client INVITE transactions by branch.
    invites: HashMap<String, InviteClient>,
    accepting: bool,
    transactions: Arc<AtomicUsize>,
    local: Vec<(Transport, SocketAddr)>,
}

impl Core {
    async fn run(
        mut self,
        mut received: mpsc::UnboundedReceiver<Received>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        loop {
            tokio::select! {
                Some(inbound) = received.recv() => match inbound {
                    Received::Message(message, source) => self.received(message, source).await,
                    Received::Closed(connection) => self.outlet.close(connection),
                },
                command = commands.recv() => match command {
                    Some(Command::Stop) | None => return,
                    Some(command) => self.command(command).await,
                },
            }
            let count = self.server.len() + self.client.len() + self.invites.len();
            self.transactions.store(count, Ordering::Relaxed);
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Respond(key, response) => self.respond(&key, response).await,
            Command::Send(request, to, reply) => self.send_request(request, to, reply).await,
            Command::Timer(key, kind) => self.timer(key, kind).await,
            Command::Invite {
                branch,
                request,
                to,
                events,
            } => self.invite(branch, request, to, events).await,
            Command::CancelInvite(branch) => self.cancel_invite(&branch).await,
            Command::AckInvite(branch, ack) => self.ack_invite(&branch, ack).await,
            Command::Accept(accepting) => self.accepting = accepting,
            Command::Stop => {}
        }
    }

    async fn received(&mut self, parsed: Result<Message, ParseError>, source: Source) {
        match parsed {
            Ok(mut message) => {
                if !transport::stamp_via(&mut message, &source, self.config.force_rport) {
                    tracing::debug!(peer = %source.remote, "dropped a request without a valid Via");
                    return;
                }
                match message {
                    Message::Request(request) => self.request(request, source).await,
                    Message::Response(response) => self.response(response).await,
                }
            }
            Err(ParseError::BadRequest {
                status,
                reason,
                request,
            }) => {
                self.reject(*request, status, reason, source).await;
            }
            Err(ParseError::BadResponse(reason) | ParseError::Unreadable(reason)) => {
                tracing::debug!(peer = %source.remote, %reason, "dropped an invalid message");
            }
        }
    }

    /// Responds to an invalid request statelessly; an invalid ACK is dropped
    /// because ACK gets no response.
    async fn reject(&mut self, request: Request, status: u16, reason: String, source: Source) {
        tracing::debug!(peer = %source.remote, %reason, status, "rejected an invalid request");
        if request.method == "ACK" {
            return;
        }
        let mut message = Message::Request(request);
        transport::stamp_via(&mut message, &source, self.config.force_rport);
        let Message::Request(request) = message else {
            return;
        };
        let mut response = request.response(status, None);
        response.reason = reason.replace(['\r', '\n'], " ");
        // Copy only the Via and CSeq values that parse, so the peer can
        // read the answer.
        let vias: Vec<String> = request.headers.list("Via");
        response.headers.remove("Via");
        for via in vias.into_iter().filter(|v| Via::parse(v).is_ok()).rev() {
            response.headers.insert_first("Via", via);
        }
        let cseq = response.headers.get("CSeq").map(CSeq::parse);
        if matches!(cseq, Some(Err(_))) {
            response.headers.remove("CSeq");
        }
        let target = transport::response_target(top_via(&request).as_ref(), &source);
        self.send(&target, response.to_bytes()).await;
    }

    async fn request(&mut self, request: Request, source: Source) {
        let Some(key) = Key::of(&request) else {
            return;
        };
        if let Some(transaction) = self.server.get_mut(&key) {
            if request.method != "ACK" {
                // In Confirmed, retransmissions are absorbed (section 17.2.1).
                let last = match transaction.state {
                    State::Confirmed => None,
                    _ => transaction.last_response.clone(),
                };
                let target = transaction.target;
                if let Some(bytes) = last {
                    self.send(&target, bytes).await;
                }
                return;
            }
            if transaction.state == State::Completed {
                // Timer I: absorb ACK retransmissions for T4 over UDP.
                transaction.state = State::Confirmed;
                let linger = match transaction.target.transport {
                    Transport::Udp => self.config.timers.t4,
                    Transport::Tcp => Duration::ZERO,
                };
                self.schedule(key, TimerKind::Forget, linger);
                return;
            }
        }
        match request.method.as_str() {
            "ACK" => self.acknowledged(&request),
            "CANCEL" => self.cancel(key, request, source).await,
            _ => self.open(key, request, source).await,
        }
    }

    /// Stops the 2xx retransmissions of an INVITE and passes the ACK on.
    fn acknowledged(&mut self, ack: &Request) {
        let call_id = ack.headers.get("Call-ID").unwrap_or_default().to_string();
        let id = (call_id, ack.cseq_number().unwrap_or_default());
        let Some(key) = self.accepted.remove(&id) else {
            return;
        };
        if let Some(transaction) = self.server.get_mut(&key) {
            transaction.state = State::Confirmed;
        }
        self.schedule(key, TimerKind::Forget, Duration::ZERO);
        self.notify(UasEvent::Ack(ack.clone()));
    }

    async fn open(&mut self, key: Key, request: Request, source: Source) {
        let to_tag = random_token();
        let target = transport::response_target(top_via(&request).as_ref(), &source);
        let invite = request.method == "INVITE";
        self.server.insert(
            key.clone(),
            ServerTransaction {
                request: request.clone(),
                target,
                state: State::Proceeding,
                last_response: None,
                last_status: 0,
                to_tag: to_tag.clone(),
            },
        );
        if invite {
            // 100 Trying at once, so the peer stops retransmitting
            // (section 17.2.1); it carries no To tag.
            self.respond(&key, request.response(100, None)).await;
        }
        // OPTIONS gets 503 too while stopping, so a trunk's keepalive sees
        // the server leaving and the trunk fails over to another.
        let stopping = !self.accepting && (invite || request.method == "OPTIONS");
        let decision = if stopping {
            Decision::Answer(unavailable(&request, &to_tag))
        } else {
            uas::decide(&request, self.numbers.as_ref(), &to_tag)
        };
        let incoming = match decision {
            Decision::Answer(response) => return self.respond(&key, response).await,
            Decision::Deliver => Incoming {
                key: key.clone(),
                request,
                source,
                to_tag,
            },
        };
        if let Err(error) = self.events.try_send(UasEvent::Request(incoming)) {
            tracing::warn!(%error, "the call layer is not taking requests; responding 503");
            let request = match error {
                mpsc::error::TrySendError::Full(UasEvent::Request(i))
                | mpsc::error::TrySendError::Closed(UasEvent::Request(i)) => i.request,
                _ => return,
            };
            let response = unavailable(&request, &random_token());
            self.respond(&key, response).await;
        }
    }

    /// Answers CANCEL (section 9.2): 200 and 487 to the INVITE while it
    /// has no final response, else 481.
    async fn cancel(&mut self, key: Key, request: Request, source: Source) {
        let invite_key = Key::with_method(&request, "INVITE");
        let target = transport::response_target(top_via(&request).as_ref(), &source);
        self.server.insert(
            key.clone(),
            ServerTransaction {
                request: request.clone(),
                target,
                state: State::Proceeding,
                last_response: None,
                last_status: 0,
                to_tag: random_token(),
            },
        );
        let pending = invite_key
            .as_ref()
            .and_then(|k| self.server.get(k))
            .filter(|t| t.is_invite() && t.state == State::Proceeding)
            .map(|t| (t.request.clone(), t.to_tag.clone()));
        let (Some(invite_key), Some((invite, tag))) = (invite_key, pending) else {
            return self.respond(&key, request.response(481, None)).await;
        };
        self.respond(&key, request.response(200, None)).await;
        self.respond(&invite_key, invite.response(487, Some(&tag)))
            .await;
        let call_id = invite
            .headers
            .get("Call-ID")
            .unwrap_or_default()
            .to_string();
        let event = UasEvent::Cancelled {
            key: invite_key,
            call_id,
        };
        self.notify(event);
    }

    async fn respond(&mut self, key: &Key, response: Response) {
        let timers = self.config.timers;
        let Some(transaction) = self.server.get_mut(key) else {
            tracing::debug!(
                status = response.status,
                "response for a finished transaction dropped"
            );
            return;
        };
        if transaction.state != State::Proceeding {
            tracing::warn!(
                status = response.status,
                "a final response was already sent; dropped"
            );
            return;
        }

        let bytes = response.to_bytes();
        let target = transaction.target;
        transaction.last_response = Some(bytes.clone());
        transaction.last_status = response.status;
        let status = response.status;
        let invite = transaction.is_invite();
        if status >= 200 {
            transaction.state = match (invite, status < 300) {
                (true, true) => State::Accepted,
                (true, false) => State::Completed,
                (false, _) => State::Completed,
            };
        }
        let accepted_id = (status >= 200 && invite && status < 300).then(|| {
            let request = &transaction.request;
            let call_id = request
                .headers
                .get("Call-ID")
                .unwrap_or_default()
                .to_string();
            (call_id, request.cseq_number().unwrap_or_default())
        });
        self.send(&target, bytes).await;
        if status < 200 {
            return;
        }

        let unreliable = target.transport == Transport::Udp;
        if let Some(id) = accepted_id {
            self.accepted.insert(id, key.clone());
        }
        if invite {
            if unreliable {
                self.schedule(key.clone(), TimerKind::Retransmit(timers.t1), timers.t1);
            }
            self.schedule(key.clone(), TimerKind::AckTimeout, timers.long());
        } else {
            let linger = if unreliable {
                timers.long()
            } else {
                Duration::ZERO
            };
            self.schedule(key.clone(), TimerKind::Forget, linger);
        }
    }

    async fn timer(&mut self, key: Key, kind: TimerKind) {
        match kind {
            TimerKind::Retransmit(interval) => {
                let Some(transaction) = self.server.get(&key) else {
                    return;
                };
                if !matches!(transaction.state, State::Completed | State::Accepted) {
                    return;
                }
                let target = transaction.target;
                if let Some(bytes) = transaction.last_response.clone() {
                    self.send(&target, bytes).await;
                }
                let next = interval.saturating_mul(2).min(self.config.timers.t2);
                self.schedule(key, TimerKind::Retransmit(next), next);
            }
            TimerKind::AckTimeout => self.ack_timeout(key),
            TimerKind::Forget => {
                self.server.remove(&key);
            }
            TimerKind::ClientRetransmit(interval) => {
                let Some(client) = self.client.get(&key.0) else {
                    return;
                };
                let (to, bytes) = (client.to, client.bytes.clone());
                self.send(&to, bytes).await;
                let next = interval.saturating_mul(2).min(self.config.timers.t2);
                self.schedule(key, TimerKind::ClientRetransmit(next), next);
            }
            TimerKind::ClientTimeout => {
                if let Some(client) = self.client.remove(&key.0) {
                    let _ = client.reply.send(Err(SendError::Timeout));
                }
            }
            TimerKind::InviteRetransmit(_)
            | TimerKind::InviteTimeout
            | TimerKind::CancelRetransmit(_)
            | TimerKind::CancelTimeout
            | TimerKind::InviteForget => self.invite_timer(&key.0, kind).await,
        }
    }

    fn ack_timeout(&mut self, key: Key) {
        let Some(transaction) = self.server.get(&key) else {
            return;
        };
        if !matches!(transaction.state, State::Completed | State::Accepted) {
            return;
        }
        let accepted = transaction.state == State::Accepted;
        let call_id = transaction
            .request
            .headers
            .get("Call-ID")
            .unwrap_or_default()
            .to_string();
        let number = transaction.request.cseq_number().unwrap_or_default();
        self.server.remove(&key);
        if accepted {
            self.accepted.remove(&(call_id.clone(), number));
            tracing::warn!(%call_id, "no ACK for the 2xx response within 64*T1");
            self.notify(UasEvent::AckTimeout { key, call_id });
        }
    }

    async fn send_request(
        &mut self,
        mut request: Request,
        to: Source,
        reply: oneshot::Sender<Result<Response, SendError>>,
    ) {
        let branch = format!("{}{}", super::transaction::MAGIC_COOKIE, random_token());
        self.add_via(&mut request, &to, &branch);
        let bytes = request.to_bytes();
        if let Err(error) = self.outlet.send(&to, bytes.clone()).await {
            let _ = reply.send(Err(SendError::Transport(error)));
            return;
        }
        let key = Key::client(&branch);
        self.client
            .insert(branch, ClientTransaction { bytes, to, reply });
        let timers = self.config.timers;
        if to.transport == Transport::Udp {
            self.schedule(
                key.clone(),
                TimerKind::ClientRetransmit(timers.t1),
                timers.t1,
            );
        }
        self.schedule(key, TimerKind::ClientTimeout, timers.long());
    }

    /// Puts a Via with `branch` on top of `request`, naming the listener
    /// of the transport it leaves on.
    fn add_via(&self, request: &mut Request, to: &Source, branch: &str) {
        let local = self
            .local
            .iter()
            .find(|(kind, _)| *kind == to.transport)
            .map_or(to.local, |(_, address)| *address);
        let via = format!(
            "SIP/2.0/{} {local};branch={branch};rport",
            to.transport.as_str()
        );
        request.headers.insert_first("Via", via);
    }

    /// Matches a response to a request this server sent (section 17.1.3);
    /// every other response is dropped.
    async fn response(&mut self, response: Response) {
        let branch = top_via(&response).and_then(|v| v.param("branch").map(str::to_string));
        let Some(branch) = branch else {
            return;
        };
        if self.invites.contains_key(&branch) {
            return self.invite_response(&branch, response).await;
        }
        if response.status < 200 || !self.client.contains_key(&branch) {
            return;
        }
        if let Some(client) = self.client.remove(&branch) {
            let _ = client.reply.send(Ok(response));
        }
    }

    /// Passes an event to the call layer; a full queue loses it, so that
    /// is logged with the event.
    fn notify(&self, event: UasEvent) {
        if let Err(error) = self.events.try_send(event) {
            tracing::warn!(event = ?error.into_inner(), "the call layer's queue is full; event lost");
        }
    }

    fn schedule(&self, key: Key, kind: TimerKind, after: Duration) {
        let commands = self.commands.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = commands.send(Command::Timer(key, kind));
        });
    }

    async fn send(&self, to: &Source, bytes: Vec<u8>) {
        if let Err(error) = self.outlet.send(to, bytes).await {
            tracing::warn!(%error, peer = %to.remote, "sending a SIP message failed");
        }
    }
}

/// The client INVITE transaction (RFC 3261 section 17.1.1) and its CANCEL
/// (section 9.1).
impl Core {
    async fn invite(
        &mut self,
        branch: String,
        mut request: Request,
        to: Source,
        events: mpsc::UnboundedSender<InviteEvent>,
    ) {
        self.add_via(&mut request, &to, &branch);
        let bytes = request.to_bytes();
        if let Err(error) = self.outlet.send(&to, bytes.clone()).await {
            tracing::warn!(%error, peer = %to.remote, "sending an INVITE failed");
            let _ = events.send(InviteEvent::Failed(format!(
                "cannot send the INVITE to {}: {error}",
                to.remote
            )));
            return;
        }
        let client = InviteClient {
            request,
            bytes,
            to,
            state: InviteState::Calling,
            events,
            cancel_pending: false,
            cancel: None,
            ack: None,
            ack_2xx: None,
        };
        self.invites.insert(branch.clone(), client);
        // Over TCP the transport delivers the INVITE, so timers A and B
        // are not run; the user's own timeout (ring timeout) ends the wait.
        if to.transport == Transport::Udp {
            let timers = self.config.timers;
            let key = Key::client(&branch);
            self.schedule(
                key.clone(),
                TimerKind::InviteRetransmit(timers.t1),
                timers.t1,
            );
            self.schedule(key, TimerKind::InviteTimeout, timers.long());
        }
    }

    async fn cancel_invite(&mut self, branch: &str) {
        let Some(client) = self.invites.get_mut(branch) else {
            return;
        };
        match client.state {
            InviteState::Calling => {
                // Section 9.1: a CANCEL must not be sent before a
                // provisional response, so it waits for one.
                client.cancel_pending = true;
            }
            InviteState::Proceeding => {
                if client.cancel.is_none() {
                    self.send_cancel(branch).await;
                }
                return;
            }
            InviteState::Completed | InviteState::Accepted => return,
        }
        // Bounds the wait for a provisional response over TCP too.
        let long = self.config.timers.long();
        self.schedule(Key::client(branch), TimerKind::CancelTimeout, long);
    }

    /// Builds and sends the CANCEL of the INVITE in `branch` (section 9.1):
    /// its Request-URI, Call-ID, From, To, CSeq number, Route and top Via.
    async fn send_cancel(&mut self, branch: &str) {
        let Some(client) = self.invites.get_mut(branch) else {
            return;
        };
        let invite = &client.request;
        let mut headers = super::message::Headers::default();
        if let Some(via) = invite.headers.list("Via").into_iter().next() {
            headers.push("Via", via);
        }
        for route in invite.headers.list("Route") {
            headers.push("Route", route);
        }
        headers.push("Max-Forwards", "70");
        for name in ["From", "To", "Call-ID"] {
            if let Some(value) = invite.headers.get(name) {
                headers.push(name, value.to_string());
            }
        }
        let number = invite.cseq_number().unwrap_or_default();
        headers.push("CSeq", format!("{number} CANCEL"));
        let cancel = Request {
            method: String::from("CANCEL"),
            uri: invite.uri.clone(),
            headers,
            body: Vec::new(),
        };
        let bytes = cancel.to_bytes();
        client.cancel = Some(bytes.clone());
        client.cancel_pending = false;
        let to = client.to;
        tracing::info!(peer = %to.remote, "CANCEL sent");
        self.send(&to, bytes).await;
        let timers = self.config.timers;
        let key = Key::client(branch);
        if to.transport == Transport::Udp {
            self.schedule(
                key.clone(),
                TimerKind::CancelRetransmit(timers.t1),
                timers.t1,
            );
        }
        self.schedule(key, TimerKind::CancelTimeout, timers.long());
    }

    async fn ack_invite(&mut self, branch: &str, mut ack: Request) {
        let Some(client) = self.invites.get(branch) else {
            return;
        };
        let to = client.to;
        let bytes = match &client.ack_2xx {
            Some(bytes) => bytes.clone(),
            None => {
                // The ACK of a 2xx is a transaction of its own, so it gets
                // a new branch (section 17.1.1.3).
                let ack_branch = format!("{}{}", super::transaction::MAGIC_COOKIE, random_token());
                self.add_via(&mut ack, &to, &ack_branch);
                let bytes = ack.to_bytes();
                if let Some(client) = self.invites.get_mut(branch) {
                    client.ack_2xx = Some(bytes.clone());
                }
                bytes
            }
        };
        self.send(&to, bytes).await;
    }

    async fn invite_response(&mut self, branch: &str, response: Response) {
        let method = response
            .headers
            .get("CSeq")
            .and_then(|value| CSeq::parse(value).ok())
            .map(|cseq| cseq.method)
            .unwrap_or_default();
        let Some(client) = self.invites.get_mut(branch) else {
            return;
        };
        if method.eq_ignore_ascii_case("CANCEL") {
            if response.status >= 200 {
                client.cancel = None;
            }
            return;
        }
        let status = response.status;
        match (client.state, status) {
            (InviteState::Calling | InviteState::Proceeding, 100..=199) => {
                client.state = InviteState::Proceeding;
                let _ = client.events.send(InviteEvent::Provisional(response));
                if client.cancel_pending {
                    self.send_cancel(branch).await;
                }
            }
            (InviteState::Calling | InviteState::Proceeding, 200..=299) => {
                client.state = InviteState::Accepted;
                let _ = client.events.send(InviteEvent::Final(response));
                // RFC 6026: copies of the 2xx reach the user for 64*T1.
                let long = self.config.timers.long();
                self.schedule(Key::client(branch), TimerKind::InviteForget, long);
            }
            (InviteState::Accepted, 200..=299) => {
                let _ = client.events.send(InviteEvent::Final(response));
            }
            (InviteState::Calling | InviteState::Proceeding, 300..) => {
                client.state = InviteState::Completed;
                let ack = non_2xx_ack(&client.request, &response).to_bytes();
                client.ack = Some(ack.clone());
                client.cancel = None;
                let to = client.to;
                let _ = client.events.send(InviteEvent::Final(response));
                self.send(&to, ack).await;
                // Timer D absorbs copies of the response over UDP.
                let linger = match to.transport {
                    Transport::Udp => Duration::from_secs(32).max(self.config.timers.long()),
                    Transport::Tcp => Duration::ZERO,
                };
                self.schedule(Key::client(branch), TimerKind::InviteForget, linger);
            }
            (InviteState::Completed, 300..) => {
                if let Some(ack) = client.ack.clone() {
                    let to = client.to;
                    self.send(&to, ack).await;
                }
            }
            _ => {}
        }
    }

    async fn invite_timer(&mut self, branch: &str, kind: TimerKind) {
        let Some(client) = self.invites.get(branch) else {
            return;
        };
        let waiting = matches!(client.state, InviteState::Calling | InviteState::Proceeding);
        match kind {
            TimerKind::InviteRetransmit(interval) => {
                if client.state != InviteState::Calling {
                    return;
                }
                let (to, bytes) = (client.to, client.bytes.clone());
                self.send(&to, bytes).await;
                // Timer A doubles without the T2 cap of non-INVITE requests.
                let next = interval.saturating_mul(2);
                self.schedule(Key::client(branch), TimerKind::InviteRetransmit(next), next);
            }
            TimerKind::InviteTimeout => {
                if client.state != InviteState::Calling {
                    return;
                }
                tracing::info!(peer = %client.to.remote, "no response to the INVITE within 64*T1 (timer B)");
                self.end_invite(branch, InviteEvent::Timeout);
            }
            TimerKind::CancelRetransmit(interval) => {
                let Some(bytes) = client.cancel.clone().filter(|_| waiting) else {
                    return;
                };
                let to = client.to;
                self.send(&to, bytes).await;
                let next = interval.saturating_mul(2).min(self.config.timers.t2);
                self.schedule(Key::client(branch), TimerKind::CancelRetransmit(next), next);
            }
            TimerKind::CancelTimeout => {
                if !waiting {
                    return;
                }
                tracing::info!(peer = %client.to.remote, "no final response within 64*T1 of the CANCEL");
                self.end_invite(branch, InviteEvent::Timeout);
            }
            TimerKind::InviteForget => {
                self.invites.remove(branch);
            }
            _ => {}
        }
    }

    fn end_invite(&mut self, branch: &str, event: InviteEvent) {
        if let Some(client) = self.invites.remove(branch) {
            let _ = client.events.send(event);
        }
    }
}

/// Builds the ACK of a non-2xx final response (section 17.1.1.3): the
/// INVITE's Request-URI, top Via, From, Call-ID, CSeq number and Route,
/// with the response's To.
fn non_2xx_ack(invite: &Request, response: &Response) -> Request {
    let mut headers = super::message::Headers::default();
    if let Some(via) = invite.headers.list("Via").into_iter().next() {
        headers.push("Via", via);
    }
    for route in invite.headers.list("Route") {
        headers.push("Route", route);
    }
    headers.push("Max-Forwards", "70");
    if let Some(from) = invite.headers.get("From") {
        headers.push("From", from.to_string());
    }
    let to = response
        .headers
        .get("To")
        .or_else(|| invite.headers.get("To"))
        .unwrap_or_default();
    headers.push("To", to.to_string());
    if let Some(call_id) = invite.headers.get("Call-ID") {
        headers.push("Call-ID", call_id.to_string());
    }
    let number = invite.cseq_number().unwrap_or_default();
    headers.push("CSeq", format!("{number} ACK"));
    Request {
        method: String::from("ACK"),
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}

fn unavailable(request: &Request, to_tag: &str) -> Response {
    let mut response = request.response(503, Some(to_tag));
    response
        .headers
        .push("Retry-After", RETRY_AFTER_SECONDS.to_string());
    response
}

fn top_via(message: &impl HasHeaders) -> Option<Via> {
    let first = message.header_list("Via").into_iter().next()?;
    Via::parse(&first).ok()
}

trait HasHeaders {
    fn header_list(&self, name: &str) -> Vec<String>;
}

impl HasHeaders for Request {
    fn header_list(&self, name: &str) -> Vec<String> {
        self.headers.list(name)
    }
}

impl HasHeaders for Response {
    fn header_list(&self, name: &str) -> Vec<String> {
        self.headers.list(name)
    }
}

/// Returns 16 hex digits for tags and branches: SipHash of a counter under
/// the random per-process keys of `RandomState`, so values are unique and
/// hard to guess (RFC 3261 section 19.3 requires 32 random bits or more).
pub fn random_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}
