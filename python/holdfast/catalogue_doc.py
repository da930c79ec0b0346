"""Render the reason catalogue as Markdown: ``python -m holdfast.catalogue_doc``.

``docs/reasons.md`` is this output; a test keeps the two equal, so the
published catalogue is always the one the core uses.
"""

from __future__ import annotations

from holdfast.reasons import REASONS


def render() -> str:
    lines = [
        "# Reason codes",
        "",
        "Every answer holdfast gives carries one of these codes. The catalogue is",
        "defined once, in `rust/core/src/reason.rs`; the proto enum",
        "`holdfast.v1.ReasonCode` and this page mirror it. Regenerate this page with",
        "`.venv/bin/python -m holdfast.catalogue_doc > docs/reasons.md`.",
        "",
        "| code | number | gRPC status | retry can help | meaning |",
        "|---|---|---|---|---|",
    ]
    for reason in sorted(REASONS.values(), key=lambda r: r.number):
        retry = "yes" if reason.retryable else "no"
        lines.append(
            f"| `{reason.name}` | {reason.number} | {reason.grpc_status} | {retry} "
            f"| {reason.meaning} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
