"""Fleet API throughput: orders created per second (SQLite, PostgreSQL) and SSE fan-out to 100 listeners.

Run as `python -m benchmarks api` (or `python -m benchmarks.bench_api`). Results: benchmarks/results/api.csv.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, text

from fleet_manager.api import create_app
from fleet_manager.config import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "api.csv"
KEY = "bench-Vq3Lz8Xc1Nm6Tb4Hw9Jd2Fs7Rg5Pk0Ye"
HEADERS = {"Authorization": f"Bearer {KEY}"}
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
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
    app = create_app(Settings(database_url=database_url, api_keys=keys, hub_id="bench"))  # type: ignore[arg-type]
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


@contextlib.contextmanager
def _postgres() -> Iterator[str | None]:
    name = f"finalmile_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        yield None
        return
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def orders_per_second(url: str, *, count: int, clients: int) -> dict[str, float]:
    """POST `count` orders from `clients` concurrent connections; orders/s and latency percentiles."""
    latencies: list[float] = []

    def one_client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(n):
                started = time.perf_counter()
                response = http.post("/v1/orders", json=BODY, headers={**HEADERS, "Idempotency-Key": str(uuid.uuid4())})
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one_client, [count // clients] * clients))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "orders": len(latencies),
        "orders_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
    }


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
    """Both benchmarks; `args.quick` (if present) shrinks the workload."""
    quick = bool(getattr(args, "quick", False))
    count = 200 if quick else 1000
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, _postgres() as pg_url:
        backends = [("sqlite", f"sqlite:///{tmp}/bench.db")] + ([("postgresql", pg_url)] if pg_url else [])
        for name, database_url in backends:
            with _serve(database_url) as (url, app):
                rows.append(
                    {
                        "benchmark": "create_orders",
                        "store": name,
                        "clients": 8,
                        **orders_per_second(url, count=count, clients=8),
                    }
                )
                if name == "sqlite":
                    fan = asyncio.run(_fan_out(url, app, listeners=100, orders=10 if quick else 25))
                    rows.append({"benchmark": "sse_fan_out", "store": name, **fan})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    fields = sorted({key for row in rows for key in row}, key=lambda k: (k not in ("benchmark", "store"), k))
    with RESULTS.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print("  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return rows


if __name__ == "__main__":
    run()
