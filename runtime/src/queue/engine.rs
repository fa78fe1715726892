//! The engine's state and its routing decisions.
//!
//! Waiting callers sit per queue in groups keyed by language and current
//! requirement tier (how many relax steps apply to them), each ordered by
//! `CallerKey`. Ready agents sit per queue in sets keyed by language and the
//! lowest tier whose requirements they meet, each ordered by the queue's
//! strategy. So an agent that becomes ready reads only the first caller of
//! each group it qualifies for, and a caller that arrives reads only the
//! first agent of each set that qualifies for it. No event scans every
//! member of a queue, except `ring_all`, which rings every eligible agent.

use super::{
    AgentLive, AgentSpec, AgentState, CallerId, CallerSpec, EnqueueError, Leave, Offer,
    OfferResult, QueueLive, STATES, StateCounts, UnknownAgent,
};
use flowc::bytecode::{Queue, QueueNeed};
use flowc::syntax::ast::Strategy;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

/// How long an agent whose phone was busy or failed is not offered the same
/// caller again. Other callers may be offered to the agent at once.
pub const SKIP_AFTER_BUSY_MS: u64 = 30_000;

/// Average handling time of a queue before its first call ends.
pub const DEFAULT_HANDLING_MS: u64 = 180_000;

/// Weight of the newest call in the average handling time.
const HANDLING_WEIGHT: f64 = 0.2;

/// Order of callers: priority descending, then entry time, then arrival.
type CallerKey = (Reverse<i64>, u64, u64);

/// Order of ready agents in a queue: strategy value, tie-break value, the
/// agent's add order, the agent's index.
type ReadyKey = (u64, u64, u32, usize);

/// Agent states counted as staffed for the estimated wait.
const STAFFED: [usize; 4] = [1, 2, 3, 4];

/// A timer entry; each is checked against the current state when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The agent's wrap-up ends.
    WrapUp(usize),
    /// The caller reaches its next relax step.
    Relax(CallerId),
    /// The caller's sticky time ends.
    Sticky(CallerId),
    /// The caller may be offered to this agent again.
    Skip(CallerId, usize),
}

/// A caller's routing status.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    /// In its queue's groups, offered to any eligible agent.
    Waiting,
    /// During its sticky time, offered only to this agent.
    Sticky(usize),
    /// Ringing these agents.
    Offered(Vec<usize>),
}

struct CallerSlot {
    spec: CallerSpec,
    queue: usize,
    seq: u64,
    /// The group language: lowercase, or empty when the queue does not
    /// need a language.
    language: String,
    tier: usize,
    status: Status,
    relax_due: Option<u64>,
    sticky_due: Option<u64>,
    /// Agents not offered this caller until the given time.
    skips: Vec<(usize, u64)>,
}

impl CallerSlot {
    fn key(&self) -> CallerKey {
        (
            Reverse(self.spec.priority),
            self.spec.entered_at_ms,
            self.seq,
        )
    }

    fn skips_agent(&self, agent: usize) -> bool {
        self.skips.iter().any(|&(skipped, _)| skipped == agent)
    }
}

/// Strategy inputs of a ready agent, frozen when it became ready so that
/// its place in the ready sets stays valid until it leaves them.
#[derive(Clone, Copy, Debug, Default)]
struct ReadyValues {
    idle_since_ms: u64,
    occupancy_ppm: u64,
    calls: u64,
    random: u64,
}

struct AgentSlot {
    spec: AgentSpec,
    languages: Vec<String>,
    order: u32,
    state: AgentState,
    since_ms: u64,
    /// Queues the agent can serve, with the lowest tier it qualifies for.
    served: Vec<(usize, usize)>,
    ready: ReadyValues,
    idle_since_ms: u64,
    calls_answered: u64,
    talk_ms: u64,
    logged_in_ms: u64,
    logged_in_since: Option<u64>,
    caller: Option<CallerId>,
    call_queue: Option<usize>,
    wrap_due: Option<u64>,
    /// Callers in their sticky time for this agent.
    sticky: BTreeMap<CallerKey, CallerId>,
}

impl AgentSlot {
    fn occupancy_ppm(&self, now_ms: u64) -> u64 {
        let current = self
            .logged_in_since
            .map_or(0, |since| now_ms.saturating_sub(since));
        let logged_in = self.logged_in_ms.saturating_add(current).max(1);
        self.talk_ms.saturating_mul(1_000_000) / logged_in
    }
}

struct QueueSlot {
    def: Queue,
    /// Skill requirements per tier: tier 0 is the declaration's `needs`,
    /// tier `t` has the first `t` relax steps (sorted by time) applied.
    tiers: Vec<Vec<(String, u32)>>,
    /// Waiting time at which tier `t + 1` begins.
    tier_after: Vec<u64>,
    needs_language: bool,
    members: BTreeMap<CallerKey, CallerId>,
    by_entry: BTreeSet<(u64, u64)>,
    groups: HashMap<String, Vec<BTreeMap<CallerKey, CallerId>>>,
    ready: HashMap<String, Vec<BTreeSet<ReadyKey>>>,
    staff: HashMap<String, Vec<[u32; STATES]>>,
    counts: [u32; STATES],
    counts_by_tier: Vec<[u32; STATES]>,
    round_robin_last: Option<u32>,
    handling_ms: Option<f64>,
    /// The handling time used before the queue's first answered call.
    default_handling_ms: u64,
    answered: u64,
    abandoned: u64,
    overflowed: u64,
    within_target: u64,
}

impl QueueSlot {
    fn new(def: &Queue) -> QueueSlot {
        let mut slot = QueueSlot {
            def: def.clone(),
            tiers: Vec::new(),
            tier_after: Vec::new(),
            needs_language: false,
            members: BTreeMap::new(),
            by_entry: BTreeSet::new(),
            groups: HashMap::new(),
            ready: HashMap::new(),
            staff: HashMap::new(),
            counts: [0; STATES],
            counts_by_tier: Vec::new(),
            round_robin_last: None,
            handling_ms: None,
            default_handling_ms: DEFAULT_HANDLING_MS,
            answered: 0,
            abandoned: 0,
            overflowed: 0,
            within_target: 0,
        };
        slot.set_def(def);
        slot
    }

