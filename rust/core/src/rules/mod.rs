//! Rule sets: the business's knobs on how stock is committed, versioned like
//! code. A rule set is parsed and validated here (`parse`), evaluated here
//! (the engine asks it for hold times, safety stock, channel caps and where
//! to take stock from), and never changed once deployed: a new version is a
//! new rule set.
//!
//! Every decision records the version that decided it. The built-in rule set
//! (`RuleSet::builtin`) is what an engine decides under until one is
//! activated: the engine's configured hold times, no caps, no safety stock
//! beyond the positions' own, most-available location, no splits.

mod capacity;
mod glob;
mod parse;

use std::collections::BTreeMap;

pub use capacity::LocationCapacity;

pub use parse::{parse, RuleError, MAX_HOLD_SECONDS, MAX_RULES};

/// Where a line naming no location takes its stock from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The locations in the rule set's priority order, first that can.
    Priority,
    /// The location with the most available (the first created on a tie).
    MostAvailable,
    /// One location that holds the whole line if any does (most available
    /// first); otherwise as few locations as possible.
    FewestSplits,
    /// The locations nearest to the request's destination region, in the
    /// rule set's order for that region.
    Nearest,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::Priority,
        Strategy::MostAvailable,
        Strategy::FewestSplits,
        Strategy::Nearest,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::MostAvailable => "most_available",
            Strategy::FewestSplits => "fewest_splits",
            Strategy::Nearest => "nearest",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Hold times of one channel (or the default), in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldTimes {
    pub default_ms: i64,
    pub max_ms: i64,
}

/// Units kept back from sale at the positions whose location and SKU match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyStockRule {
    /// A location name, or `*` for every location.
    pub location: String,
    /// A SKU pattern: `*` matches any run of characters, `?` any one.
    pub sku: String,
    pub quantity: u64,
}

/// How much of one position a channel may hold (held, allocated or picked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelCap {
    pub channel: String,
    pub max_units: Option<u64>,
    /// Of the position's on hand, 0-100.
    pub max_percent: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub strategy: Strategy,
    /// For `priority`: locations first to last; unlisted ones after, in
    /// creation order.
    pub priority: Vec<String>,
    /// Whether one line may be split across locations.
    pub allow_split: bool,
    /// For `nearest`: destination region -> locations, nearest first.
    pub nearest: BTreeMap<String, Vec<String>>,
}

/// What a reserve does while the feasibility check cannot be made.
pub use crate::feasibility::WhenUnavailable;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSet {
    pub version: String,
    pub author: String,
    pub description: String,
    pub holds: HoldTimes,
    pub channel_holds: BTreeMap<String, HoldTimes>,
    pub safety_stock: Vec<SafetyStockRule>,
    pub channel_caps: Vec<ChannelCap>,
    pub allocation: Allocation,
    pub feasibility_when_unavailable: WhenUnavailable,
    /// Daily pick capacity and carrier cutoff per location; an allocation
    /// at a listed location gets a promised ship date.
    pub capacity: BTreeMap<String, LocationCapacity>,
}

impl RuleSet {
    /// The rule set an engine decides under before any is activated.
    pub fn builtin(version: &str, default_hold_ms: i64, max_hold_ms: i64) -> Self {
        RuleSet {
            version: version.to_owned(),
            author: "holdfast".to_owned(),
            description: "built in: the service's configured hold times, no caps".to_owned(),
            holds: HoldTimes {
                default_ms: default_hold_ms,
                max_ms: max_hold_ms,
            },
            channel_holds: BTreeMap::new(),
            safety_stock: Vec::new(),
            channel_caps: Vec::new(),
            allocation: Allocation {
                strategy: Strategy::MostAvailable,
                priority: Vec::new(),
                allow_split: false,
                nearest: BTreeMap::new(),
            },
            feasibility_when_unavailable: WhenUnavailable::Refuse,
            capacity: BTreeMap::new(),
        }
    }

    /// The hold times a channel's reserves get.
    pub fn holds_for(&self, channel: &str) -> HoldTimes {
        self.channel_holds
            .get(channel)
            .copied()
            .unwrap_or(self.holds)
    }

    /// The largest safety stock any rule keeps back at this position.
    pub fn safety_stock_for(&self, sku: &str, location: &str) -> u64 {
        self.safety_stock
            .iter()
            .filter(|r| (r.location == "*" || r.location == location) && glob::matches(&r.sku, sku))
            .map(|r| r.quantity)
            .max()
            .unwrap_or(0)
    }

    /// The most units of a position the channel may have committed, given
    /// the position's on hand; None when no cap applies.
    pub fn channel_cap_for(&self, channel: &str, on_hand: u64) -> Option<u64> {
        self.channel_caps
            .iter()
            .filter(|cap| cap.channel == channel)
            .flat_map(|cap| {
                let by_percent = cap
                    .max_percent
                    .map(|p| (u128::from(on_hand) * u128::from(p) / 100) as u64);
                [cap.max_units, by_percent]
            })
            .flatten()
            .min()
    }
}
