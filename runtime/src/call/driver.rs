//! One call's task: answers the INVITE, then resumes the VM with the reply
//! to each effect until the flow is finished, while handling the dialog's
//! requests (BYE, INFO, re-INVITE, UPDATE) as they arrive.

mod callback;
mod lookup;
mod queue;
mod recording;
mod transfer;

use super::journal;
use super::persist::{self, JournalEntry};
use super::record::{CallLog, LegLog, now_millis};
use super::{CallRecord, DialogEvent, Party, Shared};
use crate::media::dtmf;
use crate::media::prompt::Prompt;
use crate::media::sdp::{self, LocalMedia, SdpError, SessionDescription};
use crate::media::session::{MediaEvent, MediaSession};
use crate::sip::endpoint::Endpoint;
use crate::sip::message::Response;
use crate::sip::uas::{Dialog, Incoming};
use flowc::bytecode::Key;
use flowc::vm::{self, CallInfo, CallOptions, Effect, Reply, TraceLevel};
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

/// The end of [`Leg::wait_for`]: a wake-up, or the work's output.
enum Waited<T> {
    Wake(Wake),
    Done(T),
}

/// Writes the negotiated codec on the caller's leg.
fn set_codec(log: &mut CallLog, negotiated: &sdp::Negotiated) {
    if let Some(caller_leg) = log.legs.first_mut() {
        caller_leg.codec = Some(format!("{:?}", negotiated.codec).to_ascii_uppercase());
    }
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
    /// The CSeq number of an INVITE answered with 2xx whose ACK has not
    /// come yet; another INVITE or an UPDATE meanwhile is rejected.
    invite_pending: Option<u32>,
    /// True once the caller is gone: their BYE, CANCEL or missing ACK, or
    /// the BYE flowd sent.
    hung_up: bool,
    /// The party that ended the call, once it has ended.
    ended_by: Option<Party>,
    /// The call's record, filled in as it runs.
    log: CallLog,
    /// The call recording, once the flow has started one.
    recording: recording::CallRecording,
    /// True once `on call` is over and `after call` runs.
    after_call: bool,
    /// The built-in CRM lookup of the caller started at the INVITE, and
    /// the answers of earlier lookups, for lookups with the same source
    /// and key.
    lookups: lookup::Lookups,
    /// Keys pressed during a lookup, handed back to the media task after it.
    held_keys: Vec<Key>,
    /// The caller's identity as an outbound leg presents it.
    identity: super::leg::LegIdentity,
    /// The caller's BYE, answered with 200 only once the call's finished
    /// record is durable, so a caller that saw the 200 finds the record
    /// even if flowd is killed right after. Retransmissions meanwhile are
    /// absorbed by the BYE's server transaction.
    pending_bye: Option<Incoming>,
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
    let call_id = incoming
        .request
        .headers
        .get("Call-ID")
        .unwrap_or_default()
        .to_string();
    let started_at = now_millis();
    let mut leg = match answer(shared.clone(), incoming, events, started_at).await {
        Ok(leg) => leg,
        Err(Rejected { status, log }) => {
            if let Some(mut log) = log {
                finish_unanswered(&shared, &mut log, status).await;
            }
            let record = CallRecord {
                call_id,
                status,
                outcome: None,
                ended_by: None,
            };
            let _ = shared.finished.send(record);
            return;
        }
    };
    let _answered_count = leg.shared.stats.answered_guard();
    if let Ok(mut slot) = answered.lock() {
        *slot = Some(leg.dialog.clone());
    }
    leg.start_record().await;
    let outcome = drive(&mut leg).await;
    if !leg.hung_up {
        leg.bye().await;
    }
    leg.close_dialog();
    let ended_at = now_millis();
    let record = CallRecord {
        call_id,
        status: 200,
        outcome,
        ended_by: leg.ended_by,
    };
    if let Ok(mut slot) = answered.lock() {
        *slot = None;
    }
    let stats = leg.shared.stats.clone();
    match leg.media.finish().await {
        Ok(media) => {
            stats.add_rtp(media.packets_sent, media.packets_received);
            tracing::info!(
                sent = media.packets_sent,
                received = media.packets_received,
                keys = media.keys,
                "call ended"
            );
        }
        Err(error) => tracing::warn!(%error, "the call's media task failed"),
    }
    leg.recording.settle(&mut leg.log);
    let receipt = finish_record(
        &shared,
        &mut leg.log,
        leg.ended_by,
        record.outcome.as_deref(),
        ended_at,
    )
    .await;
    if let Some(bye) = leg.pending_bye.take() {
        shared
            .endpoint
            .respond(&bye.key, bye.request.response(200, None));
    }
    if let Some(receipt) = receipt {
        receipt.settled().await;
    }
    // Sent after the media task has ended and the record is in the store
    // (or in the spool while the store is unavailable), so a receiver sees
    // the call's RTP port back in the pool and its record in the store.
    let _ = shared.finished.send(record);
}

