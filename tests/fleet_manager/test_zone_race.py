"""A zone published between a plan and its start: the mission is not flown into it (found by the safety days).

`python -m benchmarks safety` saw drones take off into a pop-up zone published a moment after
their mission was planned: the plan kept clear of the zones it knew, the start did not look
again, and the monitor only re-routes drones already airborne. Now the start checks the mission
against the airspace in force and sends it back to planning, which plans around the zone.
"""

from __future__ import annotations

import math

from shapely.geometry import LineString, Point
from test_dispatcher import HUB, _create, _order, _settle, setup, world  # noqa: F401  (fixtures)

from fleet_manager.domain.orders import OrderStatus
from fleet_manager.store import order_queries
from fleet_manager.store import zones as zone_store
from fleet_manager.zone_rules import mission_conflicts
from mission_planner.airspace import Airspace, Zone, ZoneKind


def _circle_feature(frame, zone_id: str, x_m: float, y_m: float, radius_m: float) -> dict:  # type: ignore[no-untyped-def,type-arg]
    ring = [list(frame.to_wgs84(x_m + radius_m * math.cos(2 * math.pi * i / 24),
                                y_m + radius_m * math.sin(2 * math.pi * i / 24)))[::-1] for i in range(24)]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            "properties": {"id": zone_id, "kind": "no_fly", "lower_m": 0, "upper_m": 120}}


def test_mission_conflicts_names_the_zones_a_mission_crosses_now(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from fleet_manager.adapters.base import MissionStep, StepKind

    frame, hub = world.frame, world.hub
    target = frame.to_wgs84(hub.x_m + 800.0, hub.y_m)
    steps = (MissionStep(StepKind.TAKEOFF, altitude_m=60.0), MissionStep(StepKind.GOTO, *target, altitude_m=60.0),
             MissionStep(StepKind.RETURN))
    across = Zone("across", ZoneKind.NO_FLY, Point(hub.x_m + 400.0, hub.y_m).buffer(80.0), 0.0, 120.0)
    aside = Zone("aside", ZoneKind.NO_FLY, Point(hub.x_m + 400.0, hub.y_m + 300.0).buffer(80.0), 0.0, 120.0)
    home = (hub.latitude_deg, hub.longitude_deg)
    airspace = Airspace(frame, (across, aside))
    assert mission_conflicts(airspace, frame, home, home, steps, 60.0, 1_749_704_400.0) == ["across"]
    assert mission_conflicts(Airspace(frame, (aside,)), frame, home, home, steps, 60.0, 1_749_704_400.0) == []


async def test_a_zone_published_after_the_plan_sends_the_mission_back_and_it_flies_around(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    database, hub, drone, _recipients, clock = setup
    order_id = _create(database, world, "ref-race")
    order = _order(database, order_id)
    target_x, target_y = world.frame.to_local(order.destination.latitude_deg, order.destination.longitude_deg)
    line = LineString([(world.hub.x_m, world.hub.y_m), (target_x, target_y)])
    middle = line.interpolate(0.5, normalized=True)
    radius_m = min(120.0, line.length / 4)
    real_start = hub.missions.start
    published: list[str] = []

    async def start_after_a_zone_appears(sortie):  # type: ignore[no-untyped-def]
        if not published:  # the operator publishes a zone across the planned path, just before the start
            with database.transaction() as session:
                zone_store.create_zone(session, hub_id=HUB, feature=_circle_feature(
                    world.frame, "pop-up", middle.x, middle.y, radius_m), frame=world.frame, actor="operator",
                    at_s=clock.now())
            published.append("pop-up")  # the dispatcher has not looked at the store since: its airspace is stale
        return await real_start(sortie)

    hub.missions.start = start_after_a_zone_appears  # type: ignore[method-assign]
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await _settle(hub)
    assert drone.missions == [], "the stale mission must not reach the drone"
    with database.read() as session:
        history = order_queries.list_order_events(session, order_id=order_id)
    assert _order(database, order_id).status is OrderStatus.READY
    assert any("pop-up" in e.reason and "planned again" in e.reason for e in history), [e.reason for e in history]
    await hub.dispatcher.cycle()  # planned again, around the zone
    await _settle(hub)
    assert _order(database, order_id).status is OrderStatus.DELIVERED
    flown = drone.missions[0]
    home = (world.hub.latitude_deg, world.hub.longitude_deg)
    assert mission_conflicts(hub.airspace.current, world.frame, home, home, flown.steps, 60.0, clock.now()) == []


def test_a_mission_passing_within_the_safety_margin_of_a_new_zone_conflicts(world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Found by the safety days: a zone published just before the start lay 15 m beside a leg; the start let the
    mission go (its legs did not cross the zone), the drone drifted into it. Within the paths' margin counts."""
    from fleet_manager.adapters.base import MissionStep, StepKind

    frame, hub = world.frame, world.hub
    target = frame.to_wgs84(hub.x_m + 800.0, hub.y_m)
    steps = (MissionStep(StepKind.TAKEOFF, altitude_m=60.0), MissionStep(StepKind.GOTO, *target, altitude_m=60.0),
             MissionStep(StepKind.RETURN))
    beside = Zone("beside", ZoneKind.NO_FLY, Point(hub.x_m + 400.0, hub.y_m + 95.0).buffer(80.0), 0.0, 120.0)
    home = (hub.latitude_deg, hub.longitude_deg)
    airspace = Airspace(frame, (beside,))
    assert mission_conflicts(airspace, frame, home, home, steps, 60.0, 1_749_704_400.0) == []
    assert mission_conflicts(airspace, frame, home, home, steps, 60.0, 1_749_704_400.0, margin_m=24.0) == ["beside"]
