//! The contact-center services of a server with a store: the queue
//! service, the registrar's credentials from the agent table, where to
//! ring each agent, agents' presence from registrations and feature
//! codes, and the callback dialer.

use super::agents::AgentHooks;
use crate::agents::features::{FeatureAction, FeatureEvent};
use crate::agents::registrar::{Registrar, RegistrarEvent};
use crate::config::RuntimeConfig;
use crate::queue::AgentState;
use crate::queue::service::{AgentTarget, Locator, QueueService};
use crate::sip::digest::{Credential, CredentialFuture, Credentials};
use crate::sip::header::Uri;
use crate::sip::transport::Transport;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use tokio::sync::mpsc;

/// The credentials of agents' SIP users, read from the store at each
/// authentication, so a password changed through the API applies at once.
pub struct StoreCredentials(pub Store);

impl Credentials for StoreCredentials {
    fn credential(&self, sip_user: &str) -> CredentialFuture<'_> {
        let sip_user = sip_user.to_string();
        Box::pin(async move {
            let row = self
                .0
                .agent_by_sip_user(&sip_user)
                .await
                .map_err(|error| error.to_string())?;
            Ok(row.and_then(|agent| {
                if !agent.enabled {
                    return None;
                }
                Some(Credential {
                    agent_id: agent.id,
                    ha1_md5: agent.ha1_md5?,
                    ha1_sha256: agent.ha1_sha256?,
                })
            }))
        })
    }
}

/// Finds where to ring agents: their registered phones, else their fixed
/// URIs.
#[derive(Default)]
pub struct AgentLocator {
    registrar: OnceLock<Registrar>,
    fixed: RwLock<HashMap<String, String>>,
}

impl Locator for AgentLocator {
    fn set_fixed(&self, agent: &str, uri: Option<String>) {
        let mut fixed = self
            .fixed
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match uri {
            Some(uri) => fixed.insert(agent.to_string(), uri),
            None => fixed.remove(agent),
        };
    }

    fn locate(&self, agent: &str) -> Vec<AgentTarget> {
        let bindings = self
            .registrar
            .get()
            .map(|registrar| registrar.lookup(agent))
            .unwrap_or_default();
        if !bindings.is_empty() {
            return bindings
                .into_iter()
                .map(|binding| {
                    // A phone whose Contact names another IP address than
                    // the one its REGISTER came from is behind NAT, and one
                    // on TCP is reached through its own connection: both
                    // get the INVITE at the REGISTER's source.
                    let contact_ip = match Uri::parse(&binding.contact_uri) {
                        Ok(Uri::Sip { host, .. }) => host.parse::<std::net::IpAddr>().ok(),
                        _ => None,
                    };
                    let behind_nat = contact_ip != Some(binding.source.remote.ip());
                    let destination = (behind_nat || binding.source.transport == Transport::Tcp)
                        .then_some(binding.source);
                    AgentTarget {
                        agent: agent.to_string(),
                        uri: binding.contact_uri,
                        destination,
                    }
                })
                .collect();
        }
        let fixed = self
            .fixed
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        fixed
            .get(agent)
            .map(|uri| AgentTarget {
                agent: agent.to_string(),
                uri: uri.clone(),
                destination: None,
            })
            .into_iter()
            .collect()
    }
}

/// The services started for a server with a store.
pub(super) struct Center {
    pub(super) service: QueueService,
    hooks: Option<AgentHooks>,
    pub(super) locator: Arc<AgentLocator>,
    registrar_events: mpsc::UnboundedReceiver<RegistrarEvent>,
    feature_events: mpsc::UnboundedReceiver<FeatureEvent>,
}

