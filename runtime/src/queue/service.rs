//! The queue service: one task that owns the routing [`Engine`], takes
//! callers from call tasks, agents' presence from the registrar, the API
//! and feature codes, and sends each offer to the task that rings the
//! agents. Call tasks keep their own media and dialogs; the service only
//! decides.

use super::engine::Engine;
use super::{
    AgentLive, AgentSpec, AgentState, CallerId, CallerSpec, EnqueueError, Leave, Offer,
    OfferResult, QueueLive,
};
use crate::sip::transport::Source;
use crate::store::Store;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The address and route of one agent's phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentTarget {
    /// The agent's id.
    pub agent: String,
    /// The Request-URI: a registered Contact or the agent's fixed URI.
    pub uri: String,
    /// The address a registered phone's REGISTER came from, which reaches
    /// it through NAT; `None` sends to the URI's host and port.
    pub destination: Option<Source>,
}

/// Finds where an agent can be rung: its registrations, else its fixed URI.
pub trait Locator: Send + Sync {
    /// Returns the targets of `agent`, empty when it cannot be reached.
    fn locate(&self, agent: &str) -> Vec<AgentTarget>;

    /// Sets or removes an agent's fixed URI.
    fn set_fixed(&self, agent: &str, uri: Option<String>);
}

/// A locator for agents that have only fixed URIs.
pub struct FixedUris(pub std::sync::RwLock<HashMap<String, String>>);

impl Locator for FixedUris {
    fn locate(&self, agent: &str) -> Vec<AgentTarget> {
        let uris = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        uris.get(agent)
            .map(|uri| AgentTarget {
                agent: agent.to_string(),
                uri: uri.clone(),
                destination: None,
            })
            .into_iter()
            .collect()
    }

    fn set_fixed(&self, agent: &str, uri: Option<String>) {
        let mut uris = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match uri {
            Some(uri) => uris.insert(agent.to_string(), uri),
            None => uris.remove(agent),
        };
    }
}

/// An offer to the task of a waiting caller: ring these agents.
#[derive(Debug)]
pub struct Ring {
    /// The agents, several only for `ring_all`; an agent that could not be
    /// located is already reported as failed and left out.
    pub targets: Vec<AgentTarget>,
}

/// A caller's place in a queue, held by its call task. Dropping it without
/// [`Waiting::leave`] removes the caller as abandoned, so a call task that
/// ends in any way never leaves a ghost in the queue.
pub struct Waiting {
    /// The caller's id in the engine.
    pub caller: CallerId,
    /// The caller's priority in the queue.
    pub priority: i64,
    /// The offers for this caller, in order.
    pub offers: mpsc::UnboundedReceiver<Ring>,
    service: QueueService,
    left: bool,
}

impl Waiting {
    /// Takes the caller out of the queue for `why`.
    pub fn leave(&mut self, why: Leave) {
        if !self.left {
            self.left = true;
            self.service.send(Command::Leave {
                caller: self.caller,
                why,
            });
        }
    }

    /// Marks the caller as gone without telling the engine, after an agent
    /// answered (the answer already took it out of the queue).
    pub fn answered(&mut self) {
        self.left = true;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.leave(Leave::Abandoned);
    }
}

/// The live state of every queue and agent.
#[derive(Clone, Debug, Serialize)]
pub struct LiveState {
    /// Per queue.
    pub queues: Vec<QueueLive>,
    /// Per agent.
    pub agents: Vec<AgentLive>,
}

/// The rejection of an agent state change.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No such agent.
    #[error("agent `{0}` not found")]
    UnknownAgent(String),
    /// The service has stopped.
    #[error("the queue service has stopped")]
    Stopped,
}

enum Command {
    Enqueue {
        queue: Box<flowc::bytecode::Queue>,
        caller: CallerSpec,
        offers: mpsc::UnboundedSender<Ring>,
        reply: oneshot::Sender<Result<(), EnqueueError>>,
    },
    Leave {
        caller: CallerId,
        why: Leave,
    },
    OfferResult {
        caller: CallerId,
        agent: String,
        result: OfferResult,
    },
    CallEnded {
        agent: String,
        talk_ms: u64,
    },
    Position {
        caller: CallerId,
        reply: oneshot::Sender<(Option<usize>, Option<u64>)>,
    },
    SetState {
        agent: String,
        state: AgentState,
        reply: Option<oneshot::Sender<Result<AgentState, StateError>>>,
    },
    LogIn(String),
    Declare(Vec<flowc::bytecode::Queue>),
    UpsertAgent(AgentSpec),
    RemoveAgent(String),
    Live(oneshot::Sender<LiveState>),
}