impl Leg {
    /// Queues the row of the answered call for the store, so a crash
    /// leaves a trace; the call does not wait for the write.
    async fn start_record(&mut self) {
        if let Some(journal) = &self.shared.journal {
            let entry = JournalEntry::Started(persist::call_start(&self.log));
            let _ = journal.enqueue(entry).await;
        }
    }
}

/// An INVITE that ended without a 2xx: the final status sent, and the
/// call's record once the INVITE reached a flow.
struct Rejected {
    status: u16,
    log: Option<Box<CallLog>>,
}

impl Rejected {
    /// An INVITE rejected before a flow was found, which gets no record.
    fn before_log(status: u16) -> Rejected {
        Rejected { status, log: None }
    }

    /// An INVITE to a flow that ended before the answer.
    fn after_log(status: u16, log: CallLog) -> Rejected {
        Rejected {
            status,
            log: Some(Box::new(log)),
        }
    }
}

/// Stores the record of a call that ended before the answer: `cancelled`
/// by the caller (487) or `rejected` by flowd, with the final status as
/// the SIP reason. Waits until the store has it, as for answered calls.
async fn finish_unanswered(shared: &Shared, log: &mut CallLog, status: u16) {
    let (outcome, ended_by) = if status == 487 {
        ("cancelled", Party::Caller)
    } else {
        ("rejected", Party::Flowd)
    };
    log.sip_reason = Some(format!(
        "{status} {}",
        crate::sip::message::reason_phrase(status)
    ));
    let ended_at = now_millis();
    if let Some(receipt) = finish_record(shared, log, Some(ended_by), Some(outcome), ended_at).await
    {
        receipt.settled().await;
    }
}

/// Completes the record (outcome, who hung up, tagging rules) and waits
/// until it is durable. Returns its receipt, to wait for the store.
async fn finish_record(
    shared: &Shared,
    log: &mut CallLog,
    ended_by: Option<Party>,
    outcome: Option<&str>,
    ended_at: i64,
) -> Option<journal::Receipt> {
    log.ended_at = ended_at;
    // A flow that stopped with a run error has no outcome of its own.
    log.outcome = outcome.unwrap_or("error").to_string();
    log.ended_by = String::from(match ended_by {
        Some(Party::Caller) => "caller",
        Some(Party::Flowd) => "flowd",
        None => "none",
    });
    if let Some(caller_leg) = log.legs.first_mut() {
        caller_leg.ended_at = Some(ended_at);
    }
    log.apply_rules(&shared.tagging);
    tracing::debug!(
        outcome = %log.outcome,
        ended_by = %log.ended_by,
        tags = log.tags.len(),
        steps = log.path.len(),
        "call record complete"
    );
    let journal = shared.journal.as_ref()?;
    let finished = persist::finished_call(log, &shared.flows.config().hooks, shared.outbox_expire);
    let mut receipt = journal
        .enqueue(JournalEntry::Finished(Box::new(finished)))
        .await?;
    receipt.durable().await;
    Some(receipt)
}

