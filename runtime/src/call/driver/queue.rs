//! `enqueue`: the caller waits in a queue with music, announcements and a
//! callback offer while the queue service looks for an agent; offered
//! agents are rung from this task, and the first to answer is bridged to
//! the caller until either hangs up.

use super::{Leg, Waited, Wake};
use crate::call::leg::{DialRequest, LegEvent, OutboundLeg};
use crate::call::record::{LegLog, now_millis};
use crate::media::bridge;
use crate::media::prompt::Prompt;
use crate::queue::service::{AgentTarget, Ring, Waiting};
use crate::queue::{CallerSpec, EnqueueError, Leave, OfferResult};
use flowc::bytecode::{AnnounceKind, Queue, QueueId};
use flowc::vm::{QueueOutcome, Reply};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long the callback offer waits while an agent rings or an
/// announcement plays.
const CALLBACK_RETRY: Duration = Duration::from_secs(5);

/// An agent being rung for this caller.
struct Ringing {
    agent: String,
    leg: OutboundLeg,
}

/// A wake-up of the waiting caller's task that does not come from the caller.
enum QueueWake {
    Offer(Ring),
    Leg(usize, LegEvent),
    ServiceGone,
}

/// The next time each announcement is due, and the last position announced.
struct Announcer {
    due: Vec<Option<Instant>>,
    last_position: Option<usize>,
}

impl Announcer {
    fn new(queue: &Queue, entered: Instant) -> Announcer {
        Announcer {
            due: queue.announcements.iter().map(|_| Some(entered)).collect(),
            last_position: None,
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.iter().flatten().min().copied()
    }
}

impl Leg {
    /// Waits in `queue` until an agent answers and the conversation ends,
    /// or the caller hangs up, accepts a callback, or the queue overflows.
    pub(super) async fn enqueue(
        &mut self,
        queue_id: QueueId,
        priority: i64,
        language: &str,
    ) -> Reply {
        if self.hung_up {
            return Reply::HungUp;
        }
        let module = self.program.module();
        let Some(queue) = module.queues.get(queue_id.0 as usize).cloned() else {
            tracing::error!(
                queue = queue_id.0,
                "the flow names a queue its module lacks"
            );
            return Reply::Queue(QueueOutcome::NoAgents);
        };
        let Some(service) = self.shared.queues.clone() else {
            tracing::info!(queue = %queue.name, "no queue service runs; no agents");
            return Reply::Queue(QueueOutcome::NoAgents);
        };
        let sticky_agent = self.sticky_agent(&queue).await;
        let entered = Instant::now();
        let entered_ms = service.now_ms();
        let caller = CallerSpec {
            id: service.caller_id(),
            priority,
            language: language.to_string(),
            sticky_agent,
            entered_at_ms: entered_ms,
        };
        let mut waiting = match service.enqueue(&queue, caller).await {
            Ok(waiting) => waiting,
            Err(EnqueueError::Full) => {
                tracing::info!(queue = %queue.name, "queue full");
                return Reply::Queue(QueueOutcome::Full);
            }
            Err(error) => {
                tracing::info!(queue = %queue.name, ?error, "no agent can take the call");
                return Reply::Queue(QueueOutcome::NoAgents);
            }
        };
        tracing::info!(queue = %queue.name, caller = waiting.caller, priority, "caller waits in queue");
        let span = tracing::info_span!("queue", queue = %queue.name, caller = waiting.caller);
        let _entered = span.enter();
        drop(_entered);
        let outcome = self
            .wait_in_queue(&queue, &mut waiting, entered, language)
            .await;
        let wait_ms = entered.elapsed().as_millis() as u64;
        match outcome {
            QueueResult::Answered {
                agent,
                wait_ms,
                talk_ms,
            } => Reply::Queue(QueueOutcome::Answered {
                agent,
                wait_ms,
                talk_ms,
            }),
            QueueResult::Ended(end) => Reply::Queue(match end {
                QueueEnd::Abandoned => QueueOutcome::Abandoned { wait_ms },
                QueueEnd::MaxWait => QueueOutcome::MaxWait { wait_ms },
                QueueEnd::Callback => QueueOutcome::Callback { wait_ms },
                QueueEnd::NoAgents => QueueOutcome::NoAgents,
            }),
        }
    }