impl Center {
    /// Starts the queue service with the store's agents and builds the
    /// registrar's hooks; [`Center::run_presence`] must follow once the
    /// registrar runs.
    pub(super) async fn start(config: &RuntimeConfig, store: &Store) -> Center {
        let locator = Arc::new(AgentLocator::default());
        match store.agents().await {
            Ok(agents) => {
                for agent in agents {
                    locator.set_fixed(&agent.id, agent.uri.clone());
                }
            }
            Err(error) => tracing::error!(%error, "agents' fixed URIs could not be read"),
        }
        let service = QueueService::start(
            Some(store.clone()),
            locator.clone(),
            config.queues.average_handle_default,
        )
        .await;
        let (registrar_tx, registrar_events) = mpsc::unbounded_channel();
        let (feature_tx, feature_events) = mpsc::unbounded_channel();
        let hooks = AgentHooks {
            credentials: Arc::new(StoreCredentials(store.clone())),
            registrar: registrar_config(&config.registrar),
            features: feature_codes(&config.agents.feature_codes),
            registrar_events: registrar_tx,
            feature_events: feature_tx,
        };
        Center {
            service,
            hooks: Some(hooks),
            locator,
            registrar_events,
            feature_events,
        }
    }

    /// Takes the registrar's hooks, once.
    pub(super) fn take_hooks(&mut self) -> Option<AgentHooks> {
        self.hooks.take()
    }

    /// Logs agents in and out as their phones register and dial feature
    /// codes, until the registrar and the feature handler stop.
    pub(super) fn run_presence(mut self, registrar: Option<Registrar>) -> QueueService {
        if let Some(registrar) = registrar {
            let _ = self.locator.registrar.set(registrar);
        }
        let service = self.service.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    event = self.registrar_events.recv() => match event {
                        Some(event) => presence(&self.service, event),
                        None => break,
                    },
                    event = self.feature_events.recv() => match event {
                        Some(event) => feature(&self.service, event).await,
                        None => break,
                    },
                }
            }
        });
        service
    }
}

/// A registered phone logs its agent in as ready; the last binding gone
/// logs it out.
fn presence(service: &QueueService, event: RegistrarEvent) {
    match event {
        RegistrarEvent::Registered { agent_id, .. } => {
            tracing::info!(agent = %agent_id, "agent's phone registered; logging in");
            service.log_in(&agent_id);
        }
        RegistrarEvent::Unregistered { agent_id } | RegistrarEvent::Expired { agent_id } => {
            tracing::info!(agent = %agent_id, "agent's phone has no registration left; logging out");
            service.set_agent_state_later(&agent_id, AgentState::LoggedOut);
        }
    }
}

/// Applies a feature code an agent dialled.
async fn feature(service: &QueueService, event: FeatureEvent) {
    let state = match event.action {
        FeatureAction::Pause { reason } => AgentState::Paused(reason),
        FeatureAction::Ready | FeatureAction::LogIn => AgentState::Ready,
        FeatureAction::LogOut => AgentState::LoggedOut,
    };
    match service
        .set_agent_state(&event.agent_id, state.clone())
        .await
    {
        Ok(previous) => {
            tracing::info!(agent = %event.agent_id, call_id = %event.call_id, ?previous, ?state, "agent state set by feature code");
        }
        Err(error) => {
            tracing::warn!(agent = %event.agent_id, call_id = %event.call_id, %error, "feature code not applied");
        }
    }
}

/// Returns the registrar's settings from `sip` of tok.yaml.
fn registrar_config(
    config: &crate::config::RegistrarConfig,
) -> crate::agents::registrar::RegistrarConfig {
    crate::agents::registrar::RegistrarConfig {
        realm: config.realm.clone(),
        max_failures: config.auth_failures,
        window: config.auth_window,
        block: config.auth_block,
        min_expires: config.min_expires,
        max_expires: config.max_expires,
    }
}

/// Returns the feature codes of `agents.feature_codes` in tok.yaml.
fn feature_codes(config: &crate::config::FeatureCodes) -> crate::agents::features::FeatureCodes {
    crate::agents::features::FeatureCodes {
        pause: config.pause.clone(),
        ready: config.ready.clone(),
        log_in: config.login.clone(),
        log_out: config.logout.clone(),
    }
}
