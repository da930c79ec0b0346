"""The command line of ``holdfast loadtest`` and the settings it yields."""

from __future__ import annotations

import argparse
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

SCENARIOS = ("flash-sale", "cart-churn", "checkout", "mixed", "warehouse-feed")
DEFAULT_LOCATION = "LT-DC1"


@dataclass(frozen=True)
class Settings:
    targets: list[str]
    scenario: str = "flash-sale"
    concurrency: int = 32
    rate: float | None = None  # calls/s (open loop); None: closed loop
    duration: float | None = 10.0
    count: int | None = None
    warmup: float = 2.0
    batch: int | None = None  # operations per ExecuteBatch; None: unary
    skus: int = 1
    stock: int = 1000
    tenant: str = "loadtest"
    json_path: str | None = None
    plot_path: str | None = None
    quiet: bool = False
    setup: bool = True
    timeout: float = 10.0
    sku_prefix: str = ""
    location: str = DEFAULT_LOCATION
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def mode(self) -> str:
        return "open" if self.rate is not None else "closed"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _target(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="holdfast loadtest",
        description="Load a holdfast server (or several) and check it stayed correct.",
    )
    p.add_argument(
        "--target",
        action="append",
        type=_target,
        required=True,
        metavar="HOST:PORT",
        help="a server; repeat for several (calls spread round-robin)",
    )
    p.add_argument("--scenario", choices=SCENARIOS, default="flash-sale")
    loop = p.add_mutually_exclusive_group()
    loop.add_argument(
        "--concurrency", type=_positive_int, help="closed loop with N callers (default 32)"
    )
    loop.add_argument(
        "--rate",
        type=_positive_float,
        help="open loop at N calls/s (latency from the intended send time)",
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument("--duration", type=_positive_float, metavar="SECONDS", help="default 10")
    length.add_argument("--count", type=_positive_int, metavar="N", help="measured calls")
    p.add_argument("--warmup", type=_non_negative_float, default=2.0, metavar="SECONDS")
    p.add_argument(
        "--batch", type=_positive_int, metavar="N", help="N operations per ExecuteBatch call"
    )
    p.add_argument("--skus", type=_positive_int, metavar="N", help="SKUs the scenario uses")
    p.add_argument(
        "--stock",
        type=_non_negative_int,
        metavar="N",
        help="units per SKU set up (flash-sale default 1000, others 1000000)",
    )
    p.add_argument("--tenant", default="loadtest", metavar="NAME")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--plot", dest="plot_path", metavar="FILE", help="write a PNG plot")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-setup",
        dest="setup",
        action="store_false",
        help="do not SetStock first (the SKUs exist already: give --sku-prefix)",
    )
    p.add_argument("--timeout", type=_positive_float, default=10.0, metavar="SECONDS")
    p.add_argument(
        "--sku-prefix",
        default="",
        metavar="NAME",
        help="SKUs are NAME-00000, NAME-00001, ... (default: LT-<run id>, fresh each run)",
    )
    return p


def parse(argv: list[str]) -> Settings:
    """Settings from the command line; argparse exits with 2 on a bad one."""
    p = parser()
    ns = p.parse_args(argv)
    if not ns.setup and not ns.sku_prefix:
        p.error("--no-setup needs --sku-prefix (which SKUs already hold stock)")
    if ns.batch is not None and ns.batch > 10_000:
        p.error("--batch is at most 10000 (the server's limit per ExecuteBatch)")
    flash = ns.scenario == "flash-sale"
    skus = ns.skus if ns.skus is not None else (1 if flash else 100)
    stock = ns.stock if ns.stock is not None else (1000 if flash else 1_000_000)
    settings = Settings(
        targets=list(ns.target),
        scenario=ns.scenario,
        concurrency=ns.concurrency if ns.concurrency is not None else 32,
        rate=ns.rate,
        duration=None if ns.count is not None else (ns.duration or 10.0),
        count=ns.count,
        warmup=ns.warmup,
        batch=ns.batch,
        skus=skus,
        stock=stock,
        tenant=ns.tenant,
        json_path=ns.json_path,
        plot_path=ns.plot_path,
        quiet=ns.quiet,
        setup=ns.setup,
        timeout=ns.timeout,
        sku_prefix=ns.sku_prefix,
    )
    if not settings.sku_prefix:
        settings = Settings(**{**asdict(settings), "sku_prefix": f"LT-{settings.run_id}"})
    return settings
