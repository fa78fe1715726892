//! The registrar of agents' phones (RFC 3261 section 10.3): digest
//! authentication, contact bindings kept in memory with their expiry, the
//! events the queue service reads, and a per-address limit on failed
//! attempts that also covers authenticated INVITEs.

use crate::sip::digest::{Authorization, Credentials, DigestAuth, Verdict};
use crate::sip::header::{NameAddr, Uri, param};
use crate::sip::message::{Request, Response};
use crate::sip::transport::Source;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often expired bindings and old failure counts are removed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The Retry-After, in seconds, of a 503 sent when the credentials cannot
/// be read.
const CREDENTIALS_RETRY_AFTER: &str = "5";

/// The most contacts one agent may have registered at once.
pub const MAX_CONTACTS: usize = 10;

/// The registrar's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// The digest realm of challenges (`sip.realm`). Changing it
    /// invalidates every stored HA1, which hashes the realm.
    pub realm: String,
    /// Failed attempts from one IP address within `window` that block it
    /// (`sip.auth_failures`).
    pub max_failures: u32,
    /// The window in which failures are counted (`sip.auth_window`).
    pub window: Duration,
    /// How long a blocked address gets 403 with Retry-After
    /// (`sip.auth_block`).
    pub block: Duration,
    /// The shortest registration accepted, in seconds; shorter non-zero
    /// ones get 423 with Min-Expires.
    pub min_expires: u32,
    /// The longest registration granted, in seconds; longer requests are
    /// shortened to it, and a contact without an expiry gets it.
    pub max_expires: u32,
}

impl Default for RegistrarConfig {
    fn default() -> RegistrarConfig {
        RegistrarConfig {
            realm: String::from("tok"),
            max_failures: 5,
            window: Duration::from_secs(60),
            block: Duration::from_secs(60),
            min_expires: 60,
            max_expires: 3600,
        }
    }
}

/// One registered contact of an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI the phone registered.
    pub contact_uri: String,
    /// The transport and address the REGISTER came from. Requests to a
    /// phone behind NAT must go here, not to the Contact's private address.
    pub source: Source,
    /// When the binding lapses unless the phone registers again.
    pub expires_at: Instant,
}

/// A change of an agent's registrations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// A new contact was bound; refreshes of a bound contact send none.
    Registered {
        /// The agent.
        agent_id: String,
        /// The new contact.
        contact_uri: String,
        /// The transport and address the REGISTER came from.
        source: Source,
        /// The granted registration time.
        expires: Duration,
    },
    /// A REGISTER removed the agent's last binding.
    Unregistered {
        /// The agent.
        agent_id: String,
    },
    /// The agent's last binding expired.
    Expired {
        /// The agent.
        agent_id: String,
    },
}

/// The outcome of authenticating a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// The agent of the SIP user.
    pub agent_id: String,
    /// The SIP user of the Authorization.
    pub sip_user: String,
}

/// The registrar; clones share it. Dropping the last clone stops its
/// expiry task.
#[derive(Clone)]
pub struct Registrar {
    inner: Arc<Inner>,
}

struct Inner {
    config: RegistrarConfig,
    digest: DigestAuth,
    credentials: Arc<dyn Credentials>,
    events: mpsc::UnboundedSender<RegistrarEvent>,
    bindings: Mutex<HashMap<String, Vec<Stored>>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

struct Stored {
    binding: Binding,
    call_id: String,
    cseq: u32,
}

/// Failed attempts of one IP address.
struct Failures {
    window_start: Instant,
    count: u32,
    blocked_until: Option<Instant>,
    /// Requests rejected during the current block, logged when it ends.
    rejected: u64,
}

/// A contact of a REGISTER with the expiry it requests.
struct Requested {
    uri: String,
    expires: u32,
}

impl Registrar {
    /// Creates a registrar checking passwords against `credentials` and
    /// sending changes to `events`, and starts its expiry task. Must run
    /// inside a tokio runtime.
    pub fn new(
        config: RegistrarConfig,
        credentials: Arc<dyn Credentials>,
        events: mpsc::UnboundedSender<RegistrarEvent>,
    ) -> Result<Registrar, String> {
        if config.min_expires > config.max_expires {
            return Err(format!(
                "the minimum registration time {} s is above the maximum {} s; lower the minimum",
                config.min_expires, config.max_expires
            ));
        }
        let digest = DigestAuth::new(&config.realm)?;
        let registrar = Registrar {
            inner: Arc::new(Inner {
                config,
                digest,
                credentials,
                events,
                bindings: Mutex::new(HashMap::new()),
                failures: Mutex::new(HashMap::new()),
            }),
        };
        tokio::spawn(sweep(Arc::downgrade(&registrar.inner)));
        Ok(registrar)
    }