/// The handle of the queue service; cheap to clone.
#[derive(Clone)]
pub struct QueueService {
    commands: mpsc::UnboundedSender<Command>,
    locator: Arc<dyn Locator>,
    next_caller: Arc<AtomicU64>,
    epoch: Arc<Epoch>,
}

/// The engine's clock: wall-clock milliseconds at the service's start,
/// advanced by a monotonic clock, so stored times (a callback's original
/// place) and engine times compare, and a wall-clock step never reorders
/// callers.
struct Epoch {
    wall_ms: u64,
    start: Instant,
}

impl Epoch {
    fn now_ms(&self) -> u64 {
        self.wall_ms + self.start.elapsed().as_millis() as u64
    }
}

impl QueueService {
    /// Starts the service task with the agents of `store` (when given);
    /// `locator` finds where to ring them.
    pub async fn start(
        store: Option<Store>,
        locator: Arc<dyn Locator>,
        default_handling: Duration,
        no_answer: AgentState,
    ) -> QueueService {
        let (commands, receiver) = mpsc::unbounded_channel();
        let epoch = Arc::new(Epoch {
            wall_ms: u64::try_from(crate::call::record::now_millis()).unwrap_or(0),
            start: Instant::now(),
        });
        let service = QueueService {
            commands,
            locator: locator.clone(),
            next_caller: Arc::new(AtomicU64::new(1)),
            epoch: epoch.clone(),
        };
        let history = store.clone().map(StateWriter::start);
        let mut engine = Engine::new(fastrand::u64(..));
        engine.set_default_handling_ms(default_handling.as_millis() as u64);
        if let Some(store) = &store {
            load_agents(store, &mut engine, epoch.now_ms()).await;
            restore_states(store, &mut engine, locator.as_ref(), epoch.now_ms()).await;
        }
        let actor = Actor {
            engine,
            epoch,
            locator,
            declared: HashMap::new(),
            callers: HashMap::new(),
            history,
            no_answer,
        };
        tokio::spawn(actor.run(receiver));
        service
    }

    /// Returns the engine's current time in milliseconds since the Unix
    /// epoch.
    pub fn now_ms(&self) -> u64 {
        self.epoch.now_ms()
    }

    /// Returns a new caller id.
    pub fn caller_id(&self) -> CallerId {
        self.next_caller.fetch_add(1, Ordering::Relaxed)
    }

    /// Puts a caller in `queue` (declared by a flow; the first declaration
    /// of a name is used until a flow with another one enqueues).
    pub async fn enqueue(
        &self,
        queue: &flowc::bytecode::Queue,
        caller: CallerSpec,
    ) -> Result<Waiting, EnqueueError> {
        let (offers_tx, offers) = mpsc::unbounded_channel();
        let (reply, answer) = oneshot::channel();
        let id = caller.id;
        let priority = caller.priority;
        self.send(Command::Enqueue {
            queue: Box::new(queue.clone()),
            caller,
            offers: offers_tx,
            reply,
        });
        answer.await.unwrap_or(Err(EnqueueError::NoAgents))?;
        Ok(Waiting {
            caller: id,
            priority,
            offers,
            service: self.clone(),
            left: false,
        })
    }

    /// Reports how ringing `agent` for `caller` ended.
    pub fn offer_result(&self, caller: CallerId, agent: &str, result: OfferResult) {
        self.send(Command::OfferResult {
            caller,
            agent: agent.to_string(),
            result,
        });
    }

    /// Reports the end of an agent's call; its wrap-up starts.
    pub fn call_ended(&self, agent: &str, talk_ms: u64) {
        self.send(Command::CallEnded {
            agent: agent.to_string(),
            talk_ms,
        });
    }

