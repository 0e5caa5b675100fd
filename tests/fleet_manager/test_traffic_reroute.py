"""Live traffic re-routing: an incident posted to POST /v1/traffic on the remaining route of a van on the road
re-routes it over the van adapter's link to the van simulator, which really slows its vans on that street."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import math
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fm_helpers import serving_runtime

from fleet_manager.config import Role, Settings
from fleet_manager.store import outbox
from fleet_manager.store.db import Database, upgrade
from fleet_manager.traffic import TrafficReport, edge_factors
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.ground_paths import GroundNetwork
from sim_worlds.traffic_sim import feed_body, tell_van_simulator
from sim_worlds.vans import VanFleetServer, build_vans

pytestmark = [pytest.mark.timeout(240)]
SPEEDUP = 20.0
HUB = "hub-traffic-reroute"
VAN_SPEED_M_S = 10.0
KEYS = {"backend": "bk-traffic-Zq7Lm2Xc9Vb4Nt8Hw1Jd6Fs3", "operator": "op-traffic-Kp5Ry0Tg3Wc8Mb2Qx7Vn4Hd9"}


def _xy(world: World, node: Hashable) -> tuple[float, float]:
    data = world.street_graph.nodes[node]
    return float(data["x_m"]), float(data["y_m"])


def _far_target(world: World, freeflow: GroundNetwork) -> Any:
    """An address 1.5-3 km by street from the hub, so the van has a long way to go."""
    hub_node = freeflow.nearest_node(world.hub.x_m, world.hub.y_m)
    for building in sorted(world.addresses, key=lambda b: -math.hypot(b.x_m - world.hub.x_m, b.y_m - world.hub.y_m)):
        path = freeflow.path(hub_node, freeflow.nearest_node(building.x_m, building.y_m))
        if 1500.0 <= path.length_m <= 3000.0:
            return building
    raise AssertionError("no address 1.5-3 km from the hub by street")


def _closed_edge(world: World, nodes: tuple[Hashable, ...], here_xy: tuple[float, float],
                 goal_xy: tuple[float, float]) -> tuple[Hashable, Hashable]:
    """A street segment of at least 30 m on the van's way, as far as can be from both the van and the parcel."""
    def clearance_m(a: Hashable, b: Hashable) -> float:
        mid = [(p + q) / 2 for p, q in zip(_xy(world, a), _xy(world, b), strict=True)]
        return min(math.hypot(mid[0] - x, mid[1] - y) for x, y in (here_xy, goal_xy))

    edges = [(a, b) for a, b in itertools.pairwise(nodes) if world.street_graph.edges[a, b]["length_m"] >= 30.0]
    best = max(edges, key=lambda e: clearance_m(*e), default=None)
    assert best is not None and clearance_m(*best) >= 150.0, "no long segment far from both ends on the route"
    return best