    /// Replaces the declaration and rebuilds the tiers. Agent and caller
    /// structures are cleared; the engine fills them again.
    fn set_def(&mut self, def: &Queue) {
        self.def = def.clone();
        self.needs_language = def.needs.iter().any(|n| matches!(n, QueueNeed::Language));
        let mut current: Vec<(String, u32)> = def
            .needs
            .iter()
            .filter_map(|need| match need {
                QueueNeed::Skill { skill, level } => Some((skill.clone(), *level)),
                QueueNeed::Language => None,
            })
            .collect();

        let mut steps = def.relax.clone();
        steps.sort_by_key(|step| step.after_ms);
        self.tiers = vec![current.clone()];
        self.tier_after.clear();
        for step in &steps {
            match step.level {
                // A relax step only lowers a level, so tiers never get
                // stricter and an agent eligible at tier t is eligible at
                // every later tier.
                Some(level) => {
                    for (skill, needed) in &mut current {
                        if *skill == step.skill {
                            *needed = (*needed).min(level);
                        }
                    }
                }
                None => current.retain(|(skill, _)| *skill != step.skill),
            }
            self.tiers.push(current.clone());
            self.tier_after.push(step.after_ms);
        }

        self.groups.clear();
        self.ready.clear();
        self.staff.clear();
        self.counts = [0; STATES];
        self.counts_by_tier = vec![[0; STATES]; self.tiers.len()];
    }

    fn tier_at(&self, waited_ms: u64) -> usize {
        self.tier_after
            .iter()
            .filter(|&&after| after <= waited_ms)
            .count()
    }

    fn min_tier(&self, spec: &AgentSpec) -> Option<usize> {
        self.tiers.iter().position(|needs| {
            needs
                .iter()
                .all(|(skill, level)| spec.skills.get(skill).is_some_and(|have| have >= level))
        })
    }

    fn language_key(&self, language: &str) -> String {
        if self.needs_language {
            language.to_lowercase()
        } else {
            String::new()
        }
    }

    fn ready_key(&self, agent: &AgentSlot, index: usize) -> ReadyKey {
        let values = agent.ready;
        let (first, second) = match self.def.strategy {
            Strategy::LongestIdle => (values.idle_since_ms, 0),
            Strategy::LeastBusy => (values.occupancy_ppm, values.idle_since_ms),
            Strategy::FewestCalls => (values.calls, values.idle_since_ms),
            Strategy::Random => (values.random, 0),
            Strategy::RingAll | Strategy::RoundRobin | Strategy::Linear => {
                (u64::from(agent.order), 0)
            }
        };
        (first, second, agent.order, index)
    }

    /// Staffed agents for a caller at `tier` with group language `language`.
    fn staffed(&self, language: &str, tier: usize) -> u32 {
        let Some(tiers) = self.staff.get(language) else {
            return 0;
        };
        tiers
            .iter()
            .take(tier + 1)
            .map(|counts| STAFFED.iter().filter_map(|&s| counts.get(s)).sum::<u32>())
            .sum()
    }

    fn handling_ms(&self) -> u64 {
        self.handling_ms
            .map_or(self.default_handling_ms, |ms| ms.round().max(0.0) as u64)
    }

    /// Estimated wait at position `position` with `staffed` agents:
    /// `ceil(position * handling / staffed)`.
    fn estimate(&self, position: usize, staffed: u32) -> Option<u64> {
        if staffed == 0 {
            return None;
        }
        let total = (position as u128) * u128::from(self.handling_ms());
        let wait = total.div_ceil(u128::from(staffed));
        Some(u64::try_from(wait).unwrap_or(u64::MAX))
    }
}

/// The queue engine; see the module documentation.
pub struct Engine {
    rng: fastrand::Rng,
    queues: Vec<QueueSlot>,
    queue_ids: HashMap<String, usize>,
    agents: Vec<Option<AgentSlot>>,
    agent_ids: HashMap<String, usize>,
    next_order: u32,
    callers: HashMap<CallerId, CallerSlot>,
    next_seq: u64,
    timers: BTreeSet<(u64, Timer)>,
    dirty_agents: Vec<usize>,
    dirty_callers: Vec<CallerId>,
    default_handling_ms: u64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("queues", &self.queues.len())
            .field("agents", &self.agent_ids.len())
            .field("callers", &self.callers.len())
            .field("timers", &self.timers.len())
            .finish()
    }
}

impl Engine {
    /// Sets the handling time the wait estimate uses for queues that have
    /// answered no call yet.
    pub fn set_default_handling_ms(&mut self, ms: u64) {
        self.default_handling_ms = ms;
        for slot in &mut self.queues {
            slot.default_handling_ms = ms;
        }
    }

    /// Creates an empty engine; `seed` seeds the `random` strategy.
    pub fn new(seed: u64) -> Engine {
        Engine {
            rng: fastrand::Rng::with_seed(seed),
            queues: Vec::new(),
            queue_ids: HashMap::new(),
            agents: Vec::new(),
            agent_ids: HashMap::new(),
            next_order: 0,
            callers: HashMap::new(),
            next_seq: 0,
            timers: BTreeSet::new(),
            default_handling_ms: DEFAULT_HANDLING_MS,
            dirty_agents: Vec::new(),
            dirty_callers: Vec::new(),
        }
    }

    /// Adds a queue, or replaces the declaration of the queue of that name.
    /// Callers of a replaced queue keep their place and counters are kept;
    /// their tiers follow the new relax steps.
    pub fn set_queue(&mut self, queue: &Queue) {
        let index = match self.queue_ids.get(&queue.name) {
            Some(&index) => {
                self.detach_queue(index);
                if let Some(slot) = self.queues.get_mut(index) {
                    slot.set_def(queue);
                }
                index
            }
            None => {
                let index = self.queues.len();
                let mut slot = QueueSlot::new(queue);
                slot.default_handling_ms = self.default_handling_ms;
                self.queues.push(slot);
                self.queue_ids.insert(queue.name.clone(), index);
                index
            }
        };
        self.attach_queue(index);
        tracing::debug!(queue = %queue.name, "queue set");
    }

    /// Removes every agent and waiting caller of queue `q` from its agent
    /// structures, using the old declaration.
    fn detach_queue(&mut self, q: usize) {
        for a in 0..self.agents.len() {
            let Some(agent) = self.agents.get(a).and_then(Option::as_ref) else {
                continue;
            };
            if let Some(&(_, tier)) = agent.served.iter().find(|(served, _)| *served == q) {
                self.detach(a, q, tier);
            }
        }
    }

