//! The call layer: compiled flows keyed by number, one tokio task per call
//! driving `flowc::vm::Call`, and the counts tests and logs read.
//!
//! The dispatcher reads the endpoint's [`UasEvent`]s and routes each to its
//! call by Call-ID; a new INVITE starts a call. A call's task owns its VM,
//! its media session and its dialog, so nothing about one call is shared
//! with another except the port pool and the prompts.

mod agents;
mod center;
mod driver;
mod flows;
mod identity;
pub mod journal;
pub mod leg;
pub mod persist;
pub mod record;
/// Applies the tagging rules to calls cut by the last stop of flowd, from
/// their stored records (outcome `interrupted`, path, contact). A failure
/// is logged and leaves the call untagged, so it never stops flowd.
async fn tag_interrupted(
    store: &crate::store::Store,
    call_ids: &[String],
    rules: &[crate::config::TagRule],
) {
    if rules.is_empty() {
        return;
    }
    for call_id in call_ids {
        let row = match store.call(call_id).await {
            Ok(Some(row)) => row,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%call_id, %error, "cannot read an interrupted call to apply tagging rules");
                continue;
            }
        };
        let vip = match row.contact_id {
            Some(id) => match store.contact(id).await {
                Ok(contact) => contact.is_some_and(|c| c.vip),
                Err(error) => {
                    tracing::warn!(%call_id, %error, "cannot read an interrupted call's contact for tagging rules");
                    false
                }
            },
            None => false,
        };
        let choices: Vec<&str> = row
            .path
            .iter()
            .filter(|step| step.kind == "menu")
            .map(|step| step.value.as_str())
            .collect();
        let facts = record::RuleFacts {
            outcome: row.outcome.as_deref().unwrap_or("interrupted"),
            wait_ms: u64::try_from(row.wait_ms).unwrap_or(0),
            talk_ms: u64::try_from(row.talk_ms).unwrap_or(0),
            menu_choices: &choices,
            known_contact: row.contact_id.is_some(),
            vip,
        };
        let tags: Vec<String> = rules
            .iter()
            .filter(|rule| facts.matches(&rule.when))
            .map(|rule| rule.tag.clone())
            .collect();
        if tags.is_empty() {
            continue;
        }
        if let Err(error) = store
            .add_call_tags(call_id, &tags, crate::store::TagSource::Rule)
            .await
        {
            tracing::warn!(%call_id, %error, "cannot tag an interrupted call");
        }
    }
}

#[cfg(test)]
mod tests;

pub use agents::AgentHooks;
pub use flows::{Flows, load_flows};

use crate::agents::registrar::Registrar;
use agents::{AgentNumbers, Agents};

use crate::config::RuntimeConfig;
use crate::media::ports::PortPool;
use crate::media::prompt::PromptLibrary;
use crate::media::session::InactivityLimits;
use crate::sip::endpoint::{Endpoint, EndpointConfig};
use crate::sip::message::Request;
use crate::sip::transaction::Timers;
use crate::sip::uas::{Incoming, NumberPlan, UasEvent};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Requests queued between the SIP core and the call layer.
const EVENT_QUEUE: usize = 1024;

/// The Retry-After of a 503 for overload, in seconds.
pub(crate) const RETRY_AFTER_SECONDS: &str = "5";
/// Finished calls kept for a slow [`Server::finished_calls`] receiver.
const FINISHED_QUEUE: usize = 256;

/// The wall clock the flows read (office hours, dates); tests may start it
/// at another time.
pub type Clock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

/// The party that ended an answered call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The caller: BYE, CANCEL, or a missing ACK.
    Caller,
    /// flowd: BYE at the end of the flow, at shutdown or after an error.
    Flowd,
}

/// The record of one ended call, sent to [`Server::finished_calls`]
/// receivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// The INVITE's Call-ID.
    pub call_id: String,
    /// The final status sent to the INVITE: 200 when answered, 487 when
    /// cancelled, 404 or 488 when rejected.
    pub status: u16,
    /// The flow's outcome (`hangup`, `voicemail` ...); `None` when the
    /// flow never ran.
    pub outcome: Option<String>,
    /// Who ended the answered call; `None` when it was never answered.
    pub ended_by: Option<Party>,
}

