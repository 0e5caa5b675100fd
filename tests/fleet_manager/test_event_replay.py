"""Event stream replay against `finalmile serve` in its own process: past 10,000 events, and in bounded memory.

Replaying clients used to get at most 10,000 events (then silently the live tail), and each held its
whole backlog in the server: 50 clients replaying from the start took the server from 346 MB to 1 GB.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest
from fm_helpers import API_KEYS_ENV, SERVER_SECRET, auth, free_port, serve_subprocess

from fleet_manager.store import outbox
from fleet_manager.store.db import Database

HUB = "hub-replay"


def _fill(database_url: str, count: int) -> int:
    """`count` order events of realistic size in the outbox; returns the last seq."""
    database = Database(database_url)
    database.migrate()
    with database.transaction() as session:
        for index in range(count):
            data = {
                "order_id": f"order-{index:06d}",
                "hub_id": HUB,
                "reference": f"REF-{index:06d}",
                "status": "ready",
                "from_status": "received",
                "to_status": "ready",
                "actor": "backend:0123456789abcdef",
                "reason": "customs already cleared",
                "details": {"note": "x" * 200},
                "version": 2,
            }
            outbox.append_event(session, hub_id=HUB, event_type="order.status_changed",
                                subject=f"orders/order-{index:06d}", data=data, at_s=1_800_000_000.0 + index)
    with database.read() as session:
        last = outbox.last_seq(session)
    database.dispose()
    return last


def _replay(port: int, last_seq: int, seen: list[int], timeout_s: float) -> None:
    """Read the stream from seq 0 until the event `last_seq`; appends every id seen."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        head = f"GET /v1/events/stream?after=0 HTTP/1.1\r\nHost: x\r\nAuthorization: {auth('viewer')['Authorization']}"
        sock.sendall((head + "\r\n\r\n").encode())
        buffer = b""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            chunk = sock.recv(262144)
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"id:"):
                    seen.append(int(line[3:].strip()))
                    if seen[-1] == last_seq:
                        return


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"FINALMILE_DATABASE_URL": database_url, "FINALMILE_API_KEYS": API_KEYS_ENV, "FINALMILE_HUB_ID": HUB,
            "FINALMILE_SERVER_SECRET": SERVER_SECRET, "FINALMILE_MAX_STREAMS_PER_KEY": "100"}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_replay_from_the_start_goes_past_10000_events(tmp_path: Path) -> None:
    """12,000 stored events: a client replaying from seq 0 gets every one of them, in order."""
    database_url = f"sqlite:///{tmp_path / 'replay.db'}"
    last_seq = _fill(database_url, 12_000)
    port = free_port()
    with serve_subprocess(_env(tmp_path, database_url), port=port, log_path=tmp_path / "serve.log"):
        seen: list[int] = []
        _replay(port, last_seq, seen, timeout_s=120)
    assert len(seen) == 12_000 and seen == sorted(seen) and seen[-1] == last_seq


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_50_replaying_clients_keep_the_server_memory_bounded(tmp_path: Path) -> None:
    """50 clients replay 3,000 events each at once; the server's resident memory grows by well under 150 MB
    (it held every client's whole backlog before: 150,000 events), and every client gets all its events."""
    database_url = f"sqlite:///{tmp_path / 'replay.db'}"
    last_seq = _fill(database_url, 3_000)
    port = free_port()
    with serve_subprocess(_env(tmp_path, database_url), port=port, log_path=tmp_path / "serve.log") as process:
        server = psutil.Process(process.pid)
        children = server.children(recursive=True)
        target = children[0] if children else server
        baseline_b = target.memory_info().rss
        peak_b = baseline_b
        seen: list[list[int]] = [[] for _ in range(50)]
        threads = [threading.Thread(target=_replay, args=(port, last_seq, out, 240), daemon=True) for out in seen]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            peak_b = max(peak_b, target.memory_info().rss)
            time.sleep(0.05)
        growth_mb = (peak_b - baseline_b) / 1e6
    print(json.dumps({"baseline_mb": baseline_b / 1e6, "peak_mb": peak_b / 1e6, "growth_mb": growth_mb}))
    assert [len(out) for out in seen] == [3_000] * 50
    assert growth_mb < 150, f"server grew by {growth_mb:.0f} MB while 50 clients replayed"
