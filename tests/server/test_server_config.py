"""config.py: defaults, TOML < environment < flags, and the loopback rule."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from holdfast import config
from holdfast.config import ConfigError, Settings


def flags(*argv: str) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return vars(parser.parse_args(list(argv)))


def test_defaults_run_out_of_the_box() -> None:
    settings = config.load({}, environ={})
    assert settings == Settings()
    assert settings.listen == "127.0.0.1:50051"
    assert not settings.insecure


def test_toml_then_environment_then_flags(tmp_path: Path) -> None:
    toml = tmp_path / "holdfast.toml"
    toml.write_text(
        'listen = "127.0.0.1:6001"\n'
        "sweep_interval = 2.5\n"
        "default_hold_seconds = 60\n"
        "max_hold_seconds = 600\n"
        'log_level = "DEBUG"\n'
    )
    environ = {"HOLDFAST_LISTEN": "127.0.0.1:6002", "HOLDFAST_DEFAULT_HOLD_SECONDS": "120"}
    given = flags("--config", str(toml), "--listen", "127.0.0.1:6003")

    settings = config.load(given, environ=environ)

    assert settings.listen == "127.0.0.1:6003"  # flag over environment over TOML
    assert settings.default_hold_seconds == 120  # environment over TOML
    assert settings.sweep_interval == 2.5  # TOML over the default
    assert settings.max_hold_seconds == 600
    assert settings.log_level == "DEBUG"
    assert settings.grace_seconds == Settings().grace_seconds  # the default shows through


def test_each_layer_alone_overrides_the_default(tmp_path: Path) -> None:
    toml = tmp_path / "holdfast.toml"
    toml.write_text("sweep_interval = 0.5\n")
    assert config.load({"config": str(toml)}, environ={}).sweep_interval == 0.5
    assert config.load({}, environ={"HOLDFAST_SWEEP_INTERVAL": "0.25"}).sweep_interval == 0.25
    assert config.load(flags("--sweep-interval", "0.125"), environ={}).sweep_interval == 0.125


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    toml = tmp_path / "holdfast.toml"
    toml.write_text("max_hold_seconds = 3600\n")
    settings = config.load({}, environ={"HOLDFAST_CONFIG": str(toml)})
    assert settings.max_hold_seconds == 3600


def test_environment_booleans() -> None:
    environ = {"HOLDFAST_INSECURE": "yes", "HOLDFAST_LISTEN": "0.0.0.0:7000"}
    assert config.load({}, environ=environ).insecure
    with pytest.raises(ConfigError, match="HOLDFAST_INSECURE"):
        config.load({}, environ={"HOLDFAST_INSECURE": "perhaps"})


@pytest.mark.parametrize("listen", ["127.0.0.1:1", "127.9.9.9:2", "[::1]:3", "localhost:4"])
def test_loopback_listens_in_plaintext(listen: str) -> None:
    assert config.load({"listen": listen}, environ={}).listen == listen


@pytest.mark.parametrize("listen", ["0.0.0.0:50051", "[::]:50051", "10.1.2.3:1", "example.com:1"])
def test_non_loopback_needs_insecure(listen: str) -> None:
    with pytest.raises(ConfigError, match="--insecure"):
        config.load({"listen": listen}, environ={})
    assert config.load({"listen": listen, "insecure": True}, environ={}).insecure


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"listen": "nonsense"}, "HOST:PORT"),
        ({"listen": "127.0.0.1:70000"}, "port"),
        ({"sweep_interval": 0}, "sweep_interval"),
        ({"default_hold_seconds": 10, "max_hold_seconds": 5}, "default_hold_seconds"),
        ({"log_level": "LOUD"}, "log_level"),
        ({"node_id": -1}, "node_id"),
    ],
)
def test_settings_the_server_cannot_start_with(given: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(given, environ={})


def test_toml_typos_and_bad_files_are_refused(tmp_path: Path) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text("sweep_intervall = 1\n")
    with pytest.raises(ConfigError, match="unknown settings sweep_intervall"):
        config.load({"config": str(typo)}, environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("listen = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load({"config": str(broken)}, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        config.load({"config": str(tmp_path / "missing.toml")}, environ={})