/// Answers the INVITE: negotiates SDP, starts the media, rings for the
/// configured time and sends the 2xx. Returns the final status sent
/// instead when the INVITE was rejected or cancelled.
async fn answer(
    shared: Arc<Shared>,
    incoming: Incoming,
    mut events: mpsc::UnboundedReceiver<DialogEvent>,
    started_at: i64,
) -> Result<Leg, Rejected> {
    let request = &incoming.request;
    let reject = |status: u16, warning: Option<String>| {
        shared.stats.count_rejected(status);
        let mut response = request.response(status, Some(&incoming.to_tag));
        if let Some(warning) = warning {
            let warning = warning_text(&warning);
            tracing::info!(status, %warning, "INVITE rejected");
            response
                .headers
                .push("Warning", format!("399 flowd \"{warning}\""));
        }
        shared.endpoint.respond(&incoming.key, response);
    };
    let Some(dialog) = Dialog::from_invite(request, &incoming.to_tag, incoming.source) else {
        reject(
            400,
            Some(String::from("the INVITE needs a From tag and a Contact")),
        );
        return Err(Rejected::before_log(400));
    };
    let info = super::identity::call_info(
        &shared.flows,
        &shared.trusted,
        request,
        incoming.source.remote.ip(),
    );
    let Some(program) = shared.flows.program(&info.to).cloned() else {
        reject(404, Some(format!("no flow answers `{}`", info.to)));
        return Err(Rejected::before_log(404));
    };
    // The caller's profile is read while the call rings and the greeting
    // plays, so it is usually there when the flow asks.
    let lookups = lookup::Lookups::prefetch(&shared, info.from.as_deref());
    let identity = super::identity::leg_identity(
        &shared.flows,
        &shared.trusted,
        request,
        incoming.source.remote.ip(),
    );
    let mut log = CallLog::new(&dialog.call_id, started_at);
    log.flow = program.module().flow.clone();
    log.flow_version = shared.flows.version(&log.flow).to_string();
    log.caller = info.from.clone();
    log.dialled = info.to.clone();
    log.legs.push(LegLog {
        role: String::from("caller"),
        call_id: dialog.call_id.clone(),
        from: request.headers.get("From").unwrap_or_default().to_string(),
        to: request.headers.get("To").unwrap_or_default().to_string(),
        remote: incoming.source.remote.to_string(),
        codec: None,
        started_at,
        answered_at: None,
        ended_at: None,
    });
    let offer = if request.body.is_empty() {
        None
    } else {
        let text = String::from_utf8_lossy(&request.body);
        match SessionDescription::parse(&text) {
            Ok(offer) => Some(offer),
            Err(error) => {
                reject(400, Some(error.to_string()));
                return Err(Rejected::after_log(400, log));
            }
        }
    };
    let media = match MediaSession::start(&shared.pool, shared.media_ip) {
        Ok(media) => media,
        Err(error) => {
            shared.stats.count_rejected(503);
            let mut response = request.response(503, Some(&incoming.to_tag));
            response
                .headers
                .push("Retry-After", super::RETRY_AFTER_SECONDS);
            tracing::warn!(%error, "no RTP port for the call");
            shared.endpoint.respond(&incoming.key, response);
            return Err(Rejected::after_log(503, log));
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
                if let Some(warning) = unreachable_media(&answer.negotiated, &media) {
                    reject(488, Some(warning));
                    if let Err(error) = media.finish().await {
                        tracing::warn!(%error, "the call's media task failed");
                    }
                    return Err(Rejected::after_log(488, log));
                }
                set_codec(&mut log, &answer.negotiated);
                if media.configure(answer.negotiated).is_err() {
                    reject(500, Some(String::from("the call's media task ended")));
                    return Err(Rejected::after_log(500, log));
                }
                (answer.sdp, false)
            }
            Err(error @ (SdpError::NoCommonCodec { .. } | SdpError::NoAudio)) => {
                reject(488, Some(error.to_string()));
                return Err(Rejected::after_log(488, log));
            }
            Err(error) => {
                reject(400, Some(error.to_string()));
                return Err(Rejected::after_log(400, log));
            }
        },
        None => (sdp::offer(&local), true),
    };
    if !shared.ring.is_zero() {
        let mut ringing = request.response(180, Some(&incoming.to_tag));
        ringing.headers.push("Contact", contact(&incoming));
        shared.endpoint.respond(&incoming.key, ringing);
        if !ring(&shared.endpoint, &mut events, shared.ring).await {
            tracing::info!("the caller cancelled while ringing");
            if let Err(error) = media.finish().await {
                tracing::warn!(%error, "the call's media task failed");
            }
            return Err(Rejected::after_log(487, log));
        }
    }
    let mut ok = request.response(200, Some(&incoming.to_tag));
    ok.headers.push("Contact", contact(&incoming));
    ok.headers.push("Allow", crate::sip::uas::ALLOW);
    ok.headers.push("Content-Type", "application/sdp");
    ok.body = body.into_bytes();
    shared.endpoint.respond(&incoming.key, ok);
    tracing::info!(late_offer = awaiting_answer, rtp = %media.local_addr(), "call answered");
    let answered_at = now_millis();
    log.answered_at = Some(answered_at);
    if let Some(caller_leg) = log.legs.first_mut() {
        caller_leg.answered_at = Some(answered_at);
    }
    if media.watch_inactivity(shared.inactivity).is_err() {
        tracing::warn!("the call's media task has ended, so the RTP timeout is not watched");
    }
    let ending = shared.ending.clone();
    let dialog_invite_seq = dialog.remote_seq;
    Ok(Leg {
        ending,
        shared,
        dialog,
        media,
        local,
        events,
        program,
        info,
        awaiting_answer,
        invite_pending: Some(dialog_invite_seq),
        hung_up: false,
        ended_by: None,
        log,
        recording: recording::CallRecording::default(),
        after_call: false,
        lookups,
        held_keys: Vec::new(),
        identity,
        pending_bye: None,
    })
}

