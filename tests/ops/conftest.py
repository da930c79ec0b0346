"""One live holdfast for the SRE kit's tests, with traffic already driven."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ops_support import LiveHoldfast, drive_traffic


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHoldfast]:
    server = LiveHoldfast(tmp_path_factory.mktemp("ops")).start()
    try:
        drive_traffic(server.target)
        yield server
    finally:
        assert server.stop() == 0, server.log_text()
