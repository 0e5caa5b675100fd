"""The Fleet API over real HTTP (uvicorn on a free port): auth, orders, zones, vehicles, stream, schema fuzzing."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fm_helpers import API_KEYS_ENV, SERVER_SECRET, auth, serve_in_thread, wait_until

from benchmarks.api_fuzz import fuzz_api
from fleet_manager.api import create_app
from fleet_manager.cli import main as cli_main
from fleet_manager.config import Settings
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store.db import upgrade
from fleet_manager.store.fleet import VehicleCommand

HUB = "hub-api"
FUZZ_KEY = "fz-all-roles-Wq4Nx8Lc2Vb7Tm1Hz6Jd3Fs9"
ZONE_RING = [[24.940, 60.170], [24.944, 60.170], [24.944, 60.172], [24.940, 60.172], [24.940, 60.170]]


def _order_body(name: str = "Aino", **extra: Any) -> dict[str, Any]:
    return {
        "recipient": {"name": name},
        "destination": {"latitude_deg": 60.17, "longitude_deg": 24.94},
        "weight_kg": 1.2,
        **extra,
    }


def _settings(tmp: Path) -> Settings:
    keys = (
        API_KEYS_ENV
        + ","
        + ","
        + ",".join(f"{role}:{FUZZ_KEY}" for role in ("backend", "operator", "viewer", "locker@kamppi"))
    )
    return Settings(
        database_url=upgrade(f"sqlite:///{tmp / 'api.db'}"),
        api_keys=keys,  # type: ignore[arg-type]
        hub_id=HUB,
        server_secret=SERVER_SECRET,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The app (with a dashboard folder) served on a free port; yields (base URL, app)."""
    tmp = tmp_path_factory.mktemp("api")
    (tmp / "static").mkdir()
    (tmp / "static" / "index.html").write_text("<title>FinalMile dashboard</title>")
    app = create_app(_settings(tmp), dashboard_dir=tmp / "static")
    with serve_in_thread(app) as url:
        yield url, app


@pytest.fixture
def client(server: tuple[str, Any]) -> Iterator[httpx.Client]:
    """An HTTP client against the running server."""
    with httpx.Client(base_url=server[0], timeout=10.0) as http:
        yield http


def _create(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/orders", json=_order_body(**extra), headers={**auth("backend"), "Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_keys_and_roles(client: httpx.Client) -> None:
    """401 without or with an unknown key; 403 with the wrong role; operators may read."""
    assert client.get("/v1/orders").status_code == 401
    assert client.get("/v1/orders", headers={"Authorization": "Bearer nope-nope-nope"}).status_code == 401
    forbidden = client.post("/v1/orders", json=_order_body(), headers={**auth("viewer"), "Idempotency-Key": "x"})
    assert forbidden.status_code == 403 and "backend" in forbidden.json()["detail"]
    assert client.post("/v1/zones", json={}, headers=auth("backend")).status_code == 403
    assert client.get("/v1/orders", headers=auth("locker")).status_code == 403
    for role in ("viewer", "operator", "backend"):
        assert client.get("/v1/orders", headers=auth(role)).status_code == 200


def test_order_lifecycle_and_idempotent_create(client: httpx.Client) -> None:
    """Create (201), replay (200, same order), mismatch (422), customs-cleared → ready, cancel, events."""
    key = str(uuid.uuid4())
    headers = {**auth("backend"), "Idempotency-Key": key}
    first = client.post("/v1/orders", json=_order_body(reference="EST-9"), headers=headers)
    replay = client.post("/v1/orders", json=_order_body(reference="EST-9"), headers=headers)
    other = client.post("/v1/orders", json=_order_body(reference="EST-10"), headers=headers)
    assert first.status_code == 201 and replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json()["order_id"] == first.json()["order_id"]
    assert other.status_code == 422 and key in other.json()["detail"]
    order_id = first.json()["order_id"]
    assert first.json()["status"] == "awaiting_customs"
    assert client.get(f"/v1/orders/{order_id}", headers=auth("viewer")).json()["reference"] == "EST-9"
    waiting = client.get(
        "/v1/orders", params={"status": "awaiting_customs", "limit": 500}, headers=auth("viewer")
    ).json()
    assert order_id in [o["order_id"] for o in waiting["items"]]
    cleared = client.post(f"/v1/orders/{order_id}/customs-cleared", headers=auth("backend"))
    assert cleared.status_code == 200 and cleared.json()["status"] == "ready"
    cancelled = client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "customer"}, headers=auth("operator"))
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"/v1/orders/{order_id}/cancel", headers=auth("backend"))
    assert again.status_code == 409 and "cancelled -> cancelled" in again.json()["detail"]
    events = client.get(f"/v1/orders/{order_id}/events", headers=auth("viewer")).json()
    assert [e["to_status"] for e in events] == ["received", "awaiting_customs", "ready", "cancelled"]
    assert events[-1]["reason"] == "customer" and events[-1]["actor"].startswith("operator:")
    assert client.get("/v1/orders/nope", headers=auth("viewer")).status_code == 404


