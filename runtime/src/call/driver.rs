//! One call's task: answers the INVITE, then resumes the VM with the reply
//! to each effect until the flow is finished, while handling the dialog's
//! requests (BYE, INFO, re-INVITE, UPDATE) as they arrive.

use super::{DialogEvent, Shared};
use crate::media::dtmf;
use crate::media::prompt::Prompt;
use crate::media::sdp::{self, LocalMedia, SdpError, SessionDescription};
use crate::media::session::{MediaEvent, MediaSession};
use crate::sip::header::{NameAddr, Uri};
use crate::sip::message::{Request, Response};
use crate::sip::uas::{Dialog, Incoming};
use flowc::bytecode::Key;
use flowc::vm::{self, CallInfo, CallOptions, Effect, QueueOutcome, Reply, TraceLevel};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Maximum length of a voicemail message.
const VOICEMAIL_LIMIT: Duration = Duration::from_secs(120);

/// The reason a wait ended.
enum Wake {
    Key(Key),
    PlaybackEnded(u64),
    HungUp,
    Timeout,
}

/// The state of one answered call.
struct Leg {
    shared: Arc<Shared>,
    dialog: Dialog,
    media: MediaSession,
    local: LocalMedia,
    events: mpsc::UnboundedReceiver<DialogEvent>,
    ending: tokio::sync::watch::Receiver<bool>,
    program: Arc<vm::Program>,
    info: CallInfo,
    /// An offer sent in the 2xx whose answer comes in the ACK.
    awaiting_answer: bool,
    /// True once the caller is gone: their BYE, CANCEL or missing ACK, or
    /// the BYE flowd sent.
    hung_up: bool,
}

/// Runs one call from its INVITE to its end. While the call is answered,
/// `answered` holds its dialog, so a supervisor can send BYE if the task
/// panics.
pub(super) async fn run(
    shared: Arc<Shared>,
    incoming: Incoming,
    events: mpsc::UnboundedReceiver<DialogEvent>,
    answered: Arc<Mutex<Option<Dialog>>>,
) {
    let Some(mut leg) = answer(shared, incoming, events).await else {
        return;
    };
    if let Ok(mut slot) = answered.lock() {
        *slot = Some(leg.dialog.clone());
    }
    drive(&mut leg).await;
    if !leg.hung_up {
        leg.bye().await;
    }
    if let Ok(mut slot) = answered.lock() {
        *slot = None;
    }
    match leg.media.finish().await {
        Ok(stats) => tracing::info!(
            sent = stats.packets_sent,
            received = stats.packets_received,
            keys = stats.keys,
            "call ended"
        ),
        Err(error) => tracing::warn!(%error, "the call's media task failed"),
    }
}