/// Counters of the call layer; clones share them.
#[derive(Clone, Debug)]
pub struct Stats {
    inner: Arc<Counters>,
    pool: PortPool,
    journal: journal::JournalStats,
}

#[derive(Debug, Default)]
struct Counters {
    active: AtomicUsize,
    answered: AtomicUsize,
    started: AtomicU64,
    effects: AtomicU64,
    panics: AtomicU64,
    rtp_sent: AtomicU64,
    rtp_received: AtomicU64,
    rejected: Mutex<BTreeMap<u16, u64>>,
}

impl Stats {
    /// Returns the calls whose task is running.
    pub fn active_calls(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Returns the calls answered with 200 OK that have not ended.
    pub fn answered_calls(&self) -> usize {
        self.inner.answered.load(Ordering::Relaxed)
    }

    /// Counts an answered call until the returned guard is dropped, which
    /// also happens when the call's task panics.
    pub(crate) fn answered_guard(&self) -> AnsweredGuard {
        self.inner.answered.fetch_add(1, Ordering::Relaxed);
        AnsweredGuard {
            counters: self.inner.clone(),
        }
    }

    /// Returns the calls started since start-up.
    pub fn calls_started(&self) -> u64 {
        self.inner.started.load(Ordering::Relaxed)
    }

    /// Returns the effects carried out for every call since start-up.
    pub fn effects(&self) -> u64 {
        self.inner.effects.load(Ordering::Relaxed)
    }

    /// Returns the call tasks that panicked.
    pub fn panics(&self) -> u64 {
        self.inner.panics.load(Ordering::Relaxed)
    }

    /// Returns the RTP port pairs leased; zero when no call is active.
    pub fn ports_in_use(&self) -> usize {
        self.pool.in_use()
    }

    /// Returns the RTP port pairs of the configured range.
    pub fn port_capacity(&self) -> usize {
        self.pool.capacity()
    }

    /// Returns the RTP packets sent and received by calls that have ended.
    pub fn rtp_packets(&self) -> (u64, u64) {
        (
            self.inner.rtp_sent.load(Ordering::Relaxed),
            self.inner.rtp_received.load(Ordering::Relaxed),
        )
    }

    /// Returns the counters of the call records' writer: queue full,
    /// written, spooled and rejected entries.
    pub fn journal(&self) -> &journal::JournalStats {
        &self.journal
    }

    /// Returns the INVITEs the call layer answered with an error, by status.
    pub fn rejected(&self) -> BTreeMap<u16, u64> {
        self.inner
            .rejected
            .lock()
            .map(|rejected| rejected.clone())
            .unwrap_or_default()
    }

    pub(crate) fn add_rtp(&self, sent: u64, received: u64) {
        self.inner.rtp_sent.fetch_add(sent, Ordering::Relaxed);
        self.inner
            .rtp_received
            .fetch_add(received, Ordering::Relaxed);
    }

    pub(crate) fn count_rejected(&self, status: u16) {
        if let Ok(mut rejected) = self.inner.rejected.lock() {
            *rejected.entry(status).or_default() += 1;
        }
    }
}

/// State shared by every call task.
pub(crate) struct Shared {
    pub(crate) endpoint: Endpoint,
    pub(crate) flows: Flows,
    pub(crate) pool: PortPool,
    pub(crate) prompts: PromptLibrary,
    pub(crate) media_ip: IpAddr,
    pub(crate) recordings: PathBuf,
    pub(crate) trusted: Vec<IpAddr>,
    /// Most calls at once; more INVITEs get 503.
    pub(crate) max_calls: usize,
    pub(crate) inactivity: InactivityLimits,
    pub(crate) stats: Stats,
    /// How long a new call rings before it is answered.
    pub(crate) ring: std::time::Duration,
    pub(crate) clock: Clock,
    pub(crate) finished: tokio::sync::broadcast::Sender<CallRecord>,
    /// The database of the CRM and the call records; without one the
    /// built-in CRM is empty and records are only logged.
    pub(crate) store: Option<crate::store::Store>,
    /// The writer of call records to the store.
    pub(crate) journal: Option<journal::Journal<persist::JournalEntry>>,
    /// The HTTP client of `crm` hooks.
    pub(crate) hooks: crate::hooks::HookClient,
    /// Rules that tag a call when it ends.
    pub(crate) tagging: Vec<crate::config::TagRule>,
    /// How long after a call's end its follow-ups are retried
    /// (`outbox.expire`).
    pub(crate) outbox_expire: std::time::Duration,
    /// Becomes true when active calls must end with BYE.
    pub(crate) ending: tokio::sync::watch::Receiver<bool>,
    /// The registrar and feature codes; without them REGISTER gets 405.
    agents: Option<Agents>,
    calls: Mutex<HashMap<String, mpsc::UnboundedSender<DialogEvent>>>,
    /// The outbound legs, by Call-ID.
    pub(crate) legs: leg::LegRoutes,
    /// The queue service; `None` without a store, when every queue
    /// answers that no agent is logged in.
    pub(crate) queues: Option<crate::queue::service::QueueService>,
    /// The callback dialer, with a store.
    pub(crate) callbacks: Option<crate::queue::callbacks::Callbacks>,
    /// Agents' ring timeout and the state after a missed call.
    pub(crate) agents_config: crate::config::AgentsConfig,
    /// The destinations transfers and callbacks may reach.
    pub(crate) transfer: crate::config::TransferPolicy,
}

/// Returns the callback dialer's settings from `callbacks`, `trunks` and
/// `agents` of tok.yaml.
fn callback_settings(config: &RuntimeConfig) -> crate::queue::callbacks::CallbackSettings {
    let trunk = config
        .callbacks
        .trunk
        .as_ref()
        .and_then(|name| config.trunks.get(name))
        .cloned();
    crate::queue::callbacks::CallbackSettings {
        trunk,
        attempts: config.callbacks.attempts,
        retry: config.callbacks.retry,
        ring_timeout: config.callbacks.ring_timeout,
        agent_ring_timeout: config.agents.ring_timeout,
    }
}

/// A dialog event routed to a call's task.
#[derive(Debug)]
pub(crate) enum DialogEvent {
    /// A request inside the dialog (BYE, INFO, re-INVITE, UPDATE).
    Request(Box<Incoming>),
    /// The ACK of the 2xx.
    Ack(Request),
    /// The INVITE was cancelled before it was answered.
    Cancelled,
    /// No ACK came for the 2xx.
    AckTimeout,
}

/// A running flowd: the SIP endpoint and the call layer.
pub struct Server {
    endpoint: Endpoint,
    stats: Stats,
    ending: tokio::sync::watch::Sender<bool>,
    max_calls: usize,
    #[cfg(test)]
    shared: Arc<Shared>,
    finished: tokio::sync::broadcast::Sender<CallRecord>,
    legs: leg::LegContext,
    registrar: Option<Registrar>,
    queues: Option<crate::queue::service::QueueService>,
}

impl Server {
    /// Starts the endpoint on the configured listeners and the call layer
    /// on `flows`; prompts are read from `prompts`.
    pub async fn start(
        config: &RuntimeConfig,
        flows: Flows,
        prompts: PromptLibrary,
    ) -> Result<Server, String> {
        Server::start_with_clock(config, flows, prompts, Arc::new(jiff::Timestamp::now)).await
    }