def test_operator_status_change_goes_through_the_state_machine(client: httpx.Client) -> None:
    """An illegal override is a 409 naming both statuses; a legal one is applied."""
    order_id = _create(client, customs_cleared=True)["order_id"]
    bad = client.post(
        f"/v1/orders/{order_id}/status", json={"to_status": "delivered", "reason": "x"}, headers=auth("operator")
    )
    assert bad.status_code == 409 and "ready -> delivered" in bad.json()["detail"]
    ok = client.post(
        f"/v1/orders/{order_id}/status", json={"to_status": "planned", "reason": "manual"}, headers=auth("operator")
    )
    assert ok.status_code == 200 and ok.json()["status"] == "planned"


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        (_order_body(name=""), {}, "name"),
        ({**_order_body(), "weight_kg": -1}, {}, "weight_kg"),
        ({k: v for k, v in _order_body().items() if k != "destination"}, {}, "destination"),
        ({**_order_body(), "colour": "red"}, {}, "colour"),
        ({**_order_body(), "window_start": "2030-01-01T10:00:00"}, {}, "window_start"),
        (_order_body(), {"Idempotency-Key": None}, "idempotency-key"),
    ],
    ids=["empty-name", "negative-weight", "missing-destination", "unknown-field", "naive-time", "no-idempotency-key"],
)
def test_malformed_bodies_are_422_naming_the_field(
    client: httpx.Client, body: dict[str, Any], headers: dict[str, Any], field: str
) -> None:
    """pydantic's error lists the location of the bad field."""
    sent = {**auth("backend"), "Idempotency-Key": str(uuid.uuid4()), **headers}
    response = client.post("/v1/orders", json=body, headers={k: v for k, v in sent.items() if v is not None})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert any(field in [str(part).lower() for part in err["loc"]] for err in response.json()["errors"]), response.text
    assert field in response.json()["detail"].lower()


def test_zones_create_list_delete_and_invalid_geometry(client: httpx.Client) -> None:
    """A GeoJSON zone is stored; a self-crossing polygon is a 422 naming the zone."""
    zone_id = f"tfr-{uuid.uuid4().hex[:6]}"
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ZONE_RING]},
        "properties": {"id": zone_id, "kind": "no_fly", "upper_m": 120},
    }
    created = client.post("/v1/zones", json=feature, headers=auth("operator"))
    assert created.status_code == 201 and created.json()["area_m2"] > 1000
    assert client.post("/v1/zones", json=feature, headers=auth("operator")).status_code == 409
    listed = client.get("/v1/zones", headers=auth("viewer")).json()
    assert zone_id in [f["properties"]["id"] for f in listed["features"]]
    bowtie = [[24.94, 60.17], [24.944, 60.172], [24.944, 60.17], [24.94, 60.172], [24.94, 60.17]]
    bad = {
        **feature,
        "geometry": {"type": "Polygon", "coordinates": [bowtie]},
        "properties": {**feature["properties"], "id": "bowtie-7"},
    }
    refused = client.post("/v1/zones", json=bad, headers=auth("operator"))
    assert refused.status_code == 422 and "bowtie-7" in refused.json()["detail"]
    assert client.delete(f"/v1/zones/{zone_id}", headers=auth("operator")).status_code == 204
    assert client.delete(f"/v1/zones/{zone_id}", headers=auth("operator")).status_code == 404


