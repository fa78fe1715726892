//! The call layer: compiled flows keyed by number, one tokio task per call
//! driving `flowc::vm::Call`, and the counts tests and logs read.
//!
//! The dispatcher reads the endpoint's [`UasEvent`]s and routes each to its
//! call by Call-ID; a new INVITE starts a call. A call's task owns its VM,
//! its media session and its dialog, so nothing about one call is shared
//! with another except the port pool and the prompts.

mod driver;
mod flows;

pub use flows::{Flows, load_flows};

use crate::config::RuntimeConfig;
use crate::media::ports::PortPool;
use crate::media::prompt::PromptLibrary;
use crate::sip::endpoint::{Endpoint, EndpointConfig};
use crate::sip::message::Request;
use crate::sip::transaction::Timers;
use crate::sip::uas::{Incoming, UasEvent};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Requests queued between the SIP core and the call layer.
const EVENT_QUEUE: usize = 1024;

/// Counters of the call layer; clones share them.
#[derive(Clone, Debug)]
pub struct Stats {
    inner: Arc<Counters>,
    pool: PortPool,
}

#[derive(Debug, Default)]
struct Counters {
    active: AtomicUsize,
    started: AtomicU64,
    effects: AtomicU64,
    panics: AtomicU64,
}

impl Stats {
    /// Returns the calls whose task is running.
    pub fn active_calls(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Returns the calls started since start-up.
    pub fn calls_started(&self) -> u64 {
        self.inner.started.load(Ordering::Relaxed)
    }

    /// Returns the effects carried out for every call since start-up.
    pub fn effects(&self) -> u64 {
        self.inner.effects.load(Ordering::Relaxed)
    }

    /// Returns the call tasks that panicked.
    pub fn panics(&self) -> u64 {
        self.inner.panics.load(Ordering::Relaxed)
    }

    /// Returns the RTP port pairs leased; zero when no call is active.
    pub fn ports_in_use(&self) -> usize {
        self.pool.in_use()
    }
}

/// State shared by every call task.
pub(crate) struct Shared {
    pub(crate) endpoint: Endpoint,
    pub(crate) flows: Flows,
    pub(crate) pool: PortPool,
    pub(crate) prompts: PromptLibrary,
    pub(crate) media_ip: IpAddr,
    pub(crate) recordings: PathBuf,
    pub(crate) trusted: Vec<IpAddr>,
    pub(crate) stats: Stats,
    /// Becomes true when active calls must end with BYE.
    pub(crate) ending: tokio::sync::watch::Receiver<bool>,
    calls: Mutex<HashMap<String, mpsc::UnboundedSender<DialogEvent>>>,
}

/// A dialog event routed to a call's task.
#[derive(Debug)]
pub(crate) enum DialogEvent {
    /// A request inside the dialog (BYE, INFO, re-INVITE, UPDATE).
    Request(Box<Incoming>),
    /// The ACK of the 2xx.
    Ack(Request),
    /// The INVITE was cancelled before it was answered.
    Cancelled,
    /// No ACK came for the 2xx.
    AckTimeout,
}

/// A running flowd: the SIP endpoint and the call layer.
pub struct Server {
    endpoint: Endpoint,
    stats: Stats,
    ending: tokio::sync::watch::Sender<bool>,
}

impl Server {
    /// Starts the endpoint on the configured listeners and the call layer
    /// on `flows`; prompts are read from `prompts`.
    pub async fn start(
        config: &RuntimeConfig,
        flows: Flows,
        prompts: PromptLibrary,
    ) -> Result<Server, String> {
        let pool = PortPool::new(config.rtp_ports.clone()).map_err(|error| {
            format!(
                "rtp.ports {}-{} cannot be used: {error}",
                config.rtp_ports.start(),
                config.rtp_ports.end()
            )
        })?;
        let endpoint_config = EndpointConfig {
            listen: config.listen.clone(),
            timers: Timers {
                t1: config.t1,
                ..Timers::default()
            },
            force_rport: config.force_rport,
            queue: EVENT_QUEUE,
        };
        let (endpoint, events) = Endpoint::start(endpoint_config, Arc::new(flows.clone()))
            .await
            .map_err(|error| {
                format!(
                    "cannot start the SIP listeners {:?}: {error}",
                    config.listen
                )
            })?;
        let stats = Stats {
            inner: Arc::new(Counters::default()),
            pool: pool.clone(),
        };
        let (ending, ending_receiver) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            endpoint: endpoint.clone(),
            flows,
            pool,
            prompts,
            media_ip: config.advertise,
            recordings: config.recordings.clone(),
            trusted: config.trusted.clone(),
            stats: stats.clone(),
            ending: ending_receiver,
            calls: Mutex::new(HashMap::new()),
        });
        tokio::spawn(dispatch(shared, events));
        Ok(Server {
            endpoint,
            stats,
            ending,
        })
    }

    /// Shuts down gracefully: new INVITEs get 503, active calls may run
    /// for `grace`, then the rest are ended with BYE and the endpoint stops.
    pub async fn shut_down(&self, grace: std::time::Duration) {
        self.endpoint.set_accepting(false);
        let deadline = tokio::time::Instant::now() + grace;
        while self.stats.active_calls() != 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let remaining = self.stats.active_calls();
        if remaining != 0 {
            tracing::info!(
                active_calls = remaining,
                "grace period over; ending calls with BYE"
            );
            let _ = self.ending.send(true);
            // Each call sends BYE and waits at most timer F for its answer.
            while self.stats.active_calls() != 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        self.endpoint.stop();
    }

    /// Returns the SIP endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Returns the call layer's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

/// Routes every event of the SIP core to its call.
async fn dispatch(shared: Arc<Shared>, mut events: mpsc::Receiver<UasEvent>) {
    while let Some(event) = events.recv().await {
        match event {
            UasEvent::Request(incoming) => {
                let call_id = incoming
                    .request
                    .headers
                    .get("Call-ID")
                    .unwrap_or_default()
                    .to_string();
                let in_dialog = incoming
                    .request
                    .headers
                    .get("To")
                    .is_some_and(|to| to.contains(";tag="));
                if !in_dialog && incoming.request.method == "INVITE" {
                    start_call(&shared, call_id, incoming);
                } else if let Err(DialogEvent::Request(incoming)) =
                    shared.route(&call_id, DialogEvent::Request(Box::new(incoming)))
                {
                    let response = incoming.request.response(481, Some(&incoming.to_tag));
                    shared.endpoint.respond(&incoming.key, response);
                }
            }
            UasEvent::Ack(request) => {
                let call_id = request
                    .headers
                    .get("Call-ID")
                    .unwrap_or_default()
                    .to_string();
                let _ = shared.route(&call_id, DialogEvent::Ack(request));
            }
            UasEvent::Cancelled { call_id, .. } => {
                let _ = shared.route(&call_id, DialogEvent::Cancelled);
            }
            UasEvent::AckTimeout { call_id, .. } => {
                let _ = shared.route(&call_id, DialogEvent::AckTimeout);
            }
        }
        tracing::debug!(
            active_calls = shared.stats.active_calls(),
            ports_in_use = shared.stats.ports_in_use(),
            "call layer counts"
        );
    }
}

impl Shared {
    /// Sends `event` to the call with `call_id`; gives it back when no such
    /// call runs.
    fn route(&self, call_id: &str, event: DialogEvent) -> Result<(), DialogEvent> {
        let sender = self
            .calls
            .lock()
            .ok()
            .and_then(|calls| calls.get(call_id).cloned());
        match sender {
            Some(sender) => sender.send(event).map_err(|error| error.0),
            None => Err(event),
        }
    }
}

/// Registers a call and spawns its task under a supervisor that logs a
/// panic with the call-id; a guard removes the call and its count however
/// the task ends.
fn start_call(shared: &Arc<Shared>, call_id: String, incoming: Incoming) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let fresh = match shared.calls.lock() {
        Ok(mut calls) => {
            if calls.contains_key(&call_id) {
                false
            } else {
                calls.insert(call_id.clone(), sender);
                true
            }
        }
        Err(_) => false,
    };
    if !fresh {
        // A second INVITE with a Call-ID in use but no To tag: the call
        // already exists, so this one is refused.
        let response = incoming.request.response(482, Some(&incoming.to_tag));
        shared.endpoint.respond(&incoming.key, response);
        return;
    }
    shared.stats.inner.active.fetch_add(1, Ordering::Relaxed);
    shared.stats.inner.started.fetch_add(1, Ordering::Relaxed);
    let guard = CallGuard {
        shared: shared.clone(),
        call_id: call_id.clone(),
    };
    let span = tracing::info_span!("call", %call_id);
    let answered = Arc::new(Mutex::new(None));
    let task = tokio::spawn(tracing::Instrument::instrument(
        driver::run(shared.clone(), incoming, receiver, answered.clone()),
        span.clone(),
    ));
    tokio::spawn(async move {
        let guard = guard;
        if let Err(error) = task.await
            && error.is_panic()
        {
            guard
                .shared
                .stats
                .inner
                .panics
                .fetch_add(1, Ordering::Relaxed);
            span.in_scope(|| {
                tracing::error!(call_id = %guard.call_id, "the call's task panicked; other calls go on");
            });
            let dialog = answered.lock().ok().and_then(|mut slot| slot.take());
            if let Some(mut dialog) = dialog {
                let bye = dialog.request("BYE");
                let result = guard.shared.endpoint.send_request(bye, dialog.peer).await;
                span.in_scope(|| {
                    tracing::info!(answered = result.is_ok(), "BYE sent after the panic")
                });
            }
        }
    });
}

/// Removes a call from the routing table and the active count on drop.
struct CallGuard {
    shared: Arc<Shared>,
    call_id: String,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.shared.calls.lock() {
            calls.remove(&self.call_id);
        }
        self.shared
            .stats
            .inner
            .active
            .fetch_sub(1, Ordering::Relaxed);
    }
}
