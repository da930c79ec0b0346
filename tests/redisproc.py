"""A real ``redis-server`` process for tests and benchmarks.

Started from PATH (Debian's package: ``make redis`` installs it) on a free
loopback port, in its own directory, durable on every write
(``--appendonly yes --appendfsync always``, no RDB snapshots), and waited on
until it answers PING. ``kill()`` is SIGKILL; ``restart()`` starts it again on
the same port and directory, so it reloads its append-only file.

Holdfast servers reach it at ``url``; each test suite namespaces its keys with
its own ``--redis-prefix``, so one redis-server serves them all.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from serverproc import free_port

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
MISSING = "redis-server is not on PATH: run `make redis` (installs Debian's redis-server package)"


def redis_binary() -> str:
    """The ``redis-server`` on PATH; an AssertionError naming ``make redis`` when missing."""
    found = shutil.which("redis-server")
    if found is None:
        raise AssertionError(MISSING)
    return found


class RedisServer:
    """One ``redis-server`` at a time on 127.0.0.1:<port>, its data in ``directory``."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        self.log_path = directory / "redis.log"
        self.binary = redis_binary()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``, as ``--redis-url`` takes it."""
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path),
        ]

    def start(self, timeout: float = START_TIMEOUT_S) -> Self:
        """Launch and wait until it answers PING (with its data loaded)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(timeout)
        return self

    def client(self, timeout: float = 5.0) -> redis.Redis:
        """A redis-py client for this server (decoded strings)."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            db=0,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # No retries inside redis-py: a probe of a dead server answers at once.
            retry=Retry(NoBackoff(), 0),
        )

    def ping(self) -> bool:
        """True when the server answers PING now (and has finished loading)."""
        with self.client(timeout=1.0) as probe:
            try:
                return bool(probe.ping())
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                return False
            except redis.ResponseError as error:  # LOADING on older servers
                if "LOADING" in str(error):
                    return False
                raise

    def wait_ready(self, timeout: float = START_TIMEOUT_S, poll: float = 0.02) -> float:
        """Poll PING until it answers; the seconds it took."""
        assert self.process is not None
        began = time.monotonic()
        while True:
            code = self.process.poll()
            if code is not None:
                raise AssertionError(
                    f"redis-server exited with {code} at start:\n{self.log_text()[-4000:]}"
                )
            if self.ping():
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise AssertionError(
                    f"redis-server not answering PING after {timeout} s:\n{self.log_text()[-4000:]}"
                )
            time.sleep(poll)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: nothing flushed but what ``appendfsync always`` already wrote."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def restart(self, timeout: float = START_TIMEOUT_S) -> Self:
        """Start again on the same port and directory (the AOF is reloaded)."""
        if self.running:
            self.kill()
        return self.start(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM (redis-server flushes and exits); SIGKILL and fail if it hangs."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as hung:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"redis-server ignored SIGTERM for {timeout} s") from hung

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def keys(self, pattern: str) -> list[str]:
        """Keys matching ``pattern`` (SCAN, not KEYS): what a prefix holds."""
        with self.client() as reader:
            return sorted(str(key) for key in reader.scan_iter(match=pattern, count=1000))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