    /// Starts like [`Server::start`], with flows reading the time from
    /// `clock`.
    pub async fn start_with_clock(
        config: &RuntimeConfig,
        flows: Flows,
        prompts: PromptLibrary,
        clock: Clock,
    ) -> Result<Server, String> {
        Server::start_with_store(config, flows, prompts, clock, None).await
    }

    /// Starts like [`Server::start_with_clock`], with `store` for CRM
    /// lookups and call records. With a store, the spool left by an
    /// earlier run is written first, then calls that earlier run left
    /// active are marked interrupted.
    pub async fn start_with_store(
        config: &RuntimeConfig,
        flows: Flows,
        prompts: PromptLibrary,
        clock: Clock,
        store: Option<crate::store::Store>,
    ) -> Result<Server, String> {
        Server::start_with_outbox(config, flows, prompts, clock, store, None).await
    }

    /// Starts like [`Server::start_with_store`], and wakes `outbox` each
    /// time a finished call's follow-ups are written to the store.
    pub async fn start_with_outbox(
        config: &RuntimeConfig,
        flows: Flows,
        prompts: PromptLibrary,
        clock: Clock,
        store: Option<crate::store::Store>,
        outbox: Option<crate::outbox::Outbox>,
    ) -> Result<Server, String> {
        Server::start_with_agents(config, flows, prompts, clock, store, outbox, None).await
    }

