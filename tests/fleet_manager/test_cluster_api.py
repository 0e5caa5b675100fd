"""The stateless API tier over real processes: two `finalmile serve --api-only` replicas and one shard
(`--hubs hub-north,hub-south`, a drone on mavsim) on one PostgreSQL store and a nats-server of the test.

An order posted to replica A without a hub id goes to the hub whose service area holds its destination,
is dispatched by the shard, and its events stream from replica B (read from JetStream, ids = outbox
seqs); a reconnect to replica A with Last-Event-ID resumes right after that id. An order no hub can
take is a 422 naming the field. Operator commands posted to either replica reach the hub's leader over
NATS and the drone takes them; a command for a hub nobody leads (hub-east) is a 503 naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml
from cluster_helpers import clear_address, cluster_env, start_process
from fm_helpers import auth, post_order, wait_until
from nats_helpers import NATS_SERVER, running_nats
from sse_helpers import SseEvent, SseReader

from fleet_manager.world import load_world
from sim_worlds.fleet_setup import drone_parameters
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl
from sim_worlds.scenario import load_scenario

pytestmark = [pytest.mark.postgres, pytest.mark.sim,
              pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")]

NORTH, SOUTH, EAST = "hub-north", "hub-south", "hub-east"  # the shard leads north and south; nobody leads east
#: hub-south's area: a 1 km circle 2 km south of the Postitalo hub (inside hub-north's 3 km circle too).
SOUTH_CENTRE = (60.1535, 24.9381)
ORDER_TYPES = "com.finalmile.order"


@pytest.fixture
def postgres_url(empty_database_url: str) -> str:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("shards and replicas share one PostgreSQL store")
    return empty_database_url


def _fleet_file(path: Path, drone_url: str) -> Path:
    hub = load_world("helsinki").hub
    path.write_text(yaml.safe_dump({
        "hubs": [
            {"hub_id": NORTH, "world": "helsinki", "recipient_presence": {"kind": "always"},
             "service_area": {"latitude_deg": hub.latitude_deg, "longitude_deg": hub.longitude_deg, "radius_m": 3000}},
            {"hub_id": SOUTH, "world": "helsinki", "recipient_presence": {"kind": "always"}, "lockers": [],
             "service_area": {"latitude_deg": SOUTH_CENTRE[0], "longitude_deg": SOUTH_CENTRE[1], "radius_m": 1000}},
            {"hub_id": EAST, "world": "helsinki", "recipient_presence": {"kind": "always"}, "lockers": [],
             "service_area": {"latitude_deg": 60.205, "longitude_deg": 24.655, "radius_m": 1000}},
        ],
        "vehicles": [{"vehicle_id": "drone-1", "kind": "drone", "url": drone_url, "hub": NORTH}],
    }))
    return path


@pytest.fixture
def cluster(postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, str, str, MavsimControl]]:
    """(replica A, replica B, shard) base URLs of the running topology, and the drone simulator's control."""
    hub = load_world("helsinki").hub
    with ExitStack() as stack:
        nats = stack.enter_context(running_nats(tmp_path / "jetstream"))
        sim = stack.enter_context(MavsimProcess(1, speedup=2.0, home=(hub.latitude_deg, hub.longitude_deg, 10.0),
                                                params=drone_parameters(load_scenario("helsinki_day")),
                                                extra_args=("--boot-s", "3"), control=True))
        assert sim.control_url is not None
        control = stack.enter_context(MavsimControl(sim.control_url))
        fleet_path = _fleet_file(tmp_path / "fleet.yaml", sim.urls[0])
        env = cluster_env(postgres_url, fleet_path, nats.url, FINALMILE_LEASE_TTL_S="3",
                          FINALMILE_COMMAND_TIMEOUT_S="2")
        bases = []
        for name, args in (("shard", ("--hubs", f"{NORTH},{SOUTH}")), ("api-a", ("--api-only",)),
                           ("api-b", ("--api-only",))):
            process, base = start_process(env, name, tmp_path, *args)
            stack.enter_context(process)
            bases.append(base)
        shard, replica_a, replica_b = bases
        yield replica_a, replica_b, shard, control


def _order_events(events: list[SseEvent], order_id: str) -> list[SseEvent]:
    return [e for e in events if e.data.get("data", {}).get("order_id") == order_id]


def _statuses(events: list[SseEvent]) -> list[str]:
    return [str(e.data["data"].get("to_status")) for e in events if e.event.endswith("order.status_changed")]