/// Answers the INVITE: negotiates SDP, starts the media and sends the 2xx.
/// Returns `None` when the INVITE got an error response instead.
async fn answer(
    shared: Arc<Shared>,
    incoming: Incoming,
    events: mpsc::UnboundedReceiver<DialogEvent>,
) -> Option<Leg> {
    let request = &incoming.request;
    let reject = |status: u16, warning: Option<String>| {
        let mut response = request.response(status, Some(&incoming.to_tag));
        if let Some(warning) = warning {
            tracing::info!(status, %warning, "INVITE rejected");
            response.headers.push(
                "Warning",
                format!("399 flowd \"{}\"", warning.replace('"', "'")),
            );
        }
        shared.endpoint.respond(&incoming.key, response);
    };
    let Some(dialog) = Dialog::from_invite(request, &incoming.to_tag, incoming.source) else {
        reject(
            400,
            Some(String::from("the INVITE needs a From tag and a Contact")),
        );
        return None;
    };
    let info = call_info(&shared, request, incoming.source.remote.ip());
    let Some(program) = shared.flows.program(&info.to).cloned() else {
        reject(404, Some(format!("no flow answers `{}`", info.to)));
        return None;
    };
    let offer = if request.body.is_empty() {
        None
    } else {
        let text = String::from_utf8_lossy(&request.body);
        match SessionDescription::parse(&text) {
            Ok(offer) => Some(offer),
            Err(error) => {
                reject(400, Some(error.to_string()));
                return None;
            }
        }
    };
    let media = match MediaSession::start(&shared.pool, shared.media_ip) {
        Ok(media) => media,
        Err(error) => {
            let mut response = request.response(503, Some(&incoming.to_tag));
            response.headers.push("Retry-After", "5");
            tracing::warn!(%error, "no RTP port for the call");
            shared.endpoint.respond(&incoming.key, response);
            return None;
        }
    };
    let session_id = u64::from(media.local_addr().port()) << 32 | u64::from(dialog.remote_seq);
    let local = LocalMedia {
        address: shared.media_ip,
        port: media.local_addr().port(),
        session_id,
        session_version: 1,
    };
    let (body, awaiting_answer) = match &offer {
        Some(offer) => match sdp::answer(offer, &local) {
            Ok(answer) => {
                if media.configure(answer.negotiated).is_err() {
                    reject(500, Some(String::from("the call's media task ended")));
                    return None;
                }
                (answer.sdp, false)
            }
            Err(error @ (SdpError::NoCommonCodec { .. } | SdpError::NoAudio)) => {
                reject(488, Some(error.to_string()));
                return None;
            }
            Err(error) => {
                reject(400, Some(error.to_string()));
                return None;
            }
        },
        None => (sdp::offer(&local), true),
    };
    let mut ok = request.response(200, Some(&incoming.to_tag));
    ok.headers.push("Contact", contact(&incoming));
    ok.headers.push("Allow", crate::sip::uas::ALLOW);
    ok.headers.push("Content-Type", "application/sdp");
    ok.body = body.into_bytes();
    shared.endpoint.respond(&incoming.key, ok);
    tracing::info!(late_offer = awaiting_answer, rtp = %media.local_addr(), "call answered");
    let ending = shared.ending.clone();
    Some(Leg {
        ending,
        shared,
        dialog,
        media,
        local,
        events,
        program,
        info,
        awaiting_answer,
        hung_up: false,
    })
}

/// Builds the Contact of flowd's responses: the listener the INVITE came in on.
fn contact(incoming: &Incoming) -> String {
    let local = incoming.source.local;
    let transport = incoming.source.transport.as_str().to_ascii_lowercase();
    format!("<sip:flowd@{local};transport={transport}>")
}

/// Builds the VM's view of the call: the dialled number from the
/// Request-URI (else To), the caller from P-Asserted-Identity when the
/// peer is trusted (else From), `None` for anonymous callers.
fn call_info(shared: &Shared, request: &Request, peer: std::net::IpAddr) -> CallInfo {
    let user_of = |value: &str| {
        let uri = NameAddr::parse(value).ok()?.uri;
        Uri::parse(&uri).ok()?.user().map(str::to_string)
    };
    let dialled = Uri::parse(&request.uri)
        .ok()
        .and_then(|uri| uri.user().map(str::to_string))
        .filter(|user| shared.flows.program(user).is_some())
        .or_else(|| request.headers.get("To").and_then(user_of))
        .unwrap_or_default();
    let asserted = shared
        .trusted
        .contains(&peer)
        .then(|| request.headers.get("P-Asserted-Identity").and_then(user_of))
        .flatten();
    let from = asserted
        .or_else(|| request.headers.get("From").and_then(user_of))
        .filter(|user| !user.eq_ignore_ascii_case("anonymous") && !user.is_empty());
    CallInfo {
        id: request
            .headers
            .get("Call-ID")
            .unwrap_or_default()
            .to_string(),
        from,
        to: flowc::config::number_digits(&dialled),
    }
}

/// Resumes the VM with the reply to each effect until it is finished.
async fn drive(leg: &mut Leg) {
    let options = CallOptions {
        trace: TraceLevel::Off,
        ..CallOptions::default()
    };
    let mut call = vm::Call::new(leg.program.clone(), leg.info.clone(), options);
    let mut reply = Reply::Start;
    loop {
        let effect = match call.resume(jiff::Timestamp::now(), reply) {
            Ok(effect) => effect,
            Err(error) => {
                tracing::error!(%error, "the flow stopped with an error; hanging up");
                return;
            }
        };
        leg.shared
            .stats
            .inner
            .effects
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(?effect, "effect");
        if let Effect::Finished { outcome } = effect {
            tracing::info!(outcome = outcome.as_str(), "flow finished");
            return;
        }
        reply = leg.carry_out(effect).await;
    }
}

