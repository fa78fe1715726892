//! Feature codes: an agent dials a code such as `*51` from a registered
//! phone to pause, return to ready, log in or log out. The INVITE must pass
//! digest authentication. flowd then sends a [`FeatureEvent`] and answers.
//! It plays the `feature-ok` prompt, or one second of silence when the
//! prompts folder has none, and hangs up. Feature codes never reach a flow.

use crate::call::DialogEvent;
use crate::media::prompt::Prompt;
use crate::media::sdp::{self, LocalMedia, Negotiated, SessionDescription};
use crate::media::session::{MediaEvent, MediaSession};
use crate::sip::endpoint::Endpoint;
use crate::sip::uas::{Dialog, Incoming};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The prompt played to confirm a feature code, from the prompts folder's
/// `common/` folder.
pub const CONFIRMATION_PROMPT: &str = "feature-ok";

/// How long the call stays up after the ACK when nothing can be played
/// (an INVITE without an SDP offer).
const CONFIRMATION: Duration = Duration::from_secs(1);

/// The time allowed beyond the prompt's length for its playback to end.
const PLAYBACK_MARGIN: Duration = Duration::from_secs(5);

/// How long flowd waits for the ACK of its 200. The SIP core reports a
/// missing ACK sooner, after 64*T1 (32 s by default).
const ACK_WAIT: Duration = Duration::from_secs(40);

/// The numbers agents dial to change their state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureCodes {
    /// Pause with the reason `phone`; default `*51`.
    pub pause: String,
    /// Return to ready; default `*52`.
    pub ready: String,
    /// Log in; default `*50`.
    pub log_in: String,
    /// Log out; default `*59`.
    pub log_out: String,
}

impl Default for FeatureCodes {
    fn default() -> FeatureCodes {
        FeatureCodes {
            pause: String::from("*51"),
            ready: String::from("*52"),
            log_in: String::from("*50"),
            log_out: String::from("*59"),
        }
    }
}

impl FeatureCodes {
    /// Returns the action of the dialled `user` (the Request-URI user with
    /// escapes decoded), or `None` when it is no feature code.
    pub fn action(&self, user: &str) -> Option<FeatureAction> {
        if user.is_empty() {
            None
        } else if user == self.pause {
            Some(FeatureAction::Pause {
                reason: String::from("phone"),
            })
        } else if user == self.ready {
            Some(FeatureAction::Ready)
        } else if user == self.log_in {
            Some(FeatureAction::LogIn)
        } else if user == self.log_out {
            Some(FeatureAction::LogOut)
        } else {
            None
        }
    }
}

/// A state change an agent asked for from the phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeatureAction {
    /// Pause with a reason.
    Pause {
        /// The pause reason; `phone` for the feature code.
        reason: String,
    },
    /// Return to ready.
    Ready,
    /// Log in.
    LogIn,
    /// Log out.
    LogOut,
}

/// A feature code dialled by an authenticated agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureEvent {
    /// The agent of the authenticated SIP user.
    pub agent_id: String,
    /// The requested action.
    pub action: FeatureAction,
    /// The Call-ID of the INVITE.
    pub call_id: String,
}

/// An authenticated feature-code INVITE, ready to be answered.
pub(crate) struct FeatureCall {
    pub(crate) endpoint: Endpoint,
    pub(crate) incoming: Incoming,
    pub(crate) event: FeatureEvent,
    pub(crate) media: MediaSession,
    pub(crate) confirmation: Arc<Prompt>,
    pub(crate) media_ip: IpAddr,
    pub(crate) events: mpsc::UnboundedSender<FeatureEvent>,
}

/// Sends the call's [`FeatureEvent`], answers the INVITE, waits for the
/// ACK, plays the confirmation and ends the call with BYE. `answered`
/// receives the dialog once the 200 is sent, so a supervisor can end the
/// call after a panic.
pub(crate) async fn run(
    call: FeatureCall,
    mut dialog_events: mpsc::UnboundedReceiver<DialogEvent>,
    answered: Arc<Mutex<Option<Dialog>>>,
) {
    let FeatureCall {
        endpoint,
        incoming,
        event,
        mut media,
        confirmation,
        media_ip,
        events,
    } = call;
    let request = &incoming.request;
    let local = LocalMedia {
        address: media_ip,
        port: media.local_addr().port(),
        session_id: u64::from(fastrand::u32(..)),
        session_version: 1,
    };
    // NOTE: an INVITE without an offer gets an offer in the 200, but the
    // answer in the ACK is not read, so that call plays nothing.
    let answer = if request.body.is_empty() {
        Ok((sdp::offer(&local), None))
    } else {
        String::from_utf8(request.body.clone())
            .map_err(|_| String::from("the SDP offer is not UTF-8"))
            .and_then(|text| SessionDescription::parse(&text).map_err(|e| e.to_string()))
            .and_then(|offer| sdp::answer(&offer, &local).map_err(|e| e.to_string()))
            .map(|answer| (answer.sdp, Some(answer.negotiated)))
    };
    let (body, negotiated) = match answer {
        Ok(answer) => answer,
        Err(error) => {
            tracing::info!(%error, "feature-code INVITE rejected with 488");
            endpoint.respond(&incoming.key, request.response(488, Some(&incoming.to_tag)));
            return;
        }
    };
    let Some(dialog) = Dialog::from_invite(request, &incoming.to_tag, incoming.source) else {
        tracing::info!("feature-code INVITE without From tag or Contact rejected with 400");
        endpoint.respond(&incoming.key, request.response(400, Some(&incoming.to_tag)));
        return;
    };

    tracing::info!(agent_id = %event.agent_id, action = ?event.action, "feature code dialled");
    if events.send(event).is_err() {
        tracing::warn!("no receiver of feature-code events; the agent's state is unchanged");
    }

    let mut ok = request.response(200, Some(&incoming.to_tag));
    ok.headers.push("Contact", contact(&incoming));
    ok.headers.push("Content-Type", "application/sdp");
    ok.body = body.into_bytes();
    endpoint.respond(&incoming.key, ok);
    if let Ok(mut slot) = answered.lock() {
        *slot = Some(dialog.clone());
    }

    if !wait(&endpoint, &mut dialog_events, ACK_WAIT, true).await {
        return;
    }
    let confirmed = match negotiated {
        Some(negotiated) => {
            confirm(
                &endpoint,
                &mut dialog_events,
                &mut media,
                negotiated,
                confirmation,
            )
            .await
        }
        None => wait(&endpoint, &mut dialog_events, CONFIRMATION, false).await,
    };
    if !confirmed {
        return;
    }
    let mut dialog = dialog;
    let bye = dialog.request("BYE");
    if let Ok(mut slot) = answered.lock() {
        slot.take();
    }
    match endpoint.send_request(bye, dialog.peer).await {
        Ok(response) => {
            tracing::info!(status = response.status, "feature-code call ended with BYE")
        }
        Err(error) => tracing::info!(%error, "BYE of the feature-code call failed"),
    }
    if let Err(error) = media.finish().await {
        tracing::warn!(%error, "the feature-code call's media task failed");
    }
}

