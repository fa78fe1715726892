//! The queue engine: which waiting caller is offered to which agent.
//!
//! `Engine` is synchronous and does no I/O. It reads no clock: every method
//! that depends on time takes `now_ms`, a monotonic millisecond counter the
//! host chooses. The host rings the agents of each `Offer` that `dispatch`
//! returns, reports the outcome with `Engine::offer_result`, and calls
//! `dispatch` again after each event and at `Engine::next_deadline`.
//! docs/queues.md describes the routing rules and the estimated wait.

pub mod callbacks;
mod engine;
pub mod service;
#[cfg(test)]
mod tests;

pub use engine::{DEFAULT_HANDLING_MS, Engine, SKIP_AFTER_BUSY_MS};

use serde::Serialize;
use std::collections::HashMap;

/// A caller's id, chosen by the host and unique among waiting callers.
pub type CallerId = u64;

/// An agent's routing profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentSpec {
    /// The agent's id.
    pub id: String,
    /// Skill levels by skill name.
    pub skills: HashMap<String, u32>,
    /// Languages the agent speaks, compared without case.
    pub languages: Vec<String>,
}

/// An agent's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Not working; never offered a call.
    LoggedOut,
    /// Waiting for a call.
    Ready,
    /// Offered a call; the phone rings.
    Ringing,
    /// Talking to a caller.
    OnCall,
    /// After-call work; the engine returns the agent to `Ready` when the
    /// queue's wrap-up time ends.
    WrapUp,
    /// Logged in but not taking calls, with the reason.
    Paused(String),
}

impl AgentState {
    /// Index into per-state counters, in the order of the variants.
    fn index(&self) -> usize {
        match self {
            AgentState::LoggedOut => 0,
            AgentState::Ready => 1,
            AgentState::Ringing => 2,
            AgentState::OnCall => 3,
            AgentState::WrapUp => 4,
            AgentState::Paused(_) => 5,
        }
    }
}

/// Number of `AgentState` variants.
const STATES: usize = 6;

/// A caller entering a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerSpec {
    /// The caller's id.
    pub id: CallerId,
    /// Higher is served first.
    pub priority: i64,
    /// The call's language, compared without case.
    pub language: String,
    /// The contact's last agent, offered the call first during the queue's
    /// sticky time.
    pub sticky_agent: Option<String>,
    /// When the caller entered the queue: usually now, earlier for a
    /// restored callback so that it keeps its place.
    pub entered_at_ms: u64,
}

/// The reason a caller could not enter a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// No queue of that name was set with `Engine::set_queue`.
    #[error("unknown queue")]
    UnknownQueue,
    /// The queue already contains its `max callers`.
    #[error("queue is full")]
    Full,
    /// No logged-in agent could serve the caller, even with every relax
    /// step applied.
    #[error("no logged-in agent can serve the caller")]
    NoAgents,
}

/// The error of an agent id that `Engine::upsert_agent` never added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent {0:?}")]
pub struct UnknownAgent(pub String);

/// The reason a caller left its queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leave {
    /// The caller hung up; counts as abandoned.
    Abandoned,
    /// The caller waited the queue's `max wait` and overflowed.
    MaxWait,
    /// The caller took a callback; not counted until the callback re-enters.
    Callback,
    /// The caller was answered by this agent outside `Engine::offer_result`,
    /// for example a callback the agent took. It counts as answered and
    /// puts the agent on the call.
    Answered(String),
    /// The caller moved to another queue; not counted.
    Moved,
}

/// Agents to ring for a caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Offer {
    /// The caller.
    pub caller: CallerId,
    /// The caller's queue.
    pub queue: String,
    /// The agents to ring: several only for `ring_all`.
    pub agents: Vec<String>,
}

/// The outcome of ringing one agent of an offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferResult {
    /// The agent answered and takes the caller.
    Answered,
    /// The ring timeout passed; the agent is paused with "no answer".
    NoAnswer,
    /// The agent's phone was busy.
    Busy,
    /// Ringing failed (error response, unreachable phone).
    Failed,
}

/// Agent counts by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StateCounts {
    /// Logged out.
    pub logged_out: u32,
    /// Ready.
    pub ready: u32,
    /// Ringing.
    pub ringing: u32,
    /// On a call.
    pub on_call: u32,
    /// In wrap-up.
    pub wrap_up: u32,
    /// Paused, for any reason.
    pub paused: u32,
}

impl StateCounts {
    fn from_array(counts: &[u32; STATES]) -> StateCounts {
        let [logged_out, ready, ringing, on_call, wrap_up, paused] = *counts;
        StateCounts {
            logged_out,
            ready,
            ringing,
            on_call,
            wrap_up,
            paused,
        }
    }
}

/// Live figures of one queue; counters run since the last
/// `Engine::reset_day`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueLive {
    /// The queue's name.
    pub name: String,
    /// Callers in the queue, those being offered included.
    pub waiting: usize,
    /// Wait of the caller who entered first, 0 when nobody waits.
    pub longest_wait_ms: u64,
    /// Estimated wait of a caller entering now; `None` when no agent is
    /// staffed for the queue's full needs.
    pub estimated_wait_ms: Option<u64>,
    /// States of the agents who can serve the queue with every relax step
    /// applied.
    pub agents: StateCounts,
    /// Callers answered.
    pub answered: u64,
    /// Callers who hung up while waiting.
    pub abandoned: u64,
    /// Callers who left after the queue's `max wait`.
    pub overflowed: u64,
    /// Answered callers who waited at most the target time.
    pub answered_within_target: u64,
    /// `answered_within_target` as a percentage of answered, abandoned and
    /// overflowed callers; `None` without a target or before any of them.
    pub service_level: Option<f64>,
    /// The target percentage of the queue's `target`.
    pub target_percent: Option<f64>,
    /// Average handling time (talk plus wrap-up), exponentially weighted.
    pub average_handling_ms: u64,
}

/// Live figures of one agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentLive {
    /// The agent's id.
    pub id: String,
    /// The current state.
    pub state: AgentState,
    /// When the state began.
    pub since_ms: u64,
    /// Time in the current state.
    pub time_in_state_ms: u64,
    /// Calls answered since the last `Engine::reset_day`.
    pub calls_answered: u64,
    /// The caller ringing the agent or on the call with them.
    pub caller: Option<CallerId>,
}