    /// Returns the registrar's limits.
    pub fn config(&self) -> &RegistrarConfig {
        &self.inner.config
    }

    /// Puts back a binding stored by an earlier run of flowd, without an
    /// event. A REGISTER of the same contact refreshes it as usual.
    pub fn restore(&self, agent_id: &str, binding: Binding) {
        let mut bindings = self.inner.lock_bindings();
        let stored = bindings.entry(agent_id.to_string()).or_default();
        stored.retain(|old| old.binding.contact_uri != binding.contact_uri);
        stored.push(Stored {
            binding,
            call_id: String::new(),
            cseq: 0,
        });
    }

    /// Returns the current bindings of `agent_id`, expired ones left out.
    pub fn lookup(&self, agent_id: &str) -> Vec<Binding> {
        let now = Instant::now();
        let bindings = self.inner.lock_bindings();
        bindings
            .get(agent_id)
            .into_iter()
            .flatten()
            .filter(|stored| stored.binding.expires_at > now)
            .map(|stored| stored.binding.clone())
            .collect()
    }

    /// Authenticates a request from `source` by its Authorization header.
    /// The error is the response to send: 401 with a challenge (no or
    /// unusable Authorization, stale nonce), 403 (wrong password, unknown
    /// user, blocked address), or 503 when the credentials cannot be read.
    pub async fn authenticate(
        &self,
        request: &Request,
        source: &Source,
        to_tag: &str,
    ) -> Result<Authenticated, Response> {
        let ip = source.remote.ip();
        if let Some(response) = self.inner.blocked(request, ip, to_tag) {
            return Err(response);
        }
        let challenge = |stale: bool| self.inner.challenge(request, to_tag, stale);
        let Some(header) = request.headers.get("Authorization") else {
            return Err(challenge(false));
        };
        let authorization = match Authorization::parse(header) {
            Ok(authorization) => authorization,
            Err(error) => {
                tracing::debug!(peer = %source.remote, %error, "unusable Authorization; challenged again");
                return Err(challenge(false));
            }
        };
        let credential = match self
            .inner
            .credentials
            .credential(&authorization.username)
            .await
        {
            Ok(credential) => credential,
            Err(error) => {
                tracing::error!(%error, "reading SIP credentials failed; responding 503");
                let mut response = request.response(503, Some(to_tag));
                response
                    .headers
                    .push("Retry-After", CREDENTIALS_RETRY_AFTER);
                return Err(response);
            }
        };
        let verdict = self.inner.digest.verify(
            &authorization,
            &request.method,
            &request.uri,
            credential.as_ref(),
            now_millis(),
        );
        match verdict {
            Verdict::Valid(agent_id) => Ok(Authenticated {
                agent_id,
                sip_user: authorization.username,
            }),
            Verdict::Stale => Err(challenge(true)),
            Verdict::Unusable(reason) => {
                tracing::debug!(peer = %source.remote, reason, "unusable Authorization; challenged again");
                Err(challenge(false))
            }
            Verdict::Wrong => Err(self.inner.failed(request, ip, to_tag)),
        }
    }

    /// Handles a REGISTER from `source` and returns its final response.
    pub async fn register(&self, request: &Request, source: Source, to_tag: &str) -> Response {
        let authenticated = match self.authenticate(request, &source, to_tag).await {
            Ok(authenticated) => authenticated,
            Err(response) => return response,
        };
        match self.inner.update(request, source, to_tag, &authenticated) {
            Ok(response) | Err(response) => response,
        }
    }

