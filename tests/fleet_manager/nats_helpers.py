"""A nats-server of the test's own (`-js`, free port, its own store directory), for bus and cluster tests."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from fm_helpers import free_port

NATS_SERVER = shutil.which("nats-server")


class NatsServer:
    """nats-server -js on a free port with a store directory that survives its restarts."""

    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.store_dir = store_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(NATS_SERVER), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)


@contextlib.contextmanager
def running_nats(store_dir: Path) -> Iterator[NatsServer]:
    """A started server, stopped (killed if it will not stop) at the end."""
    running = NatsServer(store_dir)
    running.start()
    try:
        yield running
    finally:
        with contextlib.suppress(Exception):
            running.stop()
        if running.process is not None and running.process.poll() is None:
            running.process.kill()