def _on_segment(point: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when a position lies on the middle 80 % of segment a-b (within 3 m of it)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = ((point[0] - a[0]) * dx + (point[1] - a[1]) * dy) / length2
    if not 0.1 <= t <= 0.9:
        return False
    return math.hypot(point[0] - (a[0] + t * dx), point[1] - (a[1] + t * dy)) < 3.0


@pytest.mark.sim
async def test_incident_posted_on_a_vans_route_reroutes_it_on_the_van_simulator(tmp_path: Path) -> None:
    """A closed street posted on the van's remaining route: the van gets a new mission within seconds, event
    vehicle.rerouted says why and that the new route beats driving through; the van's reported positions never
    run along a closed segment, and the parcel is delivered."""
    from fleet_manager.fleet_file import parse_fleet
    from fleet_manager.runtime import Runtime
    from sim_worlds.day import free_port

    world = load_world("helsinki")
    clock = Clock(start_s=dt.datetime(2025, 6, 12, 7, 0, tzinfo=dt.UTC).timestamp(), speedup=SPEEDUP)
    freeflow = GroundNetwork(world.street_graph, speed_m_s=VAN_SPEED_M_S, use_edge_speed=True)
    target = _far_target(world, freeflow)
    vans = build_vans(world, 1, stop_duration_s=30.0)
    van_server = VanFleetServer(vans, clock)
    van_port = await van_server.start()
    van_url = f"tcp:127.0.0.1:{van_port}"
    fleet_file = parse_fleet({
        "hubs": [{"hub_id": HUB, "world": "helsinki", "recipient_presence": {"kind": "always"}}],
        "vehicles": [{"vehicle_id": "van-1", "kind": "van", "url": van_url,
                      "profile": {"speed_m_s": VAN_SPEED_M_S, "capacity_parcels": 20}}],
    }, "test fleet")
    port = free_port()
    database_url = upgrade(f"sqlite:///{tmp_path / 'fm.db'}")
    settings = Settings(database_url=database_url, hub_id=HUB, port=port, traffic_reroute_min_saving_s=30.0,
                        api_keys={KEYS["backend"]: frozenset({Role.BACKEND}),
                                  KEYS["operator"]: frozenset({Role.OPERATOR})})
    runtime = await Runtime.start(settings, fleet_file, clock=clock)
    adapter = runtime.fleet.get("van-1").adapter
    missions = runtime.hub.missions
    traffic = runtime.hub.traffic
    assert traffic is not None
    seen: list[tuple[float, float, str | None]] = []

    async def record() -> None:
        async for state in adapter.telemetry():
            seen.append((*world.frame.to_local(state.latitude_deg, state.longitude_deg), state.mission_id))

    recorder = asyncio.create_task(record())
    loop = asyncio.get_running_loop()
    try:
        backend = {"Authorization": f"Bearer {KEYS['backend']}"}
        async with serving_runtime(runtime, port) as base, httpx.AsyncClient(base_url=base, timeout=20) as http:
            response = await http.post(
                "/v1/orders", headers={**backend, "Idempotency-Key": "traffic-reroute-1"},
                json={"reference": "traffic-reroute-1", "recipient": {"name": "Aino"}, "weight_kg": 1.0,
                      "customs_cleared": True, "destination": {"latitude_deg": target.latitude_deg,
                                                               "longitude_deg": target.longitude_deg}})
            assert response.status_code == 201, response.text
            order_id = response.json()["order_id"]
            deadline = loop.time() + 60.0
            while not ((running := missions.running_mission("van-1")) and (state := adapter.latest_state())
                       and state.mission_id == running.mission.mission_id and state.ground_speed_m_s > 0):
                assert loop.time() < deadline, "the van never drove off with the order"
                await asyncio.sleep(0.05)
            first_mission = running.mission.mission_id
            eta_before = (await http.get(f"/v1/orders/{order_id}", headers=backend)).json()["eta"]
            here = world.frame.to_local(state.latitude_deg, state.longitude_deg)
            goal = (target.x_m, target.y_m)
            ahead = freeflow.path(freeflow.nearest_node(*here), freeflow.nearest_node(*goal)).nodes
            a, b = _closed_edge(world, ahead, here, goal)
            mid = [(p + q) / 2 for p, q in zip(_xy(world, a), _xy(world, b), strict=True)]
            latitude_deg, longitude_deg = world.frame.to_wgs84(*mid)
            now_s = clock.now()
            closure = TrafficReport("closure-1", "incident", latitude_deg, longitude_deg, 25.0, 0.0,
                                    now_s, now_s + 3 * 3600)
            # The world first (the van simulator's vans now crawl there), then the feed, like the traffic simulator.
            await tell_van_simulator(van_url, [closure])
            posted_at = loop.time()
            feed = await http.post("/v1/traffic", json=feed_body(closure),
                                   headers={"Authorization": f"Bearer {KEYS['operator']}"})
            assert feed.status_code == 201, feed.text
            while missions.running_mission("van-1") is None or \
                    missions.running_mission("van-1").mission.mission_id == first_mission:  # type: ignore[union-attr]
                assert loop.time() - posted_at < 20.0, "the van was not re-routed"
                await asyncio.sleep(0.05)
            new_mission = missions.running_mission("van-1").mission  # type: ignore[union-attr]
            rerouted_at = len(seen)
            deadline = loop.time() + 20.0
            while (eta_after := (await http.get(f"/v1/orders/{order_id}", headers=backend)).json()["eta"]) \
                    == eta_before:
                assert loop.time() < deadline, "the order's ETA window was not refreshed after the re-route"
                await asyncio.sleep(0.05)
            deadline = loop.time() + 120.0
            while (status := (await http.get(f"/v1/orders/{order_id}", headers=backend)).json()["status"]) \
                    != "delivered":
                assert loop.time() < deadline, f"order still {status}"
                await asyncio.sleep(0.25)
    finally:
        recorder.cancel()
        await van_server.close()

    assert [s.kind.value for s in new_mission.steps][-2:] == ["deliver", "return"]
    assert any(s.kind.value == "goto" for s in new_mission.steps), "no via point steers the van"
    closed = edge_factors(world.street_graph, world.frame, [closure], now_s + 1)
    assert (a, b) in closed or (b, a) in closed
    after = [(x, y) for x, y, mission_id in seen[rerouted_at:] if mission_id == new_mission.mission_id]
    assert len(after) > 20
    on_closed = [p for p in after for u, v in closed if _on_segment(p, _xy(world, u), _xy(world, v))]
    assert not on_closed, f"{len(on_closed)} positions on a closed segment"
    store = Database(database_url)  # the runtime closed its own: read the file again
    with store.read() as session:
        events = [e for e in outbox.events_after(session, after_seq=0, hub_ids=[HUB], limit=100_000)
                  if e.type.endswith("vehicle.rerouted")]
    store.dispose()
    assert len(events) == 1, [e.type for e in events]
    data = events[0].data
    assert data["mission_id"] == new_mission.mission_id and data["replaces"] == first_mission
    assert "incident" in data["reason"] and data["report_ids"]
    assert data["remaining_s_new_route"] < data["remaining_s_through_traffic"] - 30.0
    # The detour costs more than the free-flow route the plan assumed: the window the API shows moved later,
    # and the event carries the same window.
    assert eta_before is not None and eta_after is not None and eta_after["source"] == "fixed"
    expected_before, expected_after = (dt.datetime.fromisoformat(e["expected"]) for e in (eta_before, eta_after))
    assert expected_after > expected_before
    window = data["eta_windows"][order_id]
    assert abs(window["expected_s"] - expected_after.timestamp()) < 1e-3
    assert abs(window["latest_s"] - dt.datetime.fromisoformat(eta_after["latest"]).timestamp()) < 1e-3


async def test_traffic_simulator_tells_the_world_everything_and_the_feed_only_what_is_reported(
        tmp_path: Path) -> None:
    """Two incidents: the van simulator gets both at once; POST /v1/traffic gets the reported one, after its
    delay, and never the unreported one (the planner only knows what is posted)."""
    from fm_helpers import API_KEYS_ENV, KEYS, serve_in_thread

    from fleet_manager.api import create_app
    from sim_worlds.traffic_sim import ScheduledEvent, TrafficSimulator

    world = load_world("helsinki")
    clock = Clock(speedup=50.0)
    now_s = clock.now()
    seen = TrafficReport("seen", "incident", 60.17, 24.93, 40.0, 0.0, now_s, now_s + 3600)
    unseen = TrafficReport("unseen", "congestion", 60.16, 24.94, 40.0, 0.3, now_s, now_s + 3600)
    vans = build_vans(world, 1)
    server = VanFleetServer(vans, clock)
    port = await server.start()
    settings = Settings(database_url=upgrade(f"sqlite:///{tmp_path / 'fm.db'}"), api_keys=API_KEYS_ENV,  # type: ignore[arg-type]
                        hub_id="hub-traffic-sim")
    try:
        with serve_in_thread(create_app(settings, clock=clock)) as url:
            simulator = TrafficSimulator([ScheduledEvent(seen, now_s + 120.0), ScheduledEvent(unseen, None)],
                                         clock=clock, van_control_url=f"tcp:127.0.0.1:{port}")
            await asyncio.wait_for(simulator.run(url, KEYS["operator"]), 60.0)
            posted_at_s = clock.now()
            async with httpx.AsyncClient(base_url=url, timeout=20) as http:
                listed = (await http.get("/v1/traffic", headers={"Authorization": f"Bearer {KEYS['viewer']}"})).json()
    finally:
        await server.close()
    assert posted_at_s >= now_s + 120.0
    assert [(r["kind"], r["radius_m"], r["speed_factor"]) for r in listed] == [("incident", 40.0, 0.0)]
    assert simulator.posted == [listed[0]["report_id"]]
    assert vans[0].traffic is not None and [e.report_id for e in vans[0].traffic.events] == ["seen", "unseen"]


def test_a_detour_beyond_the_vans_charge_is_not_taken() -> None:
    """Faster through the traffic but longer than the charge above the reserve reaches: the van drives on (the
    planner gave it the route it has within its charge). A shorter detour, or an unknown charge, is taken."""
    from fleet_manager.traffic_reroute import within_charge
    from mission_planner.traffic_routes import RouteComparison

    longer = RouteComparison(stay_s=1200.0, stay_m=10_000.0, best_s=700.0, best_m=12_000.0, best_legs=())
    assert not within_charge(longer, 11_000.0)
    assert within_charge(longer, 13_000.0)
    assert within_charge(longer, None)
    shorter = RouteComparison(stay_s=1200.0, stay_m=10_000.0, best_s=700.0, best_m=9_000.0, best_legs=())
    assert within_charge(shorter, 5_000.0)