    /// Removes expired bindings, sending [`RegistrarEvent::Expired`] for
    /// agents left without one, and drops failure counts older than the
    /// window and block.
    pub fn remove_expired(&self, now: Instant) {
        self.inner.remove_expired(now);
    }
}

impl Inner {
    fn lock_bindings(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Stored>>> {
        // Every change is made in one step under the lock, so a panic
        // elsewhere cannot leave the table half changed.
        self.bindings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn challenge(&self, request: &Request, to_tag: &str, stale: bool) -> Response {
        let mut response = request.response(401, Some(to_tag));
        for value in self.digest.challenges(now_millis(), stale) {
            response.headers.push("WWW-Authenticate", value);
        }
        response
    }

    /// Returns the 403 for an address that is blocked now, counting it.
    fn blocked(&self, request: &Request, ip: IpAddr, to_tag: &str) -> Option<Response> {
        let now = Instant::now();
        let mut failures = self.lock_failures();
        let entry = failures.get_mut(&ip)?;
        let until = entry.blocked_until?;
        if until <= now {
            end_block(ip, entry);
            return None;
        }
        entry.rejected += 1;
        Some(forbidden_until(request, to_tag, until - now))
    }

    /// Counts a failed attempt from `ip` and returns its 403, with
    /// Retry-After when this failure starts a block.
    fn failed(&self, request: &Request, ip: IpAddr, to_tag: &str) -> Response {
        let now = Instant::now();
        let mut failures = self.lock_failures();
        let entry = failures.entry(ip).or_insert(Failures {
            window_start: now,
            count: 0,
            blocked_until: None,
            rejected: 0,
        });
        if now.duration_since(entry.window_start) > self.config.window {
            entry.window_start = now;
            entry.count = 0;
        }
        entry.count += 1;
        tracing::debug!(%ip, failures = entry.count, method = %request.method, "digest authentication failed");
        if entry.count < self.config.max_failures {
            return request.response(403, Some(to_tag));
        }
        tracing::warn!(
            %ip,
            failures = entry.count,
            window_seconds = self.config.window.as_secs(),
            block_seconds = self.config.block.as_secs(),
            "too many failed digest authentications; address blocked"
        );
        let until = now + self.config.block;
        entry.blocked_until = Some(until);
        entry.rejected = 0;
        forbidden_until(request, to_tag, self.config.block)
    }

    /// Applies an authenticated REGISTER to the bindings (section 10.3,
    /// steps 5 to 8).
    fn update(
        &self,
        request: &Request,
        source: Source,
        to_tag: &str,
        authenticated: &Authenticated,
    ) -> Result<Response, Response> {
        let bad_request = |reason: &str| {
            tracing::info!(peer = %source.remote, reason, "REGISTER rejected with 400");
            let mut response = request.response(400, Some(to_tag));
            response.reason = format!("Bad Request ({reason})");
            response
        };
        let aor_user = request
            .headers
            .get("To")
            .and_then(|to| NameAddr::parse(to).ok())
            .and_then(|to| Uri::parse(&to.uri).ok())
            .and_then(|uri| uri.user().map(str::to_string))
            .ok_or_else(|| {
                bad_request("the To header needs an address-of-record sip:user@domain")
            })?;
        if aor_user != authenticated.sip_user {
            tracing::warn!(
                agent_id = %authenticated.agent_id,
                sip_user = %authenticated.sip_user,
                aor = %aor_user,
                "a SIP user tried to register another user's address; 403"
            );
            return Err(request.response(403, Some(to_tag)));
        }
        let call_id = request
            .headers
            .get("Call-ID")
            .unwrap_or_default()
            .to_string();
        let cseq = request
            .cseq_number()
            .ok_or_else(|| bad_request("the CSeq number is invalid"))?;
        let default_expires = match request.headers.get("Expires") {
            Some(value) => value
                .trim()
                .parse::<u32>()
                .map_err(|_| bad_request("the Expires header is not a number of seconds"))?,
            None => self.config.max_expires,
        };
        let contacts = request.headers.list("Contact");
        let agent_id = authenticated.agent_id.as_str();
        if contacts.iter().any(|contact| contact.trim() == "*") {
            let only_star = contacts.len() == 1;
            let expires_zero = request
                .headers
                .get("Expires")
                .is_some_and(|value| value.trim() == "0");
            if !only_star || !expires_zero {
                return Err(bad_request(
                    "`Contact: *` must be the only contact and needs `Expires: 0`",
                ));
            }
            return self.remove_all(request, to_tag, agent_id, &call_id, cseq);
        }

        let mut requested = Vec::new();
        for contact in &contacts {
            let parsed =
                NameAddr::parse(contact).map_err(|_| bad_request("a Contact header is invalid"))?;
            let expires = match param(&parsed.params, "expires") {
                Some(value) => value
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| bad_request("a Contact's expires parameter is not a number"))?,
                None => default_expires,
            };
            if expires != 0 && expires < self.config.min_expires {
                let mut response = request.response(423, Some(to_tag));
                response.reason = String::from("Interval Too Brief");
                response
                    .headers
                    .push("Min-Expires", self.config.min_expires.to_string());
                return Err(response);
            }
            requested.push(Requested {
                uri: parsed.uri,
                expires: expires.min(self.config.max_expires),
            });
        }
        self.bind(
            request, source, to_tag, agent_id, &call_id, cseq, &requested,
        )
    }

    /// Removes every binding of the agent for `Contact: *`.
    fn remove_all(
        &self,
        request: &Request,
        to_tag: &str,
        agent_id: &str,
        call_id: &str,
        cseq: u32,
    ) -> Result<Response, Response> {
        let mut bindings = self.lock_bindings();
        let current = bindings
            .get(agent_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if current
            .iter()
            .any(|stored| stored.call_id == call_id && stored.cseq >= cseq)
        {
            return Err(out_of_order(request, to_tag));
        }
        let had_bindings = bindings
            .remove(agent_id)
            .is_some_and(|list| !list.is_empty());
        drop(bindings);
        if had_bindings {
            tracing::info!(%agent_id, "every binding removed");
            self.send(RegistrarEvent::Unregistered {
                agent_id: agent_id.to_string(),
            });
        }
        Ok(request.response(200, Some(to_tag)))
    }

    /// Adds, refreshes and removes the requested bindings in one step,
    /// after checking the Call-ID and CSeq order of every one.
    #[allow(clippy::too_many_arguments)]
    fn bind(
        &self,
        request: &Request,
        source: Source,
        to_tag: &str,
        agent_id: &str,
        call_id: &str,
        cseq: u32,
        requested: &[Requested],
    ) -> Result<Response, Response> {
        let now = Instant::now();
        let mut bindings = self.lock_bindings();
        let list = bindings.entry(agent_id.to_string()).or_default();
        let had_bindings = !list.is_empty();
        // Section 10.3 step 7: a request of the same Call-ID must have a
        // higher CSeq than the one that set the binding, else it is an
        // old or reordered request and nothing changes.
        let reordered = requested.iter().any(|wanted| {
            list.iter().any(|stored| {
                same_uri(&stored.binding.contact_uri, &wanted.uri)
                    && stored.call_id == call_id
                    && stored.cseq >= cseq
            })
        });
        if reordered {
            return Err(out_of_order(request, to_tag));
        }
        // Every binding is a phone rung for each offer, so one password
        // must not bind an unbounded list of addresses.
        let added = requested
            .iter()
            .filter(|wanted| wanted.expires != 0)
            .filter(|wanted| {
                !list
                    .iter()
                    .any(|stored| same_uri(&stored.binding.contact_uri, &wanted.uri))
            })
            .count();
        let removed = requested
            .iter()
            .filter(|wanted| wanted.expires == 0)
            .filter(|wanted| {
                list.iter()
                    .any(|stored| same_uri(&stored.binding.contact_uri, &wanted.uri))
            })
            .count();
        if list.len() + added - removed.min(list.len() + added) > MAX_CONTACTS {
            tracing::warn!(%agent_id, peer = %source.remote, contacts = list.len() + added, "REGISTER rejected: too many contacts");
            let mut response = request.response(403, Some(to_tag));
            response.headers.push(
                "Warning",
                format!("399 flowd \"at most {MAX_CONTACTS} contacts per agent; remove old ones with Expires: 0\""),
            );
            return Err(response);
        }
        let mut events = Vec::new();
        for wanted in requested {
            let position = list
                .iter()
                .position(|stored| same_uri(&stored.binding.contact_uri, &wanted.uri));
            if wanted.expires == 0 {
                if let Some(position) = position {
                    list.remove(position);
                    tracing::info!(%agent_id, contact = %wanted.uri, "binding removed");
                }
                continue;
            }
            let expires = Duration::from_secs(u64::from(wanted.expires));
            let stored = Stored {
                binding: Binding {
                    contact_uri: wanted.uri.clone(),
                    source,
                    expires_at: now + expires,
                },
                call_id: call_id.to_string(),
                cseq,
            };
            match position.and_then(|position| list.get_mut(position)) {
                Some(existing) => *existing = stored,
                None => {
                    tracing::info!(
                        %agent_id,
                        contact = %wanted.uri,
                        peer = %source.remote,
                        expires_seconds = wanted.expires,
                        "binding added"
                    );
                    list.push(stored);
                    events.push(RegistrarEvent::Registered {
                        agent_id: agent_id.to_string(),
                        contact_uri: wanted.uri.clone(),
                        source,
                        expires,
                    });
                }
            }
        }
        let response = listing(request, to_tag, list, now);
        if list.is_empty() {
            bindings.remove(agent_id);
            if had_bindings {
                events.push(RegistrarEvent::Unregistered {
                    agent_id: agent_id.to_string(),
                });
            }
        }
        drop(bindings);
        for event in events {
            self.send(event);
        }
        Ok(response)
    }

    fn remove_expired(&self, now: Instant) {
        let mut expired = Vec::new();
        {
            let mut bindings = self.lock_bindings();
            bindings.retain(|agent_id, list| {
                list.retain(|stored| {
                    let live = stored.binding.expires_at > now;
                    if !live {
                        tracing::info!(%agent_id, contact = %stored.binding.contact_uri, "binding expired");
                    }
                    live
                });
                if list.is_empty() {
                    expired.push(agent_id.clone());
                }
                !list.is_empty()
            });
        }
        for agent_id in expired {
            self.send(RegistrarEvent::Expired { agent_id });
        }

        let keep = self.config.window.max(self.config.block);
        let mut failures = self.lock_failures();
        failures.retain(|ip, entry| {
            if entry.blocked_until.is_some_and(|until| until <= now) {
                end_block(*ip, entry);
            }
            entry.blocked_until.is_some() || now.duration_since(entry.window_start) <= keep
        });
    }

    fn send(&self, event: RegistrarEvent) {
        if self.events.send(event).is_err() {
            tracing::debug!("no receiver of registrar events");
        }
    }
}

/// Builds the 200 to a REGISTER: every binding of the agent with its
/// remaining seconds.
fn listing(request: &Request, to_tag: &str, bindings: &[Stored], now: Instant) -> Response {
    let mut response = request.response(200, Some(to_tag));
    for stored in bindings {
        let remaining = stored.binding.expires_at.saturating_duration_since(now);
        let contact = format!(
            "<{}>;expires={}",
            stored.binding.contact_uri,
            remaining.as_secs()
        );
        response.headers.push("Contact", contact);
    }
    response
}

/// Lifts an expired block and logs how many requests it rejected.
fn end_block(ip: IpAddr, entry: &mut Failures) {
    tracing::info!(%ip, rejected = entry.rejected, "address block ended");
    entry.blocked_until = None;
    entry.count = 0;
    entry.rejected = 0;
}

fn forbidden_until(request: &Request, to_tag: &str, remaining: Duration) -> Response {
    let mut response = request.response(403, Some(to_tag));
    let seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    response.headers.push("Retry-After", seconds.to_string());
    response
}

fn out_of_order(request: &Request, to_tag: &str) -> Response {
    tracing::info!("REGISTER with an old CSeq for its Call-ID; 500");
    let mut response = request.response(500, Some(to_tag));
    response.reason = String::from("Server Internal Error (CSeq out of order)");
    response
}

/// Compares Contact URIs. NOTE: exact text apart from ASCII case, where
/// RFC 3261 section 19.1.4 compares user, host and parameters separately.
fn same_uri(left: &str, right: &str) -> bool {
    left.eq_ignore_ascii_case(right)
}

/// Runs [`Inner::remove_expired`] every second while the registrar lives.
async fn sweep(inner: Weak<Inner>) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.remove_expired(Instant::now());
    }
}

/// Returns the wall clock in milliseconds since the Unix epoch, the time
/// base of nonces.
fn now_millis() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
