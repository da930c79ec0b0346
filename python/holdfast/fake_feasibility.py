"""``holdfast fake-feasibility``: a stand-in for the external feasibility check.

It answers every check ``{"feasible": true}`` unless told otherwise, and is
told over HTTP, so tests and drills drive a real process:
``POST /control {"delay_ms": N, "fail": bool, "infeasible_skus": [...]}``
sets how the next checks are answered (each field optional; ``fail`` answers
500, ``delay_ms`` waits before answering, a check naming an SKU in
``infeasible_skus`` is answered infeasible). ``GET /control`` shows the
settings and how many checks were answered. Any other ``POST`` is a check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from holdfast import logs
from holdfast.config import ConfigError, split_listen
from holdfast.feasibility import UnusableAnswerError, read_message
from holdfast.logs import fields

log = logging.getLogger("holdfast.fake_feasibility")

READ_TIMEOUT_S = 10.0


@dataclass(slots=True)
class Behaviour:
    delay_ms: int = 0
    fail: bool = False
    infeasible_skus: list[str] = field(default_factory=list)
    checks: int = 0  # answered so far


class FakeFeasibility:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head, body = await asyncio.wait_for(read_message(reader), READ_TIMEOUT_S)
            status, answer = await self._answer(head, body)
            data = json.dumps(answer).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (OSError, TimeoutError, UnusableAnswerError, asyncio.IncompleteReadError):
            pass  # the caller went away (e.g. its timeout): nothing to answer
        finally:
            writer.close()

    async def _answer(self, head: bytes, body: bytes) -> tuple[str, dict[str, Any]]:
        method, _, rest = head.partition(b" ")
        target = rest.partition(b" ")[0]
        if target == b"/control":
            if method == b"POST":
                try:
                    self._control(json.loads(body or b"{}"))
                except (ValueError, TypeError) as e:
                    return "400 Bad Request", {"error": str(e)}
            return "200 OK", asdict(self.behaviour)
        if method != b"POST":
            return "405 Method Not Allowed", {"error": "POST a check, or /control"}
        behaviour = self.behaviour
        if behaviour.delay_ms:
            await asyncio.sleep(behaviour.delay_ms / 1000)
        behaviour.checks += 1
        if behaviour.fail:
            return "500 Internal Server Error", {"error": "told to fail"}
        try:
            question = json.loads(body)
            skus = [line["sku"] for line in question["lines"]]
        except (ValueError, TypeError, KeyError) as e:
            return "400 Bad Request", {"error": f"not a check: {e}"}
        refused = sorted(set(skus) & set(behaviour.infeasible_skus))
        if refused:
            return "200 OK", {
                "feasible": False,
                "detail": f"cannot fulfil {', '.join(refused)}",
                "skus": refused,
            }
        return "200 OK", {"feasible": True}

    def _control(self, told: Any) -> None:
        if not isinstance(told, dict):
            raise TypeError("control must be a JSON object")
        unknown = set(told) - {"delay_ms", "fail", "infeasible_skus"}
        if unknown:
            raise ValueError(f"unknown control fields: {', '.join(sorted(unknown))}")
        if "delay_ms" in told:
            if not isinstance(told["delay_ms"], int) or told["delay_ms"] < 0:
                raise ValueError("delay_ms must be a non-negative integer")
            self.behaviour.delay_ms = told["delay_ms"]
        if "fail" in told:
            self.behaviour.fail = bool(told["fail"])
        if "infeasible_skus" in told:
            skus = told["infeasible_skus"]
            if not isinstance(skus, list) or not all(isinstance(s, str) for s in skus):
                raise ValueError("infeasible_skus must be a list of strings")
            self.behaviour.infeasible_skus = list(skus)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen", metavar="HOST:PORT", default="127.0.0.1:0", help="default 127.0.0.1:0 (any)"
    )


async def run(listen: str) -> int:
    try:
        host, port = split_listen(listen)
    except ConfigError as e:
        log.error(f"holdfast fake-feasibility: {e}")
        return 2
    fake = FakeFeasibility()
    try:
        bound = await fake.start(host, port)
    except OSError as e:
        log.error(f"cannot listen on {listen}: {e}", extra=fields(listen=listen))
        return 1
    log.info(
        f"fake feasibility listening on {host}:{bound}",
        extra=fields(listen=f"{host}:{bound}", port=bound),
    )
    await asyncio.Event().wait()  # until the process is stopped
    return 0


def main(args: argparse.Namespace) -> int:
    logs.configure("INFO")
    try:
        return asyncio.run(run(args.listen))
    except KeyboardInterrupt:
        return 0
