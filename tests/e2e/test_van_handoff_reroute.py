"""A traffic incident on the leg between a van's launch and recovery stops re-routes the van, and its drone is still
recovered at the planned stop: the van simulator with a mavsim drone, driven through the fleet manager's mission
control and its traffic re-router (the plan is the hand-made one of `test_van_handoff_execution`: launch at A,
parcel D by drone, recovery at C; the incident is put on the van's way from B to C once the drone is out).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import Hashable
from pathlib import Path

import pytest
from _van_drone_stack import van_with_drone
from test_van_handoff_execution import (
    HUB,
    NOW_S,
    SPEEDUP,
    VAN,
    _distance_m,
    _plan,
    _store_with_orders,
)

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.sorties import FleetSlot
from fleet_manager.store import outbox
from fleet_manager.store import traffic as traffic_store
from fleet_manager.traffic import TrafficReport, edge_factors
from fleet_manager.traffic_reroute import TrafficRerouteConfig, TrafficRerouter
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.fleet import OrderSpec
from mission_planner.ground_paths import GroundNetwork
from mission_planner.traffic_routes import compare_routes
from sim_worlds.traffic_sim import tell_van_simulator

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]


def _closure_between(world: World, b: tuple[float, float], c: tuple[float, float]) -> TrafficReport:
    """A closure (8 m around a segment's middle) of the street segment on the free-flow way from B to C, at least
    40 m from both, whose closure the best detour beats by the most (at least a minute)."""
    freeflow = GroundNetwork(world.street_graph, speed_m_s=VAN.speed_m_s, use_edge_speed=True)
    nodes = freeflow.path(freeflow.nearest_node(*b), freeflow.nearest_node(*c)).nodes

    def middle(edge: tuple[Hashable, Hashable]) -> tuple[float, float]:
        (ax, ay), (bx, by) = ((world.street_graph.nodes[n]["x_m"], world.street_graph.nodes[n]["y_m"]) for n in edge)
        return (ax + bx) / 2, (ay + by) / 2

    def closure(edge: tuple[Hashable, Hashable]) -> TrafficReport:
        latitude_deg, longitude_deg = world.frame.to_wgs84(*middle(edge))
        return TrafficReport("closure", "incident", latitude_deg, longitude_deg, 8.0, 0.0, 0.0, math.inf)

    def saving_s(edge: tuple[Hashable, Hashable]) -> float:
        factors = edge_factors(world.street_graph, world.frame, [closure(edge)], 1.0)
        traffic = GroundNetwork(world.street_graph, speed_m_s=VAN.speed_m_s, use_edge_speed=True,
                                edge_factors=factors)
        return compare_routes(freeflow, traffic, b, [c], [c]).saving_s

    edges = [e for e in itertools.pairwise(nodes) if min(math.dist(middle(e), p) for p in (b, c)) >= 40.0]
    best = max(edges, key=saving_s, default=None)
    assert best is not None and saving_s(best) >= 60.0, "no street between B and C whose closure a detour beats"
    return closure(best)


async def test_incident_between_handoff_stops_reroutes_the_van_and_the_drone_is_recovered_at_its_stop(
        tmp_path: Path) -> None:
    """The drone is launched at A; a closed street on the van's way from B to C re-routes the van (event
    vehicle.rerouted, a new mission with via points); the van still stops at C on the new mission and takes the
    drone back there; every parcel is delivered."""
    world = load_world("helsinki")
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    database, stops, order_ids = _store_with_orders(tmp_path, world)
    _a, b, c, _d = ((world.addresses[i].x_m, world.addresses[i].y_m) for i in stops)
    rerouting: asyncio.Task[None] | None = None
    async with van_with_drone(world, clock, database, HUB, SPEEDUP) as stack:
        fleet, services = stack.fleet, stack.services
        try:
            rerouter = TrafficRerouter(
                database=database, fleet=fleet, missions=services.missions, clock=clock, frame=world.frame,
                street_graph=world.street_graph, hub_id=HUB,
                config=TrafficRerouteConfig(min_saving_s=20.0, min_saving_ratio=0.05, check_period_wall_s=0.1))
            rerouting = asyncio.create_task(rerouter.run())
            specs = {o: OrderSpec(o, world.addresses[i].latitude_deg, world.addresses[i].longitude_deg, 1.0)
                     for o, i in zip(order_ids, stops, strict=True)}
            plan = _plan(world, services.planner, order_ids, stops, "drone-1", VehicleKind.DRONE)
            (sortie,) = services.planner.trips_due(plan, [FleetSlot(v, None, v.state()) for v in fleet], specs,
                                                   clock.now())
            (handoff,) = sortie.handoffs
            assert (handoff.launch_order_id, handoff.recovery_order_id) == (order_ids[0], order_ids[2])
            task = await services.missions.start(sortie)
            assert task is not None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 120.0
            while "drone-1" not in getattr(services.missions.running_mission("van-1"), "launched", set()):
                assert loop.time() < deadline and not task.done(), "the drone was never launched"
                await asyncio.sleep(0.05)
            running = services.missions.running_mission("van-1")
            assert running is not None
            first_mission = running.mission.mission_id
            place = _closure_between(world, b, c)
            now_s = clock.now()
            closure = await database.write_async(lambda s: traffic_store.create_report(
                s, hub_id=HUB, kind="incident", latitude_deg=place.latitude_deg, longitude_deg=place.longitude_deg,
                radius_m=place.radius_m, speed_factor=0.0, starts_at_s=now_s, ends_at_s=now_s + 3 * 3600,
                actor="test", at_s=now_s))
            await tell_van_simulator(stack.van_url, [closure])  # the van simulator's van really crawls there
            await asyncio.wait_for(task, timeout=240.0)
        finally:
            if rerouting is not None:
                rerouting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rerouting
    with database.read() as session:
        events = outbox.events_after(session, after_seq=0, limit=10_000)
    database.dispose()
    by_type: dict[str, list[outbox.OutboxEvent]] = {}
    for event in events:
        by_type.setdefault(event.type.removeprefix(outbox.EVENT_TYPE_PREFIX), []).append(event)
    (launched,) = by_type["vehicle.launched"]
    (recovered,) = by_type["vehicle.recovered"]
    rerouted = by_type.get("vehicle.rerouted", [])
    assert rerouted, "the van was not re-routed around the closed street"
    assert rerouted[0].data["replaces"] == first_mission and closure.report_id in rerouted[0].data["report_ids"]
    assert launched.seq < rerouted[0].seq < recovered.seq  # re-routed while the drone was out
    # Recovered at the planned stop C, on the re-routed mission (not at the launch stop, not left behind).
    assert recovered.data["recovery_stop_order_id"] == order_ids[2] and recovered.data["trip_flown"] is True
    assert recovered.data["van_mission_id"] == rerouted[-1].data["mission_id"]
    recovery_at = (recovered.data["latitude_deg"], recovered.data["longitude_deg"])
    stop_c = world.addresses[stops[2]]
    assert _distance_m(world, recovery_at, (stop_c.latitude_deg, stop_c.longitude_deg)) < 150.0
    assert "vehicle.recovery_failed" not in by_type
    delivered = {e.data["order_id"]: e.data for e in by_type["order.status_changed"]
                 if e.data["to_status"] == "delivered"}
    assert set(delivered) == set(order_ids)
    assert delivered[order_ids[3]]["vehicle_id"] == "drone-1"
    assert [e.data["vehicle_id"] for e in by_type["vehicle.unloaded"]] == ["drone-1"]  # it rode home
