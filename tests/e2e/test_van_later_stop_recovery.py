"""Later-stop recovery end to end: mavsim drone + van simulator, driven through the fleet manager's mission control.

The van leaves the hub with drone-1 aboard and three parcels (stops A, B, C). The plan, made
by hand here so the test does not hang on which handoffs the planner's search picks, launches
drone-1 at A with a fourth parcel (D) and recovers it at C. What runs is the dispatcher's own
code from the plan on: `FleetPlanner.trips_due` turns the plan into the van's sortie with its
handoff, `MissionControl` runs it over the real van protocol and MAVLink, the choreography
launches and recovers through the van simulator's carriage (mavsim's sim-control channel), the
store records every step and the outbox carries the launch and recovery events.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from pathlib import Path

import pytest

from fleet_manager.adapters.base import LinkStatus, VehicleKind
from fleet_manager.adapters.factory import AdapterFactory
from fleet_manager.domain.orders import Address, Recipient
from fleet_manager.fleet import Fleet, VehicleProfile
from fleet_manager.handover import AlwaysPresent
from fleet_manager.planning import FleetSlot
from fleet_manager.runtime import build_hub
from fleet_manager.store import orders as order_store
from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.fleet import OrderSpec
from mission_planner.plan import Leg, LegKind, Plan, VehicleRoute
from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl
from sim_worlds.tracks import TrackRecorder
from sim_worlds.van_carriage import Carriages, ChannelCarriage
from sim_worlds.vans import VanFleetServer, build_vans

pytestmark = [pytest.mark.sim, pytest.mark.timeout(240)]
HUB = "hub-later-stop"
NOW_S = 1_749_704_400.0
SPEEDUP = 20.0
VAN_SPEED_M_S = 8.0  # the hand-made plan's times: only their order matters to the dispatcher
DRONE = VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=12.0, cruise_altitude_m=60.0, reserve_pct=25.0)
VAN = VehicleProfile(max_payload_kg=300.0, battery_wh=60_000.0, speed_m_s=8.0, capacity_parcels=50)
DRONE_PARAMS = {"FENCE_ENABLE": 1, "FENCE_TYPE": 5, "FENCE_ACTION": 1, "FENCE_ALT_MAX": 120, "RTL_ALT": 6000,
                "WPNAV_SPEED": 1200}


def _stops(world: World) -> tuple[int, int, int, int]:
    """Addresses A, B, C (van) and D (drone): A 400-700 m from the hub, C 450-700 m on from A, B near the
    middle of A-C, D 250-450 m from both A and C (so the drone's trip saves the van a detour)."""
    hub = world.hub
    places = world.addresses

    def far(i: int, x: float, y: float) -> float:
        return math.hypot(places[i].x_m - x, places[i].y_m - y)

    for a in range(0, len(places), 7):
        if not 400.0 <= far(a, hub.x_m, hub.y_m) <= 700.0:
            continue
        for c in range(0, len(places), 5):
            if not 450.0 <= far(c, places[a].x_m, places[a].y_m) <= 700.0:
                continue
            mid = ((places[a].x_m + places[c].x_m) / 2, (places[a].y_m + places[c].y_m) / 2)
            b = min(range(len(places)), key=lambda i: far(i, *mid))
            if far(b, *mid) > 120.0 or b in (a, c):
                continue
            for d in range(len(places)):
                if d not in (a, b, c) and all(250.0 <= far(d, places[n].x_m, places[n].y_m) <= 450.0
                                              for n in (a, c)):
                    return a, b, c, d
    raise AssertionError("no A-B-C stops with a drone drop D beside them in this world")


def _plan(world: World, planner, order_ids: list[str], stops: tuple[int, int, int, int]) -> Plan:  # type: ignore[no-untyped-def]
    """Van: hub -> A -> B -> C -> hub; drone-1 launched at A, drops at D, recovered at C (paths from the planner)."""
    places = world.addresses
    hub_xy = (world.hub.x_m, world.hub.y_m)
    a, b, c, d = ((places[i].x_m, places[i].y_m) for i in stops)
    legs = [Leg(LegKind.PICKUP, "van-1", NOW_S, NOW_S, NOW_S, hub_xy, hub_xy, order_ids=tuple(order_ids[:3]))]
    t = NOW_S
    here = hub_xy
    arrivals = {}
    for order_id, xy in zip(order_ids[:3], (a, b, c), strict=True):
        drive_s = math.hypot(xy[0] - here[0], xy[1] - here[1]) / VAN_SPEED_M_S
        arrivals[order_id] = t + drive_s
        legs.append(Leg(LegKind.DROPOFF, "van-1", t, t + drive_s, t + drive_s + 120.0, here, xy,
                        order_ids=(order_id,)))
        t, here = t + drive_s + 120.0, xy
    back_s = math.hypot(hub_xy[0] - here[0], hub_xy[1] - here[1]) / VAN_SPEED_M_S
    legs.append(Leg(LegKind.RETURN, "van-1", t, t + back_s, t + back_s, here, hub_xy))
    paths = planner.drone_paths(world.airspace, DRONE.cruise_altitude_m)
    out = paths.path(a, d, start_s=NOW_S, end_s=NOW_S + 3600)
    back = paths.path(d, c, start_s=NOW_S, end_s=NOW_S + 3600)
    launch_s = arrivals[order_ids[0]] + 120.0
    dropped_s = launch_s + 60.0 + out.horizontal_m / DRONE.speed_m_s
    home_s = dropped_s + 30.0 + back.horizontal_m / DRONE.speed_m_s
    drone = [
        Leg(LegKind.LAUNCH, "drone-1", launch_s, launch_s, launch_s + 60.0, a, a, order_ids=(order_ids[3],)),
        Leg(LegKind.DROPOFF, "drone-1", launch_s + 60.0, dropped_s, dropped_s + 30.0, a, d, out.horizontal_m,
            order_ids=(order_ids[3],), waypoints=out.waypoints),
        Leg(LegKind.RECOVERY, "drone-1", dropped_s + 30.0, home_s, home_s + 60.0, d, c, back.horizontal_m,
            waypoints=back.waypoints),
    ]
    return Plan((VehicleRoute("van-1", VehicleKind.VAN, tuple(legs)),
                 VehicleRoute("drone-1", VehicleKind.DRONE, tuple(drone))), {}, 0.0, True, NOW_S, 0.0)


def _create_orders(database: Database, world: World, stops: tuple[int, ...]) -> list[str]:
    ids = []
    with database.transaction() as session:
        for number, index in enumerate(stops):
            place = world.addresses[index]
            order, _ = order_store.create_order(session, new=order_store.NewOrder(
                hub_id=HUB, recipient=Recipient(f"R{number}"), reference=f"later-stop-{number}", weight_kg=1.0,
                destination=Address(place.latitude_deg, place.longitude_deg, street=place.address),
                customs_cleared=True), actor="backend", at_s=NOW_S)
            ids.append(order.order_id)
    return ids


def _distance_m(world: World, a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = world.frame.to_local(*a)
    bx, by = world.frame.to_local(*b)
    return math.hypot(ax - bx, ay - by)


async def test_drone_launched_at_one_stop_is_recovered_at_a_later_one(tmp_path: Path) -> None:
    """Launch at A, the van drives on and delivers at B, recovery at C; the drone's parcel is delivered, no fence
    is broken, launch and recovery are webhook events with their stops and positions, the drone rides home."""
    world = load_world("helsinki")
    hub = world.hub
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    stops = _stops(world)
    order_ids = _create_orders(database, world, stops)
    with MavsimProcess(1, speedup=SPEEDUP, home=(hub.latitude_deg, hub.longitude_deg, 10.0), params=DRONE_PARAMS,
                       control=True, exit_with_parent=True) as drones:
        carriage = Carriages([ChannelCarriage.numbered(MavsimControl(drones.control_url))])
        server = VanFleetServer(build_vans(world, 1, carriage=carriage), clock)
        port = await server.start()
        factory = AdapterFactory(frame=world.frame, clock=clock)
        drone = factory.build("drone-1", "mavlink", drones.urls[0], DRONE)
        van = factory.build("van-1", "van", f"tcp:127.0.0.1:{port}", VAN)
        followers: list[asyncio.Task[None]] = []
        try:
            for adapter in (drone, van):
                await adapter.connect(timeout_s=30.0)
                await adapter.wait_ready(timeout_s=60.0)
            fleet = Fleet()
            fleet.add(HUB, van, VAN, home_latitude_deg=hub.latitude_deg, home_longitude_deg=hub.longitude_deg)
            fleet.add(HUB, drone, DRONE, home_latitude_deg=hub.latitude_deg, home_longitude_deg=hub.longitude_deg,
                      carried_by="van-1")
            services = build_hub(hub_id=HUB, database=database, fleet=fleet, world=world, clock=clock,
                                 recipients=AlwaysPresent())
            recorder = TrackRecorder(fleet, world, lambda: services.airspace.current, clock)
            followers = [asyncio.create_task(recorder.follow(v)) for v in fleet]
            slots = [FleetSlot(v, None, v.state()) for v in fleet]
            specs = {o: OrderSpec(o, world.addresses[i].latitude_deg, world.addresses[i].longitude_deg, 1.0)
                     for o, i in zip(order_ids, stops, strict=True)}
            sorties = services.planner.trips_due(_plan(world, services.planner, order_ids, stops), slots, specs,
                                                 clock.now())
            assert [s.vehicle_id for s in sorties] == ["van-1"]
            (handoff,) = sorties[0].handoffs
            assert (handoff.launch_order_id, handoff.recovery_order_id) == (order_ids[0], order_ids[2])
            task = await services.missions.start(sorties[0])
            assert task is not None
            await asyncio.wait_for(task, timeout=200.0)
            assert van.latest_state() is not None and van.latest_state().link is LinkStatus.CONNECTED  # type: ignore[union-attr]
        finally:
            for follower in followers:
                follower.cancel()
            for adapter in (drone, van):
                with contextlib.suppress(Exception):
                    await adapter.close()
            await server.close()

    with database.read() as session:
        events = outbox.events_after(session, after_seq=0, limit=10_000)
        statuses = {o: order_store.get_order(session, order_id=o) for o in order_ids}
    by_type = {}
    for event in events:
        by_type.setdefault(event.type.removeprefix(outbox.EVENT_TYPE_PREFIX), []).append(event)
    (launched,) = by_type["vehicle.launched"]
    (recovered,) = by_type["vehicle.recovered"]
    assert launched.webhook and recovered.webhook  # the backend gets them too, not only the live stream
    assert launched.data["vehicle_id"] == recovered.data["vehicle_id"] == "drone-1"
    assert launched.data["launch_stop_order_id"] == order_ids[0]
    assert recovered.data["recovery_stop_order_id"] == order_ids[2] and recovered.data["later_stop"] is True
    launch_at = (launched.data["latitude_deg"], launched.data["longitude_deg"])
    recovery_at = (recovered.data["latitude_deg"], recovered.data["longitude_deg"])
    assert _distance_m(world, launch_at, recovery_at) > 300.0, "recovered where it was launched"
    assert _distance_m(world, recovery_at, (world.addresses[stops[2]].latitude_deg,
                                            world.addresses[stops[2]].longitude_deg)) < 150.0

    # The van drove on: it handed over B's parcel while its drone was out.
    delivered = {e.data["order_id"]: e.data for e in by_type["order.status_changed"]
                 if e.data["to_status"] == "delivered"}
    assert set(delivered) == set(order_ids), {o: s.status.value for o, s in statuses.items()}
    assert delivered[order_ids[1]]["vehicle_id"] == "van-1"
    assert launched.data["at_s"] < delivered[order_ids[1]]["at_s"] < recovered.data["at_s"]
    assert delivered[order_ids[3]]["vehicle_id"] == "drone-1"
    assert launched.data["at_s"] < delivered[order_ids[3]]["at_s"] < recovered.data["at_s"]
    assert recorder.violations == []
    assert [e.data["vehicle_id"] for e in by_type["vehicle.unloaded"]] == ["drone-1"]  # it rode home