def test_vehicle_command_is_queued_without_a_commander(client: httpx.Client) -> None:
    """Without a dispatcher the command is stored and 202 says it is queued."""
    put = client.put(
        "/v1/vehicles/drone-1", json={"kind": "drone", "adapter_url": "tcp:127.0.0.1:5760"}, headers=auth("operator")
    )
    assert put.status_code == 200 and put.json()["hub_id"] == HUB
    response = client.post("/v1/vehicles/drone-1/commands", json={"command": "pause"}, headers=auth("operator"))
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and "no vehicle commander" in response.json()["detail"]
    assert (
        client.post("/v1/vehicles/drone-1/commands", json={"command": "pause"}, headers=auth("viewer")).status_code
        == 403
    )
    assert (
        client.post("/v1/vehicles/ghost/commands", json={"command": "land"}, headers=auth("operator")).status_code
        == 404
    )
    assert [v["vehicle_id"] for v in client.get("/v1/vehicles", headers=auth("viewer")).json()] == ["drone-1"]


class RecordingCommander:
    """A commander that accepts everything except 'land' (refused like an autopilot would)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def execute(self, command: VehicleCommand) -> None:
        from fleet_manager.errors import CommandRefused

        self.seen.append(command.command.value)
        if command.command.value == "land":
            raise CommandRefused(command.vehicle_id, "land()", "refused", result_name="MAV_RESULT_DENIED")


def test_vehicle_commands_reach_a_wired_commander(tmp_path: Path) -> None:
    """With a commander wired in `create_app`, commands end accepted or failed with the vehicle's reason."""
    commander = RecordingCommander()
    app = create_app(_settings(tmp_path), commander=commander)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        http.put("/v1/vehicles/robot-1", json={"kind": "robot"}, headers=auth("operator"))
        results = {}
        for command in ("pause", "land"):
            command_id = http.post(
                "/v1/vehicles/robot-1/commands", json={"command": command}, headers=auth("operator")
            ).json()["command_id"]

            def finished(cid: str = command_id) -> bool:
                body = http.get(f"/v1/vehicles/robot-1/commands/{cid}", headers=auth("viewer")).json()
                results[cid] = body
                return body["status"] in ("accepted", "failed")

            wait_until(finished, timeout_s=10, what=f"{command} to finish")
    assert commander.seen == ["pause", "land"]
    assert sorted(r["status"] for r in results.values()) == ["accepted", "failed"]
    assert any("MAV_RESULT_DENIED" in r["error"] for r in results.values())


def test_missions_are_readable(server: tuple[str, Any], client: httpx.Client) -> None:
    """Missions the dispatcher stores are listed and fetched."""
    service = server[1].state.service
    with service.database.transaction() as session:
        fleet_store.create_mission(
            session,
            mission_id="m-api-1",
            hub_id=HUB,
            vehicle_id="drone-1",
            order_ids=["o"],
            steps=[{"kind": "takeoff", "altitude_m": 40}],
            at_s=service.now(),
        )
    assert "m-api-1" in [m["mission_id"] for m in client.get("/v1/missions", headers=auth("viewer")).json()]
    mission = client.get("/v1/missions/m-api-1", headers=auth("viewer")).json()
    assert mission["steps"][0]["altitude_m"] == 40 and mission["status"] == "pending"
    assert client.get("/v1/missions/none", headers=auth("viewer")).status_code == 404


