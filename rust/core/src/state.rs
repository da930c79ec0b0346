//! Line states and the transition table.
//!
//! ```text
//!             reserve            allocate             pick            ship
//!   (none) ----------> RESERVED ---------> ALLOCATED ------> PICKED -------> SHIPPED --return--> RETURNED
//!                         |  \                 |               |
//!                 release |   \ expire         | release       | unpick (back to ALLOCATED)
//!                         v    v               v
//!                     RELEASED  EXPIRED     RELEASED
//! ```
//!
//! Each transition is a method that answers `Some(next)` or `None` (not
//! allowed). The matches list every state on purpose, with no catch-all arm:
//! a new state does not compile until every transition has decided about it.
//!
//! A reservation's state is derived from its lines: the least advanced of its
//! active lines (RESERVED < ALLOCATED < PICKED), or, once no line is active,
//! SHIPPED / RETURNED if goods left the building, else RELEASED, else EXPIRED.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[repr(u8)]
pub enum LineState {
    Reserved = 1,
    Allocated = 2,
    Picked = 3,
    Shipped = 4,
    Returned = 5,
    Released = 6,
    Expired = 7,
}

/// The stock bucket a line's units count against while it is in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Reserved,
    Allocated,
    Picked,
}

impl LineState {
    pub const ALL: [LineState; 7] = [
        LineState::Reserved,
        LineState::Allocated,
        LineState::Picked,
        LineState::Shipped,
        LineState::Returned,
        LineState::Released,
        LineState::Expired,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            LineState::Reserved => "RESERVED",
            LineState::Allocated => "ALLOCATED",
            LineState::Picked => "PICKED",
            LineState::Shipped => "SHIPPED",
            LineState::Returned => "RETURNED",
            LineState::Released => "RELEASED",
            LineState::Expired => "EXPIRED",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.name() == name)
    }

    /// Which bucket of the position holds this line's units, if any.
    pub const fn bucket(self) -> Option<Bucket> {
        match self {
            LineState::Reserved => Some(Bucket::Reserved),
            LineState::Allocated => Some(Bucket::Allocated),
            LineState::Picked => Some(Bucket::Picked),
            LineState::Shipped | LineState::Returned | LineState::Released | LineState::Expired => {
                None
            }
        }
    }

    /// Active lines still commit stock; the others are history.
    pub const fn is_active(self) -> bool {
        self.bucket().is_some()
    }

    pub const fn allocate(self) -> Option<Self> {
        match self {
            LineState::Reserved => Some(LineState::Allocated),
            LineState::Allocated
            | LineState::Picked
            | LineState::Shipped
            | LineState::Returned
            | LineState::Released
            | LineState::Expired => None,
        }
    }

    pub const fn release(self) -> Option<Self> {
        match self {
            LineState::Reserved | LineState::Allocated => Some(LineState::Released),
            LineState::Picked
            | LineState::Shipped
            | LineState::Returned
            | LineState::Released
            | LineState::Expired => None,
        }
    }

    pub const fn expire(self) -> Option<Self> {
        match self {
            LineState::Reserved => Some(LineState::Expired),
            LineState::Allocated
            | LineState::Picked
            | LineState::Shipped
            | LineState::Returned
            | LineState::Released
            | LineState::Expired => None,
        }
    }

    /// Renewing a hold keeps the line where it is; only holds can be renewed.
    pub const fn renew(self) -> Option<Self> {
        match self {
            LineState::Reserved => Some(LineState::Reserved),
            LineState::Allocated
            | LineState::Picked
            | LineState::Shipped
            | LineState::Returned
            | LineState::Released
            | LineState::Expired => None,
        }
    }

    pub const fn pick(self) -> Option<Self> {
        match self {
            LineState::Allocated => Some(LineState::Picked),
            LineState::Reserved
            | LineState::Picked
            | LineState::Shipped
            | LineState::Returned
            | LineState::Released
            | LineState::Expired => None,
        }
    }

    pub const fn unpick(self) -> Option<Self> {
        match self {
            LineState::Picked => Some(LineState::Allocated),
            LineState::Reserved
            | LineState::Allocated
            | LineState::Shipped
            | LineState::Returned
            | LineState::Released
            | LineState::Expired => None,
        }
    }

    pub const fn ship(self) -> Option<Self> {
        match self {
            LineState::Picked => Some(LineState::Shipped),
            LineState::Reserved
            | LineState::Allocated
            | LineState::Shipped
            | LineState::Returned
            | LineState::Released
            | LineState::Expired => None,
        }
    }

    pub const fn return_goods(self) -> Option<Self> {
        match self {
            LineState::Shipped => Some(LineState::Returned),
            LineState::Reserved
            | LineState::Allocated
            | LineState::Picked
            | LineState::Returned
            | LineState::Released
            | LineState::Expired => None,
        }
    }

    /// The reservation's state, derived from the states of its lines.
    pub fn of_reservation(lines: impl IntoIterator<Item = LineState>) -> LineState {
        let mut least_active: Option<LineState> = None;
        let (mut shipped, mut returned, mut released) = (false, false, false);
        for state in lines {
            match state {
                LineState::Reserved | LineState::Allocated | LineState::Picked => {
                    least_active = Some(least_active.map_or(state, |s| s.min(state)));
                }
                LineState::Shipped => shipped = true,
                LineState::Returned => returned = true,
                LineState::Released => released = true,
                LineState::Expired => {}
            }
        }
        match least_active {
            Some(state) => state,
            None if shipped => LineState::Shipped,
            None if returned => LineState::Returned,
            None if released => LineState::Released,
            None => LineState::Expired,
        }
    }
}

