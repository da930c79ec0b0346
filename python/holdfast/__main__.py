"""``python -m holdfast``: the service entry point.

The gRPC server arrives with the API issue; until then this checks that the
core loads and says what it can decide.
"""

from __future__ import annotations

import sys

from holdfast import REASONS, Engine


def main() -> int:
    engine = Engine()
    print(f"holdfast core loaded (rule version {engine.rule_version}).")
    print(f"{len(REASONS)} reason codes; the gRPC server is not built yet (see issue 3).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
