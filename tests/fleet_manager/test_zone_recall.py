"""Zone reactions that kept drones out of no-fly zones on the safety days (`python -m benchmarks safety`).

- A zone published while a drone's mission was being started (a slow upload, a radio link that
  dropped): the start had checked the zones before, the mission and fence went up without it, and
  the monitors skip drones on the ground; the drone flew into it. Now the runner looks again once
  the drone flies and re-routes it around the zone.
- A drone inside a zone (it appeared over it, or it was pushed in) was sent home by RTL, whose
  straight line may cross the zone again or another one: now the shortest way out, then a path
  home around every zone.
- A hand-over still being recorded (a slow recipient check) when the mission ended was cancelled
  with the mission's event follower: the parcel stayed out for delivery, in no mission (lost).
"""

from __future__ import annotations

import asyncio
import dataclasses

from shapely.geometry import LineString, Point
from test_dispatcher import HUB, FakeVehicle, _create, _order, _settle, setup, world  # noqa: F401  (fixtures)
from test_zone_race import _circle_feature

from fleet_manager.adapters.base import Geofence, Mission, MissionOutcome, MissionResult, StepKind
from fleet_manager.domain.orders import OrderStatus
from fleet_manager.store import zones as zone_store
from fleet_manager.zone_rules import mission_conflicts
from mission_planner.airspace import Airspace, Zone, ZoneKind


class SlowStartDrone(FakeVehicle):
    """Its first start runs `during_start` (the operator publishes a zone meanwhile), then it climbs and flies the
    mission until it is replaced; a replacement is flown at once."""

    def __init__(self, drone: FakeVehicle) -> None:
        super().__init__(drone.vehicle_id, drone.kind, drone.state.latitude_deg, drone.state.longitude_deg)
        self.during_start: list[object] = []
        self.replaced: list[Mission] = []

    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        for publish in self.during_start:
            publish()  # type: ignore[operator]
        self.during_start = []
        self.missions.append(mission)
        self.state = dataclasses.replace(self.state, relative_altitude_m=30.0, armed=True)
        self._result = asyncio.get_running_loop().create_future()  # flies on until replaced

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        assert self._result is not None
        old = self.missions[-1]
        self.replaced.append(mission)
        self.missions.append(mission)
        self._result.set_result(MissionResult(old.mission_id, MissionOutcome.CANCELED))
        self._result = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(self._fly, mission)


def _zone_on_the_way(setup, world, drone: SlowStartDrone, reference: str, *, at: float,  # type: ignore[no-untyped-def]  # noqa: F811
                     radius_share: float) -> tuple[str, LineString]:
    """An order, and a pop-up zone `at` (a share of the way) on the line from the hub to it, published while the
    drone's mission starts (after the start's zone check, before the drone flies): (order id, that line)."""
    database, _hub, _fake, _recipients, clock = setup
    order_id = _create(database, world, reference)
    order = _order(database, order_id)
    target = world.frame.to_local(order.destination.latitude_deg, order.destination.longitude_deg)
    line = LineString([(world.hub.x_m, world.hub.y_m), target])
    centre = line.interpolate(at, normalized=True)

    def publish() -> None:
        with database.transaction() as session:
            zone_store.create_zone(session, hub_id=HUB, feature=_circle_feature(
                world.frame, "pop-up", centre.x, centre.y, min(120.0, line.length * radius_share)), frame=world.frame,
                actor="operator", at_s=clock.now())

    drone.during_start.append(publish)
    return order_id, line