/// Plays `prompt` to the phone and returns true when it ended or its time
/// passed, false when the phone hung up first.
async fn confirm(
    endpoint: &Endpoint,
    dialog_events: &mut mpsc::UnboundedReceiver<DialogEvent>,
    media: &mut MediaSession,
    negotiated: Negotiated,
    prompt: Arc<Prompt>,
) -> bool {
    let limit = Duration::from_millis(prompt.duration_ms()) + PLAYBACK_MARGIN;
    let played = media
        .configure(negotiated)
        .and_then(|()| media.play(vec![prompt], false));
    let Ok(id) = played else {
        tracing::warn!("the media task of a feature-code call stopped; no confirmation played");
        return wait(endpoint, dialog_events, CONFIRMATION, false).await;
    };
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::select! {
            event = media.next_event() => match event {
                Some(MediaEvent::PlaybackEnded { id: ended, .. }) if ended == id => return true,
                Some(_) => {}
                None => return true,
            },
            // `wait` returns true only when `remaining` has passed.
            up = wait(endpoint, dialog_events, remaining, false) => return up,
        }
    }
}

/// Returns the confirmation: the `feature-ok` prompt of `common/` when
/// `prompts` has one, else one second of silence.
pub(crate) fn confirmation_prompt(prompts: &crate::media::prompt::PromptLibrary) -> Arc<Prompt> {
    let common = crate::media::prompt::COMMON;
    prompts
        .resolve(CONFIRMATION_PROMPT, common)
        .unwrap_or_else(|_| Arc::new(Prompt::from_samples("silence", &[0; 8000])))
}

/// Reads dialog events for `limit`: returns true when the ACK came (with
/// `until_ack`) or the time passed, false when the caller hung up or the
/// ACK is missing.
async fn wait(
    endpoint: &Endpoint,
    dialog_events: &mut mpsc::UnboundedReceiver<DialogEvent>,
    limit: Duration,
    until_ack: bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let next = tokio::time::timeout_at(deadline, dialog_events.recv()).await;
        match next {
            Err(_) if until_ack => {
                tracing::info!("no ACK for the feature-code call's 200");
                return false;
            }
            Err(_) => return true,
            Ok(None | Some(DialogEvent::AckTimeout | DialogEvent::Cancelled)) => return false,
            Ok(Some(DialogEvent::Ack(_))) if until_ack => return true,
            Ok(Some(DialogEvent::Ack(_))) => {}
            Ok(Some(DialogEvent::Request(incoming))) => {
                let bye = incoming.request.method == "BYE";
                let status = if bye || incoming.request.method == "INFO" {
                    200
                } else {
                    488
                };
                endpoint.respond(&incoming.key, incoming.request.response(status, None));
                if bye {
                    tracing::info!("the phone ended the feature-code call");
                    return false;
                }
            }
        }
    }
}

/// Builds the Contact of the 200: the listener the INVITE came in on.
fn contact(incoming: &Incoming) -> String {
    let local = incoming.source.local;
    let transport = incoming.source.transport.as_str().to_ascii_lowercase();
    format!("<sip:flowd@{local};transport={transport}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_codes_map_to_actions() {
        let codes = FeatureCodes::default();
        assert_eq!(
            codes.action("*51"),
            Some(FeatureAction::Pause {
                reason: String::from("phone")
            })
        );
        assert_eq!(codes.action("*52"), Some(FeatureAction::Ready));
        assert_eq!(codes.action("*50"), Some(FeatureAction::LogIn));
        assert_eq!(codes.action("*59"), Some(FeatureAction::LogOut));
        assert_eq!(codes.action("*53"), None);
        assert_eq!(codes.action("+38615550100"), None);
        assert_eq!(codes.action(""), None);
    }
}