    /// Adds every agent to queue `q` and places its callers in their groups.
    fn attach_queue(&mut self, q: usize) {
        for a in 0..self.agents.len() {
            let tier = match (
                self.agents.get(a).and_then(Option::as_ref),
                self.queues.get(q),
            ) {
                (Some(agent), Some(queue)) => queue.min_tier(&agent.spec),
                _ => None,
            };
            if let Some(tier) = tier {
                self.attach(a, q, tier);
            }
        }
        let ids: Vec<CallerId> = self
            .callers
            .iter()
            .filter(|(_, caller)| caller.queue == q)
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            self.retier_caller(id, q);
        }
    }

    /// Recomputes a caller's group language, tier and relax timer after its
    /// queue's declaration changed, and places it when waiting.
    fn retier_caller(&mut self, id: CallerId, q: usize) {
        let Some(queue) = self.queues.get(q) else {
            return;
        };
        let Some(caller) = self.callers.get_mut(&id) else {
            return;
        };
        caller.language = queue.language_key(&caller.spec.language);
        if let Some(due) = caller.relax_due.take() {
            self.timers.remove(&(due, Timer::Relax(id)));
        }
        // The engine has no clock here, so the caller restarts at tier 0
        // with a relax timer at its first step. A step already passed fires
        // at the next `dispatch`, which moves the caller to the tier of its
        // waiting time.
        caller.tier = 0;
        caller.relax_due = queue
            .tier_after
            .first()
            .map(|after| caller.spec.entered_at_ms.saturating_add(*after));
        if let Some(due) = caller.relax_due {
            self.timers.insert((due, Timer::Relax(id)));
        }
        if caller.status == Status::Waiting {
            self.place(id);
        }
        self.dirty_callers.push(id);
    }

    /// Adds an agent or updates its skills and languages. A new agent
    /// starts `LoggedOut`; an existing agent keeps its state.
    pub fn upsert_agent(&mut self, spec: AgentSpec, now_ms: u64) {
        let index = match self.agent_ids.get(&spec.id) {
            Some(&index) => {
                let served = self
                    .agents
                    .get(index)
                    .and_then(Option::as_ref)
                    .map(|agent| agent.served.clone())
                    .unwrap_or_default();
                for (q, tier) in served {
                    self.detach(index, q, tier);
                }
                index
            }
            None => {
                let index = self.agents.len();
                let order = self.next_order;
                self.next_order = self.next_order.wrapping_add(1);
                self.agents.push(Some(AgentSlot {
                    spec: AgentSpec::default(),
                    languages: Vec::new(),
                    order,
                    state: AgentState::LoggedOut,
                    since_ms: now_ms,
                    served: Vec::new(),
                    ready: ReadyValues::default(),
                    idle_since_ms: now_ms,
                    calls_answered: 0,
                    talk_ms: 0,
                    logged_in_ms: 0,
                    logged_in_since: None,
                    caller: None,
                    call_queue: None,
                    wrap_due: None,
                    sticky: BTreeMap::new(),
                }));
                self.agent_ids.insert(spec.id.clone(), index);
                index
            }
        };
        let mut languages: Vec<String> = spec.languages.iter().map(|l| l.to_lowercase()).collect();
        languages.sort();
        languages.dedup();
        let served: Vec<(usize, usize)> = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(q, queue)| queue.min_tier(&spec).map(|tier| (q, tier)))
            .collect();
        if let Some(agent) = self.agents.get_mut(index).and_then(Option::as_mut) {
            agent.spec = spec;
            agent.languages = languages;
        }
        for (q, tier) in served {
            self.attach(index, q, tier);
        }
        self.release_ineligible_sticky(index);
        if self.agent_state_index(index) == Some(1) {
            self.dirty_agents.push(index);
        }
    }

    /// Removes an agent. A call it was offered goes back to its caller's
    /// place; callers sticky to it follow the normal rule.
    pub fn remove_agent(&mut self, id: &str, now_ms: u64) {
        let Some(&index) = self.agent_ids.get(id) else {
            return;
        };
        let _ = self.set_agent_state(id, AgentState::LoggedOut, now_ms);
        let served = self
            .agents
            .get(index)
            .and_then(Option::as_ref)
            .map(|agent| agent.served.clone())
            .unwrap_or_default();
        for (q, tier) in served {
            self.detach(index, q, tier);
        }
        if let Some(slot) = self.agents.get_mut(index) {
            *slot = None;
        }
        self.agent_ids.remove(id);
    }

    /// Sets an agent's state and returns the previous one. Leaving
    /// `Ringing` withdraws the agent from its offer; the caller goes back to
    /// its place when no other agent rings for it. A `WrapUp` set here
    /// lasts until the next change, unlike the one `call_ended` starts.
    pub fn set_agent_state(
        &mut self,
        id: &str,
        state: AgentState,
        now_ms: u64,
    ) -> Result<AgentState, UnknownAgent> {
        let Some(&index) = self.agent_ids.get(id) else {
            return Err(UnknownAgent(id.to_owned()));
        };
        let (old, caller) = match self.agents.get(index).and_then(Option::as_ref) {
            Some(agent) => (agent.state.clone(), agent.caller),
            None => return Err(UnknownAgent(id.to_owned())),
        };
        if old == AgentState::Ringing
            && state != AgentState::Ringing
            && let Some(caller) = caller
        {
            self.withdraw(caller, index);
        }
        if state != AgentState::OnCall
            && state != AgentState::Ringing
            && let Some(agent) = self.agent_mut(index)
        {
            agent.caller = None;
        }
        self.change_state(index, state, now_ms);
        Ok(old)
    }

    /// Returns an agent's state and when it began.
    pub fn agent_state(&self, id: &str) -> Option<(AgentState, u64)> {
        let agent = self.agent(*self.agent_ids.get(id)?)?;
        Some((agent.state.clone(), agent.since_ms))
    }

    /// Puts a caller in a queue. A caller id already in a queue is first
    /// removed from it as `Leave::Moved`.
    pub fn enqueue(
        &mut self,
        queue: &str,
        caller: CallerSpec,
        now_ms: u64,
    ) -> Result<(), EnqueueError> {
        let q = *self
            .queue_ids
            .get(queue)
            .ok_or(EnqueueError::UnknownQueue)?;
        if self.callers.contains_key(&caller.id) {
            self.remove_caller(caller.id, now_ms, Leave::Moved);
        }
        let slot = self.queues.get(q).ok_or(EnqueueError::UnknownQueue)?;
        if let Some(max) = slot.def.max_callers
            && slot.members.len() >= max as usize
        {
            return Err(EnqueueError::Full);
        }
        let language = slot.language_key(&caller.language);
        let logged_in = slot.staff.get(&language).is_some_and(|tiers| {
            tiers
                .iter()
                .any(|counts| counts.iter().skip(1).any(|&count| count > 0))
        });
        if !logged_in {
            return Err(EnqueueError::NoAgents);
        }

        let id = caller.id;
        let seq = self.next_seq;
        self.next_seq += 1;
        let tier = slot.tier_at(now_ms.saturating_sub(caller.entered_at_ms));
        let relax_due = slot
            .tier_after
            .get(tier)
            .map(|after| caller.entered_at_ms.saturating_add(*after));
        let sticky_due = slot
            .def
            .sticky_ms
            .map(|ms| caller.entered_at_ms.saturating_add(ms))
            .filter(|&due| due > now_ms);
        let key = (Reverse(caller.priority), caller.entered_at_ms, seq);
        let entered = caller.entered_at_ms;

        self.callers.insert(
            id,
            CallerSlot {
                spec: caller,
                queue: q,
                seq,
                language,
                tier,
                status: Status::Waiting,
                relax_due,
                sticky_due,
                skips: Vec::new(),
            },
        );
        if let Some(slot) = self.queues.get_mut(q) {
            slot.members.insert(key, id);
            slot.by_entry.insert((entered, seq));
        }
        if let Some(due) = relax_due {
            self.timers.insert((due, Timer::Relax(id)));
        }
        if let Some(due) = sticky_due {
            self.timers.insert((due, Timer::Sticky(id)));
        }
        self.start_waiting(id);
        tracing::debug!(caller = id, queue, tier, "caller enqueued");
        Ok(())
    }

    /// Removes a caller from its queue and counts it by `why`. Agents
    /// ringing for it become ready. Returns false for an unknown caller.
    pub fn remove_caller(&mut self, id: CallerId, now_ms: u64, why: Leave) -> bool {
        let Some(caller) = self.callers.get(&id) else {
            return false;
        };
        let q = caller.queue;
        let entered = caller.spec.entered_at_ms;
        self.unplace(id);

        let mut answered_by = None;
        if let Leave::Answered(agent) = &why {
            answered_by = self.agent_ids.get(agent.as_str()).copied();
        }
        if let Some(Status::Offered(agents)) = self.callers.get(&id).map(|c| c.status.clone()) {
            for agent in agents {
                if Some(agent) == answered_by {
                    continue;
                }
                if let Some(slot) = self.agent_mut(agent) {
                    slot.caller = None;
                }
                if self.agent_state_index(agent) == Some(2) {
                    self.change_state(agent, AgentState::Ready, now_ms);
                }
            }
        }

        if let Some(slot) = self.queues.get_mut(q) {
            match &why {
                Leave::Abandoned => slot.abandoned += 1,
                Leave::MaxWait => slot.overflowed += 1,
                Leave::Answered(_) => {
                    slot.answered += 1;
                    let within = slot.def.target.map_or(0, |target| target.within_ms);
                    if slot.def.target.is_some() && now_ms.saturating_sub(entered) <= within {
                        slot.within_target += 1;
                    }
                }
                Leave::Callback | Leave::Moved => {}
            }
        }
        if let Some(agent) = answered_by {
            self.take_call(agent, id, q, now_ms);
        }
        self.forget_caller(id);
        tracing::debug!(caller = id, reason = ?why, "caller left queue");
        true
    }

    /// Deletes a caller's entries from its queue, its timers and the caller
    /// table. The caller must already be out of its groups.
    fn forget_caller(&mut self, id: CallerId) {
        let Some(caller) = self.callers.remove(&id) else {
            return;
        };
        if let Some(slot) = self.queues.get_mut(caller.queue) {
            slot.members.remove(&caller.key());
            slot.by_entry
                .remove(&(caller.spec.entered_at_ms, caller.seq));
        }
        if let Some(due) = caller.relax_due {
            self.timers.remove(&(due, Timer::Relax(id)));
        }
        if let Some(due) = caller.sticky_due {
            self.timers.remove(&(due, Timer::Sticky(id)));
        }
        for (agent, due) in caller.skips {
            self.timers.remove(&(due, Timer::Skip(id, agent)));
        }
    }

    /// Puts agent `a` on the call with `caller` of queue `q`.
    fn take_call(&mut self, a: usize, caller: CallerId, q: usize, now_ms: u64) {
        if let Some(agent) = self.agent_mut(a) {
            agent.calls_answered += 1;
            agent.caller = Some(caller);
            agent.call_queue = Some(q);
        }
        self.change_state(a, AgentState::OnCall, now_ms);
    }

    /// Matches ready agents with waiting callers and returns the new offers.
    /// Fires every timer due at `now_ms` first.
    pub fn dispatch(&mut self, now_ms: u64) -> Vec<Offer> {
        self.fire_timers(now_ms);
        let mut offers = Vec::new();
        let mut heap: BinaryHeap<Reverse<(CallerKey, CallerId, Option<usize>)>> = BinaryHeap::new();
        for a in std::mem::take(&mut self.dirty_agents) {
            self.propose(a, &mut heap);
        }
        for id in std::mem::take(&mut self.dirty_callers) {
            if let Some(caller) = self.callers.get(&id)
                && !matches!(caller.status, Status::Offered(_))
            {
                heap.push(Reverse((caller.key(), id, None)));
            }
        }
        // The best caller of all proposals goes first and picks its agent by
        // its queue's strategy. An agent whose proposed caller went to
        // another agent proposes its next caller.
        while let Some(Reverse((key, id, from))) = heap.pop() {
            if let Some(a) = from
                && self.agent_state_index(a) != Some(1)
            {
                continue;
            }
            let open = self
                .callers
                .get(&id)
                .is_some_and(|c| !matches!(c.status, Status::Offered(_)) && c.key() == key);
            if !open {
                if let Some(a) = from {
                    self.propose(a, &mut heap);
                }
                continue;
            }
            let picks = self.pick_agents(id);
            if picks.is_empty() {
                continue;
            }
            if let Some(offer) = self.offer(id, &picks, now_ms) {
                offers.push(offer);
            }
            if let Some(a) = from
                && !picks.contains(&a)
            {
                self.propose(a, &mut heap);
            }
        }
        offers
    }

    /// Pushes the first caller that ready agent `a` may take.
    fn propose(
        &self,
        a: usize,
        heap: &mut BinaryHeap<Reverse<(CallerKey, CallerId, Option<usize>)>>,
    ) {
        if let Some((key, id)) = self.best_caller_for(a) {
            heap.push(Reverse((key, id, Some(a))));
        }
    }

    /// Returns the first caller in caller order, across every queue agent
    /// `a` serves, that the agent is eligible for and that is not being
    /// offered.
    fn best_caller_for(&self, a: usize) -> Option<(CallerKey, CallerId)> {
        let agent = self.agent(a)?;
        if agent.state != AgentState::Ready {
            return None;
        }
        let not_skipped = |id: &CallerId| self.callers.get(id).is_some_and(|c| !c.skips_agent(a));
        let mut best: Option<(CallerKey, CallerId)> = agent
            .sticky
            .iter()
            .find(|(_, id)| not_skipped(id))
            .map(|(key, id)| (*key, *id));
        let mut consider = |key: &CallerKey, id: &CallerId| {
            if best.is_none_or(|(best_key, _)| *key < best_key) {
                best = Some((*key, *id));
            }
        };
        for &(q, tier) in &agent.served {
            let Some(queue) = self.queues.get(q) else {
                continue;
            };
            let mut check_language = |language: &str| {
                let Some(groups) = queue.groups.get(language) else {
                    return;
                };
                for group in groups.iter().skip(tier) {
                    if let Some((key, id)) = group.iter().find(|(_, id)| not_skipped(id)) {
                        consider(key, id);
                    }
                }
            };
            if queue.needs_language {
                for language in &agent.languages {
                    check_language(language);
                }
            } else {
                check_language("");
            }
        }
        best
    }

    /// Returns the ready agents a caller is offered to by its queue's
    /// strategy: several for `ring_all`, else at most one.
    fn pick_agents(&self, id: CallerId) -> Vec<usize> {
        let Some(caller) = self.callers.get(&id) else {
            return Vec::new();
        };
        if let Status::Sticky(a) = caller.status {
            let ready = self.agent_state_index(a) == Some(1);
            return if ready && !caller.skips_agent(a) {
                vec![a]
            } else {
                Vec::new()
            };
        }
        let Some(queue) = self.queues.get(caller.queue) else {
            return Vec::new();
        };
        let Some(sets) = queue.ready.get(&caller.language) else {
            return Vec::new();
        };
        let sets = sets.iter().take(caller.tier + 1);
        let open = |key: &&ReadyKey| !caller.skips_agent(key.3);
        match queue.def.strategy {
            Strategy::RingAll => {
                let mut all: Vec<ReadyKey> = sets
                    .flat_map(|set| set.iter().filter(open))
                    .copied()
                    .collect();
                all.sort();
                all.into_iter().map(|key| key.3).collect()
            }
            Strategy::RoundRobin => {
                let last = queue.round_robin_last;
                let mut after: Option<ReadyKey> = None;
                let mut first: Option<ReadyKey> = None;
                for set in sets {
                    if let Some(key) = set.iter().find(open) {
                        first = Some(first.map_or(*key, |f| f.min(*key)));
                    }
                    if let Some(last) = last {
                        let start = (u64::from(last) + 1, 0, 0, 0);
                        if let Some(key) = set.range(start..).find(open) {
                            after = Some(after.map_or(*key, |f| f.min(*key)));
                        }
                    }
                }
                after.or(first).map(|key| vec![key.3]).unwrap_or_default()
            }
            Strategy::LongestIdle
            | Strategy::LeastBusy
            | Strategy::FewestCalls
            | Strategy::Linear
            | Strategy::Random => sets
                .filter_map(|set| set.iter().find(open))
                .min()
                .map(|key| vec![key.3])
                .unwrap_or_default(),
        }
    }

    /// Offers a caller to `agents`, which must be ready.
    fn offer(&mut self, id: CallerId, agents: &[usize], now_ms: u64) -> Option<Offer> {
        self.unplace(id);
        let caller = self.callers.get_mut(&id)?;
        caller.status = Status::Offered(agents.to_vec());
        let q = caller.queue;
        let mut names = Vec::with_capacity(agents.len());
        for &a in agents {
            if let Some(agent) = self.agent_mut(a) {
                agent.caller = Some(id);
                names.push(agent.spec.id.clone());
            }
            self.change_state(a, AgentState::Ringing, now_ms);
        }
        let order = agents
            .first()
            .and_then(|&a| self.agent(a))
            .map(|agent| agent.order);
        let queue = self.queues.get_mut(q)?;
        if queue.def.strategy == Strategy::RoundRobin {
            queue.round_robin_last = order;
        }
        tracing::debug!(caller = id, queue = %queue.def.name, agents = ?names, "caller offered");
        Some(Offer {
            caller: id,
            queue: queue.def.name.clone(),
            agents: names,
        })
    }

    /// Applies the outcome of ringing `agent` for `caller`. A result for an
    /// agent not ringing for that caller is ignored.
    pub fn offer_result(
        &mut self,
        caller: CallerId,
        agent: &str,
        result: OfferResult,
        now_ms: u64,
    ) {
        let Some(&a) = self.agent_ids.get(agent) else {
            tracing::debug!(caller, agent, "offer result for unknown agent ignored");
            return;
        };
        let offered = self
            .callers
            .get(&caller)
            .is_some_and(|c| matches!(&c.status, Status::Offered(agents) if agents.contains(&a)));
        if !offered {
            tracing::debug!(caller, agent, ?result, "offer result for no offer ignored");
            return;
        }
        tracing::debug!(caller, agent, ?result, "offer result");
        match result {
            OfferResult::Answered => {
                self.remove_caller(caller, now_ms, Leave::Answered(agent.to_owned()));
            }
            OfferResult::NoAnswer => {
                if let Some(slot) = self.agent_mut(a) {
                    slot.caller = None;
                }
                // A sticky agent who did not answer does not hold the caller
                // for the rest of its sticky time.
                let sticky_to_agent = self
                    .callers
                    .get(&caller)
                    .is_some_and(|c| c.spec.sticky_agent.as_deref() == Some(agent));
                if sticky_to_agent
                    && let Some(due) = self
                        .callers
                        .get_mut(&caller)
                        .and_then(|c| c.sticky_due.take())
                {
                    self.timers.remove(&(due, Timer::Sticky(caller)));
                }
                self.withdraw(caller, a);
                self.change_state(a, AgentState::Paused("no answer".to_owned()), now_ms);
            }
            OfferResult::Busy | OfferResult::Failed => {
                let due = now_ms.saturating_add(SKIP_AFTER_BUSY_MS);
                if let Some(slot) = self.callers.get_mut(&caller) {
                    slot.skips.push((a, due));
                    self.timers.insert((due, Timer::Skip(caller, a)));
                }
                if let Some(slot) = self.agent_mut(a) {
                    slot.caller = None;
                }
                self.withdraw(caller, a);
                self.change_state(a, AgentState::Ready, now_ms);
            }
        }
    }

    /// Takes agent `a` out of the offer to `caller`; the caller goes back to
    /// its place when no agent rings for it any more.
    fn withdraw(&mut self, caller: CallerId, a: usize) {
        let Some(slot) = self.callers.get_mut(&caller) else {
            return;
        };
        let Status::Offered(agents) = &mut slot.status else {
            return;
        };
        agents.retain(|&x| x != a);
        if agents.is_empty() {
            slot.status = Status::Waiting;
            self.start_waiting(caller);
        }
    }

    /// Places a caller whose status is `Waiting`: with its sticky agent when
    /// the sticky rule holds, else in its groups. Marks it for dispatch.
    fn start_waiting(&mut self, id: CallerId) {
        let sticky = self.sticky_agent_of(id);
        if let Some(caller) = self.callers.get_mut(&id) {
            caller.status = match sticky {
                Some(a) => Status::Sticky(a),
                None => Status::Waiting,
            };
        }
        self.place(id);
        self.dirty_callers.push(id);
    }

    /// Returns the caller's sticky agent when the sticky rule holds: within
    /// the sticky time, the agent logged in, eligible and not skipped.
    fn sticky_agent_of(&self, id: CallerId) -> Option<usize> {
        let caller = self.callers.get(&id)?;
        caller.sticky_due?;
        let a = *self.agent_ids.get(caller.spec.sticky_agent.as_deref()?)?;
        let agent = self.agent(a)?;
        if agent.state == AgentState::LoggedOut || caller.skips_agent(a) {
            return None;
        }
        self.eligible(a, caller).then_some(a)
    }

    fn eligible(&self, a: usize, caller: &CallerSlot) -> bool {
        let Some(agent) = self.agent(a) else {
            return false;
        };
        let Some(queue) = self.queues.get(caller.queue) else {
            return false;
        };
        let tier_ok = agent
            .served
            .iter()
            .any(|&(q, tier)| q == caller.queue && tier <= caller.tier);
        let language_ok = !queue.needs_language || agent.languages.contains(&caller.language);
        tier_ok && language_ok
    }

    /// Inserts a caller into its group or its sticky agent's map.
    fn place(&mut self, id: CallerId) {
        let Some(caller) = self.callers.get(&id) else {
            return;
        };
        let key = caller.key();
        match caller.status {
            Status::Waiting => {
                let Some(queue) = self.queues.get_mut(caller.queue) else {
                    return;
                };
                let tiers = queue.tiers.len();
                let groups = queue
                    .groups
                    .entry(caller.language.clone())
                    .or_insert_with(|| vec![BTreeMap::new(); tiers]);
                if let Some(group) = groups.get_mut(caller.tier) {
                    group.insert(key, id);
                }
            }
            Status::Sticky(a) => {
                if let Some(agent) = self.agents.get_mut(a).and_then(Option::as_mut) {
                    agent.sticky.insert(key, id);
                }
            }
            Status::Offered(_) => {}
        }
    }

    /// Removes a caller from its group or its sticky agent's map.
    fn unplace(&mut self, id: CallerId) {
        let Some(caller) = self.callers.get(&id) else {
            return;
        };
        let key = caller.key();
        match caller.status {
            Status::Waiting => {
                if let Some(group) = self
                    .queues
                    .get_mut(caller.queue)
                    .and_then(|queue| queue.groups.get_mut(&caller.language))
                    .and_then(|groups| groups.get_mut(caller.tier))
                {
                    group.remove(&key);
                }
            }
            Status::Sticky(a) => {
                if let Some(agent) = self.agents.get_mut(a).and_then(Option::as_mut) {
                    agent.sticky.remove(&key);
                }
            }
            Status::Offered(_) => {}
        }
    }

    /// Ends an agent's call: wrap-up for the queue's wrap-up time, then
    /// ready. Talk plus wrap-up time feeds the queue's average handling time.
    pub fn call_ended(&mut self, agent: &str, talk_ms: u64, now_ms: u64) {
        let Some(&a) = self.agent_ids.get(agent) else {
            tracing::debug!(agent, "call end of unknown agent ignored");
            return;
        };
        let Some(slot) = self.agent_mut(a) else {
            return;
        };
        slot.talk_ms = slot.talk_ms.saturating_add(talk_ms);
        slot.idle_since_ms = now_ms;
        slot.caller = None;
        let queue = slot.call_queue.take();

        let mut wrapup_ms = 0;
        if let Some(queue) = queue.and_then(|q| self.queues.get_mut(q)) {
            wrapup_ms = queue.def.wrapup_ms;
            let sample = talk_ms.saturating_add(wrapup_ms) as f64;
            queue.handling_ms = Some(match queue.handling_ms {
                Some(average) => average + HANDLING_WEIGHT * (sample - average),
                None => sample,
            });
        }

        if wrapup_ms == 0 {
            self.change_state(a, AgentState::Ready, now_ms);
            return;
        }
        self.change_state(a, AgentState::WrapUp, now_ms);
        let due = now_ms.saturating_add(wrapup_ms);
        if let Some(slot) = self.agent_mut(a) {
            slot.wrap_due = Some(due);
        }
        self.timers.insert((due, Timer::WrapUp(a)));
    }

    /// Returns the earliest time at which `dispatch` could give a new offer
    /// without another event: the next relax step, sticky time end, wrap-up
    /// end or busy skip end. Returns 0 when events since the last
    /// `dispatch` have not been matched yet, so the host dispatches at once.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.dirty_agents.is_empty() || !self.dirty_callers.is_empty() {
            return Some(0);
        }
        self.timers.first().map(|&(due, _)| due)
    }

    fn fire_timers(&mut self, now_ms: u64) {
        while let Some(&(due, timer)) = self.timers.first() {
            if due > now_ms {
                break;
            }
            self.timers.remove(&(due, timer));
            match timer {
                Timer::WrapUp(a) => {
                    let current = self.agent(a).is_some_and(|agent| {
                        agent.wrap_due == Some(due) && agent.state == AgentState::WrapUp
                    });
                    if current {
                        if let Some(agent) = self.agent_mut(a) {
                            agent.wrap_due = None;
                        }
                        self.change_state(a, AgentState::Ready, due);
                    }
                }
                Timer::Relax(id) => self.relax(id, due, now_ms),
                Timer::Sticky(id) => {
                    let Some(caller) = self.callers.get_mut(&id) else {
                        continue;
                    };
                    if caller.sticky_due != Some(due) {
                        continue;
                    }
                    caller.sticky_due = None;
                    if matches!(caller.status, Status::Sticky(_)) {
                        self.unplace(id);
                        self.start_waiting(id);
                    }
                }
                Timer::Skip(id, a) => {
                    let Some(caller) = self.callers.get_mut(&id) else {
                        continue;
                    };
                    caller
                        .skips
                        .retain(|&(agent, at)| !(agent == a && at == due));
                    if !matches!(caller.status, Status::Offered(_)) {
                        self.dirty_callers.push(id);
                    }
                }
            }
        }
    }

    /// Moves a caller to the tier of its waiting time at `now_ms`.
    fn relax(&mut self, id: CallerId, due: u64, now_ms: u64) {
        let Some(caller) = self.callers.get(&id) else {
            return;
        };
        if caller.relax_due != Some(due) {
            return;
        }
        let Some(queue) = self.queues.get(caller.queue) else {
            return;
        };
        let tier = queue.tier_at(now_ms.saturating_sub(caller.spec.entered_at_ms));
        let next = queue
            .tier_after
            .get(tier)
            .map(|after| caller.spec.entered_at_ms.saturating_add(*after));
        let waiting = caller.status == Status::Waiting;
        if waiting {
            self.unplace(id);
        }
        if let Some(caller) = self.callers.get_mut(&id) {
            caller.tier = tier;
            caller.relax_due = next;
        }
        if let Some(next) = next {
            self.timers.insert((next, Timer::Relax(id)));
        }
        if waiting {
            self.place(id);
        }
        if !matches!(
            self.callers.get(&id).map(|c| &c.status),
            Some(Status::Offered(_))
        ) {
            self.dirty_callers.push(id);
        }
    }

    /// Returns a caller's 1-based position in its queue, counting callers
    /// being offered. Costs one step per caller ahead.
    pub fn position(&self, caller: CallerId) -> Option<usize> {
        let slot = self.callers.get(&caller)?;
        let queue = self.queues.get(slot.queue)?;
        Some(queue.members.range(..slot.key()).count() + 1)
    }

    /// Returns a caller's estimated wait:
    /// `ceil(position * average handling time / staffed)`, where staffed
    /// counts the agents eligible for the caller now (its language and
    /// tier) who are ready, ringing, on a call or in wrap-up. `None` when
    /// no such agent exists; 0 while the caller is being offered.
    pub fn estimated_wait_ms(&self, caller: CallerId, _now_ms: u64) -> Option<u64> {
        let slot = self.callers.get(&caller)?;
        let queue = self.queues.get(slot.queue)?;
        let staffed = queue.staffed(&slot.language, slot.tier);
        if staffed == 0 {
            return None;
        }
        if matches!(slot.status, Status::Offered(_)) {
            return Some(0);
        }
        queue.estimate(self.position(caller)?, staffed)
    }

    /// Returns the live figures of a queue.
    pub fn queue_live(&self, queue: &str, now_ms: u64) -> Option<QueueLive> {
        let slot = self.queues.get(*self.queue_ids.get(queue)?)?;
        Some(self.live_of(slot, now_ms))
    }

    /// Returns the live figures of every queue, in the order they were
    /// added.
    pub fn queues_live(&self, now_ms: u64) -> Vec<QueueLive> {
        self.queues
            .iter()
            .map(|slot| self.live_of(slot, now_ms))
            .collect()
    }

    fn live_of(&self, slot: &QueueSlot, now_ms: u64) -> QueueLive {
        let longest_wait_ms = slot
            .by_entry
            .first()
            .map_or(0, |&(entered, _)| now_ms.saturating_sub(entered));
        let staffed: u32 = slot.counts_by_tier.first().map_or(0, |counts| {
            STAFFED.iter().filter_map(|&s| counts.get(s)).sum()
        });
        let finished = slot.answered + slot.abandoned + slot.overflowed;
        let service_level = match slot.def.target {
            Some(_) if finished > 0 => Some(slot.within_target as f64 * 100.0 / finished as f64),
            _ => None,
        };
        QueueLive {
            name: slot.def.name.clone(),
            waiting: slot.members.len(),
            longest_wait_ms,
            estimated_wait_ms: slot.estimate(slot.members.len() + 1, staffed),
            agents: StateCounts::from_array(&slot.counts),
            answered: slot.answered,
            abandoned: slot.abandoned,
            overflowed: slot.overflowed,
            answered_within_target: slot.within_target,
            service_level,
            target_percent: slot.def.target.map(|target| target.percent),
            average_handling_ms: slot.handling_ms(),
        }
    }

    /// Returns the live figures of every agent, in the order they were
    /// added.
    pub fn agents_live(&self, now_ms: u64) -> Vec<AgentLive> {
        self.agents
            .iter()
            .flatten()
            .map(|agent| AgentLive {
                id: agent.spec.id.clone(),
                state: agent.state.clone(),
                since_ms: agent.since_ms,
                time_in_state_ms: now_ms.saturating_sub(agent.since_ms),
                calls_answered: agent.calls_answered,
                caller: agent.caller,
            })
            .collect()
    }

    /// Starts a new day: zeroes the queues' counters and the agents' calls,
    /// talk and logged-in time. The host calls it at local midnight.
    pub fn reset_day(&mut self, now_ms: u64) {
        for queue in &mut self.queues {
            queue.answered = 0;
            queue.abandoned = 0;
            queue.overflowed = 0;
            queue.within_target = 0;
        }
        for a in 0..self.agents.len() {
            let ready = self.agent_state_index(a) == Some(1);
            if ready {
                self.remove_ready(a);
            }
            if let Some(agent) = self.agent_mut(a) {
                agent.calls_answered = 0;
                agent.talk_ms = 0;
                agent.logged_in_ms = 0;
                if agent.logged_in_since.is_some() {
                    agent.logged_in_since = Some(now_ms);
                }
            }
            if ready {
                self.freeze_ready_values(a, now_ms);
                self.insert_ready(a);
            }
        }
    }

    // Agent bookkeeping.

    fn agent(&self, a: usize) -> Option<&AgentSlot> {
        self.agents.get(a).and_then(Option::as_ref)
    }

    fn agent_mut(&mut self, a: usize) -> Option<&mut AgentSlot> {
        self.agents.get_mut(a).and_then(Option::as_mut)
    }

    fn agent_state_index(&self, a: usize) -> Option<usize> {
        self.agent(a).map(|agent| agent.state.index())
    }

    /// Changes an agent's state, keeping the ready sets, counters, logged-in
    /// time and timers consistent. Sets no caller.
    fn change_state(&mut self, a: usize, state: AgentState, now_ms: u64) {
        let Some(agent) = self.agent(a) else {
            return;
        };
        let old = agent.state.clone();
        if old == state {
            return;
        }
        if old == AgentState::Ready {
            self.remove_ready(a);
        }
        self.count(a, -1);

        if old == AgentState::WrapUp
            && let Some(due) = self.agent_mut(a).and_then(|agent| agent.wrap_due.take())
        {
            self.timers.remove(&(due, Timer::WrapUp(a)));
        }
        let Some(agent) = self.agent_mut(a) else {
            return;
        };
        if old == AgentState::LoggedOut {
            agent.logged_in_since = Some(now_ms);
        }
        if state == AgentState::LoggedOut
            && let Some(since) = agent.logged_in_since.take()
        {
            agent.logged_in_ms = agent
                .logged_in_ms
                .saturating_add(now_ms.saturating_sub(since));
        }
        if state == AgentState::Ready
            && matches!(old, AgentState::LoggedOut | AgentState::Paused(_))
        {
            agent.idle_since_ms = now_ms;
        }
        agent.state = state.clone();
        agent.since_ms = now_ms;
        self.count(a, 1);

        if state == AgentState::Ready {
            self.freeze_ready_values(a, now_ms);
            self.insert_ready(a);
            self.dirty_agents.push(a);
        }
        if state == AgentState::LoggedOut {
            self.release_sticky(a, |_, _| true);
        }
    }

    fn freeze_ready_values(&mut self, a: usize, now_ms: u64) {
        let random = self.rng.u64(..);
        if let Some(agent) = self.agent_mut(a) {
            agent.ready = ReadyValues {
                idle_since_ms: agent.idle_since_ms,
                occupancy_ppm: agent.occupancy_ppm(now_ms),
                calls: agent.calls_answered,
                random,
            };
        }
    }

    /// Moves the sticky callers of agent `a` for which `release` is true
    /// back to the normal rule.
    fn release_sticky(&mut self, a: usize, release: impl Fn(&Self, &CallerSlot) -> bool) {
        let Some(agent) = self.agent(a) else {
            return;
        };
        let ids: Vec<CallerId> = agent
            .sticky
            .values()
            .copied()
            .filter(|id| self.callers.get(id).is_some_and(|c| release(self, c)))
            .collect();
        for id in ids {
            self.unplace(id);
            if let Some(caller) = self.callers.get_mut(&id) {
                caller.status = Status::Waiting;
                // The sticky rule no longer holds for this caller.
                caller.sticky_due = None;
            }
            self.place(id);
            self.dirty_callers.push(id);
        }
    }

    fn release_ineligible_sticky(&mut self, a: usize) {
        self.release_sticky(a, |engine, caller| !engine.eligible(a, caller));
    }

    fn attach(&mut self, a: usize, q: usize, tier: usize) {
        if let Some(agent) = self.agent_mut(a) {
            agent.served.push((q, tier));
        }
        self.count_one(a, q, tier, 1);
        if self.agent_state_index(a) == Some(1) {
            self.insert_ready_one(a, q, tier);
        }
    }

    fn detach(&mut self, a: usize, q: usize, tier: usize) {
        if self.agent_state_index(a) == Some(1) {
            self.remove_ready_one(a, q, tier);
        }
        self.count_one(a, q, tier, -1);
        if let Some(agent) = self.agent_mut(a) {
            agent.served.retain(|&(served, _)| served != q);
        }
    }

    fn served_of(&self, a: usize) -> Vec<(usize, usize)> {
        self.agent(a)
            .map(|agent| agent.served.clone())
            .unwrap_or_default()
    }

    fn count(&mut self, a: usize, delta: i32) {
        for (q, tier) in self.served_of(a) {
            self.count_one(a, q, tier, delta);
        }
    }

    /// Adds `delta` to the counters of agent `a`'s state in queue `q`.
    fn count_one(&mut self, a: usize, q: usize, tier: usize, delta: i32) {
        let Some(agent) = self.agents.get(a).and_then(Option::as_ref) else {
            return;
        };
        let Some(queue) = self.queues.get_mut(q) else {
            return;
        };
        let state = agent.state.index();
        let tiers = queue.tiers.len();
        let apply = |counts: &mut [u32; STATES]| {
            if let Some(count) = counts.get_mut(state) {
                *count = count.saturating_add_signed(delta);
            }
        };
        apply(&mut queue.counts);
        if let Some(counts) = queue.counts_by_tier.get_mut(tier) {
            apply(counts);
        }
        let mut apply_language = |language: &str| {
            // Looked up before inserting, so a state change allocates no key.
            if !queue.staff.contains_key(language) {
                queue
                    .staff
                    .insert(language.to_owned(), vec![[0; STATES]; tiers]);
            }
            if let Some(counts) = queue.staff.get_mut(language).and_then(|s| s.get_mut(tier)) {
                apply(counts);
            }
        };
        if queue.needs_language {
            for language in &agent.languages {
                apply_language(language);
            }
        } else {
            apply_language("");
        }
    }

    fn insert_ready(&mut self, a: usize) {
        for (q, tier) in self.served_of(a) {
            self.insert_ready_one(a, q, tier);
        }
    }

    fn remove_ready(&mut self, a: usize) {
        for (q, tier) in self.served_of(a) {
            self.remove_ready_one(a, q, tier);
        }
    }

    fn insert_ready_one(&mut self, a: usize, q: usize, tier: usize) {
        self.update_ready_one(a, q, tier, true);
    }

    fn remove_ready_one(&mut self, a: usize, q: usize, tier: usize) {
        self.update_ready_one(a, q, tier, false);
    }

    fn update_ready_one(&mut self, a: usize, q: usize, tier: usize, insert: bool) {
        let Some(agent) = self.agents.get(a).and_then(Option::as_ref) else {
            return;
        };
        let Some(queue) = self.queues.get_mut(q) else {
            return;
        };
        let key = queue.ready_key(agent, a);
        let tiers = queue.tiers.len();
        let mut update = |language: &str| {
            if !queue.ready.contains_key(language) {
                queue
                    .ready
                    .insert(language.to_owned(), vec![BTreeSet::new(); tiers]);
            }
            if let Some(set) = queue.ready.get_mut(language).and_then(|s| s.get_mut(tier)) {
                if insert {
                    set.insert(key);
                } else {
                    set.remove(&key);
                }
            }
        };
        if queue.needs_language {
            for language in &agent.languages {
                update(language);
            }
        } else {
            update("");
        }
    }
}