    /// Starts like [`Server::start_with_outbox`]; with `agents`, REGISTER
    /// reaches a registrar and INVITEs to feature codes are answered for
    /// authenticated agents instead of reaching flows.
    pub async fn start_with_agents(
        config: &RuntimeConfig,
        flows: Flows,
        prompts: PromptLibrary,
        clock: Clock,
        store: Option<crate::store::Store>,
        outbox: Option<crate::outbox::Outbox>,
        agents: Option<AgentHooks>,
    ) -> Result<Server, String> {
        // With a store, agents, queues and callbacks are served from it;
        // hooks given by the caller replace the store's credentials.
        let mut center = match &store {
            Some(store) => Some(center::Center::start(config, store).await),
            None => None,
        };
        let agents = agents.or_else(|| center.as_mut().and_then(center::Center::take_hooks));
        let agents = agents.map(Agents::start).transpose()?;
        let hooks = crate::hooks::HookClient::new()?;
        let journal_stats = journal::JournalStats::default();
        let journal = match &store {
            Some(store) => {
                let sink = persist::RecordSink {
                    store: store.clone(),
                    outbox,
                };
                let journal =
                    journal::Journal::start(&config.spool, sink, journal_stats.clone()).await?;
                let interrupted = store
                    .interrupt_active_calls(record::now_millis())
                    .await
                    .map_err(|error| {
                        format!("cannot mark the calls of the last run as interrupted: {error}")
                    })?;
                if !interrupted.is_empty() {
                    tracing::warn!(
                        calls = interrupted.len(),
                        call_ids = ?interrupted,
                        "calls cut by the last stop of flowd marked interrupted"
                    );
                    tag_interrupted(store, &interrupted, &config.tagging).await;
                }
                Some(journal)
            }
            None => None,
        };
        let pool = PortPool::new(config.rtp_ports.clone()).map_err(|error| {
            format!(
                "rtp.ports {}-{} cannot be used: {error}",
                config.rtp_ports.start(),
                config.rtp_ports.end()
            )
        })?;
        let endpoint_config = EndpointConfig {
            listen: config.listen.clone(),
            timers: Timers {
                t1: config.t1,
                ..Timers::default()
            },
            force_rport: config.force_rport,
            queue: EVENT_QUEUE,
        };
        let numbers: Arc<dyn NumberPlan> = match &agents {
            Some(agents) => Arc::new(AgentNumbers {
                flows: flows.clone(),
                features: agents.features.clone(),
            }),
            None => Arc::new(flows.clone()),
        };
        let (endpoint, events) =
            Endpoint::start(endpoint_config, numbers)
                .await
                .map_err(|error| {
                    format!(
                        "cannot start the SIP listeners {:?}: {error}",
                        config.listen
                    )
                })?;
        let stats = Stats {
            inner: Arc::new(Counters::default()),
            pool: pool.clone(),
            journal: journal_stats,
        };
        let (ending, ending_receiver) = tokio::sync::watch::channel(false);
        let leg_routes = leg::LegRoutes::default();
        let registrar = agents.as_ref().map(|agents| agents.registrar.clone());
        let queues = match center {
            Some(center) => Some(center.run_presence(registrar).await),
            None => None,
        };
        if let Some(queues) = &queues {
            queues.declare(flows.queues().into_values().collect());
        }
        let callbacks = match (&queues, &store) {
            (Some(queues), Some(store)) => {
                let context = leg::LegContext {
                    endpoint: endpoint.clone(),
                    pool: pool.clone(),
                    media_ip: config.advertise,
                    routes: leg_routes.clone(),
                };
                Some(
                    crate::queue::callbacks::Callbacks::start(
                        queues.clone(),
                        store.clone(),
                        context,
                        callback_settings(config),
                        flows.queues(),
                    )
                    .await,
                )
            }
            _ => None,
        };
        let max_calls = config.max_calls.unwrap_or_else(|| pool.capacity());
        let (finished, _) = tokio::sync::broadcast::channel(FINISHED_QUEUE);
        let shared = Arc::new(Shared {
            endpoint: endpoint.clone(),
            flows,
            pool,
            prompts,
            media_ip: config.advertise,
            recordings: config.recordings.clone(),
            trusted: config.trusted.clone(),
            max_calls,
            inactivity: InactivityLimits {
                active: config.rtp_timeout,
                hold: config.rtp_hold_timeout,
            },
            stats: stats.clone(),
            ring: config.ring,
            clock,
            finished: finished.clone(),
            store,
            journal: journal.clone(),
            hooks,
            tagging: config.tagging.clone(),
            outbox_expire: config.outbox.expire,
            ending: ending_receiver,
            agents: agents.clone(),
            calls: Mutex::new(HashMap::new()),
            legs: leg_routes,
            queues: queues.clone(),
            callbacks: callbacks.clone(),
            agents_config: config.agents.clone(),
            transfer: config.transfer.clone(),
        });
        #[cfg(test)]
        let shared_for_tests = shared.clone();
        let legs = shared.leg_context();
        tokio::spawn(dispatch(shared, events));
        Ok(Server {
            endpoint,
            stats,
            ending,
            max_calls,
            #[cfg(test)]
            shared: shared_for_tests,
            finished,
            legs,
            registrar: agents.map(|agents| agents.registrar),
            queues,
        })
    }