impl Leg {
    /// Carries out one effect and returns the VM's reply.
    async fn carry_out(&mut self, effect: Effect) -> Reply {
        match effect {
            Effect::Answer => Reply::Done,
            Effect::Play {
                prompts,
                language,
                barge_in,
            } => self.play(&prompts, &language, barge_in).await,
            Effect::CollectKey { timeout_ms } => {
                if self.hung_up {
                    return Reply::HungUp;
                }
                let deadline = Instant::now() + Duration::from_millis(timeout_ms);
                loop {
                    match self.wait(Some(deadline)).await {
                        Wake::Key(key) => return Reply::Keys(key.as_char().to_string()),
                        Wake::HungUp => return Reply::HungUp,
                        Wake::Timeout => return Reply::NoInput,
                        Wake::PlaybackEnded(_) => {}
                    }
                }
            }
            Effect::CollectDigits {
                max,
                terminator,
                timeout_ms,
                interdigit_ms,
                typed,
                ..
            } => {
                let remaining = (max as usize).saturating_sub(typed.chars().count());
                self.collect_digits(
                    remaining,
                    terminator,
                    timeout_ms,
                    interdigit_ms,
                    !typed.is_empty(),
                )
                .await
            }
            Effect::Lookup { source, .. } => {
                // TODO: ask the CRM and lookup hooks once the runtime has clients for them.
                tracing::info!(%source, "no CRM client yet; the lookup returns missing");
                Reply::Missing
            }
            Effect::Enqueue { name, .. } => {
                if self.hung_up {
                    return Reply::HungUp;
                }
                // TODO: wait in the real queue once agents exist.
                tracing::info!(queue = %name, "no agents are logged in");
                Reply::Queue(QueueOutcome::NoAgents)
            }
            Effect::Voicemail { mailbox, .. } => self.voicemail(&mailbox).await,
            Effect::Hangup => {
                if !self.hung_up {
                    self.bye().await;
                }
                Reply::Done
            }
            Effect::Transfer { target } => {
                if self.hung_up {
                    return Reply::HungUp;
                }
                // TODO: transfer with REFER or a new leg.
                tracing::info!(%target, "transfer is not supported yet; the flow goes on");
                Reply::Done
            }
            Effect::Survey { question, .. } => {
                if self.hung_up {
                    return Reply::HungUp;
                }
                // TODO: play the survey question and collect the rating.
                tracing::info!(%question, "surveys are not run yet; no rating");
                Reply::Rating(None)
            }
            Effect::Record(mode) => {
                // TODO: record the call on request.
                tracing::info!(?mode, "call recording is not supported yet");
                Reply::Done
            }
            Effect::Tag(tag) => {
                // TODO: store tags in the call record.
                tracing::info!(%tag, "tag");
                Reply::Done
            }
            Effect::Timeline(entry) => {
                // TODO: write timeline entries to the store.
                tracing::info!(%entry, "timeline entry");
                Reply::Done
            }
            Effect::Ticket { mode, subject } => {
                // TODO: link and open tickets in the store.
                tracing::info!(?mode, ?subject, "ticket");
                Reply::Done
            }
            Effect::Webhook { hook } => {
                // TODO: post the call record to the webhook.
                tracing::info!(%hook, "webhook");
                Reply::Done
            }
            Effect::Notify { hook, message } => {
                // TODO: send the message through the notify hook.
                tracing::info!(%hook, %message, "notify");
                Reply::Done
            }
            Effect::Finished { .. } => Reply::Done,
        }
    }

    /// Plays prompts and returns the keys pressed meanwhile.
    async fn play(&mut self, names: &[String], language: &str, barge_in: bool) -> Reply {
        if self.hung_up {
            return Reply::HungUp;
        }
        let prompts: Vec<Arc<Prompt>> = names
            .iter()
            .filter_map(|name| match self.shared.prompts.resolve(name, language) {
                Ok(prompt) => Some(prompt),
                Err(error) => {
                    tracing::warn!(%error, "prompt skipped");
                    None
                }
            })
            .collect();
        let mut keys = String::new();
        if prompts.is_empty() {
            return Reply::Played { keys };
        }
        let Ok(id) = self.media.play(prompts, barge_in) else {
            return Reply::HungUp;
        };
        loop {
            match self.wait(None).await {
                Wake::Key(key) => keys.push(key.as_char()),
                Wake::PlaybackEnded(ended) if ended == id => return Reply::Played { keys },
                Wake::PlaybackEnded(_) | Wake::Timeout => {}
                Wake::HungUp => return Reply::HungUp,
            }
        }
    }