@pytest.mark.timeout(600)
def test_order_posted_to_one_replica_is_dispatched_by_the_shard_and_streams_from_the_other_and_routed(
    cluster: tuple[str, str, str, MavsimControl],
) -> None:
    replica_a, replica_b, shard, control = cluster
    target = clear_address(500.0)
    stream_b = SseReader(f"{replica_b}/events/stream?types={ORDER_TYPES}", auth("viewer"))
    with stream_b:
        order_id = post_order(replica_a, auth("backend"), "cluster-1", target.latitude_deg, target.longitude_deg)
        created = httpx.get(f"{replica_a}/orders/{order_id}", headers=auth("viewer"), timeout=30).json()
        assert created["hub_id"] == NORTH  # inside hub-north's area only
        events = stream_b.wait_for(lambda got: "out_for_delivery" in _statuses(_order_events(got, order_id)),
                                   timeout_s=300, what="replica B streaming the order going out")
    mine = _order_events(events, order_id)
    statuses = _statuses(mine)
    # From its first status on (the stream opened before the POST), each change once, in order.
    assert statuses == ["received", "ready", "planned", "assigned", "loaded", "out_for_delivery"], statuses
    ids = [e.event_id for e in mine]
    assert all(i is not None for i in ids) and ids == sorted(ids) and len(set(ids)) == len(ids), ids
    dispatched = httpx.get(f"{shard}/orders/{order_id}", headers=auth("viewer"), timeout=30).json()
    assert dispatched["vehicle_id"] == "drone-1", dispatched

    # Reconnect to the other replica after the first event: the rest of the order's events, nothing before.
    resumed = SseReader(f"{replica_a}/events/stream?types={ORDER_TYPES}",
                        {**auth("viewer"), "Last-Event-ID": str(ids[0])})
    with resumed:
        again = resumed.wait_for(lambda got: "out_for_delivery" in _statuses(_order_events(got, order_id)),
                                 timeout_s=60, what="replica A replaying from Last-Event-ID")
    replayed = _order_events(again, order_id)
    assert [e.event_id for e in replayed][:len(ids) - 1] == ids[1:]
    assert all(e.event_id is not None and e.event_id > ids[0] for e in again)
    _telemetry_on_the_other_replica(replica_b)
    _commands_through_the_leader(replica_a, replica_b, control)
    _routing_and_refusals(replica_a, replica_b)


def _telemetry_on_the_other_replica(replica_b: str) -> None:
    """The shard's drone telemetry (core NATS) streams from a replica that connects to no vehicle."""
    with SseReader(f"{replica_b}/events/stream?types=com.finalmile.vehicle.telemetry", auth("viewer")) as stream:
        events = stream.wait_for(lambda got: len(got) >= 3, timeout_s=60, what="drone-1 telemetry on replica B")
    assert {e.data["subject"] for e in events} == {"vehicles/drone-1"}
    assert all(e.event_id is None and e.data["data"]["latitude_deg"] is not None for e in events)
    stamps = [e.data["data"]["stamp_s"] for e in events]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # newer each time, never repeated


def _command(base: str, vehicle_id: str, command: str) -> httpx.Response:
    return httpx.post(f"{base}/vehicles/{vehicle_id}/commands", headers=auth("operator"), timeout=30,
                      json={"command": command, "reason": "cluster test"})


def _commands_through_the_leader(replica_a: str, replica_b: str, control: MavsimControl) -> None:
    """Pause on replica A, resume on replica B: the shard's adapter sends them and the drone acknowledges
    (status accepted, answered before the 202); a hub without a leader: 503 naming it, recorded failed."""
    wait_until(lambda: control.status(0)["relative_alt_m"] > 10.0, timeout_s=120, what="drone-1 airborne",
               interval_s=0.5)
    for base, command in ((replica_a, "pause"), (replica_b, "resume")):
        answer = _command(base, "drone-1", command)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "accepted", answer.json()
    registered = httpx.put(f"{replica_a}/vehicles/robot-east", headers=auth("operator"), timeout=30,
                           json={"kind": "robot", "hub_id": EAST})
    assert registered.status_code == 200, registered.text
    refused = _command(replica_b, "robot-east", "pause")
    assert refused.status_code == 503, refused.text
    assert EAST in refused.json()["detail"], refused.json()


def _routing_and_refusals(replica_a: str, replica_b: str) -> None:
    """By hub id, else by service area (nearest centre when two hold it); refused naming the field, nothing made."""
    backend = auth("backend")
    south = post_order(replica_b, backend, "cluster-south", *SOUTH_CENTRE)
    north_by_id = httpx.post(f"{replica_a}/orders", headers={**backend, "Idempotency-Key": "cluster-named"},
                             timeout=30, json={"hub_id": NORTH, "recipient": {"name": "Aino"}, "weight_kg": 0.8,
                                               "customs_cleared": True,
                                               "destination": {"latitude_deg": SOUTH_CENTRE[0],
                                                               "longitude_deg": SOUTH_CENTRE[1]}})
    assert north_by_id.status_code == 201, north_by_id.text
    assert north_by_id.json()["hub_id"] == NORTH  # the hub named wins over the location
    got = httpx.get(f"{replica_a}/orders/{south}", headers=auth("viewer"), timeout=30).json()
    assert got["hub_id"] == SOUTH  # in both areas, nearer hub-south's centre

    def refused(body: dict[str, object], key: str) -> dict[str, object]:
        response = httpx.post(f"{replica_a}/orders", headers={**backend, "Idempotency-Key": key}, timeout=30,
                              json={"recipient": {"name": "Aino"}, "weight_kg": 0.8, "customs_cleared": True, **body})
        assert response.status_code == 422, response.text
        return dict(response.json())

    tallinn = refused({"destination": {"latitude_deg": 59.437, "longitude_deg": 24.7536}}, "cluster-tallinn")
    assert [e["field"] for e in tallinn["errors"]] == ["body.destination"], tallinn  # type: ignore[union-attr]
    unknown = refused({"hub_id": "hub-nowhere", "destination": {"latitude_deg": 60.17, "longitude_deg": 24.94}},
                      "cluster-unknown")
    assert [e["field"] for e in unknown["errors"]] == ["body.hub_id"], unknown  # type: ignore[union-attr]
    typed = refused({"address": {"text": "Mannerheimintie 1, Helsinki"}}, "cluster-typed")
    assert [e["field"] for e in typed["errors"]] == ["body.hub_id"], typed  # type: ignore[union-attr]
    listed = httpx.get(f"{replica_b}/orders", headers=auth("viewer"), timeout=30).json()["items"]
    assert len(listed) == 3, [(o["order_id"], o["reference"]) for o in listed]  # cluster-1 and the two above
