//! The engine's rule sets: the active one, the switch to another (journaled,
//! atomic: one decision is made wholly under one rule set), and a shadow
//! candidate decided beside it with no effect.

use std::sync::Arc;

use crate::command::Request;
use crate::error::Rejection;
use crate::event::Change;
use crate::reason::ReasonCode;
use crate::rules::RuleSet;

use super::Engine;

/// How a shadow candidate decided a request otherwise than the active set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// `outcome` (one accepts, the other refuses), `reason` (both refuse,
    /// for different reasons, or accept with different codes), `placement`
    /// (other locations or quantities, or other promised ship dates) or
    /// `hold_time` (another expiry).
    pub kind: &'static str,
    pub action: &'static str,
    pub active: ReasonCode,
    pub candidate: ReasonCode,
}

pub const DIVERGENCE_KINDS: [&str; 4] = ["outcome", "reason", "placement", "hold_time"];

type Decided = Result<(ReasonCode, Change), Rejection>;

impl Divergence {
    pub(super) fn between(
        request: &Request,
        active: &Decided,
        candidate: &Decided,
    ) -> Option<Self> {
        let reason = |d: &Decided| match d {
            Ok((reason, _)) => *reason,
            Err(rejection) => rejection.reason(),
        };
        let kind = match (active, candidate) {
            (Ok(_), Err(_)) | (Err(_), Ok(_)) => "outcome",
            (Err(a), Err(c)) if a.reason() != c.reason() => "reason",
            (Err(_), Err(_)) => return None,
            (Ok((a, _)), Ok((c, _))) if a != c => "reason",
            (Ok((_, a)), Ok((_, c))) => match (a, c) {
                (
                    Change::HoldPlaced {
                        lines: a_lines,
                        expires_at: a_expiry,
                        ..
                    },
                    Change::HoldPlaced {
                        lines: c_lines,
                        expires_at: c_expiry,
                        ..
                    },
                ) => {
                    if a_lines != c_lines {
                        "placement"
                    } else if a_expiry != c_expiry {
                        "hold_time"
                    } else {
                        return None;
                    }
                }
                (
                    Change::HoldRenewed { expires_at: a, .. },
                    Change::HoldRenewed { expires_at: c, .. },
                ) => {
                    if a == c {
                        return None;
                    }
                    "hold_time"
                }
                // Promised ship dates are where in time the units go: one
                // set promises another day, or promises where the other
                // does not.
                (
                    Change::LinesAllocated { promised: a, .. },
                    Change::LinesAllocated { promised: c, .. },
                ) => {
                    if a == c {
                        return None;
                    }
                    "placement"
                }
                (Change::LinesAllocated { .. }, Change::LinesMoved { .. })
                | (Change::LinesMoved { .. }, Change::LinesAllocated { .. }) => "placement",
                // The reservation id is minted the same way under both; any
                // other change is decided by no rule.
                _ => return None,
            },
        };
        Some(Divergence {
            kind,
            action: request.command.action().name(),
            active: reason(active),
            candidate: reason(candidate),
        })
    }
}

impl Engine {
    /// The rule set deciding now.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Switch every decision from now on to `rules` (journaled as the
    /// version, so a replay knows which version decided what). The caller
    /// stores the rule set's text durably before asking.
    pub fn activate_rules(
        &mut self,
        rules: RuleSet,
        actor: &str,
        now: i64,
    ) -> Result<(), Rejection> {
        let version = rules.version.clone();
        self.set_rule_version(&version, actor, now)?;
        self.rules = Arc::new(rules);
        Ok(())
    }

    /// After a restore or replay: the body of the version the journal says
    /// is active (rule sets live in the host's store). Refused when the
    /// version is not the active one.
    pub fn install_rules(&mut self, rules: RuleSet) -> Result<(), String> {
        let active = self.rule_version();
        if rules.version != active {
            return Err(format!(
                "the active rule set is {active:?}, not {:?}",
                rules.version
            ));
        }
        self.rules = Arc::new(rules);
        Ok(())
    }

    /// Decide every new request under `candidate` too, with no effect; None
    /// stops shadowing.
    pub fn set_shadow(&mut self, candidate: Option<RuleSet>) {
        self.shadow = candidate.map(Arc::new);
        self.divergences.clear();
        self.shadow_decisions = 0;
    }

    /// New decisions decided under the shadow too, since it was set.
    pub fn shadow_decisions(&self) -> u64 {
        self.shadow_decisions
    }

    pub fn shadow(&self) -> Option<&Arc<RuleSet>> {
        self.shadow.as_ref()
    }

    /// Divergences since the last take, oldest first.
    pub fn take_divergences(&mut self) -> Vec<Divergence> {
        std::mem::take(&mut self.divergences)
    }
}

impl Engine {
    /// The channel-cap index from the reservations (after a restore).
    pub(super) fn rebuild_channel_units(&mut self) {
        self.channel_units.clear();
        for reservation in &self.reservations {
            for line in &reservation.lines {
                if line.state.bucket().is_some() {
                    *self
                        .channel_units
                        .entry((line.position, reservation.channel))
                        .or_default() += line.quantity;
                }
            }
        }
    }
}
