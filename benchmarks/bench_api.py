"""Fleet API throughput: orders created per second (SQLite, PostgreSQL) and SSE fan-out to 100 listeners.

Orders are created against `finalmile serve` running in its own process (API only, as deployed), by
an asyncio httpx client in this process: single creates (`POST /v1/orders`, 32 in flight) and batches
(`POST /v1/orders:batch`, 1,000 orders per request, 4 in flight), with idempotency keys and the
outbox as always. Each row also gives the server's CPU time per order and the machine's load average
when it started (the machine is shared: wall-clock rates fall when others run).

Run as `python -m benchmarks api` (or `python -m benchmarks.bench_api`). Results: benchmarks/results/api.csv.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvicorn

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.store.db import upgrade

from .pg_scratch import scratch_postgres

logger = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results" / "api.csv"
KEY = "bench-Vq3Lz8Xc1Nm6Tb4Hw9Jd2Fs7Rg5Pk0Ye"
SERVER_SECRET = "bench-server-Tq8Zx3Lc7Vm1Bn4Hk9Wd2Jf6Rg5Ps0"
HEADERS = {"Authorization": f"Bearer {KEY}"}
BODY = {
    "recipient": {"name": "Bench"},
    "destination": {"latitude_deg": 60.17, "longitude_deg": 24.94},
    "weight_kg": 1.0,
    "customs_cleared": True,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve(database_url: str) -> Iterator[tuple[str, Any]]:
    keys = ",".join(f"{role}:{KEY}" for role in ("backend", "operator", "viewer"))
    # 100 listeners share the one benchmark key: raise the per-key stream cap (8 by default).
    settings = Settings(database_url=upgrade(database_url), api_keys=keys, hub_id="bench",  # type: ignore[arg-type]
                        server_secret=SERVER_SECRET, max_streams_per_key=200)  # type: ignore[arg-type]
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _serve_env(database_url: str, port: int) -> dict[str, str]:
    keys = ",".join(f"{role}:{KEY}" for role in ("backend", "operator", "viewer"))
    return {
        "FINALMILE_DATABASE_URL": database_url,
        "FINALMILE_API_KEYS": keys,
        "FINALMILE_SERVER_SECRET": SERVER_SECRET,
        "FINALMILE_HUB_ID": "bench",
        "FINALMILE_PORT": str(port),
    }


def server_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process and its children (the server, its API workers)."""
    process = psutil.Process(pid)
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