impl fmt::Display for LineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened to a reservation or a position; named in history and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Action {
    Reserve = 1,
    Allocate = 2,
    Release = 3,
    RenewHold = 4,
    Expire = 5,
    Pick = 6,
    Unpick = 7,
    Ship = 8,
    Return = 9,
    SetStock = 10,
    AdjustStock = 11,
    SetSafetyStock = 12,
}

impl Action {
    pub const fn name(self) -> &'static str {
        match self {
            Action::Reserve => "reserve",
            Action::Allocate => "allocate",
            Action::Release => "release",
            Action::RenewHold => "renew_hold",
            Action::Expire => "expire",
            Action::Pick => "pick",
            Action::Unpick => "unpick",
            Action::Ship => "ship",
            Action::Return => "return",
            Action::SetStock => "set_stock",
            Action::AdjustStock => "adjust_stock",
            Action::SetSafetyStock => "set_safety_stock",
        }
    }

    /// The line transition this action performs, for the actions that move
    /// lines of an existing reservation.
    pub const fn line_transition(self) -> Option<fn(LineState) -> Option<LineState>> {
        match self {
            Action::Allocate => Some(LineState::allocate),
            Action::Release => Some(LineState::release),
            Action::RenewHold => Some(LineState::renew),
            Action::Expire => Some(LineState::expire),
            Action::Pick => Some(LineState::pick),
            Action::Unpick => Some(LineState::unpick),
            Action::Ship => Some(LineState::ship),
            Action::Return => Some(LineState::return_goods),
            Action::Reserve | Action::SetStock | Action::AdjustStock | Action::SetSafetyStock => {
                None
            }
        }
    }
}

/// Who owns a decision. holdfast owns commitments; the warehouse owns the
/// physical facts (counts, picks, shipments, returns), which holdfast records
/// but never invents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Owner {
    Holdfast,
    Warehouse,
}

impl Owner {
    pub const fn name(self) -> &'static str {
        match self {
            Owner::Holdfast => "holdfast",
            Owner::Warehouse => "warehouse",
        }
    }
}

impl Action {
    pub const fn owner(self) -> Owner {
        match self {
            Action::Reserve
            | Action::Allocate
            | Action::Release
            | Action::RenewHold
            | Action::Expire
            | Action::SetSafetyStock => Owner::Holdfast,
            Action::Pick
            | Action::Unpick
            | Action::Ship
            | Action::Return
            | Action::SetStock
            | Action::AdjustStock => Owner::Warehouse,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::LineState::*;
    use super::*;

    /// The whole table: for each action, the states it accepts and where they go.
    #[test]
    fn transition_table() {
        let table: &[(Action, &[(LineState, LineState)])] = &[
            (Action::Allocate, &[(Reserved, Allocated)]),
            (
                Action::Release,
                &[(Reserved, Released), (Allocated, Released)],
            ),
            (Action::RenewHold, &[(Reserved, Reserved)]),
            (Action::Expire, &[(Reserved, Expired)]),
            (Action::Pick, &[(Allocated, Picked)]),
            (Action::Unpick, &[(Picked, Allocated)]),
            (Action::Ship, &[(Picked, Shipped)]),
            (Action::Return, &[(Shipped, Returned)]),
        ];
        for (action, allowed) in table {
            let step = action.line_transition().unwrap();
            for from in LineState::ALL {
                let expected = allowed.iter().find(|(f, _)| *f == from).map(|(_, to)| *to);
                assert_eq!(step(from), expected, "{action} from {from}");
            }
        }
    }

    #[test]
    fn reservation_state_is_derived_from_lines() {
        let cases: &[(&[LineState], LineState)] = &[
            (&[Reserved], Reserved),
            (&[Allocated, Released], Allocated),
            (&[Picked, Allocated], Allocated),
            (&[Picked, Shipped], Picked),
            (&[Shipped, Returned], Shipped),
            (&[Returned, Released], Returned),
            (&[Released, Expired], Released),
            (&[Expired], Expired),
        ];
        for (lines, expected) in cases {
            assert_eq!(
                LineState::of_reservation(lines.iter().copied()),
                *expected,
                "{lines:?}"
            );
        }
    }

    #[test]
    fn holdfast_owns_commitments_and_the_warehouse_owns_physical_facts() {
        use Action::*;
        for action in [
            Reserve,
            Allocate,
            Release,
            RenewHold,
            Expire,
            SetSafetyStock,
        ] {
            assert_eq!(action.owner(), Owner::Holdfast, "{action}");
        }
        for action in [Pick, Unpick, Ship, Return, SetStock, AdjustStock] {
            assert_eq!(action.owner(), Owner::Warehouse, "{action}");
        }
    }

    #[test]
    fn only_active_states_hold_stock() {
        for state in LineState::ALL {
            assert_eq!(
                state.is_active(),
                matches!(state, Reserved | Allocated | Picked)
            );
        }
    }
}