    /// Returns a caller's position (1-based) and estimated wait.
    pub async fn position(&self, caller: CallerId) -> (Option<usize>, Option<u64>) {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Position { caller, reply });
        answer.await.unwrap_or((None, None))
    }

    /// Changes an agent's state; returns the previous one.
    pub async fn set_agent_state(
        &self,
        agent: &str,
        state: AgentState,
    ) -> Result<AgentState, StateError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SetState {
            agent: agent.to_string(),
            state,
            reply: Some(reply),
        });
        answer.await.unwrap_or(Err(StateError::Stopped))
    }

    /// Changes an agent's state without waiting for the result.
    pub fn set_agent_state_later(&self, agent: &str, state: AgentState) {
        self.send(Command::SetState {
            agent: agent.to_string(),
            state,
            reply: None,
        });
    }

    /// Sets the queues the loaded flows declare, so their live state is
    /// served before the first caller enters them.
    pub fn declare(&self, queues: Vec<flowc::bytecode::Queue>) {
        self.send(Command::Declare(queues));
    }

    /// Returns true when the agent has a registered phone or a fixed URI.
    pub fn reachable(&self, agent: &str) -> bool {
        !self.locator.locate(agent).is_empty()
    }

    /// Makes a logged-out agent ready; an agent already logged in keeps
    /// its state, so a phone's re-registration never ends a pause.
    pub fn log_in(&self, agent: &str) {
        self.send(Command::LogIn(agent.to_string()));
    }

    /// Adds or updates an agent's skills and languages.
    pub fn upsert_agent(&self, spec: AgentSpec) {
        self.send(Command::UpsertAgent(spec));
    }

    /// Removes an agent.
    pub fn remove_agent(&self, agent: &str) {
        self.locator.set_fixed(agent, None);
        self.send(Command::RemoveAgent(agent.to_string()));
    }

    /// Applies an agent written to the store: new skills, languages and
    /// fixed URI at once; a disabled agent is removed from routing.
    pub fn agent_saved(&self, agent: &crate::store::AgentRow) {
        if !agent.enabled {
            self.remove_agent(&agent.id);
            return;
        }
        self.locator.set_fixed(&agent.id, agent.uri.clone());
        self.upsert_agent(agent_spec(agent));
    }

    /// Returns the live state of every queue and agent.
    pub async fn live(&self) -> Option<LiveState> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Live(reply));
        answer.await.ok()
    }

    fn send(&self, command: Command) {
        if self.commands.send(command).is_err() {
            tracing::warn!("the queue service has stopped; command dropped");
        }
    }
}

/// Loads the enabled agents of the store into the engine, logged out.
async fn load_agents(store: &Store, engine: &mut Engine, now_ms: u64) {
    match store.agents().await {
        Ok(agents) => {
            let count = agents.len();
            for agent in agents.into_iter().filter(|agent| agent.enabled) {
                engine.upsert_agent(agent_spec(&agent), now_ms);
            }
            tracing::info!(agents = count, "agents loaded");
        }
        Err(error) => tracing::error!(%error, "agents could not be loaded; none can take calls"),
    }
}

/// Logs agents with a fixed URI back in as they were when the last run
/// stopped: paused agents stay paused, agents ringing, on a call or in
/// wrap-up are ready. Agents with phones come back with their stored
/// registrations instead.
async fn restore_states(store: &Store, engine: &mut Engine, locator: &dyn Locator, now_ms: u64) {
    let states = match store.latest_agent_states().await {
        Ok(states) => states,
        Err(error) => {
            tracing::error!(%error, "agent states of the last run could not be read; all start logged out");
            return;
        }
    };
    for row in states {
        let state = match row.state.as_str() {
            "logged_out" => continue,
            "paused" => AgentState::Paused(row.reason.clone().unwrap_or_default()),
            _ => AgentState::Ready,
        };
        if locator.locate(&row.agent_id).is_empty() {
            continue;
        }
        if engine
            .set_agent_state(&row.agent_id, state.clone(), now_ms)
            .is_ok()
        {
            tracing::info!(agent = %row.agent_id, ?state, "agent state of the last run restored");
        }
    }
}

/// Returns the routing view of a stored agent.
pub fn agent_spec(agent: &crate::store::AgentRow) -> AgentSpec {
    AgentSpec {
        id: agent.id.clone(),
        skills: agent
            .skills
            .iter()
            .map(|(skill, level)| (skill.clone(), *level))
            .collect(),
        languages: agent.languages.clone(),
    }
}

