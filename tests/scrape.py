"""Reading a live /metrics endpoint as Prometheus would (prometheus_client's parser)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def fetch(url: str, timeout: float = 10.0) -> tuple[int, str, str]:
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read().decode()
            return response.status, response.headers["Content-Type"], body
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def scrape(url: str) -> Samples:
    """Every sample of a scrape, keyed by name and labels."""
    status, content_type, text = fetch(url)
    assert status == 200, text
    assert content_type.startswith("text/plain"), content_type
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def eventually(url: str, check: Callable[[Samples], bool], timeout: float = 30.0) -> Samples:
    """Scrape until ``check`` holds or the deadline passes (the caller asserts):
    a call's counters move just as it answers."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)
