//! Tenant caps (abuse limits): how many holds a tenant may have open and how
//! many units it may hold at once. Hoarding stock in holds is the attack
//! these stop; allocated, picked and shipped units are orders, not holds.
//!
//! The per-tenant index is derived from the reservations: `apply` keeps it
//! in step, a restore rebuilds it, and the invariant check recomputes it.

use hashbrown::HashMap;

use crate::error::Rejection;
use crate::event::PlacedLine;
use crate::state::LineState;
use crate::symbols::Sym;

use super::{Engine, TenantHolds};

impl Engine {
    /// Open holds and held units of `tenant` now.
    pub fn tenant_holds(&self, tenant: &str) -> (u64, u64) {
        let holds = self
            .symbols
            .get(tenant)
            .and_then(|sym| self.tenant_holds.get(&sym))
            .copied()
            .unwrap_or_default();
        (holds.open_holds, holds.held_units)
    }

    /// Whether any tenant cap is configured (a reserve then reads its
    /// tenant's holds).
    pub(super) fn tenant_capped(&self) -> bool {
        self.config.tenant_max_open_holds.is_some() || self.config.tenant_max_held_units.is_some()
    }

    /// Refuse a new hold of `placed` lines that would take `tenant` past a cap.
    pub(super) fn check_quota(&self, tenant: &str, placed: &[PlacedLine]) -> Result<(), Rejection> {
        if !self.tenant_capped() {
            return Ok(());
        }
        let (open_holds, held_units) = self.tenant_holds(tenant);
        let refuse = |quota: &str, limit: u64, used: u64, requested: u64| {
            Err(Rejection::QuotaExceeded {
                tenant: tenant.to_owned(),
                limit,
                used,
                requested,
                quota: quota.to_owned(),
            })
        };
        if let Some(limit) = self.config.tenant_max_open_holds {
            if open_holds.saturating_add(1) > limit {
                return refuse("open_holds", limit, open_holds, 1);
            }
        }
        if let Some(limit) = self.config.tenant_max_held_units {
            let requested: u64 = placed.iter().map(|line| line.quantity).sum();
            if held_units.saturating_add(requested) > limit {
                return refuse("held_units", limit, held_units, requested);
            }
        }
        Ok(())
    }

    pub(super) fn rebuild_tenant_holds(&mut self) {
        self.tenant_holds = self.tenant_holds_from_lines();
    }

    /// The tenant index as the reservations' lines say it should be.
    pub(super) fn tenant_holds_from_lines(&self) -> HashMap<Sym, TenantHolds> {
        let mut index: HashMap<Sym, TenantHolds> = HashMap::new();
        for reservation in &self.reservations {
            let units: u64 = (reservation.lines.iter())
                .filter(|line| line.state == LineState::Reserved)
                .map(|line| line.quantity)
                .sum();
            if units > 0 {
                let holds = index.entry(reservation.tenant).or_default();
                holds.open_holds += 1;
                holds.held_units += units;
            }
        }
        index
    }
}
