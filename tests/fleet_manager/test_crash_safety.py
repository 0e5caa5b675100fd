"""kill -9 the server during a burst of order creations and transitions; restart; nothing lost or stuck."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from fm_helpers import (
    API_KEYS_ENV,
    SECRET,
    SERVER_SECRET,
    WebhookReceiver,
    auth,
    free_port,
    serve_subprocess,
    wait_until,
    webhook_receiver,
)

HUB = "hub-crash"


def _worker(url: str, keys: list[str], acked: dict[str, str], stop: threading.Event) -> None:
    """Create orders and move them along until the server dies."""
    with httpx.Client(base_url=url, timeout=5.0) as client:
        while not stop.is_set():
            key = str(uuid.uuid4())
            keys.append(key)
            body = {
                "recipient": {"name": "R"},
                "destination": {"latitude_deg": 60.17, "longitude_deg": 24.94},
                "weight_kg": 1.0,
                "reference": key,
            }
            try:
                response = client.post("/v1/orders", json=body, headers={**auth("backend"), "Idempotency-Key": key})
                order_id = response.json()["order_id"]
                acked[key] = order_id
                client.post(f"/v1/orders/{order_id}/customs-cleared", headers=auth("backend"))
                for status in ("planned", "ready"):
                    client.post(
                        f"/v1/orders/{order_id}/status",
                        json={"to_status": status, "reason": "burst"},
                        headers=auth("operator"),
                    )
            except (httpx.HTTPError, ValueError, KeyError):
                return


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_kill_9_mid_burst_loses_nothing(tmp_path: Path) -> None:
    """Acknowledged orders survive; retried keys give one order each; audit and status agree; every event arrives."""
    receiver = WebhookReceiver()
    with webhook_receiver(receiver) as hook_url:
        env = {
            "FINALMILE_DATABASE_URL": f"sqlite:///{tmp_path / 'crash.db'}",
            "FINALMILE_API_KEYS": API_KEYS_ENV,
            "FINALMILE_HUB_ID": HUB,
            "FINALMILE_WEBHOOK_URL": hook_url,
            "FINALMILE_WEBHOOK_SECRET": SECRET,
            "FINALMILE_SERVER_SECRET": SERVER_SECRET,
            "FINALMILE_WEBHOOK_POLL_INTERVAL_S": "0.05",
            "FINALMILE_WEBHOOK_BACKOFF_BASE_S": "0.1",
            "FINALMILE_WEBHOOK_BACKOFF_MAX_S": "0.5",
        }
        port = free_port()
        keys: list[str] = []
        acked: dict[str, str] = {}
        with serve_subprocess(env, port=port, log_path=tmp_path / "server.log") as process:
            url = f"http://127.0.0.1:{port}"
            stop = threading.Event()
            workers = [threading.Thread(target=_worker, args=(url, keys, acked, stop), daemon=True) for _ in range(4)]
            for worker in workers:
                worker.start()
            wait_until(lambda: len(acked) >= 40, timeout_s=60, what="40 acknowledged orders")
            os.killpg(process.pid, signal.SIGKILL)  # mid-burst: requests are in flight
            process.wait(timeout=10)
            stop.set()
            for worker in workers:
                worker.join(timeout=10)
        port = free_port()
        with (
            serve_subprocess(env, port=port, log_path=tmp_path / "server.log"),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
        ):
            for key, order_id in acked.items():
                assert client.get(f"/v1/orders/{order_id}", headers=auth("viewer")).status_code == 200, key
            body = {
                "recipient": {"name": "R"},
                "destination": {"latitude_deg": 60.17, "longitude_deg": 24.94},
                "weight_kg": 1.0,
            }
            for key in keys:  # the backend retries whatever it did not see acknowledged
                if key not in acked:
                    response = client.post(
                        "/v1/orders",
                        json={**body, "reference": key},
                        headers={**auth("backend"), "Idempotency-Key": key},
                    )
                    assert response.status_code in (200, 201), response.text
                    acked[key] = response.json()["order_id"]
            orders, cursor = [], None
            while True:
                page = client.get(
                    "/v1/orders",
                    params={"limit": 500, **({"cursor": cursor} if cursor else {})},
                    headers=auth("viewer"),
                ).json()
                orders += page["items"]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert len(orders) == len(set(keys)), "each idempotency key gave exactly one order"
            event_ids = set()
            for order in orders:
                events = client.get(f"/v1/orders/{order['order_id']}/events", headers=auth("viewer")).json()
                chain = [(e["from_status"], e["to_status"]) for e in events]
                assert chain[0] == (None, "received")
                assert all(prev[1] == cur[0] for prev, cur in itertools.pairwise(chain)), chain
                assert events[-1]["to_status"] == order["status"], "status and audit trail agree"
                assert order["status"] in ("awaiting_customs", "ready", "planned")
                event_ids |= {e["event_id"] for e in events}

            def all_delivered() -> bool:
                return event_ids <= {e["id"] for e in receiver.accepted_events()}

            wait_until(all_delivered, timeout_s=60, what="every status event to reach the webhook receiver")
    received = [e["id"] for e in receiver.accepted_events()]
    duplicates = len(received) - len(set(received))
    print(
        f"orders={len(orders)} acked_before_kill={len(acked)} events={len(event_ids)} webhook_duplicates={duplicates}"
    )
