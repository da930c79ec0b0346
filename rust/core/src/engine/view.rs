//! Read-only views for callers: names instead of symbols, ids as text.

use std::sync::Arc;

use crate::error::Rejection;
use crate::ids::ReservationId;
use crate::position::Position;
use crate::reason::ReasonCode;
use crate::ship_date::ShipDate;
use crate::state::{Action, LineState};

use super::Engine;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineView {
    pub sku: Arc<str>,
    pub location: Arc<str>,
    pub quantity: u64,
    pub state: LineState,
    /// The local day the line was promised to ship (allocated at a location
    /// with a capacity rule).
    pub promised_ship_date: Option<ShipDate>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryView {
    pub at: i64,
    pub action: Action,
    pub from: Option<LineState>,
    pub to: LineState,
    pub reason: ReasonCode,
    pub actor: Arc<str>,
    pub rule_version: Arc<str>,
    pub idempotency_key: Option<Arc<str>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservationView {
    pub id: ReservationId,
    pub tenant: Arc<str>,
    pub order_ref: String,
    pub channel: Arc<str>,
    pub state: LineState,
    pub created_at: i64,
    pub expires_at: i64,
    pub rule_version: Arc<str>,
    pub lines: Vec<LineView>,
    pub history: Vec<HistoryView>,
    /// Held without the feasibility check (see `Meta::unverified`).
    pub unverified: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionView {
    pub sku: Arc<str>,
    pub location: Arc<str>,
    pub on_hand: u64,
    pub reserved: u64,
    pub allocated: u64,
    pub picked: u64,
    pub safety_stock: u64,
    pub available: i64,
    pub source_sequence: Option<u64>,
    pub as_of: Option<i64>,
    pub received_at: Option<i64>,
    pub overcommitted_since: Option<i64>,
}

impl Engine {
    /// The caller's reservation; another tenant's is NOT_FOUND.
    pub fn reservation(&self, tenant: &str, id: &str) -> Result<ReservationView, Rejection> {
        let (_, r) = self.reservation_for(tenant, id)?;
        let name = |sym| self.symbols.name(sym).clone();
        Ok(ReservationView {
            id: r.id,
            tenant: name(r.tenant),
            order_ref: r.order_ref.to_string(),
            channel: name(r.channel),
            state: r.state(),
            created_at: r.created_at(),
            expires_at: r.expires_at,
            rule_version: name(r.rule_version()),
            unverified: r.unverified,
            lines: r
                .lines
                .iter()
                .map(|line| {
                    let position = &self.positions[line.position as usize];
                    LineView {
                        sku: name(position.sku),
                        location: name(position.location),
                        quantity: line.quantity,
                        state: line.state,
                        promised_ship_date: line.promised,
                    }
                })
                .collect(),
            history: r
                .history
                .iter()
                .map(|h| HistoryView {
                    at: h.at,
                    action: h.action,
                    from: h.from,
                    to: h.to,
                    reason: h.reason,
                    actor: name(h.actor),
                    rule_version: name(h.rule_version),
                    idempotency_key: h.idempotency_key.clone(),
                })
                .collect(),
        })
    }

    /// What a caller may still reserve there: the safety stock kept back
    /// is the larger of the position's own and the active rule set's, as
    /// a reserve counts it.
    fn position_view(&self, p: &Position) -> PositionView {
        let sku = self.symbols.name(p.sku);
        let location = self.symbols.name(p.location);
        let safety_stock = if self.rules.safety_stock.is_empty() {
            p.safety_stock
        } else {
            p.safety_stock
                .max(self.rules.safety_stock_for(sku, location))
        };
        let extra = i64::try_from(safety_stock - p.safety_stock).unwrap_or(i64::MAX);
        PositionView {
            sku: sku.clone(),
            location: location.clone(),
            on_hand: p.on_hand,
            reserved: p.reserved,
            allocated: p.allocated,
            picked: p.picked,
            safety_stock,
            available: p.available().saturating_sub(extra),
            source_sequence: p.source_sequence,
            as_of: p.as_of,
            received_at: p.received_at,
            overcommitted_since: p.overcommitted_since,
        }
    }

    pub fn position(&self, sku: &str, location: &str) -> Option<PositionView> {
        self.position_of(sku, location)
            .map(|index| self.position_view(&self.positions[index as usize]))
    }

    /// Positions matching the filters (an empty filter matches everything),
    /// in the order they were created.
    pub fn positions(&self, skus: &[&str], locations: &[&str]) -> Vec<PositionView> {
        let wanted =
            |names: &[&str], sym| names.is_empty() || names.contains(&&**self.symbols.name(sym));
        self.positions
            .iter()
            .filter(|p| wanted(skus, p.sku) && wanted(locations, p.location))
            .map(|p| self.position_view(p))
            .collect()
    }

    /// Open OVERCOMMITTED exceptions, oldest first.
    pub fn overcommitted(&self) -> Vec<PositionView> {
        let mut open: Vec<&Position> = self
            .positions
            .iter()
            .filter(|p| p.overcommitted_since.is_some())
            .collect();
        open.sort_by_key(|p| p.overcommitted_since);
        open.into_iter().map(|p| self.position_view(p)).collect()
    }

    pub fn reservation_count(&self) -> usize {
        self.reservations.len()
    }

    pub fn idempotency_key_count(&self) -> usize {
        self.idempotency.len()
    }
}
