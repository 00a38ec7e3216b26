//! Who gets which mail: the one place recipients are chosen, for the ledger's own
//! notices, the clock's reminders, escalations and overdue notices, the daily digest
//! and the notices to the duty office (source health, undeliverable mail).

use crate::clock::StepKind;
use crate::config::{Config, Role};
use crate::model::Incident;

/// The recipients of each kind of notice under one configuration.
#[derive(Debug, Clone, Copy)]
pub struct Routing<'a> {
    config: &'a Config,
}

impl<'a> Routing<'a> {
    pub fn new(config: &'a Config) -> Routing<'a> {
        Routing { config }
    }

    /// A new incident (立案): duty, propaganda and the lead unit, and the town
    /// government the first item names (属地) when `[units]` has its addresses.
    pub fn opened(&self, incident: &Incident) -> Vec<String> {
        let town = incident
            .lead()
            .and_then(|lead| lead.government.as_ref())
            .and_then(|g| self.config.units.get(g));
        self.collect_with(
            &[Role::Duty, Role::Propaganda],
            Some(incident.unit.as_deref()),
            town.map(Vec::as_slice).unwrap_or_default(),
        )
    }

    /// An official response recognised (issue 12): duty and propaganda.
    pub fn response(&self) -> Vec<String> {
        self.collect(&[Role::Duty, Role::Propaganda], None)
    }

    /// A step of a running clock: a reminder goes to duty and the lead unit, an
    /// escalation also to the office; an overdue notice to leaders, office and duty.
    pub fn step(&self, incident: &Incident, kind: StepKind) -> Vec<String> {
        match kind {
            StepKind::Fraction {
                escalation: false, ..
            } => self.collect(&[Role::Duty], Some(incident.unit.as_deref())),
            StepKind::Fraction {
                escalation: true, ..
            } => self.collect(&[Role::Office, Role::Duty], Some(incident.unit.as_deref())),
            StepKind::Overdue { .. } => {
                self.collect(&[Role::Leaders, Role::Office, Role::Duty], None)
            }
        }
    }

    /// The 效果评估 came out rising (舆情未平息): propaganda and office, who decide on a
    /// second response; duty when neither has an address.
    pub fn effect_rising(&self) -> Vec<String> {
        let to = self.collect(&[Role::Propaganda, Role::Office], None);
        if to.is_empty() { self.duty() } else { to }
    }

    /// The daily digest: the roles in `[digest] to`.
    pub fn digest(&self) -> Vec<String> {
        self.collect(&self.config.digest.to, None)
    }

    /// A board post's reminder or overdue notice: duty and the unit the post routes to.
    pub fn reply(&self, unit: Option<&str>) -> Vec<String> {
        self.collect(&[Role::Duty], Some(unit))
    }

    /// A document clock's reminder or overdue notice (政策解读 …, `clock::policies`):
    /// duty and propaganda, who see to the missing document.
    pub fn document(&self) -> Vec<String> {
        self.collect(&[Role::Duty, Role::Propaganda], None)
    }

    /// Notices about the system itself (a failing source, undeliverable mail): duty.
    pub fn duty(&self) -> Vec<String> {
        self.collect(&[Role::Duty], None)
    }

    /// Addresses of `roles`, then of the unit (`Some(unit)`, falling back to duty),
    /// each once.
    fn collect(&self, roles: &[Role], unit: Option<Option<&str>>) -> Vec<String> {
        self.collect_with(roles, unit, &[])
    }

    /// As [`Routing::collect`], then `more`, each address once.
    fn collect_with(
        &self,
        roles: &[Role],
        unit: Option<Option<&str>>,
        more: &[String],
    ) -> Vec<String> {
        let mut to: Vec<String> = Vec::new();
        let unit_list = unit.map(|u| self.config.unit_addresses(u));
        for address in roles
            .iter()
            .flat_map(|r| self.config.recipients.of(*r))
            .chain(unit_list.into_iter().flatten())
            .chain(more)
        {
            if !to.contains(address) {
                to.push(address.clone());
            }
        }
        to
    }
}
