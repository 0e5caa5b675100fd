"""Test helpers for the fleet manager: a uvicorn server in a thread, a server subprocess, a webhook receiver."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from fleet_manager.store.db import upgrade

# Fixed test keys of 43 random characters (what `finalmile keys` makes); the locker key opens locker 'kamppi'.
KEYS = {
    "backend": "bk-rJ4Nq8Vx2LmZ7tHc9WfP3sYd6GkB1uEaQo5XiTn",
    "operator": "op-Xh7Bt2KqM9vR4cWz8NfL1yJd5PsG3aUe6TmQoYi",
    "viewer": "vw-Lp3Zr8Hc1XqT6mWb9KvN2fJs7DgY4aRe5UoBiQt",
    "locker": "lk-Fq9Wd2Ns7Bx4Rm8Jh1Vc6Tz3Kp5Ly0GaEuXoQiS",
}
LOCKER_ID = "kamppi"
API_KEYS_ENV = ",".join(
    f"locker@{LOCKER_ID}:{key}" if role == "locker" else f"{role}:{key}" for role, key in KEYS.items()
)
#: A Standard Webhooks secret (`whsec_` + base64 of 32 bytes) and the server secret of test apps.
SECRET = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0zMi1ieXRlcy0hIQ=="
SERVER_SECRET = "srv-Tq8Zx3Lc7Vm1Bn4Hk9Wd2Jf6Rg5Ps0YeKuAoQiX"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def auth(role: str) -> dict[str, str]:
    """The Authorization header of a role's test key."""
    return {"Authorization": f"Bearer {KEYS[role]}"}


def wait_until(predicate: Any, *, timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    """Poll `predicate()` until true; AssertionError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, *, timeout_s: float = 20.0) -> Iterator[str]:
    """Run `app` under uvicorn on a free port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout_s=timeout_s, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


@contextlib.asynccontextmanager
async def serving_runtime(runtime: Any, port: int, *, timeout_s: float = 20.0) -> AsyncIterator[str]:
    """Serve a started `Runtime`'s API with uvicorn in this event loop (its base URL); on exit stop serving and
    close the runtime."""
    server = uvicorn.Server(uvicorn.Config(runtime.app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while not server.started:
            if serving.done() or loop.time() > deadline:
                raise RuntimeError(f"the API did not start serving on port {port} within {timeout_s:g} s")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 10)
        await runtime.close()


@contextlib.contextmanager
def serve_subprocess(
    env: dict[str, str], *, port: int, log_path: Path, timeout_s: float = 30.0, args: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen[bytes]]:
    """`finalmile db upgrade`, then `finalmile serve` in its own process group (killed with the group at the end);
    waits for /healthz."""
    code = "import sys; from fleet_manager.cli import main; sys.exit(main(sys.argv[1:]))"
    with log_path.open("ab") as log:
        upgraded = subprocess.run([sys.executable, "-c", code, "db", "upgrade"], env={**os.environ, **env},
                                  stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
        if upgraded.returncode != 0:
            raise AssertionError(f"db upgrade exited with {upgraded.returncode}: {log_path.read_text()[-2000:]}")
        process = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--port", str(port), *args],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout_s=timeout_s, what="the server's /healthz", interval_s=0.1)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Received:
    """One webhook POST as the receiver saw it."""

    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict[str, Any]:
        """The CloudEvent."""
        return dict(json.loads(self.body))


@dataclass
class WebhookReceiver:
    """A local HTTP endpoint that answers 500 to the first `fail_first` POSTs (or all, when `down`)."""

    fail_first: int = 0
    down: bool = False
    received: list[Received] = field(default_factory=list)
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted_events(self) -> list[dict[str, Any]]:
        """CloudEvents answered with 200."""
        with self.lock:
            return [r.event for r in self.received]


@contextlib.contextmanager
def webhook_receiver(receiver: WebhookReceiver) -> Iterator[str]:
    """Serve `receiver` on a free port; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request (a kill -9 test): nothing was delivered
                self.close_connection = True
                return
            with receiver.lock:
                fail = receiver.down or receiver.failures < receiver.fail_first
                if fail:
                    receiver.failures += 1
                else:
                    receiver.received.append(Received(body, {k.lower(): v for k, v in self.headers.items()}))
            self.send_response(500 if fail else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    with serve_handler(Handler) as url:
        yield url


@contextlib.contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server with `handler` on a free loopback port, in a thread; yields its /hooks URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def database_url_for(request: Any, tmp_path_factory: Any, name: str) -> str:
    """The database of a test module parametrised over ["sqlite", "postgresql"]: a fresh SQLite file, or the
    session's throw-away PostgreSQL database (its fixture skips when the server is unreachable)."""
    if request.param == "sqlite":
        return upgrade(f"sqlite:///{tmp_path_factory.mktemp(name) / 'api.db'}")
    return upgrade(str(request.getfixturevalue("postgres_url")))


CHROMIUM = os.environ.get("FINALMILE_CHROMIUM", "/usr/bin/chromium")


@contextlib.contextmanager
def dashboard_page(base_url: str, role: str) -> Iterator[Any]:
    """The dashboard at `base_url` signed in with `role`'s key in headless Chromium (Playwright); the page's
    uncaught errors collect in `page.page_errors`. Skips without Chromium or Playwright."""
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, timeout=60_000,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base_url}/#key={KEYS[role]}", timeout=60_000)
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        page.page_errors = errors
        try:
            yield page
        finally:
            browser.close()


def post_order(base: str, headers: dict[str, str], reference: str, latitude_deg: float, longitude_deg: float) -> str:
    """POST a 0.8 kg cleared order to `base`/orders (the reference is its idempotency key); returns its id."""
    response = httpx.post(
        f"{base}/orders", headers={**headers, "Idempotency-Key": reference}, timeout=30,
        json={"reference": reference, "recipient": {"name": "Aino"}, "weight_kg": 0.8, "customs_cleared": True,
              "destination": {"latitude_deg": latitude_deg, "longitude_deg": longitude_deg}},
    )
    if response.status_code != 201:
        raise AssertionError(f"order {reference!r} not created: {response.status_code} {response.text}")
    return str(response.json()["order_id"])
