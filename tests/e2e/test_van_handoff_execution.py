"""Van handoff executed as planned, end to end: the van simulator with a mavsim drone, then with a ROS 2 sim robot,
driven through the fleet manager's mission control.

The van leaves the hub with its carried vehicle aboard and three parcels (stops A, B, C). The
plan, made by hand here so the test does not hang on which handoffs the planner's search picks,
launches the vehicle at A with a fourth parcel (D) and recovers it at C. What runs is the
dispatcher's own code from the plan on: `FleetPlanner.trips_due` turns the plan into the van's
sortie with its handoff, `MissionControl` runs it over the real van protocol and MAVLink / ROS 2,
the choreography launches and recovers through the van simulator's carriage (the simulators'
sim-control channels), the store records every step and the outbox carries the launch and
recovery events (for the live stream and the webhooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleet_manager.adapters.base import VehicleAdapter, VehicleKind
from fleet_manager.adapters.factory import AdapterFactory
from fleet_manager.domain.orders import Address, Recipient
from fleet_manager.fleet import Fleet, VehicleProfile
from fleet_manager.handover import AlwaysPresent
from fleet_manager.runtime import build_hub
from fleet_manager.sorties import FleetSlot
from fleet_manager.store import orders as order_store
from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from mission_planner.fleet import OrderSpec
from mission_planner.plan import Leg, LegKind, Plan, VehicleRoute
from sim_worlds.leases import lease_ros_domain
from sim_worlds.mavsim.process import MavsimProcess, free_tcp_port
from sim_worlds.mavsim.sim_control import MavsimControl
from sim_worlds.robots.process import RobotsProcess
from sim_worlds.tracks import TrackRecorder
from sim_worlds.van_carriage import Carriages, ChannelCarriage
from sim_worlds.vans import VanFleetServer, build_vans

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]
HUB = "hub-later-stop"
NOW_S = 1_749_704_400.0
SPEEDUP = 20.0
VAN_SPEED_M_S = 8.0  # the hand-made plan's times: only their order matters to the dispatcher
DRONE = VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=12.0, cruise_altitude_m=60.0, reserve_pct=25.0)
VAN = VehicleProfile(max_payload_kg=300.0, battery_wh=60_000.0, speed_m_s=8.0, capacity_parcels=50)
ROBOT = VehicleProfile(max_payload_kg=10.0, battery_wh=800.0, speed_m_s=1.7, energy_wh_per_km=30.0, reserve_pct=15.0)
DRONE_PARAMS = {"FENCE_ENABLE": 1, "FENCE_TYPE": 5, "FENCE_ACTION": 1, "FENCE_ALT_MAX": 120, "RTL_ALT": 6000,
                "WPNAV_SPEED": 1200}


def _stops(world: World, side_m: tuple[float, float]) -> tuple[int, int, int, int]:
    """Addresses A, B, C (van) and D (carried vehicle): A 400-700 m from the hub, C 450-700 m on from A, B near
    the middle of A-C, D `side_m` from both A and C (so the carried trip saves the van a detour)."""
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
                if d not in (a, b, c) and all(side_m[0] <= far(d, places[n].x_m, places[n].y_m) <= side_m[1]
                                              for n in (a, c)):
                    return a, b, c, d
    raise AssertionError("no A-B-C stops with a drop D beside them in this world")


def _plan(world: World, planner, order_ids: list[str], stops: tuple[int, int, int, int],  # type: ignore[no-untyped-def]
          carried_id: str, kind: VehicleKind, *, to_hub: bool = False) -> Plan:
    """Van: hub -> A -> B -> C -> hub; the carried vehicle launched at A, drops at D, recovered at C (a drone
    flies the planner's safe paths; a robot walks, about a third longer than the straight line), or with `to_hub`
    flies home to the hub from D (`mission_planner.hub_return`)."""
    places = world.addresses
    hub_xy = (world.hub.x_m, world.hub.y_m)
    a, b, c, d = ((places[i].x_m, places[i].y_m) for i in stops)
    back_to = hub_xy if to_hub else c
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
    if kind is VehicleKind.DRONE:
        paths = planner.drone_paths(world.airspace, DRONE.cruise_altitude_m)
        out = paths.path(a, d, start_s=NOW_S, end_s=NOW_S + 3600)
        back = paths.path(d, back_to, start_s=NOW_S, end_s=NOW_S + 3600)
        out_m, back_m, speed_m_s = out.horizontal_m, back.horizontal_m, DRONE.speed_m_s
        out_waypoints, back_waypoints = out.waypoints, back.waypoints
    else:
        out_m, back_m = 1.3 * math.dist(a, d), 1.3 * math.dist(d, back_to)
        speed_m_s, out_waypoints, back_waypoints = ROBOT.speed_m_s, (), ()
    launch_s = arrivals[order_ids[0]] + 120.0
    dropped_s = launch_s + 60.0 + out_m / speed_m_s
    home_s = dropped_s + 30.0 + back_m / speed_m_s
    carried = [
        Leg(LegKind.LAUNCH, carried_id, launch_s, launch_s, launch_s + 60.0, a, a, order_ids=(order_ids[3],)),
        Leg(LegKind.DROPOFF, carried_id, launch_s + 60.0, dropped_s, dropped_s + 30.0, a, d, out_m,
            order_ids=(order_ids[3],), waypoints=out_waypoints),
        Leg(LegKind.RECOVERY, carried_id, dropped_s + 30.0, home_s, home_s + 60.0, d, back_to, back_m,
            waypoints=back_waypoints),
    ]
    return Plan((VehicleRoute("van-1", VehicleKind.VAN, tuple(legs)),
                 VehicleRoute(carried_id, kind, tuple(carried))), {}, 0.0, True, NOW_S, 0.0)


def _store_with_orders(tmp_path: Path, world: World,
                       side_m: tuple[float, float] = (250.0, 450.0)) -> tuple[Database, tuple[int, int, int, int],
                                                                             list[str]]:
    """A migrated store in `tmp_path` holding one order at each of the stops `_stops` picks: (store, stops, ids)."""
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    stops = _stops(world, side_m)
    return database, stops, _create_orders(database, world, stops)


def _create_orders(database: Database, world: World, stops: tuple[int, ...]) -> list[str]:
    ids = []
    with database.transaction() as session:
        for number, index in enumerate(stops):
            place = world.addresses[index]
            order, _ = order_store.create_order(session, new=order_store.NewOrder(
                hub_id=HUB, recipient=Recipient(f"R{number}"), reference=f"handoff-{number}", weight_kg=1.0,
                destination=Address(place.latitude_deg, place.longitude_deg, street=place.address),
                customs_cleared=True), actor="backend", at_s=NOW_S)
            ids.append(order.order_id)
    return ids


def _distance_m(world: World, a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = world.frame.to_local(*a)
    bx, by = world.frame.to_local(*b)
    return math.hypot(ax - bx, ay - by)


@dataclass
class Run:
    """What one handoff run leaves: the outbox by event type, the orders, the fence check, the carried
    vehicle's telemetry (charge %, charging)."""

    order_ids: list[str]
    stops: tuple[int, int, int, int]
    by_type: dict[str, list[outbox.OutboxEvent]]
    violations: list[tuple[float, str, str]]
    samples: list[tuple[float, float | None, bool]] = field(default_factory=list)  # (clock s, charge %, charging)
    free_while_van_out: bool = False  # the carried vehicle's mission was over (free for other work) before the van's


async def _run_handoff(tmp_path: Path, world: World, clock: Clock, *, carriage: Carriages, carried: VehicleAdapter,
                       kind: VehicleKind, profile: VehicleProfile, side_m: tuple[float, float],
                       to_hub: bool = False) -> Run:
    """The van (simulator in this process) carries `carried` through one planned handoff (`to_hub`: the carried
    vehicle flies home to the hub after its drop); returns what happened."""
    hub = world.hub
    database, stops, order_ids = _store_with_orders(tmp_path, world, side_m)
    server = VanFleetServer(build_vans(world, 1, carriage=carriage), clock)
    port = await server.start()
    van = AdapterFactory(frame=world.frame, clock=clock).build("van-1", "van", f"tcp:127.0.0.1:{port}", VAN)
    followers: list[asyncio.Task[None]] = []
    samples: list[tuple[float, float | None, bool]] = []

    async def sample() -> None:
        async for state in carried.telemetry():
            samples.append((clock.now(), state.battery_remaining_pct, state.charging))

    try:
        for adapter in (carried, van):
            await adapter.connect(timeout_s=30.0)
            await adapter.wait_ready(timeout_s=60.0)
        fleet = Fleet()
        fleet.add(HUB, van, VAN, home_latitude_deg=hub.latitude_deg, home_longitude_deg=hub.longitude_deg)
        fleet.add(HUB, carried, profile, home_latitude_deg=hub.latitude_deg, home_longitude_deg=hub.longitude_deg,
                  carried_by="van-1")
        services = build_hub(hub_id=HUB, database=database, fleet=fleet, world=world, clock=clock,
                             recipients=AlwaysPresent())
        recorder = TrackRecorder(fleet, world, lambda: services.airspace.current, clock)
        followers = [asyncio.create_task(recorder.follow(v)) for v in fleet]
        followers.append(asyncio.create_task(sample()))
        slots = [FleetSlot(v, None, v.state()) for v in fleet]
        specs = {o: OrderSpec(o, world.addresses[i].latitude_deg, world.addresses[i].longitude_deg, 1.0)
                 for o, i in zip(order_ids, stops, strict=True)}
        plan = _plan(world, services.planner, order_ids, stops, carried.vehicle_id, kind, to_hub=to_hub)
        sorties = services.planner.trips_due(plan, slots, specs, clock.now())
        assert [s.vehicle_id for s in sorties] == ["van-1"]
        (handoff,) = sorties[0].handoffs
        assert (handoff.launch_order_id, handoff.recovery_order_id, handoff.to_hub) == (
            order_ids[0], "" if to_hub else order_ids[2], to_hub)
        task = await services.missions.start(sorties[0])
        assert task is not None
        free_while_van_out = False
        if to_hub:
            await asyncio.sleep(1.0)  # the van is on its way to A: the drone rides, busy
            while services.missions.is_busy(carried.vehicle_id) and not task.done():
                await asyncio.sleep(0.2)
            free_while_van_out = not task.done() and not services.missions.is_busy(carried.vehicle_id)
        await asyncio.wait_for(task, timeout=240.0)
        await asyncio.sleep(3.0)  # a few more telemetry samples at the hub (a robot reports its charge at 1 Hz)
    finally:
        for follower in followers:
            follower.cancel()
        for adapter in (carried, van):
            with contextlib.suppress(Exception):
                await adapter.close()
        await server.close()
    with database.read() as session:
        events = outbox.events_after(session, after_seq=0, limit=10_000)
    database.dispose()
    by_type: dict[str, list[outbox.OutboxEvent]] = {}
    for event in events:
        by_type.setdefault(event.type.removeprefix(outbox.EVENT_TYPE_PREFIX), []).append(event)
    return Run(order_ids, stops, by_type, recorder.violations, samples, free_while_van_out)


def _check_launched_at_a_recovered_at_c(world: World, run: Run, carried_id: str) -> None:
    """Launch at A, the van drove on and delivered at B meanwhile, recovery at C; every parcel delivered; launch
    and recovery are webhook events with their stops and positions; the carried vehicle rode home."""
    order_ids, by_type = run.order_ids, run.by_type
    (launched,) = by_type["vehicle.launched"]
    (recovered,) = by_type["vehicle.recovered"]
    assert launched.webhook and recovered.webhook  # the backend gets them too, not only the live stream
    assert launched.data["vehicle_id"] == recovered.data["vehicle_id"] == carried_id
    assert launched.data["launch_stop_order_id"] == order_ids[0]
    assert recovered.data["recovery_stop_order_id"] == order_ids[2] and recovered.data["later_stop"] is True
    assert recovered.data["trip_flown"] is True
    launch_at = (launched.data["latitude_deg"], launched.data["longitude_deg"])
    recovery_at = (recovered.data["latitude_deg"], recovered.data["longitude_deg"])
    assert _distance_m(world, launch_at, recovery_at) > 300.0, "recovered where it was launched"
    c = world.addresses[run.stops[2]]
    assert _distance_m(world, recovery_at, (c.latitude_deg, c.longitude_deg)) < 150.0
    delivered = {e.data["order_id"]: e.data for e in by_type["order.status_changed"]
                 if e.data["to_status"] == "delivered"}
    assert set(delivered) == set(order_ids)
    # The van drove on: it handed over B's parcel while its carried vehicle was out.
    assert delivered[order_ids[1]]["vehicle_id"] == "van-1"
    assert launched.data["at_s"] < delivered[order_ids[1]]["at_s"] < recovered.data["at_s"]
    assert delivered[order_ids[3]]["vehicle_id"] == carried_id
    assert launched.data["at_s"] < delivered[order_ids[3]]["at_s"] < recovered.data["at_s"]
    assert [e.data["vehicle_id"] for e in by_type["vehicle.unloaded"]] == [carried_id]  # it rode home


async def _drone_handoff(tmp_path: Path, world: World, *, to_hub: bool = False) -> Run:
    """`_run_handoff` with a mavsim drone at the hub (its van swaps packs)."""
    hub = world.hub
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    with MavsimProcess(1, speedup=SPEEDUP, home=(hub.latitude_deg, hub.longitude_deg, 10.0), params=DRONE_PARAMS,
                       control=True, exit_with_parent=True) as drones:
        carriage = Carriages([ChannelCarriage.numbered(MavsimControl(drones.control_url), swaps_packs=True)])
        drone = AdapterFactory(frame=world.frame, clock=clock).build("drone-1", "mavlink", drones.urls[0], DRONE)
        return await _run_handoff(tmp_path, world, clock, carriage=carriage, carried=drone, kind=VehicleKind.DRONE,
                                  profile=DRONE, side_m=(250.0, 450.0), to_hub=to_hub)


async def test_drone_launched_at_one_stop_is_recovered_at_a_later_one(tmp_path: Path) -> None:
    """A mavsim drone launched at A is recovered at C while the van drives on; no fence is broken; aboard again
    it gets a charged pack from the van's spares."""
    world = load_world("helsinki")
    run = await _drone_handoff(tmp_path, world)
    _check_launched_at_a_recovered_at_c(world, run, "drone-1")
    assert run.violations == []
    (swapped,) = run.by_type["vehicle.battery_swapped"]  # a charged pack from the van's spares once aboard
    assert swapped.data["vehicle_id"] == "drone-1" and swapped.webhook
    assert swapped.data["at_s"] >= run.by_type["vehicle.recovered"][0].data["at_s"]
    assert run.samples[-1][1] is not None and run.samples[-1][1] > 99.0, "the drone came home without a full pack"


async def test_drone_launched_at_one_stop_flies_home_to_the_hub_and_is_free_before_the_van_is_back(
        tmp_path: Path) -> None:
    """The plan sends the drone home from its drop (`mission_planner.hub_return`): launched at A, it delivers D and
    lands at the hub on its own while the van drives on to B and C; the van never stops to take it back, brings no
    drone home, and the drone is free for the hub's work before the van is back."""
    world = load_world("helsinki")
    hub = world.hub
    run = await _drone_handoff(tmp_path, world, to_hub=True)
    by_type, order_ids = run.by_type, run.order_ids
    (launched,) = by_type["vehicle.launched"]
    assert launched.data["launch_stop_order_id"] == order_ids[0] and launched.data["recovery_stop_order_id"] == ""
    assert _distance_m(world, (launched.data["recovery_latitude_deg"], launched.data["recovery_longitude_deg"]),
                       (hub.latitude_deg, hub.longitude_deg)) < 1.0, "its mission does not end at the hub"
    assert "vehicle.recovered" not in by_type and "vehicle.recovery_failed" not in by_type
    assert "vehicle.unloaded" not in by_type, "the van brought a drone home"
    (home,) = by_type["vehicle.returned_to_hub"]
    assert home.webhook and home.data["vehicle_id"] == "drone-1" and home.data["van_id"] == "van-1"
    assert _distance_m(world, (home.data["latitude_deg"], home.data["longitude_deg"]),
                       (hub.latitude_deg, hub.longitude_deg)) < 30.0
    delivered = {e.data["order_id"]: e.data for e in by_type["order.status_changed"]
                 if e.data["to_status"] == "delivered"}
    assert set(delivered) == set(order_ids)
    assert delivered[order_ids[3]]["vehicle_id"] == "drone-1"
    assert launched.data["at_s"] < delivered[order_ids[3]]["at_s"] < home.data["at_s"]
    assert run.free_while_van_out, "the drone was still held for its van after landing at the hub"
    assert run.violations == []


async def test_robot_launched_at_one_stop_delivers_and_is_recovered_at_a_later_one(tmp_path: Path) -> None:
    """A ROS 2 sim robot rides the van (charging from its bay), is set down at A, walks a parcel to D's door and
    on to C, where the van takes it back aboard; it charges again on the way home."""
    pytest.importorskip("rclpy", reason="rclpy not installed (run `make setup`)")
    pytest.importorskip("nav2_msgs.action", reason="nav2_msgs not built or env not set (run `make ros`)")
    world = load_world("helsinki")
    clock = Clock(start_s=NOW_S, speedup=SPEEDUP)
    control_port = free_tcp_port()
    domain = lease_ros_domain()  # kept while the robot runs: no other FinalMile process joins its domain
    domain_id = domain.number
    with domain, RobotsProcess(1, domain_id=domain_id, speedup=SPEEDUP, battery_pct=60.0,
                               control_port=control_port) as robots:
        control = MavsimControl(f"tcp:127.0.0.1:{control_port}")
        await asyncio.to_thread(control.wait_ready, 60.0)
        carriage = Carriages([ChannelCarriage.numbered(control, "robot_")])
        factory = AdapterFactory(frame=world.frame, clock=clock, ros_domain_id=domain_id)
        robot = factory.build("robot_1", "ros2", "ros2:/robot_1", ROBOT)
        try:
            run = await _run_handoff(tmp_path, world, clock, carriage=carriage, carried=robot,
                                     kind=VehicleKind.ROBOT, profile=ROBOT, side_m=(200.0, 380.0))
        finally:
            factory.close()
        robots.check_alive()
    _check_launched_at_a_recovered_at_c(world, run, "robot_1")
    (launched,) = run.by_type["vehicle.launched"]
    (unloaded,) = run.by_type["vehicle.unloaded"]
    aboard = [(pct, on) for t, pct, on in run.samples if t < launched.data["at_s"] and pct is not None]
    docked = [(pct, on) for t, pct, on in run.samples if t > unloaded.data["at_s"] and pct is not None]
    assert any(on for _pct, on in aboard), "the fleet never saw the robot charging in the van's bay"
    assert any(on for _pct, on in docked), "the fleet never saw the robot charging on the hub's dock"
    assert max(pct for pct, _on in aboard) > 60.0, "its charge did not go up in the van"