@contextlib.contextmanager
def _serve_process(database_url: str) -> Iterator[tuple[str, int]]:
    """`finalmile serve` (API only) in its own process group; yields (URL, pid) once /healthz answers."""
    port = _free_port()
    code = "import sys; from fleet_manager.cli import main; sys.exit(main(sys.argv[1:]))"
    log = tempfile.NamedTemporaryFile(prefix="finalmile-bench-serve-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-c", code, "serve"],
        env={**os.environ, **_serve_env(upgrade(database_url), port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"finalmile serve exited: {Path(log.name).read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("finalmile serve did not answer /healthz within 90 s")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()
        logger.info("finalmile serve log: %s", log.name)


def _percentiles(latencies: list[float]) -> dict[str, float]:
    latencies = sorted(latencies)
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
    }


async def _single_creates(url: str, *, count: int, in_flight: int) -> dict[str, Any]:
    """`count` POST /v1/orders with `in_flight` requests outstanding; orders/s and latency."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        semaphore = asyncio.Semaphore(in_flight)

        async def one() -> None:
            async with semaphore:
                started = time.perf_counter()
                response = await client.post(
                    "/v1/orders", json=BODY, headers={**HEADERS, "Idempotency-Key": uuid.uuid4().hex}
                )
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one() for _ in range(min(200, count))))  # warm-up: connections, caches
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.perf_counter() - started
    return {"requests": count, "orders": count, "orders_per_s": count / elapsed, **_percentiles(latencies)}


async def _batch_creates(url: str, *, batches: int, batch_size: int, in_flight: int) -> dict[str, Any]:
    """`batches` POST /v1/orders:batch of `batch_size` orders each; orders/s and request latency."""
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        semaphore = asyncio.Semaphore(in_flight)

        async def one() -> None:
            items = [{"idempotency_key": uuid.uuid4().hex, "order": BODY} for _ in range(batch_size)]
            async with semaphore:
                started = time.perf_counter()
                response = await client.post("/v1/orders:batch", json={"orders": items}, headers=HEADERS)
                response.raise_for_status()
                if response.json()["created"] != batch_size:
                    raise RuntimeError(f"a batch created {response.json()['created']} of {batch_size}")
                latencies.append(time.perf_counter() - started)

        await one()  # warm-up
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(batches)))
        elapsed = time.perf_counter() - started
    orders = batches * batch_size
    return {"requests": batches, "orders": orders, "orders_per_s": orders / elapsed, **_percentiles(latencies)}


async def _fan_out(url: str, app: Any, *, listeners: int, orders: int) -> dict[str, float]:
    expected = 2 * orders  # received + ready per order
    sent_at: dict[str, float] = {}
    delays: list[float] = []
    done = asyncio.Event()
    counts = [0] * listeners

    async def listen(index: int, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", f"{url}/v1/events/stream", headers=HEADERS) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                reference = event["data"].get("reference", "")
                if reference in sent_at and event["type"].endswith("status_changed"):
                    delays.append(time.perf_counter() - sent_at[reference])
                    counts[index] += 1
                    if counts[index] >= expected:
                        if all(c >= expected for c in counts):
                            done.set()
                        return

    limits = httpx.Limits(max_connections=listeners + 10)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as client:
        tasks = [asyncio.create_task(listen(i, client)) for i in range(listeners)]
        deadline = time.monotonic() + 30
        while app.state.service.broker.listener_count < listeners:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {app.state.service.broker.listener_count} of {listeners} listeners connected")
            await asyncio.sleep(0.05)
        started = time.perf_counter()
        for _ in range(orders):
            reference = uuid.uuid4().hex
            sent_at[reference] = time.perf_counter()
            response = await client.post(
                f"{url}/v1/orders",
                json={**BODY, "reference": reference},
                headers={**HEADERS, "Idempotency-Key": reference},
            )
            response.raise_for_status()
        await asyncio.wait_for(done.wait(), timeout=120)
        elapsed = time.perf_counter() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    delays.sort()
    return {
        "listeners": listeners,
        "events_delivered": len(delays),
        "deliveries_per_s": len(delays) / elapsed,
        "p50_ms": 1000 * statistics.median(delays),
        "p95_ms": 1000 * delays[int(0.95 * (len(delays) - 1))],
    }


def run(args: Any = None) -> list[dict[str, Any]]:
    """Creates per second against `finalmile serve` in its own process, and the SSE fan-out; `args.quick` shrinks."""
    quick = bool(getattr(args, "quick", False))
    count = 500 if quick else 3000
    batches = 3 if quick else 20
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, scratch_postgres() as pg_url:
        setups = [("sqlite", f"sqlite:///{tmp}/bench.db")]
        if pg_url:
            setups += [("postgresql", pg_url)]
        for store, database_url in setups:
            with _serve_process(database_url) as (url, pid):
                common = {"store": store, "server": "finalmile serve (own process)"}
                for name, clients, measure in (
                    ("create_orders", 32, lambda: _single_creates(url, count=count, in_flight=32)),
                    (
                        "create_orders_batch_1000",
                        4,
                        lambda: _batch_creates(url, batches=batches, batch_size=1000, in_flight=4),
                    ),
                ):
                    cpu_before_s, load = server_cpu_s(pid), os.getloadavg()[0]
                    result = asyncio.run(measure())
                    cpu_ms = 1000 * (server_cpu_s(pid) - cpu_before_s) / result["orders"]
                    rows.append(
                        {
                            "benchmark": name,
                            **common,
                            "clients": clients,
                            **result,
                            "server_cpu_ms_per_order": cpu_ms,
                            "load_avg_1m_before": load,
                        }
                    )
        with _serve(f"sqlite:///{tmp}/fan.db") as (url, app):
            fan = asyncio.run(_fan_out(url, app, listeners=100, orders=10 if quick else 25))
            rows.append({"benchmark": "sse_fan_out", "store": "sqlite", "server": "in-process thread", **fan})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for row in rows:
        fields.extend(key for key in row if key not in fields)
    with RESULTS.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return rows


if __name__ == "__main__":
    for result in run():
        print("  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