    /// Returns the queue service, which runs when the server has a store.
    pub fn queues(&self) -> Option<&crate::queue::service::QueueService> {
        self.queues.as_ref()
    }

    /// Returns the registrar, when the server was started with agents.
    pub fn registrar(&self) -> Option<&Registrar> {
        self.registrar.as_ref()
    }

    /// Returns the most calls served at once.
    pub fn max_calls(&self) -> usize {
        self.max_calls
    }

    /// Shuts down gracefully: new INVITEs get 503, active calls may run
    /// for `grace`, then the rest are ended with BYE and the endpoint stops.
    pub async fn shut_down(&self, grace: std::time::Duration) {
        self.endpoint.set_accepting(false);
        let deadline = tokio::time::Instant::now() + grace;
        while self.stats.active_calls() != 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let remaining = self.stats.active_calls();
        if remaining != 0 {
            tracing::info!(
                active_calls = remaining,
                "grace period over; ending calls with BYE"
            );
            let _ = self.ending.send(true);
            // Each call sends BYE and waits at most timer F for its answer.
            while self.stats.active_calls() != 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        self.endpoint.stop();
    }

    /// Returns what outbound legs need to dial from this server.
    pub fn leg_context(&self) -> leg::LegContext {
        self.legs.clone()
    }

    /// Returns the SIP endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Returns the call layer's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Subscribes to the records of calls that end from now on. A receiver
    /// more than 256 records behind loses the oldest.
    pub fn finished_calls(&self) -> tokio::sync::broadcast::Receiver<CallRecord> {
        self.finished.subscribe()
    }
}

/// Routes every event of the SIP core to its call.
async fn dispatch(shared: Arc<Shared>, mut events: mpsc::Receiver<UasEvent>) {
    while let Some(event) = events.recv().await {
        match event {
            UasEvent::Request(incoming) => {
                let call_id = incoming
                    .request
                    .headers
                    .get("Call-ID")
                    .unwrap_or_default()
                    .to_string();
                // The same test as the SIP core's: white space may surround
                // the `;` and `=` of the tag parameter.
                let in_dialog = incoming
                    .request
                    .headers
                    .get("To")
                    .and_then(|to| crate::sip::header::param(to, "tag"))
                    .is_some();
                // Requests of an outbound leg's dialog go to the leg.
                let incoming = match in_dialog {
                    true => match shared.legs.route(&call_id, Box::new(incoming)) {
                        Ok(()) => continue,
                        Err(incoming) => *incoming,
                    },
                    false => incoming,
                };
                // REGISTER and feature-code INVITEs go to the agents'
                // handlers, never to a flow.
                let Some(incoming) = agents::take_request(&shared, in_dialog, incoming) else {
                    continue;
                };
                if !in_dialog && incoming.request.method == "INVITE" {
                    start_call(&shared, call_id, incoming);
                } else if let Err(DialogEvent::Request(incoming)) =
                    shared.route(&call_id, DialogEvent::Request(Box::new(incoming)))
                {
                    // A BYE for a call whose task has stopped reading its
                    // requests ends that call, so it gets 200.
                    let ending = incoming.request.method == "BYE" && shared.is_registered(&call_id);
                    let status = if ending { 200 } else { 481 };
                    let response = incoming.request.response(status, Some(&incoming.to_tag));
                    shared.endpoint.respond(&incoming.key, response);
                }
            }
            UasEvent::Ack(request) => {
                let call_id = request
                    .headers
                    .get("Call-ID")
                    .unwrap_or_default()
                    .to_string();
                let _ = shared.route(&call_id, DialogEvent::Ack(request));
            }
            UasEvent::Cancelled { call_id, .. } => {
                let _ = shared.route(&call_id, DialogEvent::Cancelled);
            }
            UasEvent::AckTimeout { call_id, .. } => {
                let _ = shared.route(&call_id, DialogEvent::AckTimeout);
            }
        }
        tracing::debug!(
            active_calls = shared.stats.active_calls(),
            ports_in_use = shared.stats.ports_in_use(),
            "call layer counts"
        );
    }
}

impl Shared {
    /// Returns what outbound legs need to dial from this server.
    /// Reports to the queue service how ringing an agent ended.
    pub(crate) fn queues_offer_result(
        &self,
        caller: crate::queue::CallerId,
        agent: &str,
        result: crate::queue::OfferResult,
    ) {
        if let Some(queues) = &self.queues {
            queues.offer_result(caller, agent, result);
        }
    }