/// Waits `time` while the call rings. Returns false when the caller
/// cancelled meanwhile.
async fn ring(
    endpoint: &Endpoint,
    events: &mut mpsc::UnboundedReceiver<DialogEvent>,
    time: Duration,
) -> bool {
    let deadline = Instant::now() + time;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(DialogEvent::Cancelled) | None => return false,
                // A peer sends nothing else in the dialog before the 2xx,
                // and no dialog exists yet to take such a request.
                Some(DialogEvent::Request(incoming)) => {
                    tracing::info!(method = %incoming.request.method, "request before the 2xx rejected with 481");
                    let response = incoming.request.response(481, None);
                    endpoint.respond(&incoming.key, response);
                }
                Some(other) => tracing::info!(?other, "event before the 2xx ignored"),
            },
            () = tokio::time::sleep_until(deadline) => return true,
        }
    }
}

/// Returns `text` fit for a Warning header's quoted string and for a log
/// line: the text may quote a peer's SDP, so double quotes become single
/// quotes and control characters (CR, LF, NUL, ESC ...) become spaces.
fn warning_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// Builds the Contact of flowd's responses: the listener the INVITE came in on.
fn contact(incoming: &Incoming) -> String {
    let local = incoming.source.local;
    let transport = incoming.source.transport.as_str().to_ascii_lowercase();
    format!("<sip:flowd@{local};transport={transport}>")
}

