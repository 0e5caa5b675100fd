"""The recipient tracking page's API over real HTTP (uvicorn on a free port), on SQLite and PostgreSQL.

The link arrives in the signed out_for_delivery webhook; the page's JSON needs no API key; a wrong token is a
404; the vehicle shows only within the radius of the door; the recipient's choices change the order through
the same store code as the backend's (events and webhooks follow) and are refused with a sentence once too late.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fm_helpers import (
    API_KEYS_ENV,
    SECRET,
    SERVER_SECRET,
    WebhookReceiver,
    auth,
    database_url_for,
    serve_in_thread,
    wait_until,
    webhook_receiver,
)
from pyproj import Geod

from fleet_manager.api import create_app
from fleet_manager.api.rate_limits import RateLimiter
from fleet_manager.config import Settings
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store import orders as order_store
from fleet_manager.store import outbox
from fleet_manager.store.db import Database

PUBLIC_URL = "https://track.example.test/parcels"
DOOR = (60.1700, 24.9400)
RADIUS_M = 500.0
_GEOD = Geod(ellps="WGS84")


@dataclass
class Served:
    client: httpx.Client
    receiver: WebhookReceiver
    database: Database
    app: Any
    hub_id: str
    plain_locker: str
    cold_locker: str


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app with webhooks to a local receiver, a plain and a conditioned locker, on a hub of its own."""
    hub_id = f"hub-track-{uuid.uuid4().hex[:8]}"
    receiver = WebhookReceiver()
    with webhook_receiver(receiver) as hook_url:
        settings = Settings(
            database_url=database_url_for(request, tmp_path_factory, "tracking"),
            api_keys=API_KEYS_ENV,  # type: ignore[arg-type]
            hub_id=hub_id,
            webhook_url=hook_url,
            webhook_secret=SECRET,  # type: ignore[arg-type]
            server_secret=SERVER_SECRET,  # type: ignore[arg-type]
            webhook_poll_interval_s=0.05,
            public_url=PUBLIC_URL,
            tracking_vehicle_radius_m=RADIUS_M,
            tracking_requests_per_minute=10_000,  # the 429 test swaps in a small budget of its own
            recipient_actions_per_minute=1000,
        )
        database = Database(settings.database_url)
        app = create_app(settings, database=database)
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            lockers = {}
            for kind, conditioned, offset in (("plain", False, 0.002), ("cold", True, 0.004)):
                locker_id = f"lk-{kind}-{uuid.uuid4().hex[:8]}"
                body = {"hub_id": hub_id, "name": f"{kind.title()} locker", "address": f"{kind} street 1",
                        "latitude_deg": DOOR[0] + offset, "longitude_deg": DOOR[1], "conditioned": conditioned}
                assert client.put(f"/v1/lockers/{locker_id}", json=body, headers=auth("operator")).status_code == 200
                lockers[kind] = locker_id
            yield Served(client, receiver, database, app, hub_id, lockers["plain"], lockers["cold"])
        database.dispose()