    /// Writes the queue, agent and wait to the call's row, so a crash
    /// during the talk keeps them on the interrupted record.
    async fn journal_bridged(&self, queue: &str, agent: &str, wait_ms: u64) {
        if let Some(journal) = &self.shared.journal {
            let entry = crate::call::persist::JournalEntry::Bridged {
                call_id: self.log.call_id.clone(),
                queue: queue.to_string(),
                agent: agent.to_string(),
                wait_ms: i64::try_from(wait_ms).unwrap_or(i64::MAX),
            };
            let _ = journal.enqueue(entry).await;
        }
    }

    /// Returns the contact's last agent when the queue is sticky.
    async fn sticky_agent(&self, queue: &Queue) -> Option<String> {
        queue.sticky_ms?;
        let store = self.shared.store.as_ref()?;
        let caller = self.info.from.as_deref()?;
        match tokio::time::timeout(
            Duration::from_millis(500),
            store.last_agent_by_phone(caller),
        )
        .await
        {
            Ok(Ok(agent)) => agent,
            Ok(Err(error)) => {
                tracing::warn!(%error, "the last agent could not be read; no sticky agent");
                None
            }
            Err(_) => {
                tracing::warn!("reading the last agent timed out; no sticky agent");
                None
            }
        }
    }

    async fn wait_in_queue(
        &mut self,
        queue: &Queue,
        waiting: &mut Waiting,
        entered: Instant,
        language: &str,
    ) -> QueueResult {
        let music = self.resolve_prompt(&queue.music, language);
        self.start_music(music.as_ref());
        let mut announcer = Announcer::new(queue, entered);
        let mut announcing: Option<u64> = None;
        let mut callback_due = queue
            .callback
            .map(|offer| entered + Duration::from_millis(offer.after_ms));
        let mut callback_offered = false;
        let max_wait = queue
            .max_wait_ms
            .map(|ms| entered + Duration::from_millis(ms));
        let ring_timeout = self.shared.agents_config.ring_timeout;
        let mut ringing: Vec<Ringing> = Vec::new();
        loop {
            let deadline = [
                if announcing.is_none() {
                    announcer.next_due()
                } else {
                    None
                },
                callback_due,
                max_wait,
            ]
            .into_iter()
            .flatten()
            .min();
            let work = next_queue_wake(&mut waiting.offers, &mut ringing);
            match self.wait_for(deadline, work).await {
                Waited::Done(QueueWake::Offer(ring)) => {
                    for target in ring.targets {
                        match self.dial_agent(queue, &target, ring_timeout).await {
                            Ok(leg) => ringing.push(Ringing {
                                agent: target.agent,
                                leg,
                            }),
                            Err(error) => {
                                tracing::warn!(agent = %target.agent, %error, "agent could not be rung");
                                self.shared.queues_offer_result(
                                    waiting.caller,
                                    &target.agent,
                                    OfferResult::Failed,
                                );
                            }
                        }
                    }
                }
                Waited::Done(QueueWake::Leg(index, event)) => match event {
                    LegEvent::Ringing => {}
                    LegEvent::Answered => {
                        let winner = ringing.swap_remove(index);
                        cancel_all(&mut ringing).await;
                        self.shared.queues_offer_result(
                            waiting.caller,
                            &winner.agent,
                            OfferResult::Answered,
                        );
                        waiting.answered();
                        let agent = winner.agent.clone();
                        let wait_ms = entered.elapsed().as_millis() as u64;
                        self.journal_bridged(&queue.name, &agent, wait_ms).await;
                        let talk_ms = self.talk(queue, winner).await;
                        if let Some(service) = &self.shared.queues {
                            service.call_ended(&agent, talk_ms);
                        }
                        self.log.wrapup_ms = queue.wrapup_ms;
                        return QueueResult::Answered {
                            agent,
                            wait_ms,
                            talk_ms,
                        };
                    }
                    other => {
                        let lost = ringing.swap_remove(index);
                        let result = match &other {
                            LegEvent::Timeout => OfferResult::NoAnswer,
                            LegEvent::Rejected {
                                status: 486 | 600 | 603,
                                ..
                            } => OfferResult::Busy,
                            _ => OfferResult::Failed,
                        };
                        tracing::info!(agent = %lost.agent, event = ?other, ?result, "agent did not answer");
                        self.shared
                            .queues_offer_result(waiting.caller, &lost.agent, result);
                    }
                },
                Waited::Done(QueueWake::ServiceGone) => {
                    cancel_all(&mut ringing).await;
                    return QueueResult::Ended(QueueEnd::NoAgents);
                }
                Waited::Wake(Wake::HungUp) => {
                    tracing::info!("the caller hung up while waiting");
                    cancel_all(&mut ringing).await;
                    waiting.leave(Leave::Abandoned);
                    return QueueResult::Ended(QueueEnd::Abandoned);
                }
                Waited::Wake(Wake::Key(key)) => {
                    let accepts = callback_offered
                        && queue.callback.is_some_and(|offer| offer.key == key)
                        && ringing.is_empty();
                    if accepts && self.callback(queue, waiting, entered, language).await {
                        waiting.leave(Leave::Callback);
                        return QueueResult::Ended(QueueEnd::Callback);
                    }
                    if self.hung_up {
                        waiting.leave(Leave::Abandoned);
                        return QueueResult::Ended(QueueEnd::Abandoned);
                    }
                    if accepts {
                        announcing = None;
                        self.start_music(music.as_ref());
                    }
                }
                Waited::Wake(Wake::PlaybackEnded(id)) => {
                    if announcing == Some(id) {
                        announcing = None;
                        self.start_music(music.as_ref());
                    }
                }
                Waited::Wake(Wake::Timeout) => {
                    let now = Instant::now();
                    if max_wait.is_some_and(|at| at <= now) {
                        tracing::info!("maximum wait reached");
                        cancel_all(&mut ringing).await;
                        waiting.leave(Leave::MaxWait);
                        return QueueResult::Ended(QueueEnd::MaxWait);
                    }
                    if callback_due.is_some_and(|at| at <= now) {
                        if ringing.is_empty() && announcing.is_none() {
                            callback_due = None;
                            callback_offered = true;
                            announcing = self.play_named(&["callback-offer"], language);
                        } else {
                            // An agent rings or an announcement plays: the
                            // offer follows a little later.
                            callback_due = Some(now + CALLBACK_RETRY);
                        }
                        continue;
                    }
                    if announcing.is_none() {
                        announcing = self
                            .announce(queue, waiting, &mut announcer, now, language)
                            .await;
                    }
                }
            }
        }
    }

