//! The call layer's part of agents' phones: REGISTER goes to the
//! registrar, and an INVITE to a feature code is authenticated and handed
//! to `agents::features` instead of a flow.

use super::{RETRY_AFTER_SECONDS, Shared, supervise};
use crate::agents::features::{self, FeatureAction, FeatureCall, FeatureCodes, FeatureEvent};
use crate::agents::registrar::{Registrar, RegistrarConfig, RegistrarEvent};
use crate::media::session::MediaSession;
use crate::sip::digest::Credentials;
use crate::sip::header::{NameAddr, Uri};
use crate::sip::message::Request;
use crate::sip::uas::{Incoming, NumberPlan};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tracing::Instrument;

/// The credentials, limits and event channels of agents' phones.
pub struct AgentHooks {
    /// The SIP users' credentials.
    pub credentials: Arc<dyn Credentials>,
    /// The registrar's realm and limits.
    pub registrar: RegistrarConfig,
    /// The feature codes.
    pub features: FeatureCodes,
    /// Receives registrations, unregistrations and expiries.
    pub registrar_events: mpsc::UnboundedSender<RegistrarEvent>,
    /// Receives the feature codes agents dial.
    pub feature_events: mpsc::UnboundedSender<FeatureEvent>,
}

/// The running registrar and the feature codes of a server.
#[derive(Clone)]
pub(super) struct Agents {
    pub(super) registrar: Registrar,
    pub(super) features: FeatureCodes,
    feature_events: mpsc::UnboundedSender<FeatureEvent>,
}

impl Agents {
    /// Starts the registrar. Must run inside a tokio runtime.
    pub(super) fn start(hooks: AgentHooks) -> Result<Agents, String> {
        let registrar = Registrar::new(hooks.registrar, hooks.credentials, hooks.registrar_events)?;
        Ok(Agents {
            registrar,
            features: hooks.features,
            feature_events: hooks.feature_events,
        })
    }
}

/// The number plan of a server with agents: the flows' numbers and the
/// feature codes, and REGISTER.
pub(super) struct AgentNumbers {
    pub(super) flows: super::Flows,
    pub(super) features: FeatureCodes,
}

impl NumberPlan for AgentNumbers {
    fn is_known(&self, user: &str) -> bool {
        self.flows.is_known(user) || self.features.action(user).is_some()
    }

    fn registers(&self) -> bool {
        true
    }
}

/// Takes a REGISTER or a feature-code INVITE and handles it in its own
/// task; gives every other request back.
pub(super) fn take_request(
    shared: &Arc<Shared>,
    in_dialog: bool,
    incoming: Incoming,
) -> Option<Incoming> {
    let Some(agents) = &shared.agents else {
        return Some(incoming);
    };
    let call_id = incoming
        .request
        .headers
        .get("Call-ID")
        .unwrap_or_default()
        .to_string();
    if incoming.request.method == "REGISTER" {
        let registrar = agents.registrar.clone();
        let endpoint = shared.endpoint.clone();
        let span = tracing::info_span!("register", %call_id, peer = %incoming.source.remote);
        let task = async move {
            let request = &incoming.request;
            let response = registrar
                .register(request, incoming.source, &incoming.to_tag)
                .await;
            tracing::debug!(status = response.status, "REGISTER response sent");
            endpoint.respond(&incoming.key, response);
        };
        tokio::spawn(task.instrument(span));
        return None;
    }
    if in_dialog || incoming.request.method != "INVITE" {
        return Some(incoming);
    }
    let Some(action) = dialled_user(&incoming.request).and_then(|u| agents.features.action(&u))
    else {
        return Some(incoming);
    };
    let span = tracing::info_span!("call", %call_id);
    let task = feature_invite(shared.clone(), agents.clone(), incoming, action, call_id);
    tokio::spawn(task.instrument(span));
    None
}

/// Returns the Request-URI's user, else the To's, as the SIP core reads
/// the dialled number.
fn dialled_user(request: &Request) -> Option<String> {
    let from_uri = |uri: &str| Uri::parse(uri).ok()?.user().map(str::to_string);
    from_uri(&request.uri).or_else(|| {
        let to = NameAddr::parse(request.headers.get("To")?).ok()?;
        from_uri(&to.uri)
    })
}

/// Authenticates a feature-code INVITE and, for a known agent, runs the
/// feature call as a registered call.
async fn feature_invite(
    shared: Arc<Shared>,
    agents: Agents,
    incoming: Incoming,
    action: FeatureAction,
    call_id: String,
) {
    let request = &incoming.request;
    let authenticated = agents
        .registrar
        .authenticate(request, &incoming.source, &incoming.to_tag)
        .await;
    let authenticated = match authenticated {
        Ok(authenticated) => authenticated,
        Err(response) => {
            tracing::info!(
                status = response.status,
                "feature-code INVITE not authenticated"
            );
            shared.endpoint.respond(&incoming.key, response);
            return;
        }
    };

    let unavailable = || {
        let mut response = request.response(503, Some(&incoming.to_tag));
        response.headers.push("Retry-After", RETRY_AFTER_SECONDS);
        response
    };
    if shared.stats.active_calls() >= shared.max_calls {
        tracing::warn!(
            max_calls = shared.max_calls,
            "too many calls; feature-code INVITE rejected with 503"
        );
        shared.endpoint.respond(&incoming.key, unavailable());
        return;
    }
    let media = match MediaSession::start(&shared.pool, shared.media_ip) {
        Ok(media) => media,
        Err(error) => {
            tracing::warn!(%error, "no RTP ports for a feature-code call; 503");
            shared.endpoint.respond(&incoming.key, unavailable());
            return;
        }
    };
    let Some(receiver) = shared.register(&call_id) else {
        let response = request.response(482, Some(&incoming.to_tag));
        shared.endpoint.respond(&incoming.key, response);
        return;
    };

    let answered = Arc::new(Mutex::new(None));
    let server_error = request.response(500, Some(&incoming.to_tag));
    let unanswered = Some((incoming.key.clone(), server_error));
    let call = FeatureCall {
        endpoint: shared.endpoint.clone(),
        event: FeatureEvent {
            agent_id: authenticated.agent_id,
            action,
            call_id: call_id.clone(),
        },
        incoming,
        media,
        confirmation: features::confirmation_prompt(&shared.prompts),
        media_ip: shared.media_ip,
        events: agents.feature_events.clone(),
    };
    let body = features::run(call, receiver, answered.clone());
    supervise(&shared, call_id, answered, unanswered, body);
}