def _order(served: Served, *, cold_chain: bool = False, allow_door: bool = True) -> str:
    body: dict[str, Any] = {
        "hub_id": served.hub_id, "reference": f"REF-{uuid.uuid4().hex[:6]}",
        "recipient": {"name": "Aino Secretname", "phone": "+358401234567"},
        "destination": {"latitude_deg": DOOR[0], "longitude_deg": DOOR[1], "street": "Mannerheimintie 14 B 23",
                        "city": "Helsinki", "postcode": "00100"},
        "weight_kg": 1.0, "customs_cleared": True, "allow_leave_at_door": allow_door,
    }
    if cold_chain:
        body["handling"] = {"cold_chain": {"min_temp_c": 2, "max_temp_c": 8, "max_minutes_out_of_conditioning": 60}}
    response = served.client.post("/v1/orders", json=body,
                                  headers={**auth("backend"), "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return str(response.json()["order_id"])


def _move(served: Served, order_id: str, to_status: str, **extra: Any) -> None:
    response = served.client.post(f"/v1/orders/{order_id}/status", headers=auth("operator"),
                                  json={"to_status": to_status, "reason": "test", **extra})
    assert response.status_code == 200, response.text


def _send_out(served: Served, order_id: str, vehicle_id: str) -> None:
    """What the dispatcher does, through the operator's status API: plan, load, depart with an ETA."""
    body = {"kind": "drone", "hub_id": served.hub_id}
    assert served.client.put(f"/v1/vehicles/{vehicle_id}", json=body, headers=auth("operator")).status_code == 200
    for status in ("planned", "assigned", "loaded"):
        _move(served, order_id, status, vehicle_id=vehicle_id)
    eta_s = dt.datetime.now(dt.UTC).timestamp() + 1800
    _move(served, order_id, "out_for_delivery", mode="drone", vehicle_id=vehicle_id, details={"eta_s": eta_s})


def _webhook(served: Served, order_id: str, event_type: str, **match: Any) -> dict[str, Any]:
    def matching() -> list[dict[str, Any]]:
        return [e for e in served.receiver.accepted_events()
                if e["type"] == f"com.finalmile.{event_type}" and e["data"].get("order_id") == order_id
                and all(e["data"].get(k) == v for k, v in match.items())]

    wait_until(lambda: bool(matching()), timeout_s=15, what=f"webhook {event_type} of {order_id}")
    return matching()[-1]


def _path(url: str) -> str:
    """The path of a tracking link (served by this test's app, not by the public host the link names)."""
    assert url.startswith(PUBLIC_URL + "/t/"), url
    return url.removeprefix(PUBLIC_URL)


def _token(url: str) -> str:
    return _path(url).removeprefix("/t/")


def _place(served: Served, vehicle_id: str, distance_m: float) -> None:
    """Telemetry as the recorder stores it: the vehicle `distance_m` north of the door."""
    longitude, latitude, _ = _GEOD.fwd(DOOR[1], DOOR[0], 0.0, distance_m)
    state = {"vehicle_id": vehicle_id, "kind": "drone", "latitude_deg": latitude, "longitude_deg": longitude,
             "position_valid": True, "stamp_s": 0.0}
    with served.database.transaction() as session:
        fleet_store.update_vehicle_state(session, vehicle_id=vehicle_id, state=state, stamp_s=0.0)


def _link(served: Served, order_id: str) -> str:
    response = served.client.post(f"/v1/orders/{order_id}/tracking-link", headers=auth("backend"))
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def test_link_in_out_for_delivery_webhook_opens_the_page_without_a_key(served: Served) -> None:
    order_id = _order(served)
    vehicle_id = f"drone-{uuid.uuid4().hex[:6]}"
    _send_out(served, order_id, vehicle_id)
    event = _webhook(served, order_id, "notification.out_for_delivery")
    url = event["data"]["tracking_url"]
    token = _token(url)
    assert len(token) >= 32

    page = served.client.get(_path(url))
    assert page.status_code == 200 and "Your parcel" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"

    view = served.client.get(f"/v1/track/{token}")
    assert view.status_code == 200, view.text
    data = view.json()
    assert data["status"] == "out_for_delivery" and data["on_the_way"] is True
    assert data["eta"]["source"] == "planned"  # no model window yet: the notification's window
    sent = event["data"]
    assert dt.datetime.fromisoformat(data["eta"]["earliest"]).timestamp() == pytest.approx(sent["eta_earliest_s"])
    assert data["street"] == "Mannerheimintie"  # no house, staircase or flat number
    for secret in ("Secretname", "+358401234567", "00100", vehicle_id, order_id):
        assert secret not in view.text

    # The store keeps neither the link nor the token: only its hash, and the outbox copy is scrubbed once delivered.
    with served.database.read() as session:
        notes = order_store.list_notifications(session, order_id=order_id)
    assert notes and all("tracking_url" not in n["payload"] for n in notes)
    listed = served.client.get("/v1/events", params={"after": 0, "limit": 1000}, headers=auth("viewer")).text
    assert token not in listed

    def scrubbed() -> bool:
        with served.database.read() as session:
            return outbox.get_event(session, event_id=event["id"]).data["tracking_url"] is None

    wait_until(scrubbed, timeout_s=15, what="the delivered link to be erased from the outbox")


def test_wrong_expired_or_malformed_tokens_are_404(served: Served) -> None:
    order_id = _order(served)
    token = _token(_link(served, order_id))
    assert served.client.get(f"/v1/track/{token}").status_code == 200
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x", "a" * 500, token.upper()):
        response = served.client.get(f"/v1/track/{bad}")
        assert response.status_code == 404, bad
        assert response.json()["detail"] == "this tracking link is not valid (it may have expired)"
        assert served.client.get(f"/t/{bad}").status_code == 404
        assert served.client.post(f"/v1/track/{bad}/leave-at-door", json={}).status_code == 404
    # The backend's link endpoint needs its key.
    assert served.client.post(f"/v1/orders/{order_id}/tracking-link").status_code == 401


def test_vehicle_hidden_when_far_and_shown_when_near(served: Served) -> None:
    order_id = _order(served)
    vehicle_id = f"drone-{uuid.uuid4().hex[:6]}"
    token = _token(_link(served, order_id))
    other = f"drone-{uuid.uuid4().hex[:6]}"  # another vehicle near the door: never shown
    assert served.client.put(f"/v1/vehicles/{other}", json={"kind": "drone", "hub_id": served.hub_id},
                             headers=auth("operator")).status_code == 200
    _place(served, other, 50.0)
    assert served.client.get(f"/v1/track/{token}").json()["vehicle"] is None  # not on its way yet
    _send_out(served, order_id, vehicle_id)

    _place(served, vehicle_id, 2000.0)
    far = served.client.get(f"/v1/track/{token}").json()
    assert far["on_the_way"] is True and far["vehicle"] is None
    assert served.client.get(f"/v1/track/{token}/streets").status_code == 409  # no map, no neighbourhood

    _place(served, vehicle_id, RADIUS_M + 50)
    assert served.client.get(f"/v1/track/{token}").json()["vehicle"] is None

    _place(served, vehicle_id, 200.0)
    near = served.client.get(f"/v1/track/{token}")
    vehicle = near.json()["vehicle"]
    assert vehicle["kind"] == "drone" and vehicle["distance_m"] == pytest.approx(200.0, abs=2)
    assert vehicle["destination"] == {"latitude_deg": DOOR[0], "longitude_deg": DOOR[1]}
    assert vehicle_id not in near.text and other not in near.text
    streets = served.client.get(f"/v1/track/{token}/streets")
    assert streets.status_code == 200, streets.text
    segments = streets.json()["streets"]
    assert len(segments) > 20  # central Helsinki's streets around the door, from the world the planner uses
    nearest_m = min(_GEOD.inv(DOOR[1], DOOR[0], lon, lat)[2] for segment in segments for lat, lon in segment)
    assert nearest_m < 100
    assert all(min(_GEOD.inv(DOOR[1], DOOR[0], lon, lat)[2] for lat, lon in segment) <= RADIUS_M * 1.2 + 1
               for segment in segments)

    # A trained model's window replaces the planned one as soon as the lifecycle stores it.
    now_s = dt.datetime.now(dt.UTC).timestamp()
    with served.database.transaction() as session:
        order_store.set_eta(session, order_id=order_id, eta={
            "earliest_s": now_s + 300, "expected_s": now_s + 600, "latest_s": now_s + 900,
            "source": "model:test", "updated_at_s": now_s})
    eta = served.client.get(f"/v1/track/{token}").json()["eta"]
    assert eta["source"] == "model"
    assert dt.datetime.fromisoformat(eta["latest"]).timestamp() == pytest.approx(now_s + 900)


def test_actions_before_loading_change_the_order_and_reach_the_backend(served: Served) -> None:
    order_id = _order(served)
    token = _token(_link(served, order_id))
    options = served.client.get(f"/v1/track/{token}").json()["options"]
    assert options["reschedule"]["available"] and options["redirect_to_locker"]["available"]
    slot = options["reschedule"]["slots"][1]

    rescheduled = served.client.post(f"/v1/track/{token}/reschedule",
                                     json={"window_start": slot["start"], "window_end": slot["end"]})
    assert rescheduled.status_code == 200, rescheduled.text
    order = served.client.get(f"/v1/orders/{order_id}", headers=auth("backend")).json()
    assert dt.datetime.fromisoformat(order["window_start"]) == dt.datetime.fromisoformat(slot["start"])
    updated = _webhook(served, order_id, "order.updated")
    assert updated["data"]["actor"].startswith("recipient:")
    assert updated["data"]["changes"]["window_start_s"] == dt.datetime.fromisoformat(slot["start"]).timestamp()

    door = served.client.post(f"/v1/track/{token}/leave-at-door", json={"leave_at_door": True})
    assert door.status_code == 200 and door.json()["options"]["leave_at_door"]["chosen"] is True
    assert served.client.get(f"/v1/orders/{order_id}", headers=auth("backend")).json()["leave_at_door"] is True

    lockers = options["redirect_to_locker"]["lockers"]
    assert [lk["locker_id"] for lk in lockers[:2]] == [served.plain_locker, served.cold_locker]  # nearest first
    redirected = served.client.post(f"/v1/track/{token}/redirect-to-locker", json={"locker_id": served.plain_locker})
    assert redirected.status_code == 200, redirected.text
    data = redirected.json()
    assert data["status"] == "diverted_to_locker" and data["locker"]["locker_id"] == served.plain_locker
    diverted = _webhook(served, order_id, "notification.diverted_to_locker")
    assert len(diverted["data"]["pickup_code"]) == 6  # the code reaches the backend, never the page
    assert diverted["data"]["pickup_code"] not in redirected.text
    assert not data["options"]["reschedule"]["available"]


def test_cold_chain_parcel_is_offered_and_sent_only_to_conditioned_lockers(served: Served) -> None:
    order_id = _order(served, cold_chain=True)
    token = _token(_link(served, order_id))
    offered = served.client.get(f"/v1/track/{token}").json()["options"]["redirect_to_locker"]["lockers"]
    assert [lk["locker_id"] for lk in offered] == [served.cold_locker]
    refused = served.client.post(f"/v1/track/{token}/redirect-to-locker", json={"locker_id": served.plain_locker})
    assert refused.status_code == 409 and "not conditioned" in refused.json()["detail"]
    assert served.client.get(f"/v1/orders/{order_id}", headers=auth("backend")).json()["status"] == "ready"
    accepted = served.client.post(f"/v1/track/{token}/redirect-to-locker", json={"locker_id": served.cold_locker})
    assert accepted.status_code == 200 and accepted.json()["locker"]["conditioned"] is True


def test_actions_refused_when_too_late(served: Served) -> None:
    order_id = _order(served, allow_door=False)
    vehicle_id = f"drone-{uuid.uuid4().hex[:6]}"
    _send_out(served, order_id, vehicle_id)
    token = _token(_webhook(served, order_id, "notification.out_for_delivery")["data"]["tracking_url"])
    options = served.client.get(f"/v1/track/{token}").json()["options"]
    assert not options["reschedule"]["available"] and "already on a vehicle" in options["reschedule"]["reason"]
    assert not options["leave_at_door"]["available"] and "does not allow" in options["leave_at_door"]["reason"]
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    window = {"window_start": start.isoformat(), "window_end": (start + dt.timedelta(hours=2)).isoformat()}
    refused = served.client.post(f"/v1/track/{token}/reschedule", json=window)
    assert refused.status_code == 409 and "already on a vehicle" in refused.json()["detail"]
    refused = served.client.post(f"/v1/track/{token}/redirect-to-locker", json={"locker_id": served.plain_locker})
    assert refused.status_code == 409 and "already on a vehicle" in refused.json()["detail"]
    assert served.client.post(f"/v1/track/{token}/leave-at-door", json={}).status_code == 409
    order = served.client.get(f"/v1/orders/{order_id}", headers=auth("backend")).json()
    assert order["status"] == "out_for_delivery" and order["window_start"] is None and order["locker_id"] is None

    _move(served, order_id, "delivered")
    done = served.client.get(f"/v1/track/{token}").json()  # still works for a while after delivery
    assert done["status"] == "delivered" and done["vehicle"] is None
    assert "already been delivered" in done["options"]["reschedule"]["reason"]
    refused = served.client.post(f"/v1/track/{token}/reschedule", json=window)
    assert refused.status_code == 409 and "already been delivered" in refused.json()["detail"]


def test_tracking_requests_are_rate_limited(served: Served) -> None:
    token = _token(_link(served, _order(served)))
    kept = served.app.state.tracking_limiter
    served.app.state.tracking_limiter = RateLimiter(3, "tracking page requests from this address")
    try:
        answers = [served.client.get(f"/v1/track/{token}").status_code for _ in range(3)]
        limited = served.client.get(f"/v1/track/{token}")
        page = served.client.get(f"/t/{token}")
        wrong = served.client.get("/v1/track/not-a-token")
    finally:
        served.app.state.tracking_limiter = kept
    assert answers == [200, 200, 200]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert page.status_code == 429 and wrong.status_code == 429  # guessing tokens costs the same budget
