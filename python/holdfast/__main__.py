"""``python -m holdfast``: ``serve`` runs the gRPC server, ``ctl`` the operator CLI,
``fake-feasibility`` a stand-in feasibility check for tests and drills,
``loadtest`` the load generator, ``hash-token`` the credentials file's line
for a bearer token."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from holdfast import config, logs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "ctl":
        # Imported only when asked for: the CLI is a client and needs none
        # of the server, and the server none of it.
        from holdfast import ctl

        try:
            return ctl.main(argv[1:])
        except BrokenPipeError:
            # Read by `head` or a pager that quit: not an error of ours. Point
            # stdout at nothing so the interpreter's final flush stays quiet.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    if argv and argv[0] == "hash-token":
        return _hash_token(argv[1:])
    if argv and argv[0] == "loadtest":
        # A client too, in its own process: imported only when asked for.
        from holdfast import loadtest

        return loadtest.main(argv[1:])

    parser = argparse.ArgumentParser(prog="holdfast", description="Inventory reservations.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the gRPC server")
    config.add_arguments(serve)
    commands.add_parser("ctl", help="inspect and operate a running server (see ctl --help)")
    commands.add_parser("loadtest", help="load a server and check it (see loadtest --help)")
    commands.add_parser(
        "hash-token", help="read a bearer token on stdin, print its sha256 line for auth_file"
    )
    fake = commands.add_parser(
        "fake-feasibility", help="a stand-in feasibility check for tests and drills"
    )
    from holdfast import fake_feasibility

    fake_feasibility.add_arguments(fake)
    namespace = parser.parse_args(argv)
    if namespace.command == "fake-feasibility":
        return fake_feasibility.main(namespace)
    args = vars(namespace)
    args.pop("command")
    return _serve(args)


def _hash_token(argv: list[str]) -> int:
    """Read one token from stdin (never from the command line, where other
    users and the shell history would see it); print ``sha256 = "HEX"``."""
    if argv:
        print(
            "holdfast hash-token: takes no arguments; give the token on stdin, e.g.\n"
            '  printf %s "$TOKEN" | python -m holdfast hash-token',
            file=sys.stderr,
        )
        return 2
    token = sys.stdin.readline().strip()
    if not token:
        print("holdfast hash-token: no token on stdin", file=sys.stderr)
        return 2
    from holdfast.auth import token_digest

    print(f'sha256 = "{token_digest(token)}"')
    return 0


def _serve(flags: dict[str, object]) -> int:
    try:
        settings = config.load(flags)
    except config.ConfigError as e:
        logs.configure("INFO")
        logging.getLogger("holdfast.server").error(f"holdfast serve: {e}")
        return 2
    logs.configure(settings.log_level)
    from holdfast import server

    return asyncio.run(server.serve(settings))


if __name__ == "__main__":
    sys.exit(main())
