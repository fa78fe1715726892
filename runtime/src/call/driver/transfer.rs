//! `transfer` to a SIP URI: flowd dials the target as an outbound leg and
//! bridges the caller to it until either side hangs up.

use super::{Leg, Wake};
use crate::call::leg::{DialRequest, LegEvent, OutboundLeg};
use crate::call::record::{LegLog, now_millis};
use crate::media::bridge;
use flowc::vm::Reply;
use std::time::Duration;

/// How long a transfer target may ring before it is cancelled.
// TODO: take the ring timeout from the queue or `tok.yaml`.
const TRANSFER_RING_TIMEOUT: Duration = Duration::from_secs(30);

impl Leg {
    /// Dials `target` and bridges the caller to it. The caller hanging up
    /// while it rings cancels the leg; after the answer, either side
    /// hanging up ends the other. `transfer` ends `on call`, so when the
    /// target rejects, fails or does not answer, `after call` runs and
    /// flowd hangs up.
    pub(super) async fn transfer(&mut self, target: &str) -> Reply {
        if self.hung_up {
            return Reply::HungUp;
        }
        // TODO: a denied or failed transfer still ends `on call` with the
        // outcome `transferred`; the VM has no reply for a failed ending.
        // The allow-list of `tok.yaml` decides, so a flow that reads digits
        // into a destination cannot reach premium or foreign numbers.
        let destination = match self
            .shared
            .transfer
            .check(target, self.shared.flows.country_code())
        {
            Ok(destination) => destination,
            Err(denied) => {
                tracing::warn!(%target, %denied, "transfer denied; the call ends");
                return Reply::Done;
            }
        };
        let request = DialRequest {
            uri: destination.uri.clone(),
            destination: None,
            caller: self.identity.clone(),
            ring_timeout: TRANSFER_RING_TIMEOUT,
            headers: vec![(String::from("X-Tok-Call-Id"), self.dialog.call_id.clone())],
            parent_call_id: self.dialog.call_id.clone(),
        };

        let context = self.shared.leg_context();
        let started_at = now_millis();
        let mut leg = match OutboundLeg::dial(&context, request).await {
            Ok(leg) => leg,
            Err(error) => {
                tracing::warn!(%target, %error, "transfer failed; the call ends");
                return Reply::Done;
            }
        };
        tracing::info!(%target, leg_call_id = %leg.call_id(), "transfer dialled");

        loop {
            tokio::select! {
                event = leg.next_event() => match event {
                    LegEvent::Ringing => {}
                    LegEvent::Answered => break,
                    other => {
                        tracing::info!(%target, event = ?other, "transfer target did not answer; the call ends");
                        return Reply::Done;
                    }
                },
                wake = self.wait(None) => {
                    if matches!(wake, Wake::HungUp) {
                        tracing::info!("the caller hung up while the transfer target rang");
                        leg.cancel().await;
                        return Reply::HungUp;
                    }
                }
            }
        }

        // The agent's leg joins the call's record, with its own times.
        let answered_at = now_millis();
        let index = self.log.legs.len();
        self.log.legs.push(LegLog {
            role: String::from("agent"),
            call_id: leg.call_id().to_string(),
            from: leg.from_header().to_string(),
            to: leg.to_header(),
            remote: leg.remote().to_string(),
            codec: leg
                .codec()
                .map(|codec| format!("{codec:?}").to_ascii_uppercase()),
            started_at,
            answered_at: Some(answered_at),
            ended_at: None,
        });
        let bridged = bridge::bridge(&self.media, leg.media());
        loop {
            tokio::select! {
                event = leg.next_event() => match event {
                    LegEvent::Ringing | LegEvent::Answered => {}
                    other => {
                        tracing::info!(event = ?other, "the transfer target ended the call; hanging up the caller");
                        bridged.unbridge();
                        self.end_agent_leg(index);
                        self.bye().await;
                        return Reply::Done;
                    }
                },
                wake = self.wait(None) => {
                    if matches!(wake, Wake::HungUp) {
                        tracing::info!("the caller hung up; ending the transfer target's leg");
                        bridged.unbridge();
                        leg.hangup().await;
                        self.end_agent_leg(index);
                        return Reply::HungUp;
                    }
                }
            }
        }
    }

    fn end_agent_leg(&mut self, index: usize) {
        if let Some(agent_leg) = self.log.legs.get_mut(index) {
            agent_leg.ended_at = Some(now_millis());
        }
    }
}