/// Resumes the VM with the reply to each effect until it is finished.
/// Returns the flow's outcome, or `None` when the flow stopped with an
/// error.
async fn drive(leg: &mut Leg) -> Option<String> {
    // The path level gives the record its steps (menu keys, masked
    // digits, lookups, queues) and the end of `on call`.
    let options = CallOptions {
        trace: TraceLevel::Path,
        ..CallOptions::default()
    };
    let mut call = vm::Call::new(leg.program.clone(), leg.info.clone(), options);
    let mut reply = Reply::Start;
    loop {
        let resumed = call.resume((leg.shared.clock)(), reply);
        let trace = call.take_trace();
        if trace
            .iter()
            .any(|event| matches!(event, vm::Event::CallEnded(_)))
        {
            leg.after_call = true;
        }
        leg.log.add_trace(trace, now_millis());
        let effect = match resumed {
            Ok(effect) => effect,
            Err(error) => {
                tracing::error!(%error, "the flow stopped with an error; hanging up");
                return None;
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
            return Some(outcome.as_str().to_string());
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
            Effect::Lookup {
                source,
                key,
                timeout_ms,
            } => self.lookup(&source, &key, timeout_ms).await,
            Effect::Enqueue {
                queue,
                priority,
                language,
                ..
            } => self.enqueue(queue, priority, &language).await,
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
                self.transfer(&target).await
            }
            Effect::Survey {
                question,
                thanks,
                language,
            } => self.survey(&question, thanks.as_deref(), &language).await,
            Effect::Record(mode) => {
                self.record(mode);
                self.journal_recording().await;
                Reply::Done
            }
            // The record reads these from the VM's trace and stores them
            // when the call ends.
            Effect::Tag(_)
            | Effect::Timeline(_)
            | Effect::Ticket { .. }
            | Effect::Webhook { .. }
            | Effect::Notify { .. } => Reply::Done,
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
        match self.wait_for(deadline, std::future::pending::<()>()).await {
            Waited::Wake(wake) => wake,
            Waited::Done(()) => Wake::Timeout,
        }
    }

    /// Waits like [`wait`](Self::wait) while `work` runs, and returns its
    /// output when it completes first. Returning early drops `work`, which
    /// cancels it.
    async fn wait_for<T>(
        &mut self,
        deadline: Option<Instant>,
        work: impl Future<Output = T>,
    ) -> Waited<T> {
        tokio::pin!(work);
        loop {
            if self.hung_up {
                return Waited::Wake(Wake::HungUp);
            }
            let sleep = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                output = &mut work => return Waited::Done(output),
                event = self.media.next_event() => match event {
                    Some(MediaEvent::Key(key)) => return Waited::Wake(Wake::Key(key)),
                    Some(MediaEvent::PlaybackEnded { id, .. }) => return Waited::Wake(Wake::PlaybackEnded(id)),
                    Some(MediaEvent::RecordingEnded { path, samples }) => {
                        tracing::info!(path = %path.display(), samples, "recording saved");
                    }
                    Some(MediaEvent::RecordingFailed { path, error }) => {
                        tracing::error!(path = %path.display(), %error, "recording failed");
                    }
                    Some(MediaEvent::Inactive { silent, on_hold }) => {
                        tracing::info!(
                            silent_ms = silent.as_millis() as u64,
                            on_hold,
                            "no RTP or RTCP from the caller; hanging up"
                        );
                        self.bye().await;
                        return Waited::Wake(Wake::HungUp);
                    }
                    None => {
                        tracing::error!("the call's media task ended; hanging up");
                        self.bye().await;
                        return Waited::Wake(Wake::HungUp);
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
                        return Waited::Wake(Wake::HungUp);
                    }
                }
                () = sleep => return Waited::Wake(Wake::Timeout),
            }
        }
    }

    /// Handles a request or ACK of the dialog.
    fn dialog_event(&mut self, event: DialogEvent) {
        match event {
            DialogEvent::Cancelled => {
                tracing::info!("the caller cancelled");
                self.log
                    .sip_reason
                    .get_or_insert_with(|| String::from("CANCEL"));
                self.hung_up = true;
                self.ended_by.get_or_insert(Party::Caller);
            }
            DialogEvent::AckTimeout => {
                tracing::info!("no ACK for the 2xx; hanging up");
                self.ended_by.get_or_insert(Party::Caller);
                self.log
                    .sip_reason
                    .get_or_insert_with(|| String::from("no ACK for the 2xx"));
                self.end_after_bye();
            }
            DialogEvent::Ack(ack) => {
                if ack.cseq_number() >= self.invite_pending {
                    self.invite_pending = None;
                }
                if !self.awaiting_answer {
                    return;
                }
                self.awaiting_answer = false;
                let text = String::from_utf8_lossy(&ack.body);
                match SessionDescription::parse(&text).and_then(|answer| sdp::take_answer(&answer))
                {
                    Ok(negotiated) => {
                        set_codec(&mut self.log, &negotiated);
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
        self.ended_by.get_or_insert(Party::Flowd);
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
                self.ended_by.get_or_insert(Party::Caller);
                let reason = request
                    .headers
                    .get("Reason")
                    .map_or_else(|| String::from("BYE"), |reason| format!("BYE; {reason}"));
                self.log.sip_reason.get_or_insert(reason);
                // NOTE: `after call` runs before the 200 is sent, so a long
                // one (lookups of up to 8 s) makes the caller retransmit.
                if self.pending_bye.is_none() {
                    self.pending_bye = Some(incoming);
                    return;
                }
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
        // RFC 3261 section 14.2 and RFC 3311 section 5.2: an offer that
        // crosses flowd's own offer (sent in a 2xx, answered in its ACK)
        // is glare, and a request that arrives while an INVITE is still
        // in progress must be retried later.
        if self.awaiting_answer {
            tracing::info!(method = %request.method, "request rejected with 491 because flowd's offer has no answer yet");
            return request.response(491, None);
        }
        if let Some(pending) = self.invite_pending {
            tracing::info!(method = %request.method, pending, "request rejected with 500 because an INVITE still awaits its ACK");
            let mut response = request.response(500, None);
            response
                .headers
                .push("Retry-After", retry_after_seconds().to_string());
            return response;
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
                    if let Some(warning) = unreachable_media(&answer.negotiated, &self.media) {
                        tracing::info!(%warning, "new offer rejected");
                        let mut response = request.response(488, None);
                        response
                            .headers
                            .push("Warning", format!("399 flowd \"{warning}\""));
                        return response;
                    }
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
        if request.method == "INVITE" {
            self.invite_pending = request.cseq_number();
        }
        let mut ok = request.response(200, None);
        ok.headers.push("Contact", contact(incoming));
        ok.headers.push("Content-Type", "application/sdp");
        ok.body = body.into_bytes();
        ok
    }

    /// Sends BYE and waits for its answer. A BYE of the caller that crosses
    /// it ends the wait at once; other requests meanwhile get 481.
    async fn bye(&mut self) {
        self.hung_up = true;
        self.ended_by.get_or_insert(Party::Flowd);
        // The reason is flowd's BYE unless the caller ended the call first
        // (a CANCEL, a missing ACK), and then names the BYE's response.
        let own_reason = self.log.sip_reason.is_none();
        if own_reason {
            self.log.sip_reason = Some(String::from("BYE from flowd"));
        }
        // TODO: stop sending RTP while the BYE awaits its response.
        let bye = self.dialog.request("BYE");
        let endpoint = self.shared.endpoint.clone();
        let sent = endpoint.send_request(bye, self.dialog.peer);
        tokio::pin!(sent);
        loop {
            tokio::select! {
                result = &mut sent => {
                    match result {
                        Ok(response) => {
                            tracing::info!(status = response.status, "BYE got its final response");
                            if own_reason {
                                self.log.sip_reason = Some(format!(
                                    "BYE from flowd; {} {}",
                                    response.status, response.reason
                                ));
                            }
                        }
                        Err(error) => tracing::info!(%error, "BYE got no final response"),
                    }
                    return;
                }
                event = self.events.recv() => match event {
                    Some(DialogEvent::Request(incoming)) => {
                        let crossed = incoming.request.method == "BYE";
                        respond_after_end(&self.shared.endpoint, &incoming);
                        if crossed {
                            tracing::info!("the caller's BYE crossed flowd's BYE");
                            return;
                        }
                    }
                    Some(_) => {}
                    None => return,
                },
            }
        }
    }

    /// Stops routing the dialog's requests to this task and answers those
    /// already queued, so none is left without a response.
    fn close_dialog(&mut self) {
        self.events.close();
        while let Ok(event) = self.events.try_recv() {
            if let DialogEvent::Request(incoming) = event {
                respond_after_end(&self.shared.endpoint, &incoming);
            }
        }
    }
}

/// Answers a request of a dialog whose call has ended: 200 to a BYE, since
/// the call is over as the caller asks, and 481 to anything else.
fn respond_after_end(endpoint: &Endpoint, incoming: &Incoming) {
    let status = if incoming.request.method == "BYE" {
        200
    } else {
        481
    };
    tracing::info!(method = %incoming.request.method, status, "response sent to a request after the call ended");
    endpoint.respond(&incoming.key, incoming.request.response(status, None));
}

/// Returns the Warning text when flowd's RTP socket cannot reach the
/// negotiated peer address: its address family differs (an IPv6 `c=` line
/// for an IPv4 socket, or the reverse).
fn unreachable_media(negotiated: &sdp::Negotiated, media: &MediaSession) -> Option<String> {
    let remote = negotiated.remote?;
    let local = media.local_addr();
    if remote.is_ipv6() == local.is_ipv6() {
        return None;
    }
    let family = if remote.is_ipv6() { "IPv6" } else { "IPv4" };
    Some(format!(
        "{family} media is not supported: the offer's audio address is {ip}, flowd's RTP address is {local_ip}",
        ip = remote.ip(),
        local_ip = local.ip(),
    ))
}

/// Returns a random Retry-After from 0 to 10 seconds, as RFC 3261 section
/// 14.2 requires in a 500 to an INVITE that overlaps another.
fn retry_after_seconds() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // Each RandomState is seeded with fresh random keys by the standard
    // library, so its hash of nothing is a random number.
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % 11
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

#[cfg(test)]
mod tests {
    use super::warning_text;

    #[test]
    fn warning_text_drops_control_characters() {
        let text = warning_text("invalid SDP line 7: `a=ptime:0\rX-Injected: \"yes\"\u{1b}[31m\0`");
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(!text.contains('"'), "{text:?}");
        assert!(text.contains("X-Injected: 'yes'"), "{text:?}");
    }
}
