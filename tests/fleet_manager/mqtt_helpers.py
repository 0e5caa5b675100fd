"""A private Mosquitto broker per test (the machine's own on 1883 is shared), and a plain publisher."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fm_helpers import API_KEYS_ENV, SECRET, WebhookReceiver, free_port, serve_in_thread, wait_until, webhook_receiver


def mosquitto_binary() -> str | None:
    """The mosquitto executable (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@dataclass(frozen=True)
class BrokerSecurity:
    """A broker that wants a login (Mosquitto password file) and, with `tls`, serves TLS with a test CA."""

    username: str
    password: str
    tls: TlsFiles | None = None
    client_certificates: bool = False  # with tls: clients must show a certificate the test CA signed (mutual TLS)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a throw-away CA, the broker's certificate for 127.0.0.1 / localhost, and a client's."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(folder: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 and localhost (cryptography), written as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool) -> Any:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    files = TlsFiles(folder / "ca.pem", folder / "broker.pem", folder / "broker.key", folder / "client.pem",
                     folder / "client.key")
    files.ca.write_bytes(cert("FinalMile test CA", ca_key, "FinalMile test CA", ca_key, True)
                         .public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert("127.0.0.1", server_key, "FinalMile test CA", ca_key, False)
                           .public_bytes(serialization.Encoding.PEM))
    for path, key in ((files.key, server_key), (files.client_key, client_key)):
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    files.client_cert.write_bytes(cert("fleet-manager", client_key, "FinalMile test CA", ca_key, False)
                                  .public_bytes(serialization.Encoding.PEM))
    return files


def _config(folder: Path, port: int, security: BrokerSecurity) -> Path:
    passwords = folder / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), security.username, security.password],
                   check=True, capture_output=True)
    passwords.chmod(0o600)
    # Started as root, mosquitto drops to its own user, which cannot read pytest's private tmp folder: stay us.
    lines = [f"user {getpass.getuser()}", f"listener {port} 127.0.0.1", "allow_anonymous false",
             f"password_file {passwords}"]
    if security.tls is not None:
        lines += [f"cafile {security.tls.ca}", f"certfile {security.tls.cert}", f"keyfile {security.tls.key}"]
        if security.client_certificates:
            lines.append("require_certificate true")
    config = folder / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


@contextlib.contextmanager
def private_broker(log_path: Path, *, timeout_s: float = 10.0, security: BrokerSecurity | None = None
                   ) -> Iterator[int]:
    """`mosquitto -p <free port>` in its own process group; yields the port (skips when mosquitto is missing).

    With `security`: no anonymous clients, one user from a password file, and TLS when it has files."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    command = [binary, "-p", str(port)]
    if security is not None:
        if shutil.which("mosquitto_passwd") is None:
            pytest.skip("mosquitto_passwd is not installed (apt-get install mosquitto)")
        command = [binary, "-c", str(_config(log_path.parent, port, security))]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"mosquitto did not listen on {port}: {log_path.read_text()[-1000:]}")
            time.sleep(0.05)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def publish(port: int, topic: str, payload: dict[str, Any] | bytes, *, timeout_s: float = 5.0,
            security: BrokerSecurity | None = None) -> None:
    """Publish one message with QoS 1 and wait until the broker has it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sensor-{free_port()}")
    if security is not None:
        client.username_pw_set(security.username, security.password)
        if security.tls is not None and security.client_certificates:
            client.tls_set(ca_certs=str(security.tls.ca), certfile=str(security.tls.client_cert),
                           keyfile=str(security.tls.client_key))
        elif security.tls is not None:
            client.tls_set(ca_certs=str(security.tls.ca))
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    try:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        client.publish(topic, body, qos=1).wait_for_publish(timeout=timeout_s)
    finally:
        client.loop_stop()
        client.disconnect()


@contextlib.contextmanager
def sensor_stack(database: Any, hub_id: str, tmp_path: Path, **settings: Any
                 ) -> Iterator[tuple[Any, WebhookReceiver, int, Any]]:
    """A private broker, a webhook receiver and the Fleet API subscribed to the broker (`settings` added to its
    Settings); yields (httpx client, receiver, broker port, app) once the condition monitor has subscribed."""
    import uuid

    import httpx

    from fleet_manager.api import create_app
    from fleet_manager.config import Settings

    receiver = WebhookReceiver()
    with private_broker(tmp_path / "mosquitto.log") as port, webhook_receiver(receiver) as hook_url:
        config = Settings(database_url="sqlite://", api_keys=API_KEYS_ENV, hub_id=hub_id, webhook_url=hook_url,
                          webhook_secret=SECRET, webhook_poll_interval_s=0.05, mqtt_url=f"mqtt://127.0.0.1:{port}",
                          mqtt_topic_prefix=f"test-{uuid.uuid4().hex[:6]}", **settings)
        app = create_app(config, database=database)
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10.0) as client:
            monitor = app.state.service.conditions
            wait_until(lambda: monitor is not None and monitor.subscribed.is_set(), timeout_s=10,
                       what="the condition monitor to subscribe")
            yield client, receiver, port, app