def _listen(
    url: str, reference: str, out: list[dict[str, Any]], *, headers: dict[str, str], params: dict[str, str]
) -> None:
    """Collect the stream's events of the order with `reference` until it is ready."""
    with httpx.stream("GET", f"{url}/v1/events/stream", headers=headers, params=params, timeout=15.0) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event["data"].get("reference") == reference:
                    out.append(event)
                    if event["data"].get("to_status") == "ready":
                        return


@pytest.mark.timeout(60)
def test_event_stream_fans_out_and_replays(server: tuple[str, Any], client: httpx.Client) -> None:
    """Five SSE listeners (one with a stream ticket like a browser's EventSource) see every status change;
    a reconnect with Last-Event-ID replays what it missed."""
    url, app = server
    reference = f"stream-{uuid.uuid4().hex[:8]}"
    broker = app.state.service.broker
    before = broker.listener_count
    ticket = client.post("/v1/events/stream-tickets", headers=auth("viewer")).json()["ticket"]
    outs: list[list[dict[str, Any]]] = [[] for _ in range(5)]
    threads = [
        threading.Thread(
            target=_listen,
            args=(url, reference, out),
            kwargs={
                "headers": {} if i == 0 else auth("viewer"),
                "params": {"ticket": ticket} if i == 0 else {},
            },
            daemon=True,
        )
        for i, out in enumerate(outs)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: broker.listener_count >= before + 5, timeout_s=10, what="5 stream listeners")
    created = client.post(
        "/v1/orders",
        json=_order_body(customs_cleared=True, reference=reference),
        headers={**auth("backend"), "Idempotency-Key": reference},
    )
    for thread in threads:
        thread.join(timeout=15)
    for out in outs:
        assert [e["data"]["to_status"] for e in out] == ["received", "ready"]
        assert out[0]["type"] == "com.finalmile.order.status_changed" and out[0]["specversion"] == "1.0"
    first_seq = int(min(e["finalmileseq"] for e in outs[1]))
    replay: list[dict[str, Any]] = []
    _listen(url, reference, replay, headers={**auth("viewer"), "Last-Event-ID": str(first_seq - 1)}, params={})
    assert [e["id"] for e in replay] == [e["id"] for e in outs[1]]
    assert created.json()["status"] == "ready"
    assert client.get("/v1/events/stream", headers=auth("locker")).status_code == 403


def test_health_metrics_openapi_and_dashboard(client: httpx.Client) -> None:
    """Public liveness, Prometheus text, the OpenAPI document, and the dashboard's static page at /."""
    assert client.get("/healthz").json()["status"] == "ok"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "finalmile_http_requests_total" in metrics.text
    spec = client.get("/openapi.json").json()
    assert {"/v1/orders", "/v1/events/stream", "/v1/zones", "/v1/lockers/{locker_id}/pickup"} <= set(spec["paths"])
    assert "FinalMile dashboard" in client.get("/").text


def test_serve_refuses_a_public_host_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """`finalmile serve --host 0.0.0.0` without FINALMILE_API_KEYS exits with an error before binding."""
    monkeypatch.delenv("FINALMILE_API_KEYS", raising=False)
    assert cli_main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 1


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_errors(server: tuple[str, Any]) -> None:
    """Fuzz every operation (40 examples each, fixed seed: the same cases every run) with an all-roles key: no 5xx.
    `python -m benchmarks api_fuzz` runs a much longer unseeded fuzz."""
    url, _ = server
    report = fuzz_api(url, {"Authorization": f"Bearer {FUZZ_KEY}"}, examples=40, fixed_seed=19)
    assert report.server_errors == []
    assert report.calls > 500 and sum(n for code, n in report.by_status.items() if 200 <= code < 300) > 50


def test_an_event_cursor_past_64_bits_is_a_422(client: httpx.Client) -> None:
    """GET /v1/events?after=<huge> names the parameter instead of overflowing the store (schemathesis found it)."""
    response = client.get("/v1/events", params={"after": 2**64}, headers=auth("viewer"))
    assert response.status_code == 422, response.text
    assert "after" in response.text
