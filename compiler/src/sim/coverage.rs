//! Path coverage of a flow over the simulated calls of its scenarios.
//!
//! The outcomes counted are every probe of the module (each branch of an
//! `if`, each menu key, invalid, no input and exhausted, each lookup's
//! found, missing and failed, each `match` arm, each overflow) and, for
//! each schedule the flow consults, open and closed, plus holiday when it
//! has holidays and exception when it has date exceptions.

use super::host::{ScheduleOutcome, Simulation};
use super::trace::{place, probe_text};
use crate::bytecode::{Module, ProbeId, ScheduleId};
use serde::Serialize;
use std::collections::BTreeSet;

/// One outcome that coverage counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `file:line`, when the outcome has a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// The outcome, such as `menu -> key 1` or `hours office -> holiday`.
    pub outcome: String,
    /// True when a scenario reached it.
    pub hit: bool,
}

/// The coverage of one flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The flow's name.
    pub flow: String,
    /// Outcomes reached.
    pub hit: usize,
    /// Outcomes in all.
    pub total: usize,
    /// Every outcome, in module order.
    pub items: Vec<Item>,
}

impl Coverage {
    /// Returns the share of outcomes reached, 0 to 100; a flow without
    /// decisions is fully covered.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            return 100.0;
        }
        let hit = u32::try_from(self.hit).unwrap_or(u32::MAX);
        let total = u32::try_from(self.total).unwrap_or(u32::MAX);
        f64::from(hit) * 100.0 / f64::from(total)
    }

    /// Returns the outcomes no scenario reached.
    /// Returns the outcomes no scenario reached, sorted by file and line,
    /// with the outcomes without a place last.
    pub fn missed(&self) -> impl Iterator<Item = &Item> {
        let mut missed: Vec<&Item> = self.items.iter().filter(|item| !item.hit).collect();
        missed.sort_by_key(|item| place_key(item.place.as_deref()));
        missed.into_iter()
    }
}

/// Returns a sort key for a `file:line` place: the file, then the line as a
/// number, so `support.flow:9` comes before `support.flow:10`.
fn place_key(place: Option<&str>) -> (bool, String, u64) {
    match place.and_then(|p| p.rsplit_once(':')) {
        Some((file, line)) => (false, file.to_string(), line.parse().unwrap_or(u64::MAX)),
        None => (true, String::new(), 0),
    }
}

/// Accumulates the outcomes reached by several simulations of one module.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    probes: BTreeSet<ProbeId>,
    schedules: BTreeSet<(ScheduleId, ScheduleOutcome)>,
}

impl Tracker {
    /// Adds the outcomes one simulation reached.
    pub fn add(&mut self, simulation: &Simulation) {
        self.probes.extend(simulation.probes.iter().copied());
        self.schedules.extend(simulation.schedules.iter().copied());
    }

    /// Returns the coverage of `module` so far.
    pub fn coverage(&self, module: &Module) -> Coverage {
        let mut items = Vec::new();
        for (index, probe) in module.probes.iter().enumerate() {
            let id = ProbeId(u32::try_from(index).unwrap_or(u32::MAX));
            items.push(Item {
                place: place(module, probe.at),
                outcome: probe_text(probe),
                hit: self.probes.contains(&id),
            });
        }
        for (index, schedule) in module.schedules.iter().enumerate() {
            let id = ScheduleId(u32::try_from(index).unwrap_or(u32::MAX));
            let mut outcomes = vec![ScheduleOutcome::Open, ScheduleOutcome::Closed];
            if !schedule.holidays.is_empty() {
                outcomes.push(ScheduleOutcome::Holiday);
            }
            if !schedule.exceptions.is_empty() {
                outcomes.push(ScheduleOutcome::Exception);
            }
            for outcome in outcomes {
                items.push(Item {
                    place: None,
                    outcome: format!("hours {} -> {}", schedule.name, outcome.as_str()),
                    hit: self.schedules.contains(&(id, outcome)),
                });
            }
        }
        Coverage {
            flow: module.flow.clone(),
            hit: items.iter().filter(|item| item.hit).count(),
            total: items.len(),
            items,
        }
    }
}
