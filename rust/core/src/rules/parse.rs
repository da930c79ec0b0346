//! A rule set from its TOML text, every error with the line it is on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use chrono::NaiveTime;
use chrono_tz::Tz;

use super::{
    Allocation, ChannelCap, HoldTimes, LocationCapacity, RuleSet, SafetyStockRule, Strategy,
};
use crate::feasibility::WhenUnavailable;
use crate::limits;

/// The longest hold any rule set may allow: 30 days.
pub const MAX_HOLD_SECONDS: i64 = 30 * 24 * 60 * 60;
/// At most this many safety-stock rules, channel caps, priority locations,
/// regions.
pub const MAX_RULES: usize = 1_000;

/// One thing wrong with a rule set: where (1-based line, when known), which
/// field, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: Spanned<String>,
    author: Spanned<String>,
    #[serde(default)]
    description: String,
    holds: Option<RawHolds>,
    #[serde(default)]
    safety_stock: Vec<Spanned<RawSafety>>,
    #[serde(default)]
    channel_caps: Vec<Spanned<RawCap>>,
    allocation: Option<Spanned<RawAllocation>>,
    feasibility: Option<RawFeasibility>,
    #[serde(default)]
    capacity: Vec<Spanned<RawCapacity>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapacity {
    location: Spanned<String>,
    time_zone: Spanned<String>,
    daily_pick_units: Option<Spanned<i64>>,
    cutoff: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHolds {
    default_seconds: Option<Spanned<i64>>,
    max_seconds: Option<Spanned<i64>>,
    #[serde(default)]
    channels: BTreeMap<String, Spanned<RawHoldPair>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoldPair {
    default_seconds: Option<Spanned<i64>>,
    max_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSafety {
    #[serde(default = "every_location")]
    location: Spanned<String>,
    sku: Spanned<String>,
    quantity: Spanned<i64>,
}

fn every_location() -> Spanned<String> {
    Spanned::new(0..0, "*".to_owned())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCap {
    channel: Spanned<String>,
    max_units: Option<Spanned<i64>>,
    max_percent: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllocation {
    #[serde(default = "most_available")]
    strategy: Spanned<String>,
    priority: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    allow_split: bool,
    #[serde(default)]
    nearest: BTreeMap<String, Spanned<Vec<String>>>,
}

fn most_available() -> Spanned<String> {
    Spanned::new(0..0, Strategy::MostAvailable.name().to_owned())
}

/// Where a value was written, or else where the table holding it was (a
/// defaulted value has no place of its own).
fn at<T>(value: &Spanned<T>, table: &Range<usize>) -> Range<usize> {
    if value.span() == (0..0) {
        table.clone()
    } else {
        value.span()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeasibility {
    when_unavailable: Spanned<String>,
}

/// Parse and validate; every error found, in line order (or the TOML
/// syntax error alone, when the text is not TOML).
pub fn parse(text: &str) -> Result<RuleSet, Vec<RuleError>> {
    let lines = Lines::new(text);
    let raw: Raw = toml::from_str(text).map_err(|e| {
        vec![RuleError {
            line: e.span().map(|span| lines.at(span.start)),
            field: "toml".to_owned(),
            message: e.message().trim().to_owned(),
        }]
    })?;
    let mut check = Check {
        lines: &lines,
        errors: Vec::new(),
    };
    let rules = check.rule_set(raw);
    if check.errors.is_empty() {
        Ok(rules)
    } else {
        check.errors.sort_by_key(|e| e.line);
        Err(check.errors)
    }
}

struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// The 1-based line holding byte `offset`.
    fn at(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }
}

struct Check<'a> {
    lines: &'a Lines,
    errors: Vec<RuleError>,
}

impl Check<'_> {
    fn error(&mut self, span: Range<usize>, field: &str, message: impl Into<String>) {
        self.errors.push(RuleError {
            line: Some(self.lines.at(span.start)),
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn name(&mut self, span: Range<usize>, field: &str, value: &str) {
        if let Err(rejection) = limits::name(field, value) {
            let message = rejection.to_string();
            let message = message
                .strip_prefix(&format!("invalid {field}: "))
                .unwrap_or(&message)
                .to_owned();
            self.error(span, field, message);
        }
    }

    fn rule_set(&mut self, raw: Raw) -> RuleSet {
        self.name(raw.version.span(), "version", raw.version.get_ref());
        if raw.author.get_ref().trim().is_empty() {
            self.error(raw.author.span(), "author", "must not be empty");
        }
        if raw.description.len() > 4096 {
            self.error(0..0, "description", "must be at most 4096 bytes");
        }
        let (holds, channel_holds) = self.holds(raw.holds);
        let safety_stock = self.safety_stock(raw.safety_stock);
        let channel_caps = self.channel_caps(raw.channel_caps);
        let allocation = self.allocation(raw.allocation);
        let capacity = self.capacity(raw.capacity);
        let feasibility_when_unavailable = match raw.feasibility {
            None => WhenUnavailable::Refuse,
            Some(f) => {
                WhenUnavailable::from_name(f.when_unavailable.get_ref()).unwrap_or_else(|| {
                    self.error(
                        f.when_unavailable.span(),
                        "feasibility.when_unavailable",
                        "must be \"refuse\" or \"accept_unverified\"",
                    );
                    WhenUnavailable::Refuse
                })
            }
        };
        RuleSet {
            version: raw.version.into_inner(),
            author: raw.author.into_inner(),
            description: raw.description,
            holds,
            channel_holds,
            safety_stock,
            channel_caps,
            allocation,
            feasibility_when_unavailable,
            capacity,
        }
    }

    fn capacity(&mut self, raw: Vec<Spanned<RawCapacity>>) -> BTreeMap<String, LocationCapacity> {
        if raw.len() > MAX_RULES {
            self.error(raw[MAX_RULES].span(), "capacity", "too many locations");
        }
        let mut capacity = BTreeMap::new();
        for (i, entry) in raw.into_iter().enumerate() {
            let entry = entry.into_inner();
            let field = format!("capacity[{i}]");
            let location = entry.location;
            self.name(
                location.span(),
                &format!("{field}.location"),
                location.get_ref(),
            );
            let time_zone = entry.time_zone.get_ref().parse::<Tz>().unwrap_or_else(|_| {
                self.error(
                    entry.time_zone.span(),
                    &format!("{field}.time_zone"),
                    format!(
                        "{:?} is not an IANA time zone (such as \"Europe/Paris\")",
                        entry.time_zone.get_ref()
                    ),
                );
                Tz::UTC
            });
            let daily_pick_units = entry.daily_pick_units.and_then(|units| {
                u64::try_from(*units.get_ref()).ok().or_else(|| {
                    self.error(
                        units.span(),
                        &format!("{field}.daily_pick_units"),
                        "must not be negative",
                    );
                    None
                })
            });
            let cutoff = entry.cutoff.and_then(|text| {
                cutoff(text.get_ref()).or_else(|| {
                    self.error(
                        text.span(),
                        &format!("{field}.cutoff"),
                        format!(
                            "{:?} is not a local time \"HH:MM\" (00:00 to 23:59)",
                            text.get_ref()
                        ),
                    );
                    None
                })
            });
            let rule = LocationCapacity {
                time_zone,
                daily_pick_units,
                cutoff,
            };
            let span = location.span();
            let location = location.into_inner();
            if capacity.insert(location.clone(), rule).is_some() {
                self.error(
                    span,
                    &format!("{field}.location"),
                    format!("{location:?} is listed twice"),
                );
            }
        }
        capacity
    }

    /// `default_s` and `max_s` with where each was written (or its table).
    fn hold_pair(
        &mut self,
        field: &str,
        (default_s, default_at): (i64, Range<usize>),
        (max_s, max_at): (i64, Range<usize>),
    ) -> HoldTimes {
        if !(1..=MAX_HOLD_SECONDS).contains(&max_s) {
            self.error(
                max_at,
                &format!("{field}.max_seconds"),
                format!("must be between 1 and {MAX_HOLD_SECONDS}"),
            );
        } else if !(1..=max_s).contains(&default_s) {
            self.error(
                default_at,
                &format!("{field}.default_seconds"),
                format!("must be between 1 and max_seconds ({max_s})"),
            );
        }
        HoldTimes {
            default_ms: default_s.saturating_mul(1000),
            max_ms: max_s.saturating_mul(1000),
        }
    }

    fn holds(&mut self, raw: Option<RawHolds>) -> (HoldTimes, BTreeMap<String, HoldTimes>) {
        let Some(raw) = raw else {
            return (
                HoldTimes {
                    default_ms: 900_000,
                    max_ms: 86_400_000,
                },
                BTreeMap::new(),
            );
        };
        // A value left out is blamed on the other one, or the top of the file.
        let either = raw
            .max_seconds
            .as_ref()
            .or(raw.default_seconds.as_ref())
            .map_or(0..0, Spanned::span);
        let place =
            |value: &Option<Spanned<i64>>| value.as_ref().map_or(either.clone(), Spanned::span);
        let (max_at, default_at) = (place(&raw.max_seconds), place(&raw.default_seconds));
        let max_s = raw.max_seconds.map_or(86_400, Spanned::into_inner);
        let default_s = raw
            .default_seconds
            .map_or(900.min(max_s), Spanned::into_inner);
        let holds = self.hold_pair("holds", (default_s, default_at), (max_s, max_at));
        let mut channels = BTreeMap::new();
        for (channel, pair) in raw.channels {
            let span = pair.span();
            let field = format!("holds.channels.{channel}");
            self.name(span.clone(), &field, &channel);
            let pair = pair.into_inner();
            let place =
                |value: &Option<Spanned<i64>>| value.as_ref().map_or(span.clone(), Spanned::span);
            let (max_at, default_at) = (place(&pair.max_seconds), place(&pair.default_seconds));
            let max_s = pair
                .max_seconds
                .map_or(holds.max_ms / 1000, Spanned::into_inner);
            let default_s = pair
                .default_seconds
                .map_or((holds.default_ms / 1000).min(max_s), Spanned::into_inner);
            let times = self.hold_pair(&field, (default_s, default_at), (max_s, max_at));
            channels.insert(channel, times);
        }
        (holds, channels)
    }

    fn safety_stock(&mut self, raw: Vec<Spanned<RawSafety>>) -> Vec<SafetyStockRule> {
        if raw.len() > MAX_RULES {
            self.error(raw[MAX_RULES].span(), "safety_stock", "too many rules");
        }
        raw.into_iter()
            .enumerate()
            .map(|(i, rule)| {
                let rule = rule.into_inner();
                let field = format!("safety_stock[{i}]");
                if rule.location.get_ref() != "*" {
                    let location = rule.location.get_ref();
                    self.name(rule.location.span(), &format!("{field}.location"), location);
                }
                self.name(rule.sku.span(), &format!("{field}.sku"), rule.sku.get_ref());
                let quantity = u64::try_from(*rule.quantity.get_ref()).unwrap_or_else(|_| {
                    self.error(
                        rule.quantity.span(),
                        &format!("{field}.quantity"),
                        "must not be negative",
                    );
                    0
                });
                if quantity > limits::MAX_ON_HAND {
                    self.error(
                        rule.quantity.span(),
                        &format!("{field}.quantity"),
                        format!("must be at most {}", limits::MAX_ON_HAND),
                    );
                }
                SafetyStockRule {
                    location: rule.location.into_inner(),
                    sku: rule.sku.into_inner(),
                    quantity,
                }
            })
            .collect()
    }

    fn channel_caps(&mut self, raw: Vec<Spanned<RawCap>>) -> Vec<ChannelCap> {
        if raw.len() > MAX_RULES {
            self.error(raw[MAX_RULES].span(), "channel_caps", "too many caps");
        }
        raw.into_iter()
            .enumerate()
            .map(|(i, cap)| {
                let span = cap.span();
                let cap = cap.into_inner();
                let field = format!("channel_caps[{i}]");
                let channel = &cap.channel;
                self.name(
                    channel.span(),
                    &format!("{field}.channel"),
                    channel.get_ref(),
                );
                if cap.max_units.is_none() && cap.max_percent.is_none() {
                    self.error(span, &field, "needs max_units, max_percent or both");
                }
                let max_units = cap.max_units.and_then(|units| {
                    u64::try_from(*units.get_ref()).ok().or_else(|| {
                        self.error(
                            units.span(),
                            &format!("{field}.max_units"),
                            "must not be negative",
                        );
                        None
                    })
                });
                let max_percent = cap.max_percent.and_then(|percent| {
                    u8::try_from(*percent.get_ref())
                        .ok()
                        .filter(|p| *p <= 100)
                        .or_else(|| {
                            self.error(
                                percent.span(),
                                &format!("{field}.max_percent"),
                                "must be between 0 and 100",
                            );
                            None
                        })
                });
                ChannelCap {
                    channel: cap.channel.into_inner(),
                    max_units,
                    max_percent,
                }
            })
            .collect()
    }

    fn allocation(&mut self, raw: Option<Spanned<RawAllocation>>) -> Allocation {
        let builtin = RuleSet::builtin("", 1, 1).allocation;
        let Some(raw) = raw else {
            return builtin;
        };
        let span = raw.span();
        let raw = raw.into_inner();
        let strategy = Strategy::from_name(raw.strategy.get_ref()).unwrap_or_else(|| {
            let known: Vec<_> = Strategy::ALL.iter().map(|s| s.name()).collect();
            self.error(
                at(&raw.strategy, &span),
                "allocation.strategy",
                format!("must be one of {}", known.join(", ")),
            );
            Strategy::MostAvailable
        });
        let priority = raw
            .priority
            .unwrap_or_else(|| Spanned::new(span.clone(), Vec::new()));
        self.locations(priority.span(), "allocation.priority", priority.get_ref());
        if strategy == Strategy::Priority && priority.get_ref().is_empty() {
            self.error(
                priority.span(),
                "allocation.priority",
                "the priority strategy needs at least one location",
            );
        }
        if raw.nearest.len() > MAX_RULES {
            self.error(span.clone(), "allocation.nearest", "too many regions");
        }
        for (region, locations) in &raw.nearest {
            let field = format!("allocation.nearest.{region}");
            self.name(locations.span(), &field, region);
            self.locations(locations.span(), &field, locations.get_ref());
            if locations.get_ref().is_empty() {
                self.error(locations.span(), &field, "needs at least one location");
            }
        }
        if strategy == Strategy::Nearest && raw.nearest.is_empty() {
            self.error(
                span,
                "allocation.nearest",
                "the nearest strategy needs at least one region",
            );
        }
        Allocation {
            strategy,
            priority: priority.into_inner(),
            allow_split: raw.allow_split,
            nearest: raw
                .nearest
                .into_iter()
                .map(|(region, locations)| (region, locations.into_inner()))
                .collect(),
        }
    }

    fn locations(&mut self, span: Range<usize>, field: &str, locations: &[String]) {
        if locations.len() > MAX_RULES {
            self.error(span.clone(), field, "too many locations");
        }
        let mut seen = BTreeSet::new();
        for location in locations {
            self.name(span.clone(), field, location);
            if !seen.insert(location) {
                self.error(span.clone(), field, format!("{location:?} is listed twice"));
            }
        }
    }
}

/// "HH:MM", two digits each, as a local time of day.
fn cutoff(text: &str) -> Option<NaiveTime> {
    let (hours, minutes) = text.split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    NaiveTime::from_hms_opt(hours.parse().ok()?, minutes.parse().ok()?, 0)
}