    pub(crate) fn leg_context(&self) -> leg::LegContext {
        leg::LegContext {
            endpoint: self.endpoint.clone(),
            pool: self.pool.clone(),
            media_ip: self.media_ip,
            routes: self.legs.clone(),
        }
    }

    /// Returns true while a call with `call_id` has a task, even one that
    /// no longer reads its requests.
    fn is_registered(&self, call_id: &str) -> bool {
        self.calls
            .lock()
            .is_ok_and(|calls| calls.contains_key(call_id))
    }

    /// Sends `event` to the call with `call_id`; gives it back when no such
    /// call runs.
    fn route(&self, call_id: &str, event: DialogEvent) -> Result<(), DialogEvent> {
        let sender = self
            .calls
            .lock()
            .ok()
            .and_then(|calls| calls.get(call_id).cloned());
        match sender {
            Some(sender) => sender.send(event).map_err(|error| error.0),
            None => Err(event),
        }
    }
}

/// Registers a call and spawns its task under [`supervise`]. An INVITE
/// beyond `sip.max_calls` gets 503 with Retry-After.
fn start_call(shared: &Arc<Shared>, call_id: String, incoming: Incoming) {
    if shared.stats.active_calls() >= shared.max_calls {
        tracing::warn!(
            %call_id,
            max_calls = shared.max_calls,
            "too many calls; INVITE rejected with 503"
        );
        shared.stats.count_rejected(503);
        let mut response = incoming.request.response(503, Some(&incoming.to_tag));
        response.headers.push("Retry-After", RETRY_AFTER_SECONDS);
        shared.endpoint.respond(&incoming.key, response);
        return;
    }
    let Some(receiver) = shared.register(&call_id) else {
        // A second INVITE with a Call-ID in use but no To tag: the call
        // already exists, so this one is refused.
        let response = incoming.request.response(482, Some(&incoming.to_tag));
        shared.endpoint.respond(&incoming.key, response);
        return;
    };
    let answered = Arc::new(Mutex::new(None));
    let server_error = incoming.request.response(500, Some(&incoming.to_tag));
    let unanswered = Some((incoming.key.clone(), server_error));
    let body = driver::run(shared.clone(), incoming, receiver, answered.clone());
    supervise(shared, call_id, answered, unanswered, body);
}

impl Shared {
    /// Adds a call to the routing table and the counts; `None` when a call
    /// with this Call-ID runs.
    fn register(&self, call_id: &str) -> Option<mpsc::UnboundedReceiver<DialogEvent>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut calls = self.calls.lock().ok()?;
        if calls.contains_key(call_id) {
            return None;
        }
        calls.insert(call_id.to_string(), sender);
        self.stats.inner.active.fetch_add(1, Ordering::Relaxed);
        self.stats.inner.started.fetch_add(1, Ordering::Relaxed);
        Some(receiver)
    }
}

/// Spawns a registered call's task `body` in a span with the call-id, and
/// a supervisor that logs a panic of the task with the call-id. After a
/// panic it sends BYE when `answered` contains the dialog, else the 500 of
/// `unanswered` to the INVITE, which the SIP core drops when the INVITE
/// already has its final response. A guard removes the call and its count
/// however the task ends.
fn supervise(
    shared: &Arc<Shared>,
    call_id: String,
    answered: Arc<Mutex<Option<crate::sip::uas::Dialog>>>,
    unanswered: Option<(crate::sip::transaction::Key, crate::sip::message::Response)>,
    body: impl Future<Output = ()> + Send + 'static,
) {
    let guard = CallGuard {
        shared: shared.clone(),
        call_id: call_id.clone(),
    };
    let span = tracing::info_span!("call", %call_id);
    let task = tokio::spawn(tracing::Instrument::instrument(body, span.clone()));
    tokio::spawn(async move {
        let guard = guard;
        if let Err(error) = task.await
            && error.is_panic()
        {
            guard
                .shared
                .stats
                .inner
                .panics
                .fetch_add(1, Ordering::Relaxed);
            span.in_scope(|| {
                tracing::error!(call_id = %guard.call_id, "the call's task panicked; other calls go on");
            });
            let dialog = answered.lock().ok().and_then(|mut slot| slot.take());
            if let Some(mut dialog) = dialog {
                let bye = dialog.request("BYE");
                let result = guard.shared.endpoint.send_request(bye, dialog.peer).await;
                span.in_scope(|| {
                    tracing::info!(answered = result.is_ok(), "BYE sent after the panic")
                });
            } else if let Some((key, response)) = unanswered {
                guard.shared.endpoint.respond(&key, response);
                span.in_scope(|| tracing::info!("500 sent to the INVITE after the panic"));
            }
        }
    });
}

/// Holds one count of answered calls.
pub(crate) struct AnsweredGuard {
    counters: Arc<Counters>,
}

impl Drop for AnsweredGuard {
    fn drop(&mut self) {
        self.counters.answered.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Removes a call from the routing table and the active count on drop.
struct CallGuard {
    shared: Arc<Shared>,
    call_id: String,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.shared.calls.lock() {
            calls.remove(&self.call_id);
        }
        self.shared
            .stats
            .inner
            .active
            .fetch_sub(1, Ordering::Relaxed);
        // After a normal end the media task has stopped and freed its
        // ports; after a panic it stops at its next wake-up.
        tracing::info!(
            call_id = %self.call_id,
            active_calls = self.shared.stats.active_calls(),
            ports_in_use = self.shared.stats.ports_in_use(),
            "call removed"
        );
    }
}
