//! The SIP endpoint: listeners, the transaction layer and the UAS core in
//! one task.
//!
//! One core task owns every transaction, so transaction state needs no
//! locks; readers, timers and the call layer talk to it through channels.
//! The call layer receives [`UasEvent`]s and answers through [`Endpoint`].

use super::header::{CSeq, Via};
use super::message::{Message, Request, Response};
use super::parse::ParseError;
use super::transaction::{Key, ServerTransaction, State, TimerKind, Timers};
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
    Accept(bool),
    Stop,
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
            let count = self.server.len() + self.client.len();
            self.transactions.store(count, Ordering::Relaxed);
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Respond(key, response) => self.respond(&key, response).await,
            Command::Send(request, to, reply) => self.send_request(request, to, reply).await,
            Command::Timer(key, kind) => self.timer(key, kind).await,
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
                    Message::Response(response) => self.response(response),
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
        let local = self
            .local
            .iter()
            .find(|(kind, _)| *kind == to.transport)
            .map_or(to.local, |(_, address)| *address);
        let via = format!(
            "SIP/2.0/{} {local};branch={branch};rport",
            to.transport.as_str()
        );
        let mut headers = super::message::Headers::default();
        headers.push("Via", via);
        for row in request.headers.iter() {
            headers.push(&row.name, row.value.clone());
        }
        request.headers = headers;
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

    /// Matches a response to a request this server sent (section 17.1.3);
    /// every other response is dropped.
    fn response(&mut self, response: Response) {
        let branch = top_via(&response).and_then(|v| v.param("branch").map(str::to_string));
        let Some(branch) = branch else {
            return;
        };
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
