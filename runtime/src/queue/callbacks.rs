//! The callback dialer: each stored callback waits in its queue at the
//! place its caller left; when an agent is offered, the agent is rung
//! first and, once they answer, the customer is called through the trunk
//! and bridged. Failed attempts are retried; the final outcome is stored.
//! Pending callbacks are read back at start, so a restart loses none.

use super::service::{QueueService, Ring};
use super::{CallerSpec, OfferResult};
use crate::call::leg::{DialRequest, LegContext, LegEvent, LegIdentity, OutboundLeg};
use crate::media::bridge;
use crate::store::{CallbackRow, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The callback settings of `tok.yaml`.
#[derive(Clone, Debug)]
pub struct CallbackSettings {
    /// The trunk customers are called through (`callbacks.trunk`).
    pub trunk: Option<crate::config::Trunk>,
    /// Attempts to reach the customer before the callback fails.
    pub attempts: u32,
    /// Time between attempts.
    pub retry: Duration,
    /// How long the customer's phone rings.
    pub ring_timeout: Duration,
    /// How long an agent's phone rings.
    pub agent_ring_timeout: Duration,
}

/// The handle of the callback dialer; cheap to clone.
#[derive(Clone)]
pub struct Callbacks {
    inner: Arc<Inner>,
}

struct Inner {
    service: QueueService,
    store: Store,
    legs: LegContext,
    settings: CallbackSettings,
    /// Queue declarations by name, from the loaded flows.
    queues: HashMap<String, flowc::bytecode::Queue>,
}

impl Callbacks {
    /// Starts the dialer and resumes the callbacks left pending by the
    /// last run.
    pub async fn start(
        service: QueueService,
        store: Store,
        legs: LegContext,
        settings: CallbackSettings,
        queues: HashMap<String, flowc::bytecode::Queue>,
    ) -> Callbacks {
        let callbacks = Callbacks {
            inner: Arc::new(Inner {
                service,
                store,
                legs,
                settings,
                queues,
            }),
        };
        match callbacks.inner.store.pending_callbacks().await {
            Ok(pending) => {
                tracing::info!(callbacks = pending.len(), "pending callbacks resumed");
                for row in pending {
                    callbacks.add(row);
                }
            }
            Err(error) => tracing::error!(%error, "pending callbacks could not be read"),
        }
        callbacks
    }

    /// Starts working on a stored callback.
    pub fn add(&self, row: CallbackRow) {
        let inner = self.inner.clone();
        let span = tracing::info_span!("callback", id = row.id, call_id = %row.call_id, queue = %row.queue);
        tokio::spawn(tracing::Instrument::instrument(
            async move { inner.run(row).await },
            span,
        ));
    }
}

/// How one attempt ended.
enum Attempt {
    /// The customer was reached and talked to the agent.
    Answered { agent: String },
    /// The customer was not reached; the reason is stored.
    Missed { agent: String, reason: String },
    /// The callback cannot go on (its queue is gone, the service stopped).
    Abort(String),
}

impl Inner {
    async fn run(&self, mut row: CallbackRow) {
        let Some(queue) = self.queues.get(&row.queue).cloned() else {
            tracing::error!(queue = %row.queue, "callback's queue is not declared by any loaded flow");
            self.finish(&mut row, "failed", "queue not found", None)
                .await;
            return;
        };
        loop {
            let wait = row
                .next_attempt_at
                .saturating_sub(crate::call::record::now_millis());
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
            match self.attempt(&queue, &row).await {
                Attempt::Answered { agent } => {
                    row.attempts += 1;
                    row.agent = Some(agent.clone());
                    self.finish(&mut row, "done", "answered", Some(agent)).await;
                    return;
                }
                Attempt::Missed { agent, reason } => {
                    row.attempts += 1;
                    if row.attempts >= self.settings.attempts {
                        tracing::info!(attempts = row.attempts, %reason, "callback failed");
                        self.finish(&mut row, "failed", &reason, Some(agent)).await;
                        return;
                    }
                    row.next_attempt_at = crate::call::record::now_millis()
                        + i64::try_from(self.settings.retry.as_millis()).unwrap_or(i64::MAX);
                    row.last_error = Some(reason.clone());
                    tracing::info!(attempts = row.attempts, %reason, "callback attempt failed; retrying");
                    self.save(&row, "pending", Some(&agent), None).await;
                }
                Attempt::Abort(reason) => {
                    tracing::warn!(%reason, "callback stopped; it stays pending for the next start");
                    return;
                }
            }
        }
    }

    /// Waits for an agent at the callback's place, rings the agent, then
    /// the customer.
    async fn attempt(&self, queue: &flowc::bytecode::Queue, row: &CallbackRow) -> Attempt {
        let caller = CallerSpec {
            id: self.service.caller_id(),
            priority: row.priority,
            language: row.language.clone().unwrap_or_default(),
            sticky_agent: None,
            entered_at_ms: u64::try_from(row.entered_at).unwrap_or(0),
        };
        let mut waiting = match self.service.enqueue(queue, caller).await {
            Ok(waiting) => waiting,
            Err(error) => {
                // Nobody can take it now: try again after the retry time.
                return Attempt::Missed {
                    agent: String::new(),
                    reason: format!("no agent: {error:?}"),
                };
            }
        };
        loop {
            let Some(Ring { targets }) = waiting.offers.recv().await else {
                return Attempt::Abort(String::from("the queue service stopped"));
            };
            // One agent at a time: a callback rings the first target only
            // and reports the others as failed so they go back to ready.
            let mut targets = targets.into_iter();
            let Some(target) = targets.next() else {
                continue;
            };
            for other in targets {
                self.service
                    .offer_result(waiting.caller, &other.agent, OfferResult::Failed);
            }
            let request = DialRequest {
                uri: target.uri.clone(),
                destination: target.destination,
                caller: LegIdentity {
                    number: Some(row.number.clone()),
                    display: Some(String::from("Callback")),
                    private: false,
                },
                ring_timeout: self.settings.agent_ring_timeout,
                headers: vec![
                    (String::from("X-Tok-Queue"), row.queue.clone()),
                    (String::from("X-Tok-Callback"), row.id.to_string()),
                ],
                parent_call_id: row.call_id.clone(),
            };
            let mut agent_leg = match OutboundLeg::dial(&self.legs, request).await {
                Ok(leg) => leg,
                Err(error) => {
                    tracing::warn!(agent = %target.agent, %error, "agent could not be rung");
                    self.service
                        .offer_result(waiting.caller, &target.agent, OfferResult::Failed);
                    continue;
                }
            };
            let result = loop {
                match agent_leg.next_event().await {
                    LegEvent::Ringing => {}
                    LegEvent::Answered => break OfferResult::Answered,
                    LegEvent::Timeout => break OfferResult::NoAnswer,
                    LegEvent::Rejected {
                        status: 486 | 600 | 603,
                        ..
                    } => {
                        break OfferResult::Busy;
                    }
                    _ => break OfferResult::Failed,
                }
            };
            let answered = matches!(result, OfferResult::Answered);
            self.service
                .offer_result(waiting.caller, &target.agent, result);
            if !answered {
                continue;
            }
            waiting.answered();
            let agent = target.agent.clone();
            let _ = self
                .store
                .update_callback(
                    row.id,
                    "dialing",
                    row.attempts,
                    row.next_attempt_at,
                    Some(&agent),
                    None,
                    None,
                )
                .await;
            return self.call_customer(row, agent, agent_leg).await;
        }
    }

    /// Calls the customer for an agent who answered and bridges them.
    async fn call_customer(
        &self,
        row: &CallbackRow,
        agent: String,
        mut agent_leg: OutboundLeg,
    ) -> Attempt {
        let Some(trunk) = &self.settings.trunk else {
            agent_leg.hangup().await;
            self.service.call_ended(&agent, 0);
            return Attempt::Abort(String::from("no trunk for callbacks (callbacks.trunk)"));
        };
        let uri = trunk.number_uri(&row.number);
        let request = DialRequest {
            uri,
            destination: None,
            caller: LegIdentity {
                number: None,
                display: None,
                private: false,
            },
            ring_timeout: self.settings.ring_timeout,
            headers: vec![(String::from("X-Tok-Callback"), row.id.to_string())],
            parent_call_id: row.call_id.clone(),
        };
        let mut customer = match OutboundLeg::dial(&self.legs, request).await {
            Ok(leg) => leg,
            Err(error) => {
                agent_leg.hangup().await;
                self.service.call_ended(&agent, 0);
                return Attempt::Missed {
                    agent,
                    reason: format!("customer could not be called: {error}"),
                };
            }
        };
        let answer = loop {
            tokio::select! {
                event = customer.next_event() => match event {
                    LegEvent::Ringing => {}
                    LegEvent::Answered => break Ok(()),
                    LegEvent::Timeout => break Err(String::from("no answer")),
                    LegEvent::Rejected { status, reason } => break Err(format!("{status} {reason}")),
                    other => break Err(format!("{other:?}")),
                },
                event = agent_leg.next_event() => {
                    if matches!(event, LegEvent::HungUp | LegEvent::Failed(_)) {
                        customer.cancel().await;
                        self.service.call_ended(&agent, 0);
                        return Attempt::Missed { agent, reason: String::from("the agent hung up before the customer answered") };
                    }
                }
            }
        };
        if let Err(reason) = answer {
            agent_leg.hangup().await;
            self.service.call_ended(&agent, 0);
            return Attempt::Missed { agent, reason };
        }
        tracing::info!(%agent, number = %row.number, "customer answered the callback");
        let started = tokio::time::Instant::now();
        let bridged = bridge::bridge(agent_leg.media(), customer.media());
        let agent_ended = tokio::select! {
            _ = wait_end(&mut agent_leg) => true,
            _ = wait_end(&mut customer) => false,
        };
        drop(bridged);
        if agent_ended {
            customer.hangup().await;
        } else {
            agent_leg.hangup().await;
        }
        self.service
            .call_ended(&agent, started.elapsed().as_millis() as u64);
        Attempt::Answered { agent }
    }

    async fn finish(
        &self,
        row: &mut CallbackRow,
        status: &str,
        outcome: &str,
        agent: Option<String>,
    ) {
        self.save(row, status, agent.as_deref(), Some(outcome))
            .await;
    }

    async fn save(
        &self,
        row: &CallbackRow,
        status: &str,
        agent: Option<&str>,
        outcome: Option<&str>,
    ) {
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=5 {
            match self
                .store
                .update_callback(
                    row.id,
                    status,
                    row.attempts,
                    row.next_attempt_at,
                    agent,
                    outcome,
                    row.last_error.as_deref(),
                )
                .await
            {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, attempt, "callback state not stored; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }
}

/// Waits until a bridged leg ends.
async fn wait_end(leg: &mut OutboundLeg) {
    loop {
        if matches!(
            leg.next_event().await,
            LegEvent::HungUp | LegEvent::Failed(_)
        ) {
            return;
        }
    }
}