    /// Plays the announcements due at `now`; returns the playback id.
    async fn announce(
        &mut self,
        queue: &Queue,
        waiting: &Waiting,
        announcer: &mut Announcer,
        now: Instant,
        language: &str,
    ) -> Option<u64> {
        let mut names: Vec<String> = Vec::new();
        let service = self.shared.queues.clone()?;
        for (index, announcement) in queue.announcements.iter().enumerate() {
            let Some(due) = announcer.due.get_mut(index) else {
                continue;
            };
            if due.is_none_or(|due| due > now) {
                continue;
            }
            *due = announcement
                .every_ms
                .map(|every| now + Duration::from_millis(every));
            match &announcement.what {
                AnnounceKind::Prompt(name) => names.push(name.clone()),
                kind => {
                    let (position, wait) = service.position(waiting.caller).await;
                    let wants_position =
                        matches!(kind, AnnounceKind::Position | AnnounceKind::PositionAndWait);
                    let wants_wait =
                        matches!(kind, AnnounceKind::Wait | AnnounceKind::PositionAndWait);
                    // A position is announced the first time and then only when it changed.
                    let position = position
                        .filter(|_| wants_position)
                        .filter(|position| announcer.last_position != Some(*position));
                    if let Some(position) = position {
                        announcer.last_position = Some(position);
                    }
                    let wait = wait.filter(|_| wants_wait);
                    names.extend(crate::media::say::wait_announcement(
                        language, position, wait,
                    ));
                }
            }
        }
        tracing::debug!(prompts = ?names, "queue announcement");
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.play_named(&names, language)
    }

    /// Starts prompts by name; returns the playback id, `None` when none
    /// of them exists.
    pub(super) fn play_named(&mut self, names: &[&str], language: &str) -> Option<u64> {
        let prompts: Vec<Arc<Prompt>> = names
            .iter()
            .filter_map(|name| self.resolve_prompt(name, language))
            .collect();
        if prompts.is_empty() {
            return None;
        }
        self.media.play(prompts, false).ok()
    }

