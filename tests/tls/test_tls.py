"""TLS on the gRPC port, through real server processes and secure channels:
TLS alone, mutual TLS (a client certificate the CA signed is required), the
clients' and ``holdfast ctl``'s TLS options, and start-up refusals."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from holdfast import config
from holdfast.client import AsyncClient, Client, OperationsClient, Unavailable
from serverproc import SERVICE
from tls_pki import CLIENT_CN, Pair, Pki
from tls_support import TlsServer, channel_credentials, ctl, serve_to_exit

# Short: a call that cannot connect fails only when its deadline passes.
REFUSED_TIMEOUT_S = 2.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def health_status(target: str, credentials: grpc.ChannelCredentials | None) -> int:
    request = health_pb2.HealthCheckRequest(service=SERVICE)
    channel = (
        grpc.insecure_channel(target)
        if credentials is None
        else grpc.secure_channel(target, credentials)
    )
    with channel:
        return int(
            health_pb2_grpc.HealthStub(channel).Check(request, timeout=REFUSED_TIMEOUT_S).status
        )


def stock_round_trip(client: Client) -> None:
    sku = unique("tls")
    client.set_stock(sku, "DC1", 7, source_sequence=1)
    positions = client.get_availability([sku], ["DC1"]).positions
    assert [p.available for p in positions] == [7]


# TLS: a server certificate only.


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_client_trusting_the_ca_calls_over_tls(
    tls_server: TlsServer, pki: Pki, host: str
) -> None:
    # The server's certificate names 127.0.0.1 (IP SAN) and localhost (DNS SAN).
    with Client(f"{host}:{tls_server.port}", tls_ca=pki.ca) as client:
        stock_round_trip(client)


def test_a_plaintext_client_cannot_call_a_tls_server(tls_server: TlsServer) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        health_status(tls_server.target, None)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    with (
        Client(tls_server.target, timeout=REFUSED_TIMEOUT_S) as client,
        pytest.raises(Unavailable),
    ):
        client.get_availability([unique("plain")])


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_server: TlsServer, pki: Pki) -> None:
    # The other CA's certificate as the only root: the server's chain does not verify.
    with (
        Client(
            tls_server.target, tls_ca=pki.rogue_client.cert, timeout=REFUSED_TIMEOUT_S
        ) as client,
        pytest.raises(Unavailable),
    ):
        client.get_availability([unique("untrusted")])


def test_the_server_logs_that_it_serves_tls(tls_server: TlsServer) -> None:
    started = [r for r in tls_server.log_records() if r.get("tls")]
    assert started, tls_server.log_since_start()
    assert started[0]["tls"] == "tls"


# Mutual TLS: a client certificate signed by the client CA is required.


def test_mtls_a_client_certificate_from_the_ca_is_accepted(
    mtls_server: TlsServer, pki: Pki
) -> None:
    with Client(
        mtls_server.target, tls_ca=pki.ca, tls_cert=pki.client.cert, tls_key=pki.client.key
    ) as client:
        stock_round_trip(client)
    assert health_status(mtls_server.target, channel_credentials(pki, pki.client)) == (
        health_pb2.HealthCheckResponse.SERVING
    )


@pytest.mark.parametrize("presented", ["none", "other CA"])
def test_mtls_without_a_certificate_from_the_ca_is_refused(
    mtls_server: TlsServer, pki: Pki, presented: str
) -> None:
    client_pair: Pair | None = pki.rogue_client if presented == "other CA" else None
    # Not even health answers: the handshake fails before any call.
    with pytest.raises(grpc.RpcError) as failed:
        health_status(mtls_server.target, channel_credentials(pki, client_pair))
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    client = Client(
        mtls_server.target,
        tls_ca=pki.ca,
        tls_cert=client_pair.cert if client_pair else None,
        tls_key=client_pair.key if client_pair else None,
        timeout=REFUSED_TIMEOUT_S,
    )
    with client, pytest.raises(Unavailable):
        client.get_availability([unique("refused")])


def test_mtls_plaintext_is_refused(mtls_server: TlsServer) -> None:
    with pytest.raises(grpc.RpcError) as failed:
        health_status(mtls_server.target, None)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mtls_async_client(mtls_server: TlsServer, pki: Pki) -> None:
    sku = unique("aio")
    async with AsyncClient(
        mtls_server.target, tls_ca=pki.ca, tls_cert=pki.client.cert, tls_key=pki.client.key
    ) as client:
        await client.set_stock(sku, "DC1", 3, source_sequence=1)
        answer = await client.get_availability([sku], ["DC1"])
    assert [p.available for p in answer.positions] == [3]


def test_mtls_operations_client(mtls_server: TlsServer, pki: Pki) -> None:
    with OperationsClient(
        mtls_server.target,
        actor="tls-test",
        tls_ca=pki.ca,
        tls_cert=pki.client.cert,
        tls_key=pki.client.key,
    ) as ops:
        names = {b.name for b in ops.list_circuit_breakers().breakers}
    assert "journal" in names


def test_client_tls_options_that_contradict_are_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        Client("127.0.0.1:1", tls_ca=pki.ca, tls_cert=pki.client.cert)
    with pytest.raises(ValueError, match="not both"):
        Client("127.0.0.1:1", credentials=grpc.ssl_channel_credentials(), tls_ca=pki.ca)


# holdfast ctl over TLS: flags or the environment.


def test_ctl_over_mtls_with_flags_and_with_environment(mtls_server: TlsServer, pki: Pki) -> None:
    sku = unique("ctl")
    flags = [
        "--tls-ca", str(pki.ca), "--tls-cert", str(pki.client.cert),
        "--tls-key", str(pki.client.key),
    ]  # fmt: skip
    done = ctl(mtls_server.target, "stock", "set", sku, "DC1", "5", "--sequence", "1", *flags)
    assert done.returncode == 0, done.stderr
    env = {
        "HOLDFAST_TLS_CA": str(pki.ca),
        "HOLDFAST_TLS_CERT": str(pki.client.cert),
        "HOLDFAST_TLS_KEY": str(pki.client.key),
    }
    shown = ctl(mtls_server.target, "--json", "stock", "show", "--sku", sku, env=env)
    assert shown.returncode == 0, shown.stderr
    positions = json.loads(shown.stdout)["positions"]
    assert [int(p["available"]) for p in positions] == [5]


def test_ctl_without_tls_options_cannot_reach_a_tls_server(tls_server: TlsServer) -> None:
    done = ctl(tls_server.target, "--timeout", str(REFUSED_TIMEOUT_S), "stock", "show")
    assert done.returncode == 3, done.stderr


def test_ctl_with_a_missing_tls_file_is_a_usage_error(
    tls_server: TlsServer, tmp_path: Path
) -> None:
    done = ctl(tls_server.target, "--tls-ca", str(tmp_path / "absent.pem"), "stock", "show")
    assert done.returncode == 2
    assert "absent.pem" in done.stderr


# Start-up refusals (exit 2, the setting named).


def _tls_flags(cert: Path, key: Path, *more: str) -> list[str]:
    return [
        "--listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        str(cert),
        "--tls-key-file",
        str(key),
        *more,
    ]


@pytest.mark.parametrize(
    ("which", "expected"),
    [("cert", "tls_cert_file"), ("key", "tls_key_file"), ("client_ca", "tls_client_ca_file")],
)
def test_start_refuses_a_missing_tls_file(
    pki: Pki, tmp_path: Path, which: str, expected: str
) -> None:
    missing = tmp_path / "missing.pem"
    cert = missing if which == "cert" else pki.server.cert
    key = missing if which == "key" else pki.server.key
    client_ca = missing if which == "client_ca" else pki.ca
    done = serve_to_exit(*_tls_flags(cert, key, "--tls-client-ca-file", str(client_ca)))
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert str(missing) in done.stderr
    assert "listening on" not in done.stderr


def test_start_refuses_an_unreadable_tls_file(pki: Pki, tmp_path: Path) -> None:
    # A directory where the certificate should be: no file to read (tests run
    # as root, for whom a file's permissions would not stop the read).
    directory = tmp_path / "cert.pem"
    directory.mkdir()
    done = serve_to_exit(*_tls_flags(directory, pki.server.key))
    assert done.returncode == 2, done.stderr
    assert f"tls_cert_file {directory}: cannot read it" in done.stderr


def test_start_refuses_a_key_that_is_not_the_certificates(pki: Pki) -> None:
    done = serve_to_exit(*_tls_flags(pki.server.cert, pki.other_key))
    assert done.returncode == 2, done.stderr
    assert "is not the key of the certificate" in done.stderr


def test_start_refuses_a_file_that_is_not_pem(pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    done = serve_to_exit(*_tls_flags(garbage, pki.server.key))
    assert done.returncode == 2, done.stderr
    assert "not a PEM certificate chain" in done.stderr
    done = serve_to_exit(
        *_tls_flags(pki.server.cert, pki.server.key, "--tls-client-ca-file", str(garbage))
    )
    assert done.returncode == 2, done.stderr
    assert "tls_client_ca_file" in done.stderr


def test_start_refuses_half_the_tls_settings(pki: Pki) -> None:
    done = serve_to_exit("--listen", "127.0.0.1:0", "--tls-cert-file", str(pki.server.cert))
    assert done.returncode == 2, done.stderr
    assert "tls_cert_file and tls_key_file go together" in done.stderr
    done = serve_to_exit("--listen", "127.0.0.1:0", "--tls-client-ca-file", str(pki.ca))
    assert done.returncode == 2, done.stderr
    assert "tls_client_ca_file needs tls_cert_file" in done.stderr


# The settings: TLS lifts the plaintext rule off loopback, from every layer.


def _with_credentials(tmp_path: Path) -> dict[str, str]:
    """The flags that satisfy the rule on identities off loopback (a
    credentials file, docs/auth.md), so the rule on plaintext is the one met."""
    file = tmp_path / "credentials.toml"
    file.write_text(
        '[[clients]]\nname = "eu"\ntenant = "eu"\nroles = ["storefront"]\n'
        f'common_name = "{CLIENT_CN}"\n'
    )
    return {"auth_file": str(file)}


def test_off_loopback_plaintext_is_refused_naming_tls(tmp_path: Path) -> None:
    flags = {"listen": "0.0.0.0:50051", **_with_credentials(tmp_path)}
    with pytest.raises(config.ConfigError, match="in plaintext") as refused:
        config.load(flags, environ={})
    assert "--insecure" in str(refused.value)
    assert "tls_cert_file" in str(refused.value)


def test_off_loopback_without_tls_or_credentials_both_refusals_are_said() -> None:
    with pytest.raises(config.ConfigError) as refused:
        config.load({"listen": "0.0.0.0:50051"}, environ={})
    said = str(refused.value)
    assert "in plaintext" in said
    assert "tls_cert_file" in said
    assert "without credentials" in said
    assert "auth_file" in said


def test_off_loopback_with_tls_is_accepted(pki: Pki, tmp_path: Path) -> None:
    environ = {
        "HOLDFAST_TLS_CERT_FILE": str(pki.server.cert),
        "HOLDFAST_TLS_KEY_FILE": str(pki.server.key),
    }
    flags = {"listen": "0.0.0.0:50051", **_with_credentials(tmp_path)}
    settings = config.load(flags, environ=environ)
    assert config.tls_enabled(settings)


def test_tls_settings_from_a_toml_file(pki: Pki, tmp_path: Path) -> None:
    file = tmp_path / "holdfast.toml"
    file.write_text(
        f'tls_cert_file = "{pki.server.cert}"\n'
        f'tls_key_file = "{pki.server.key}"\n'
        f'tls_client_ca_file = "{pki.ca}"\n'
    )
    settings = config.load({"config": str(file)}, environ={})
    assert settings.tls_client_ca_file == str(pki.ca)
