//! The callback offer of a waiting caller: confirm the number or enter
//! another, store the callback durably, and hand it to the callback
//! dialer, which keeps the caller's place in the queue.

use super::{Leg, Wake};
use crate::queue::service::Waiting;
use crate::store::NewCallback;
use flowc::bytecode::Queue;
use std::time::Duration;
use tokio::time::Instant;

/// How long the caller has to press a key at each question.
const KEY_TIMEOUT: Duration = Duration::from_secs(8);

/// The maximum number of digits a caller may type, as E.164 allows.
const MAX_DIGITS: usize = 15;

impl Leg {
    /// Asks the caller to confirm their number or enter another, then
    /// stores the callback. Returns true when the callback was stored.
    pub(super) async fn callback(
        &mut self,
        queue: &Queue,
        waiting: &Waiting,
        entered: Instant,
        language: &str,
    ) -> bool {
        let Some(store) = self.shared.store.clone() else {
            tracing::warn!("callback offered without a database; it cannot be kept");
            return false;
        };
        let Some(callbacks) = self.shared.callbacks.clone() else {
            tracing::warn!("callback offered but no callback dialer runs");
            return false;
        };
        let mut number = self.info.from.clone();
        for _ in 0..3 {
            if self.hung_up {
                return false;
            }
            let Some(current) = number.clone() else {
                number = self.enter_number(language).await;
                if number.is_none() {
                    continue;
                }
                continue;
            };
            // "We will call you back at <digits>. Press 1 to confirm, 2 to
            // enter another number."
            let mut names = vec![String::from("callback-confirm-intro")];
            names.extend(crate::media::say::phone_number(&current));
            names.push(String::from("callback-confirm-keys"));
            match self.ask(&names, language).await {
                Some('1') => {
                    let country = self.shared.flows.country_code();
                    if let Err(denied) = self.shared.transfer.check(&current, country) {
                        tracing::info!(number = %current, %denied, "callback number not allowed");
                        self.play_and_wait(&["callback-invalid"], language).await;
                        number = None;
                        continue;
                    }
                    let entered_ms = self.shared.queues.as_ref().map_or(0, |service| {
                        service.now_ms() - entered.elapsed().as_millis() as u64
                    });
                    let callback = NewCallback {
                        call_id: self.dialog.call_id.clone(),
                        flow: self.log.flow.clone(),
                        queue: queue.name.clone(),
                        number: current.clone(),
                        language: Some(language.to_string()),
                        priority: waiting.priority,
                        entered_at: i64::try_from(entered_ms).unwrap_or(i64::MAX),
                    };
                    match store.insert_callback(&callback).await {
                        Ok(row) => {
                            tracing::info!(callback = row.id, number = %current, "callback stored");
                            callbacks.add(row);
                            self.play_and_wait(&["callback-thanks"], language).await;
                            return true;
                        }
                        Err(error) => {
                            tracing::error!(%error, "callback could not be stored; the caller keeps waiting");
                            return false;
                        }
                    }
                }
                Some('2') => number = self.enter_number(language).await,
                _ => {}
            }
        }
        false
    }

    /// Asks for a number ended by `#`; returns it in E.164 when it is one.
    async fn enter_number(&mut self, language: &str) -> Option<String> {
        let _ = self.play_and_wait(&["callback-enter"], language).await;
        let mut digits = String::new();
        let mut deadline = Instant::now() + KEY_TIMEOUT;
        while digits.len() < MAX_DIGITS {
            match self.wait(Some(deadline)).await {
                Wake::Key(key) if key.as_char() == '#' => break,
                Wake::Key(key) => {
                    let c = key.as_char();
                    if !c.is_ascii_digit() {
                        // `*` and `#` start carrier service codes, so a
                        // number with them is never called back.
                        tracing::info!(key = %c, "callback number with a non-digit key rejected");
                        return None;
                    }
                    digits.push(c);
                    deadline = Instant::now() + KEY_TIMEOUT;
                }
                Wake::PlaybackEnded(_) => {}
                Wake::HungUp | Wake::Timeout => break,
            }
        }
        if digits.is_empty() {
            return None;
        }
        let country = self.shared.flows.config().country_code;
        match flowc::number::normalise(&digits, country) {
            flowc::number::Number::E164(number) => Some(number),
            other => {
                tracing::info!(%digits, ?other, "entered callback number is not a full number");
                None
            }
        }
    }

    /// Plays prompts and waits for one key, or `None` after the timeout.
    async fn ask(&mut self, names: &[String], language: &str) -> Option<char> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let id = self.play_named(&names, language);
        let mut deadline: Option<Instant> = if id.is_none() {
            Some(Instant::now() + KEY_TIMEOUT)
        } else {
            None
        };
        loop {
            match self.wait(deadline).await {
                Wake::Key(key) => {
                    let _ = self.media.stop_playback();
                    return Some(key.as_char());
                }
                Wake::PlaybackEnded(ended) if Some(ended) == id => {
                    deadline = Some(Instant::now() + KEY_TIMEOUT);
                }
                Wake::PlaybackEnded(_) => {}
                Wake::HungUp | Wake::Timeout => return None,
            }
        }
    }

    /// Plays prompts to their end.
    async fn play_and_wait(&mut self, names: &[&str], language: &str) {
        let Some(id) = self.play_named(names, language) else {
            return;
        };
        loop {
            match self.wait(None).await {
                Wake::PlaybackEnded(ended) if ended == id => return,
                Wake::HungUp => return,
                _ => {}
            }
        }
    }
}