async def test_a_zone_published_while_the_mission_starts_gets_the_drone_rerouted(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    database, hub, fake, _recipients, clock = setup
    drone = SlowStartDrone(fake)
    hub.missions.fleet.get("drone-1").adapter = drone
    order_id, _line = _zone_on_the_way(setup, world, drone, "ref-slow-start", at=0.5, radius_share=1 / 4)
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await _settle(hub)
    first = drone.missions[0]
    home = (world.hub.latitude_deg, world.hub.longitude_deg)
    current = await hub.airspace.refresh()
    assert mission_conflicts(current, world.frame, home, home, first.steps, 60.0, clock.now()) == ["pop-up"]
    assert len(drone.replaced) == 1, "the drone must be re-routed once it flies"
    assert mission_conflicts(current, world.frame, home, home, drone.replaced[0].steps, 60.0, clock.now()) == []
    assert _order(database, order_id).status is OrderStatus.DELIVERED
    assert drone.commands == ["pause"], "it holds while the way around is planned, then flies it: no RTL"


class SlowHoldDrone(SlowStartDrone):
    """Its hold (BRAKE) is answered only after it flew on to `flown_to` (its radio out for a while: seed 19055 of
    the safety days, 3 s of wall time at x100, 318 s of flight)."""

    flown_to: tuple[float, float] = (0.0, 0.0)

    async def pause(self) -> None:
        await super().pause()
        self.state = dataclasses.replace(self.state, latitude_deg=self.flown_to[0], longitude_deg=self.flown_to[1])


async def test_a_reroute_starts_where_the_drone_holds_not_where_it_was_when_the_zone_came(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Found by the safety days (seed 19055): the hold before a re-route came back only after the drone had flown
    on for minutes; the way around was planned from where it had been (by the hub) and began with a GOTO there,
    so the drone flew back in a straight line, through the rail yard. The way around starts where it holds."""
    database, hub, fake, _recipients, clock = setup
    drone = SlowHoldDrone(fake)
    hub.missions.fleet.get("drone-1").adapter = drone
    order_id, line = _zone_on_the_way(setup, world, drone, "ref-slow-hold", at=0.35, radius_share=1 / 5)
    # it held most of the way to the drop, past the zone that appeared on its line (nearer the hub)
    held = line.interpolate(0.8, normalized=True)
    drone.flown_to = world.frame.to_wgs84(held.x, held.y)
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await _settle(hub)
    assert len(drone.replaced) == 1, "the drone must be re-routed once it flies"
    assert drone.commands[0] == "pause"
    current = await hub.airspace.refresh()
    home = (world.hub.latitude_deg, world.hub.longitude_deg)
    first = drone.replaced[0].steps[0]
    assert first.latitude_deg is not None and first.longitude_deg is not None
    assert Point(world.frame.to_local(first.latitude_deg, first.longitude_deg)).distance(held) < 1.0, \
        "the way around starts where the drone holds"
    assert mission_conflicts(current, world.frame, drone.flown_to, home, drone.replaced[0].steps, 60.0,
                             clock.now()) == []
    assert _order(database, order_id).status is OrderStatus.DELIVERED


async def test_a_drone_inside_a_zone_leaves_the_shortest_way_and_flies_home_around_every_zone(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _database, hub, drone, _recipients, clock = setup
    frame = world.frame
    hub_x, hub_y = world.hub.x_m, world.hub.y_m
    # the drone is 40 m inside the west edge of a zone that appeared over it; the straight line home from there
    # (an RTL's) crosses the railway yard, a standing no-fly zone
    drone_xy = (hub_x + 600.0, hub_y + 300.0)
    inside = Zone("over-it", ZoneKind.NO_FLY, Point(drone_xy[0] + 140.0, drone_xy[1]).buffer(180.0), 0.0, 120.0)
    airspace = Airspace(frame, (*hub.airspace.current.zones, inside))
    straight_home = LineString([drone_xy, (hub_x, hub_y)])
    assert [z.zone_id for z in airspace.zones if z.kind is ZoneKind.NO_FLY and straight_home.intersects(z.polygon)] \
        == ["railway-yard", "over-it"]
    position = frame.to_wgs84(*drone_xy)
    drone.state = dataclasses.replace(drone.state, latitude_deg=position[0], longitude_deg=position[1],
                                      relative_altitude_m=60.0, armed=True)
    vehicle = hub.missions.fleet.get("drone-1")
    await hub.rerouter.recall(vehicle, airspace, clock.now())
    # not an RTL (its straight line home crosses a zone): it stops (as every recalled drone does, see
    # test_carried_recall_terrain), then at once towards the way out, before the path home is planned and uploaded
    # (getting no deeper meanwhile), then the path home from there
    assert drone.commands == ["pause", "fly_to"]
    (mission,) = drone.missions
    out = mission.steps[0]
    assert out.kind is StepKind.GOTO and out.latitude_deg is not None and out.longitude_deg is not None
    assert drone.fly_targets == [(out.latitude_deg, out.longitude_deg, out.altitude_m)]
    out_xy = frame.to_local(out.latitude_deg, out.longitude_deg)
    margin_m = hub.rerouter.safety_margin_m
    assert inside.polygon.distance(Point(out_xy)) >= margin_m
    assert Point(out_xy).distance(Point(drone_xy)) < 40.0 + margin_m + 10.0, "the shortest way out"
    home = (world.hub.latitude_deg, world.hub.longitude_deg)
    without_start = Airspace(frame, tuple(z for z in airspace.zones if z.zone_id != "over-it"))
    assert mission_conflicts(without_start, frame, (out.latitude_deg, out.longitude_deg), home, mission.steps[1:], 60.0,
                             clock.now()) == []
    assert mission.steps[-1].kind is StepKind.RETURN


async def test_a_hand_over_still_being_recorded_when_the_mission_ends_is_not_lost(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    database, hub, _drone, recipients, _clock = setup

    async def slow_presence_check(order: object) -> bool:
        await asyncio.sleep(0.5)  # the mission's end (0.05 s after the release) comes first
        return True

    recipients.is_present = slow_presence_check
    order_id = _create(database, world, "ref-slow-check")
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await _settle(hub)
    assert _order(database, order_id).status is OrderStatus.DELIVERED


async def test_a_failed_attempt_is_followed_up_while_its_vehicle_flies_its_next_mission(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Found stuck on the safety days: a parcel the van brought back after a failed attempt stayed attempt_failed
    while the van was out on its next mission (the follow-up waited for the vehicle, not for the parcel's mission)."""
    database, hub, _drone, recipients, clock = setup
    recipients.absent.add("ref-away-busy")
    order_id = _create(database, world, "ref-away-busy")
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await _settle(hub)
    assert _order(database, order_id).status is OrderStatus.ATTEMPT_FAILED
    later_s = clock.now() + hub.lifecycle.policy.answer_grace_s + 1
    # the drone is out again on another mission; this parcel is on none
    await hub.lifecycle.follow_up_failed_attempts(busy_vehicle_ids=frozenset({"drone-1"}), now_s=later_s,
                                                  on_missions=frozenset({"another-order"}))
    assert _order(database, order_id).status is OrderStatus.RESCHEDULED