    fn resolve_prompt(&self, name: &str, language: &str) -> Option<Arc<Prompt>> {
        match self.shared.prompts.resolve(name, language) {
            Ok(prompt) => Some(prompt),
            Err(error) => {
                tracing::warn!(%error, "prompt skipped");
                None
            }
        }
    }

    fn start_music(&mut self, music: Option<&Arc<Prompt>>) {
        if let Some(music) = music {
            let _ = self.media.play_music(music.clone());
        }
    }

    /// Rings one agent with the caller's identity.
    async fn dial_agent(
        &mut self,
        queue: &Queue,
        target: &AgentTarget,
        ring_timeout: Duration,
    ) -> Result<OutboundLeg, String> {
        let request = DialRequest {
            uri: target.uri.clone(),
            destination: target.destination,
            caller: self.identity.clone(),
            ring_timeout,
            headers: vec![
                (String::from("X-Tok-Queue"), queue.name.clone()),
                (String::from("X-Tok-Call-Id"), self.dialog.call_id.clone()),
            ],
            parent_call_id: self.dialog.call_id.clone(),
        };
        tracing::info!(agent = %target.agent, uri = %target.uri, "ringing agent");
        OutboundLeg::dial(&self.shared.leg_context(), request)
            .await
            .map_err(|error| error.to_string())
    }

    /// Bridges the caller to the agent who answered until either hangs up;
    /// returns the talk time in milliseconds.
    async fn talk(&mut self, queue: &Queue, mut winner: Ringing) -> u64 {
        let _ = self.media.stop_playback();
        let started = Instant::now();
        let started_ms = now_millis();
        let bridge = bridge::bridge(&self.media, winner.leg.media());
        tracing::info!(agent = %winner.agent, queue = %queue.name, "caller bridged to agent");
        let agent_hung_up = loop {
            match self.wait_for(None, winner.leg.next_event()).await {
                Waited::Done(LegEvent::HungUp | LegEvent::Failed(_)) => break true,
                Waited::Done(_) => {}
                Waited::Wake(Wake::HungUp) => break false,
                Waited::Wake(Wake::Key(_) | Wake::PlaybackEnded(_) | Wake::Timeout) => {}
            }
        };
        drop(bridge);
        if agent_hung_up {
            tracing::info!(agent = %winner.agent, "the agent hung up");
        } else {
            tracing::info!(agent = %winner.agent, "the caller hung up; ending the agent's call");
            winner.leg.hangup().await;
        }
        let ended_ms = now_millis();
        self.log.legs.push(LegLog {
            role: String::from("agent"),
            call_id: winner.leg.call_id().to_string(),
            from: String::new(),
            to: winner.agent.clone(),
            remote: String::new(),
            codec: None,
            started_at: started_ms,
            answered_at: Some(started_ms),
            ended_at: Some(ended_ms),
        });
        started.elapsed().as_millis() as u64
    }
}

/// The end of a caller's wait in a queue.
pub(super) enum QueueResult {
    /// An agent answered after the caller waited `wait_ms`, and they
    /// talked for `talk_ms`.
    Answered {
        agent: String,
        wait_ms: u64,
        talk_ms: u64,
    },
    /// The caller left without an agent.
    Ended(QueueEnd),
}

/// The end of a wait without an agent.
pub(super) enum QueueEnd {
    Abandoned,
    MaxWait,
    Callback,
    NoAgents,
}

/// Waits for the next offer or event of a ringing agent's leg.
async fn next_queue_wake(
    offers: &mut tokio::sync::mpsc::UnboundedReceiver<Ring>,
    ringing: &mut [Ringing],
) -> QueueWake {
    let legs = async {
        if ringing.is_empty() {
            return std::future::pending().await;
        }
        let events = ringing
            .iter_mut()
            .enumerate()
            .map(|(index, ring)| Box::pin(async move { (index, ring.leg.next_event().await) }));
        let ((index, event), _, _) = futures_util::future::select_all(events).await;
        (index, event)
    };
    tokio::select! {
        offer = offers.recv() => match offer {
            Some(ring) => QueueWake::Offer(ring),
            None => QueueWake::ServiceGone,
        },
        (index, event) = legs => QueueWake::Leg(index, event),
    }
}

/// Cancels every agent still ringing.
async fn cancel_all(ringing: &mut Vec<Ringing>) {
    for mut ring in ringing.drain(..) {
        tracing::info!(agent = %ring.agent, "ringing cancelled");
        ring.leg.cancel().await;
    }
}