struct Actor {
    engine: Engine,
    epoch: Arc<Epoch>,
    locator: Arc<dyn Locator>,
    /// The declaration each queue was last set with.
    declared: HashMap<String, flowc::bytecode::Queue>,
    /// The offer channel of every waiting caller.
    callers: HashMap<CallerId, mpsc::UnboundedSender<Ring>>,
    history: Option<StateWriter>,
    /// The state of an agent who let an offered call ring out
    /// (`agents.no_answer_state`).
    no_answer: AgentState,
}

impl Actor {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        tracing::info!("queue service started");
        let mut midnight = next_midnight();
        loop {
            let deadline = self.engine.next_deadline().map(|at| {
                let wait = at.saturating_sub(self.epoch.now_ms());
                Instant::now() + Duration::from_millis(wait)
            });
            let sleep = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                () = sleep => {}
                () = tokio::time::sleep_until(midnight) => {
                    tracing::info!("new day: queue counters reset");
                    self.engine.reset_day(self.epoch.now_ms());
                    midnight = next_midnight();
                }
            }
            // Commands that arrived together are handled before one dispatch.
            while let Ok(command) = commands.try_recv() {
                self.handle(command);
            }
            let now = self.epoch.now_ms();
            let offers = self.engine.dispatch(now);
            for offer in offers {
                self.send_offer(offer, now);
            }
            self.write_state_changes();
        }
        tracing::info!("queue service stopped");
    }

    fn handle(&mut self, command: Command) {
        let now = self.epoch.now_ms();
        match command {
            Command::Enqueue {
                queue,
                caller,
                offers,
                reply,
            } => {
                self.declare(&queue);
                let id = caller.id;
                let result = self.engine.enqueue(&queue.name, caller, now);
                if result.is_ok() {
                    self.callers.insert(id, offers);
                }
                let _ = reply.send(result);
            }
            Command::Leave { caller, why } => {
                self.callers.remove(&caller);
                self.engine.remove_caller(caller, now, why);
            }
            Command::OfferResult {
                caller,
                agent,
                result,
            } => {
                if matches!(result, OfferResult::Answered) {
                    self.callers.remove(&caller);
                }
                // The engine pauses an agent who did not answer; tok.yaml
                // may keep them ready (then this caller skips them for a
                // while, as after busy), log them out or give another reason.
                let result = match (result, &self.no_answer) {
                    (OfferResult::NoAnswer, AgentState::Ready) => OfferResult::Busy,
                    (result, _) => result,
                };
                self.engine.offer_result(caller, &agent, result, now);
                let engine_pause = AgentState::Paused(String::from(super::NO_ANSWER_REASON));
                if matches!(result, OfferResult::NoAnswer) && self.no_answer != engine_pause {
                    let _ = self
                        .engine
                        .set_agent_state(&agent, self.no_answer.clone(), now);
                }
            }
            Command::CallEnded { agent, talk_ms } => {
                self.engine.call_ended(&agent, talk_ms, now);
            }
            Command::Position { caller, reply } => {
                let position = self.engine.position(caller);
                let wait = self.engine.estimated_wait_ms(caller, now);
                let _ = reply.send((position, wait));
            }
            Command::SetState {
                agent,
                state,
                reply,
            } => {
                let result = self
                    .engine
                    .set_agent_state(&agent, state, now)
                    .map_err(|_| StateError::UnknownAgent(agent.clone()));
                if let Err(error) = &result {
                    tracing::info!(%error, "agent state not changed");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::Declare(queues) => {
                for queue in &queues {
                    self.declare(queue);
                }
            }
            Command::LogIn(agent) => {
                let logged_out = matches!(
                    self.engine.agent_state(&agent),
                    Some((AgentState::LoggedOut, _))
                );
                if logged_out {
                    let _ = self.engine.set_agent_state(&agent, AgentState::Ready, now);
                }
            }
            Command::UpsertAgent(spec) => {
                self.engine.upsert_agent(spec, now);
            }
            Command::RemoveAgent(agent) => {
                self.engine.remove_agent(&agent, now);
            }
            Command::Live(reply) => {
                let _ = reply.send(LiveState {
                    queues: self.engine.queues_live(now),
                    agents: self.engine.agents_live(now),
                });
            }
        }
    }

    /// Sends an offer to its caller's task. Agents that cannot be located
    /// are reported failed at once; a caller whose task is gone is removed.
    fn send_offer(&mut self, offer: Offer, now: u64) {
        let mut targets = Vec::new();
        for agent in &offer.agents {
            let found = self.locator.locate(agent);
            if found.is_empty() {
                tracing::warn!(%agent, queue = %offer.queue, "agent has no registration or fixed URI; skipped");
                self.engine
                    .offer_result(offer.caller, agent, OfferResult::Failed, now);
            }
            targets.extend(found);
        }
        let Some(channel) = self.callers.get(&offer.caller) else {
            tracing::warn!(
                caller = offer.caller,
                "offer for a caller no task waits for"
            );
            for target in &targets {
                self.engine
                    .offer_result(offer.caller, &target.agent, OfferResult::Failed, now);
            }
            self.engine
                .remove_caller(offer.caller, now, Leave::Abandoned);
            return;
        };
        if targets.is_empty() {
            return;
        }
        tracing::debug!(caller = offer.caller, queue = %offer.queue, agents = ?offer.agents, "offer sent");
        if channel.send(Ring { targets }).is_err() {
            self.callers.remove(&offer.caller);
            for agent in &offer.agents {
                self.engine
                    .offer_result(offer.caller, agent, OfferResult::Failed, now);
            }
            self.engine
                .remove_caller(offer.caller, now, Leave::Abandoned);
        }
    }

    /// Sets a queue's declaration. Re-setting a queue re-attaches its
    /// agents, so it is done only when the declaration differs from the
    /// last one.
    fn declare(&mut self, queue: &flowc::bytecode::Queue) {
        if self.declared.get(&queue.name) != Some(queue) {
            self.engine.set_queue(queue);
            self.declared.insert(queue.name.clone(), queue.clone());
        }
    }

    /// Writes the state changes of the engine to the agents' history.
    fn write_state_changes(&mut self) {
        for (agent, state, since) in self.engine.take_state_changes() {
            if let Some(history) = &self.history {
                history.write(&agent, &state, since);
            }
        }
    }
}

/// Returns the instant of the next local midnight, in the time zone of the
/// machine (`TZ`), when the counters of "today" start again.
fn next_midnight() -> Instant {
    let now = jiff::ZonedDateTime::now();
    let wait = now
        .tomorrow()
        .and_then(|tomorrow| tomorrow.start_of_day())
        .map(|midnight| now.duration_until(&midnight))
        .ok()
        .and_then(|until| Duration::try_from(until).ok())
        .unwrap_or(Duration::from_secs(24 * 3600));
    Instant::now() + wait
}

/// Writes agent state changes to the store in order, in a task of its own
/// so a slow database never holds up routing.
struct StateWriter {
    changes: mpsc::UnboundedSender<(String, AgentState, u64)>,
}

impl StateWriter {
    fn start(store: Store) -> StateWriter {
        let (changes, mut receiver) = mpsc::unbounded_channel::<(String, AgentState, u64)>();
        tokio::spawn(async move {
            while let Some((agent, state, at_ms)) = receiver.recv().await {
                let (name, reason) = state_row(&state);
                let at = i64::try_from(at_ms).unwrap_or(i64::MAX);
                let mut delay = Duration::from_millis(200);
                // TODO: write state changes through the journal so an outage
                // longer than the retries below loses none.
                for attempt in 1..=5 {
                    match store
                        .record_agent_state(&agent, name, reason, at, None)
                        .await
                    {
                        Ok(()) => break,
                        Err(error) => {
                            tracing::warn!(%agent, state = name, attempt, %error, "agent state not stored; retrying");
                            tokio::time::sleep(delay).await;
                            delay *= 2;
                        }
                    }
                }
            }
        });
        StateWriter { changes }
    }

    fn write(&self, agent: &str, state: &AgentState, at_ms: u64) {
        let _ = self.changes.send((agent.to_string(), state.clone(), at_ms));
    }
}

/// Returns the stored name and reason of a state.
pub fn state_row(state: &AgentState) -> (&'static str, Option<&str>) {
    match state {
        AgentState::LoggedOut => ("logged_out", None),
        AgentState::Ready => ("ready", None),
        AgentState::Ringing => ("ringing", None),
        AgentState::OnCall => ("on_call", None),
        AgentState::WrapUp => ("wrap_up", None),
        AgentState::Paused(reason) => ("paused", Some(reason.as_str())),
    }
}
