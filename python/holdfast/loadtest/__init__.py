"""``holdfast loadtest``: a load generator that speaks to holdfast servers only
through the generated gRPC stubs, in its own process.

One module per job: ``options`` (the command line), ``ops`` (operations and
their outcomes), ``wire`` (channels and calls), ``scenarios`` (what to send),
``stats`` (HDR histograms and counters), ``drive`` (closed and open loops),
``checks`` (nothing oversold, replays match), ``report`` (table and JSON),
``plot`` (the PNG) and ``run`` (one run from set-up to exit code).
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run ``holdfast loadtest ARGV``; 0 when the checks pass, 1 when not, 2 for bad arguments."""
    from holdfast.loadtest import options

    settings = options.parse(argv)  # before the heavy imports: bad arguments fail fast
    from holdfast.loadtest import run

    return run.main(settings)
