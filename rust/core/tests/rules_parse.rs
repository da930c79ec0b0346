//! Rule sets from TOML: a full one, and every kind of mistake with its line.

use holdfast_core::rules::{parse, Strategy, WhenUnavailable};

const FULL: &str = r#"version = "2026-11-29.1"
author = "ana@shop"
description = "Black Friday"

[holds]
default_seconds = 600
max_seconds = 3600

[holds.channels.web]
default_seconds = 300
max_seconds = 900

[[safety_stock]]
location = "W1"
sku = "MUG-*"
quantity = 2

[[safety_stock]]
sku = "*"
quantity = 1

[[channel_caps]]
channel = "marketplace"
max_units = 100
max_percent = 20

[allocation]
strategy = "priority"
priority = ["W2", "W1"]
allow_split = true

[allocation.nearest]
eu-west = ["W1", "W2"]

[feasibility]
when_unavailable = "accept_unverified"
"#;

#[test]
fn a_full_rule_set() {
    let rules = parse(FULL).expect("valid");
    assert_eq!(rules.version, "2026-11-29.1");
    assert_eq!(rules.author, "ana@shop");
    assert_eq!(rules.holds.default_ms, 600_000);
    assert_eq!(rules.holds_for("web").max_ms, 900_000);
    assert_eq!(rules.holds_for("phone").max_ms, 3_600_000);
    assert_eq!(rules.safety_stock_for("MUG-BLUE", "W1"), 2);
    assert_eq!(rules.safety_stock_for("MUG-BLUE", "W2"), 1);
    assert_eq!(rules.safety_stock_for("CUP", "W1"), 1);
    assert_eq!(rules.channel_cap_for("marketplace", 1_000), Some(100));
    assert_eq!(rules.channel_cap_for("marketplace", 100), Some(20));
    assert_eq!(rules.channel_cap_for("web", 100), None);
    assert_eq!(rules.allocation.strategy, Strategy::Priority);
    assert_eq!(rules.allocation.priority, ["W2", "W1"]);
    assert!(rules.allocation.allow_split);
    assert_eq!(rules.allocation.nearest["eu-west"], ["W1", "W2"]);
    assert_eq!(
        rules.feasibility_when_unavailable,
        WhenUnavailable::AcceptUnverified
    );
}

#[test]
fn the_least_a_rule_set_needs() {
    let rules = parse("version = \"v1\"\nauthor = \"a\"\n").expect("valid");
    assert_eq!(rules.holds.default_ms, 900_000);
    assert_eq!(rules.allocation.strategy, Strategy::MostAvailable);
    assert!(!rules.allocation.allow_split);
    assert_eq!(rules.feasibility_when_unavailable, WhenUnavailable::Refuse);
}

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn syntax_errors_name_their_line() {
    let found = errors("version = \"v1\"\nauthor = \"a\"\n[holds\n");
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("line 3: toml: "), "{found:?}");
}

#[test]
fn unknown_settings_are_refused_with_their_line() {
    let found = errors("version = \"v1\"\nauthor = \"a\"\n\n[allocation]\nstrategi = \"x\"\n");
    assert!(
        found[0].starts_with("line 5: toml: unknown field `strategi`"),
        "{found:?}"
    );
}

#[test]
fn every_semantic_error_with_its_line_in_line_order() {
    let text = r#"version = ""
author = " "

[holds]
default_seconds = 7200
max_seconds = 3600

[[channel_caps]]
channel = "marketplace"
max_percent = 120

[[channel_caps]]
channel = "web"

[[safety_stock]]
sku = "MUG-*"
quantity = -1

[allocation]
strategy = "random"
priority = ["W1", "W1"]

[feasibility]
when_unavailable = "maybe"
"#;
    let found = errors(text);
    let expected = [
        "line 1: version: must not be empty",
        "line 2: author: must not be empty",
        "line 5: holds.default_seconds: must be between 1 and max_seconds (3600)",
        "line 10: channel_caps[0].max_percent: must be between 0 and 100",
        // A missing setting is blamed on its table.
        "line 12: channel_caps[1]: needs max_units, max_percent or both",
        "line 17: safety_stock[0].quantity: must not be negative",
        "line 20: allocation.strategy: must be one of priority, most_available, fewest_splits, nearest",
        "line 21: allocation.priority: \"W1\" is listed twice",
        "line 24: feasibility.when_unavailable: must be \"refuse\" or \"accept_unverified\"",
    ];
    assert_eq!(found, expected);
}

#[test]
fn strategies_need_their_lists() {
    let found = errors("version = \"v1\"\nauthor = \"a\"\n[allocation]\nstrategy = \"nearest\"\n");
    assert_eq!(
        found,
        ["line 3: allocation.nearest: the nearest strategy needs at least one region"]
    );
    let found = errors("version = \"v1\"\nauthor = \"a\"\n[allocation]\nstrategy = \"priority\"\n");
    assert_eq!(
        found,
        ["line 3: allocation.priority: the priority strategy needs at least one location"]
    );
}
