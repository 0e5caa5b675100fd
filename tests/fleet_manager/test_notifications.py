"""Recipient notifications over HTTP and webhooks: ETA, proof of delivery, not at home → locker → pickup code."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fm_helpers import (
    API_KEYS_ENV,
    SECRET,
    SERVER_SECRET,
    WebhookReceiver,
    auth,
    serve_in_thread,
    wait_until,
    webhook_receiver,
)

from fleet_manager.api import create_app
from fleet_manager.config import Settings
from fleet_manager.store.db import upgrade

HUB = "hub-notify"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[httpx.Client, WebhookReceiver]]:
    """The app with webhooks to a local receiver (the simulated backend) and one locker."""
    receiver = WebhookReceiver()
    with webhook_receiver(receiver) as hook_url:
        settings = Settings(
            database_url=upgrade(f"sqlite:///{tmp_path / 'n.db'}"),
            api_keys=API_KEYS_ENV,
            hub_id=HUB,  # type: ignore[arg-type]
            webhook_url=hook_url,
            webhook_secret=SECRET,
            server_secret=SERVER_SECRET,
            pickups_per_minute=60,  # this test types more codes at one locker than a person would
            webhook_poll_interval_s=0.05,  # type: ignore[arg-type]
        )
        with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
            locker = {
                "name": "Kamppi locker",
                "address": "Urho Kekkosen katu 1, Helsinki",
                "latitude_deg": 60.1690,
                "longitude_deg": 24.9320,
                "compartments": 4,
            }
            assert client.put("/v1/lockers/kamppi", json=locker, headers=auth("operator")).status_code == 200
            yield client, receiver


def _notification(receiver: WebhookReceiver, order_id: str, kind: str) -> dict[str, Any]:
    def found() -> bool:
        return any(
            e["type"] == f"com.finalmile.notification.{kind}" and e["data"]["order_id"] == order_id
            for e in receiver.accepted_events()
        )

    wait_until(found, timeout_s=10, what=f"the {kind} notification webhook")
    return next(
        e
        for e in receiver.accepted_events()
        if e["type"] == f"com.finalmile.notification.{kind}" and e["data"]["order_id"] == order_id
    )


def _move(client: httpx.Client, order_id: str, status: str, **extra: Any) -> httpx.Response:
    response = client.post(
        f"/v1/orders/{order_id}/status", json={"to_status": status, "reason": "test", **extra}, headers=auth("operator")
    )
    assert response.status_code == 200, response.text
    return response


def _out_for_delivery(client: httpx.Client, *, door: bool = False) -> str:
    body = {
        "recipient": {"name": "Aino", "phone": "+358401"},
        "weight_kg": 1.0,
        "customs_cleared": True,
        "allow_leave_at_door": door,
        "destination": {"latitude_deg": 60.1699, "longitude_deg": 24.9384},
    }
    order_id = client.post(
        "/v1/orders", json=body, headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())}
    ).json()["order_id"]
    for status in ("planned", "assigned", "loaded"):
        _move(client, order_id, status)
    _move(client, order_id, "out_for_delivery", mode="robot", vehicle_id="robot-2", details={"eta_s": 1_900_000_000.0})
    return str(order_id)


@pytest.mark.timeout(60)
def test_out_for_delivery_and_delivered_carry_eta_and_proof(setup: tuple[httpx.Client, WebhookReceiver]) -> None:
    """The backend gets an ETA window when the parcel leaves and proof (time, position, vehicle, photo) at delivery."""
    client, receiver = setup
    order_id = _out_for_delivery(client, door=True)
    eta = _notification(receiver, order_id, "out_for_delivery")["data"]
    assert eta["eta_earliest_s"] < 1_900_000_000.0 < eta["eta_latest_s"] and eta["mode"] == "robot"
    assert client.post(f"/v1/orders/{order_id}/leave-at-door", headers=auth("backend")).json()["leave_at_door"]
    _move(client, order_id, "delivered", details={"latitude_deg": 60.16991, "longitude_deg": 24.93841})
    proof = _notification(receiver, order_id, "delivered")["data"]["proof"]
    assert proof["vehicle_id"] == "robot-2" and proof["latitude_deg"] == 60.16991 and proof["photo_id"]
    assert proof["left_at_door"] is True


@pytest.mark.timeout(90)
def test_not_at_home_locker_pickup_wrong_codes_and_lock(setup: tuple[httpx.Client, WebhookReceiver]) -> None:
    """attempt failed (options offered) → redirect to locker (code by webhook only) → wrong code counted →
    right code opens; a second parcel's compartment locks after five wrong codes."""
    client, receiver = setup
    order_id = _out_for_delivery(client)
    _move(client, order_id, "attempt_failed")
    failed = _notification(receiver, order_id, "attempt_failed")["data"]
    assert failed["next_options"] == ["reschedule", "redirect_to_locker"]
    redirected = client.post(f"/v1/orders/{order_id}/redirect-to-locker", json={}, headers=auth("backend"))
    assert redirected.json()["status"] == "diverted_to_locker" and redirected.json()["locker_id"] == "kamppi"
    diverted = _notification(receiver, order_id, "diverted_to_locker")["data"]
    code = diverted["pickup_code"]
    assert diverted["locker"]["address"].startswith("Urho Kekkosen") and len(code) == 6
    assert "pickup_code" not in redirected.text
    notes = client.get(f"/v1/orders/{order_id}/notifications", headers=auth("viewer")).text
    assert "pickup_code" not in notes
    wrong = "000000" if code != "000000" else "111111"
    early = client.post("/v1/lockers/kamppi/pickup", json={"order_id": order_id, "code": code}, headers=auth("locker"))
    assert early.status_code == 409  # not in the locker yet; the code stays valid
    _move(client, order_id, "delivered_to_locker")
    refused = client.post(
        "/v1/lockers/kamppi/pickup", json={"order_id": order_id, "code": wrong}, headers=auth("locker")
    )
    assert refused.status_code == 403 and refused.json()["attempts_left"] == 4
    opened = client.post("/v1/lockers/kamppi/pickup", json={"order_id": order_id, "code": code}, headers=auth("locker"))
    assert opened.status_code == 200 and opened.json()["status"] == "picked_up"
    assert (
        client.post(
            "/v1/lockers/kamppi/pickup", json={"order_id": order_id, "code": code}, headers=auth("locker")
        ).status_code
        == 409
    )

    second = _out_for_delivery(client)
    _move(client, second, "attempt_failed")
    client.post(f"/v1/orders/{second}/redirect-to-locker", json={"locker_id": "kamppi"}, headers=auth("backend"))
    second_code = _notification(receiver, second, "diverted_to_locker")["data"]["pickup_code"]
    _move(client, second, "delivered_to_locker")
    bad = "000000" if second_code != "000000" else "111111"
    answers = [
        client.post("/v1/lockers/kamppi/pickup", json={"order_id": second, "code": bad}, headers=auth("locker"))
        for _ in range(5)
    ]
    assert [r.status_code for r in answers] == [403, 403, 403, 403, 423]
    assert [r.json().get("attempts_left") for r in answers[:4]] == [4, 3, 2, 1]
    locked = client.post(
        "/v1/lockers/kamppi/pickup", json={"order_id": second, "code": second_code}, headers=auth("locker")
    )
    assert locked.status_code == 423  # even the right code, until an operator unlocks
    assert (
        client.post("/v1/lockers/kamppi/unlock", json={"order_id": second}, headers=auth("operator")).status_code == 204
    )
    assert (
        client.post(
            "/v1/lockers/kamppi/pickup", json={"order_id": second, "code": second_code}, headers=auth("locker")
        ).status_code
        == 200
    )
    def refusals() -> list[dict[str, Any]]:
        return [e for e in receiver.accepted_events() if e["type"].startswith("com.finalmile.locker.")]

    # Webhooks are delivered asynchronously after the request that caused them: wait, then count.
    wait_until(lambda: len(refusals()) >= 5, timeout_s=15, what="five locker refusal webhooks")
    assert all(e["data"]["locker_id"] == "kamppi" for e in refusals())


@pytest.mark.timeout(60)
def test_reschedule_after_failed_attempt(setup: tuple[httpx.Client, WebhookReceiver]) -> None:
    """A recipient's new window turns a failed attempt into rescheduled; a window in the past is refused."""
    client, _ = setup
    order_id = _out_for_delivery(client)
    _move(client, order_id, "attempt_failed")
    past = {"window_start": "2001-01-01T10:00:00Z", "window_end": "2001-01-01T12:00:00Z"}
    assert client.post(f"/v1/orders/{order_id}/reschedule", json=past, headers=auth("backend")).status_code == 409
    window = {"window_start": "2099-01-01T10:00:00Z", "window_end": "2099-01-01T12:00:00Z"}
    rescheduled = client.post(f"/v1/orders/{order_id}/reschedule", json=window, headers=auth("backend")).json()
    assert rescheduled["status"] == "rescheduled" and rescheduled["window_start"].startswith("2099-01-01T10:00")
    no_door = client.post(f"/v1/orders/{order_id}/leave-at-door", headers=auth("backend"))
    assert no_door.status_code == 409 and "does not allow" in no_door.json()["detail"]
