"""A private Mosquitto broker per test (the machine's own on 1883 is shared), and a plain publisher."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fm_helpers import free_port


def mosquitto_binary() -> str | None:
    """The mosquitto executable (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@contextlib.contextmanager
def private_broker(log_path: Path, *, timeout_s: float = 10.0) -> Iterator[int]:
    """`mosquitto -p <free port>` in its own process group; yields the port (skips when mosquitto is missing)."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen([binary, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
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


def publish(port: int, topic: str, payload: dict[str, Any] | bytes, *, timeout_s: float = 5.0) -> None:
    """Publish one message with QoS 1 and wait until the broker has it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sensor-{free_port()}")
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    try:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        client.publish(topic, body, qos=1).wait_for_publish(timeout=timeout_s)
    finally:
        client.loop_stop()
        client.disconnect()