    /// Collects up to `remaining` digits: the first within `timeout_ms`,
    /// each next within `interdigit_ms`, ended early by `terminator`.
    async fn collect_digits(
        &mut self,
        remaining: usize,
        terminator: char,
        timeout_ms: u64,
        interdigit_ms: u64,
        typed: bool,
    ) -> Reply {
        if self.hung_up {
            return Reply::HungUp;
        }
        let mut digits = String::new();
        let mut pressed = typed;
        let mut deadline =
            Instant::now() + Duration::from_millis(if typed { interdigit_ms } else { timeout_ms });
        while digits.chars().count() < remaining {
            match self.wait(Some(deadline)).await {
                Wake::Key(key) => {
                    pressed = true;
                    if key.as_char() == terminator {
                        break;
                    }
                    digits.push(key.as_char());
                    deadline = Instant::now() + Duration::from_millis(interdigit_ms);
                }
                Wake::PlaybackEnded(_) => {}
                Wake::HungUp => return Reply::HungUp,
                Wake::Timeout => break,
            }
        }
        if pressed {
            Reply::Keys(digits)
        } else {
            Reply::NoInput
        }
    }

    /// Records the caller to a WAV file until they hang up or the limit.
    async fn voicemail(&mut self, mailbox: &str) -> Reply {
        if self.hung_up {
            return Reply::HungUp;
        }
        let folder = self.shared.recordings.join(file_name(mailbox));
        if let Err(error) = std::fs::create_dir_all(&folder) {
            tracing::error!(folder = %folder.display(), %error, "cannot create the voicemail folder");
            return Reply::Done;
        }
        let stamp = jiff::Timestamp::now().as_second();
        let path: PathBuf = folder.join(format!("{stamp}-{}.wav", file_name(&self.dialog.call_id)));
        if self.media.record(path.clone()).is_err() {
            return Reply::HungUp;
        }
        tracing::info!(path = %path.display(), "recording voicemail");
        let deadline = Instant::now() + VOICEMAIL_LIMIT;
        loop {
            match self.wait(Some(deadline)).await {
                Wake::HungUp | Wake::Timeout => break,
                Wake::Key(_) | Wake::PlaybackEnded(_) => {}
            }
        }
        let _ = self.media.stop_recording();
        Reply::Done
    }

