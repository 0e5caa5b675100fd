"""Zones, lockers and traffic per hub on a `finalmile serve --api-only` replica serving two hubs (HTTP).

A write goes to the hub it names, else to the hub whose service area holds it; a list names its hub
(`?hub_id=`), else it covers both hubs, each item naming its hub (orders, vehicles, missions, zones, lockers,
traffic). An unknown hub or a place in no hub's area is a 422.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from cluster_helpers import SOUTH_CENTRE, cluster_env, start_process, two_hub_fleet
from fm_helpers import auth, post_order
from nats_helpers import NATS_SERVER, running_nats

from fleet_manager.world import load_world

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")]

NORTH, SOUTH = "hub-north", "hub-south"
FAR = (60.205, 24.655)  # in neither hub's area


@pytest.fixture
def replica(empty_database_url: str, tmp_path: Path) -> Iterator[str]:
    """Base URL of one API replica serving hub-north (first) and hub-south."""
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("replicas share one PostgreSQL store")
    fleet_path = two_hub_fleet(tmp_path / "fleet.yaml", north_radius_m=3000)
    with ExitStack() as stack:
        nats = stack.enter_context(running_nats(tmp_path / "jetstream"))
        process, base = start_process(cluster_env(empty_database_url, fleet_path, nats.url), "api", tmp_path,
                                      "--api-only")
        stack.enter_context(process)
        yield base


def _square(centre: tuple[float, float], half_deg: float = 0.001) -> list[list[float]]:
    lat, lon = centre
    ring = [[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg], [lon + half_deg, lat + half_deg],
            [lon - half_deg, lat + half_deg]]
    return [*ring, ring[0]]


def _zone_ids(base: str, hub_id: str | None) -> list[str]:
    params = {"hub_id": hub_id} if hub_id else {}
    reply = httpx.get(f"{base}/zones", params=params, headers=auth("viewer"), timeout=30)
    assert reply.status_code == 200, reply.text
    return [f["properties"]["id"] for f in reply.json()["features"]]


def _listed(base: str, path: str, hub_id: str | None = None) -> list[tuple[str, str]]:
    """(hub_id, id) of every item `GET base/path` lists, sorted (`hub_id` as the query when given)."""
    params = {"hub_id": hub_id} if hub_id else {}
    reply = httpx.get(f"{base}/{path}", params=params, headers=auth("viewer"), timeout=30)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    items = body["items"] if isinstance(body, dict) else body
    key = {"orders": "order_id", "vehicles": "vehicle_id", "lockers": "locker_id", "traffic": "report_id"}[path]
    return sorted((item["hub_id"], item[key]) for item in items)


@pytest.mark.timeout(300)
def test_zones_lockers_and_traffic_go_to_their_own_hub(replica: str) -> None:
    op, viewer = auth("operator"), auth("viewer")
    # Zones: by location, by name; deleted by id alone (the hub from the stored zone).
    south_zone = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_square(SOUTH_CENTRE)]},
                  "properties": {"id": "nfz-south", "kind": "no_fly", "upper_m": 120}}
    assert httpx.post(f"{replica}/zones", json=south_zone, headers=op, timeout=30).status_code == 201
    named = {**south_zone, "properties": {**south_zone["properties"], "id": "nfz-named"}}
    reply = httpx.post(f"{replica}/zones", params={"hub_id": NORTH}, json=named, headers=op, timeout=30)
    assert reply.status_code == 201, reply.text
    assert _zone_ids(replica, SOUTH) == ["nfz-south"]
    assert _zone_ids(replica, NORTH) == ["nfz-named"]
    everywhere = httpx.get(f"{replica}/zones", headers=viewer, timeout=30).json()["features"]
    assert sorted((f["properties"]["hub_id"], f["properties"]["id"]) for f in everywhere) == [
        (NORTH, "nfz-named"), (SOUTH, "nfz-south")]
    far_zone = {**south_zone, "geometry": {"type": "Polygon", "coordinates": [_square(FAR)]},
                "properties": {**south_zone["properties"], "id": "nfz-far"}}
    reply = httpx.post(f"{replica}/zones", json=far_zone, headers=op, timeout=30)
    assert reply.status_code == 422 and "service area" in reply.text, reply.text
    assert httpx.delete(f"{replica}/zones/nfz-south", headers=op, timeout=30).status_code == 204
    assert _zone_ids(replica, SOUTH) == [] and _zone_ids(replica, NORTH) == ["nfz-named"]
    reply = httpx.get(f"{replica}/zones", params={"hub_id": "hub-nowhere"}, headers=viewer, timeout=30)
    assert reply.status_code == 422 and "hub_id" in reply.text

    # Lockers: the one registered at hub-south's centre is hub-south's; listed per hub.
    locker = {"name": "Etelä", "latitude_deg": SOUTH_CENTRE[0], "longitude_deg": SOUTH_CENTRE[1]}
    reply = httpx.put(f"{replica}/lockers/etela", json=locker, headers=op, timeout=30)
    assert reply.status_code == 200 and reply.json()["hub_id"] == SOUTH, reply.text
    south_lockers = httpx.get(f"{replica}/lockers", params={"hub_id": SOUTH}, headers=viewer, timeout=30).json()
    assert [lk["locker_id"] for lk in south_lockers] == ["etela"]
    north_lockers = httpx.get(f"{replica}/lockers", params={"hub_id": NORTH}, headers=viewer, timeout=30).json()
    assert "etela" not in [lk["locker_id"] for lk in north_lockers]
    assert _listed(replica, "lockers") == sorted([*((NORTH, lk["locker_id"]) for lk in north_lockers),
                                                  (SOUTH, "etela")])

    # Traffic: a report names its hub or is placed by location; each hub lists its own.
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    report = {"kind": "incident", "latitude_deg": SOUTH_CENTRE[0], "longitude_deg": SOUTH_CENTRE[1],
              "radius_m": 200, "speed_factor": 0.0, "ends_at": ends}
    assert httpx.post(f"{replica}/traffic", json=report, headers=op, timeout=30).status_code == 201
    reply = httpx.post(f"{replica}/traffic", json={**report, "latitude_deg": FAR[0], "longitude_deg": FAR[1]},
                       headers=op, timeout=30)
    assert reply.status_code == 422, reply.text
    listed = {hub: httpx.get(f"{replica}/traffic", params={"hub_id": hub}, headers=viewer, timeout=30).json()
              for hub in (NORTH, SOUTH)}
    assert len(listed[SOUTH]) == 1 and listed[NORTH] == [], listed
    assert _listed(replica, "traffic") == [(SOUTH, listed[SOUTH][0]["report_id"])]


@pytest.mark.timeout(300)
def test_lists_without_a_hub_cover_every_hub_served_and_filter_by_hub_id(replica: str) -> None:
    op = auth("operator")
    hub = load_world("helsinki").hub  # hub-north's area is around it
    north_order = post_order(replica, auth("backend"), "north-1", hub.latitude_deg, hub.longitude_deg)
    south_order = post_order(replica, auth("backend"), "south-1", *SOUTH_CENTRE)
    for vehicle_id, hub in (("drone-n", NORTH), ("drone-s", SOUTH)):
        reply = httpx.put(f"{replica}/vehicles/{vehicle_id}", json={"kind": "drone", "hub_id": hub}, headers=op,
                          timeout=30)
        assert reply.status_code == 200, reply.text

    assert _listed(replica, "orders") == [(NORTH, north_order), (SOUTH, south_order)]
    assert _listed(replica, "orders", SOUTH) == [(SOUTH, south_order)]
    assert _listed(replica, "vehicles") == [(NORTH, "drone-n"), (SOUTH, "drone-s")]
    assert _listed(replica, "vehicles", NORTH) == [(NORTH, "drone-n")]
    for path in ("orders", "vehicles", "missions", "lockers", "traffic", "zones"):
        reply = httpx.get(f"{replica}/{path}", params={"hub_id": "hub-nowhere"}, headers=auth("viewer"), timeout=30)
        assert reply.status_code == 422 and "hub-nowhere" in reply.text, (path, reply.text)
