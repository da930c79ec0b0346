"""Without credentials the server serves anonymous callers only where that is
safe: on loopback, or off it when --insecure says so by name. A credentials
file it cannot use stops it at start-up, naming the file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from serverproc import REPO, SERVICE, ServerProcess, free_port, serve_command


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("HOLDFAST_AUTH_FILE", "HOLDFAST_INSECURE")
    }
    return subprocess.run(
        serve_command(*args),
        cwd=REPO,
        env={**env, "HOLDFAST_METRICS_LISTEN": ""},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_no_auth_file_off_loopback_without_insecure_exits_2_naming_the_setting() -> None:
    done = run_serve("--listen", f"0.0.0.0:{free_port()}", "--in-memory")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "auth_file" in done.stdout + done.stderr


def test_no_auth_file_off_loopback_with_insecure_serves(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server.log", health_service=SERVICE)
    server.launch(serve_command("--listen", f"0.0.0.0:{server.port}", "--insecure", "--in-memory"))
    try:
        server.wait_serving()  # over 127.0.0.1: 0.0.0.0 listens there too
    finally:
        assert server.stop() == 0


def test_an_unreadable_auth_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    done = run_serve(
        "--listen", f"127.0.0.1:{free_port()}", "--in-memory", "--auth-file", str(missing)
    )
    assert done.returncode == 2
    assert str(missing) in done.stdout + done.stderr


def test_an_auth_file_with_an_unknown_role_exits_2_naming_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "credentials.toml"
    bad.write_text(
        '[[tokens]]\nname = "x"\ntenant = "t"\nroles = ["admin"]\nsha256 = "' + "0" * 64 + '"\n'
    )
    done = run_serve("--listen", f"127.0.0.1:{free_port()}", "--in-memory", "--auth-file", str(bad))
    assert done.returncode == 2
    output = done.stdout + done.stderr
    assert "tokens[0]" in output
    assert "admin" in output