    /// Waits for a key, the end of a playback, the caller hanging up or
    /// `deadline`, handling the dialog's requests meanwhile.
    async fn wait(&mut self, deadline: Option<Instant>) -> Wake {
        loop {
            if self.hung_up {
                return Wake::HungUp;
            }
            let sleep = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = self.media.next_event() => match event {
                    Some(MediaEvent::Key(key)) => return Wake::Key(key),
                    Some(MediaEvent::PlaybackEnded { id, .. }) => return Wake::PlaybackEnded(id),
                    Some(MediaEvent::RecordingEnded { path, samples }) => {
                        tracing::info!(path = %path.display(), samples, "recording saved");
                    }
                    Some(MediaEvent::RecordingFailed { path, error }) => {
                        tracing::error!(path = %path.display(), %error, "recording failed");
                    }
                    None => {
                        tracing::error!("the call's media task ended; hanging up");
                        self.bye().await;
                        return Wake::HungUp;
                    }
                },
                event = self.events.recv() => match event {
                    Some(event) => self.dialog_event(event),
                    None => self.hung_up = true,
                },
                changed = self.ending.changed() => {
                    if changed.is_err() || *self.ending.borrow() {
                        tracing::info!("flowd is shutting down; hanging up");
                        self.bye().await;
                        return Wake::HungUp;
                    }
                }
                () = sleep => return Wake::Timeout,
            }
        }
    }

    /// Handles a request or ACK of the dialog.
    fn dialog_event(&mut self, event: DialogEvent) {
        match event {
            DialogEvent::Cancelled => {
                tracing::info!("the caller cancelled");
                self.hung_up = true;
            }
            DialogEvent::AckTimeout => {
                tracing::info!("no ACK for the 2xx; hanging up");
                self.end_after_bye();
            }
            DialogEvent::Ack(ack) => {
                if !self.awaiting_answer {
                    return;
                }
                self.awaiting_answer = false;
                let text = String::from_utf8_lossy(&ack.body);
                match SessionDescription::parse(&text).and_then(|answer| sdp::take_answer(&answer))
                {
                    Ok(negotiated) => {
                        let _ = self.media.configure(negotiated);
                    }
                    Err(error) => {
                        // The ACK cannot be refused, so the call is ended.
                        tracing::warn!(%error, "the ACK's SDP answer is unusable; hanging up");
                        self.end_after_bye();
                    }
                }
            }
            DialogEvent::Request(incoming) => self.request(*incoming),
        }
    }

    /// Ends the call from flowd's side in the background when no reply path
    /// is left to await it.
    fn end_after_bye(&mut self) {
        let bye = self.dialog.request("BYE");
        let endpoint = self.shared.endpoint.clone();
        let peer = self.dialog.peer;
        tokio::spawn(async move {
            let _ = endpoint.send_request(bye, peer).await;
        });
        self.hung_up = true;
    }

    /// Answers BYE, INFO, re-INVITE and UPDATE.
    fn request(&mut self, incoming: Incoming) {
        let request = &incoming.request;
        if let Some(seq) = request.cseq_number() {
            self.dialog.remote_seq = self.dialog.remote_seq.max(seq);
        }
        let response = match request.method.as_str() {
            "BYE" => {
                tracing::info!("the caller hung up");
                self.hung_up = true;
                request.response(200, None)
            }
            "INFO" => {
                let content_type = request.headers.get("Content-Type").unwrap_or_default();
                match dtmf::parse_info(content_type, &request.body) {
                    Ok(key) => {
                        let _ = self.media.key(key);
                        request.response(200, None)
                    }
                    Err(error) => {
                        tracing::info!(%error, "INFO without a key");
                        if request.body.is_empty() {
                            request.response(200, None)
                        } else {
                            request.response(415, None)
                        }
                    }
                }
            }
            "INVITE" | "UPDATE" => self.renegotiate(&incoming),
            _ => request.response(405, None),
        };
        self.shared.endpoint.respond(&incoming.key, response);
    }

    /// Answers a new offer in the dialog (hold, resume, codec change); a
    /// request without SDP gets the current description.
    fn renegotiate(&mut self, incoming: &Incoming) -> Response {
        let request = &incoming.request;
        if request.body.is_empty() && request.method == "UPDATE" {
            return request.response(200, None);
        }
        self.local.session_version += 1;
        let body = if request.body.is_empty() {
            sdp::offer(&self.local)
        } else {
            let text = String::from_utf8_lossy(&request.body);
            let answer =
                SessionDescription::parse(&text).and_then(|offer| sdp::answer(&offer, &self.local));
            match answer {
                Ok(answer) => {
                    let _ = self.media.configure(answer.negotiated);
                    answer.sdp
                }
                Err(error) => {
                    tracing::info!(%error, "new offer rejected");
                    let mut response = request.response(488, None);
                    response.headers.push(
                        "Warning",
                        format!("399 flowd \"{}\"", error.to_string().replace('"', "'")),
                    );
                    return response;
                }
            }
        };
        if request.body.is_empty() && request.method == "INVITE" {
            self.awaiting_answer = true;
        }
        let mut ok = request.response(200, None);
        ok.headers.push("Contact", contact(incoming));
        ok.headers.push("Content-Type", "application/sdp");
        ok.body = body.into_bytes();
        ok
    }

    /// Sends BYE and waits for its answer.
    async fn bye(&mut self) {
        self.hung_up = true;
        let bye = self.dialog.request("BYE");
        match self
            .shared
            .endpoint
            .send_request(bye, self.dialog.peer)
            .await
        {
            Ok(response) => tracing::info!(status = response.status, "BYE answered"),
            Err(error) => tracing::info!(%error, "BYE not answered"),
        }
    }
}

/// Keeps letters, digits, `-`, `_` and `.` of `text` so it is safe as one
/// file name; anything else becomes `_`.
fn file_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.trim_matches('.').is_empty() {
        String::from("_")
    } else {
        name
    }
}
