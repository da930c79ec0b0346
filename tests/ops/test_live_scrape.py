"""A live holdfast's /metrics against the SRE kit: promtool finds nothing to
report, every metric the dashboard reads is a series the scrape has, every
family is documented (with its labels) and on the dashboard, labels are
bounded, and the hold-age and expiry-backlog gauges say what they mean."""

from __future__ import annotations

import json
import time

from ops_support import LiveHoldfast, sample_names, scrape_text, wait_for_series
from prometheus_client.parser import text_string_to_metric_families
from sre_kit import DASHBOARD, dashboard_exprs, documented, family_of, metric_names, run_promtool

# Label names holdfast may use: each from a bounded set (docs/metrics.md).
BOUNDED_LABELS = {
    "method", "code", "reason", "action", "outcome", "version", "le",
    "breaker", "state", "from_state", "to_state", "resource", "answer", "dependency",
    "kind", "ended",
}  # fmt: skip
# Metrics Prometheus itself adds to every target (the dashboard may use them).
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def dashboard_series() -> set[str]:
    names: set[str] = set()
    for expr in dashboard_exprs(json.loads(DASHBOARD.read_text())):
        names |= metric_names(expr)
    return names


def test_promtool_check_metrics_reports_nothing(live: LiveHoldfast) -> None:
    text = scrape_text(live.metrics_url)
    done = run_promtool("check", "metrics", stdin=text)
    assert done.stdout == "", done.stdout
    assert done.stderr == "", done.stderr


def test_every_dashboard_metric_is_in_a_live_scrape(live: LiveHoldfast) -> None:
    """Exact series names: a panel reading ``holdfast_decisions`` (no
    ``_total``) or a histogram without ``_bucket`` would draw nothing."""
    wanted = dashboard_series() - SCRAPE_SERIES
    assert len(wanted) > 20, wanted
    scraped = sample_names(wait_for_series(live.metrics_url, wanted))
    assert wanted <= scraped, f"on the dashboard, not in the scrape: {sorted(wanted - scraped)}"


def test_every_live_family_is_on_the_dashboard_and_documented(live: LiveHoldfast) -> None:
    scraped = {family_of(name) for name in sample_names(scrape_text(live.metrics_url))}
    shown = {family_of(name) for name in dashboard_series()}
    assert scraped <= shown, f"exported, not on the dashboard: {sorted(scraped - shown)}"
    docs = {family_of(name) for name in documented()}
    assert scraped == docs, (
        f"exported, undocumented: {sorted(scraped - docs)}; "
        f"documented, not exported: {sorted(docs - scraped)}"
    )


def test_labels_are_bounded_and_documented(live: LiveHoldfast) -> None:
    docs = {family_of(name): labels for name, (_, labels) in documented().items()}
    for family in text_string_to_metric_families(scrape_text(live.metrics_url)):
        for sample in family.samples:
            labels = set(sample.labels) - {"le"}
            assert labels <= BOUNDED_LABELS, (sample.name, sample.labels)
            assert labels == docs[family_of(sample.name)], (sample.name, labels)


def unlabelled(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def test_hold_age_and_expiry_backlog(live: LiveHoldfast) -> None:
    # Once the 1 s hold has expired, no other is due for minutes.
    deadline = time.monotonic() + 30
    samples = unlabelled(scrape_text(live.metrics_url))
    while samples["holdfast_holds_expired_total"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
        samples = unlabelled(scrape_text(live.metrics_url))
    assert samples["holdfast_holds_expired_total"] == 1
    # The hold placed last is still open: the oldest open hold has an age.
    assert samples["holdfast_holds_open"] >= 1
    assert samples["holdfast_holds_oldest_age_seconds"] > 0
    # The sweeper expired the due hold: nothing is left past its expiry.
    assert samples["holdfast_holds_expiry_backlog"] == 0
    assert samples["holdfast_holds_expiry_lag_seconds"] == 0
