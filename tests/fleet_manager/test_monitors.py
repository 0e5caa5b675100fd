"""Safety monitors: geofence conformance from reported positions (a no-fly zone published while a drone
flies is tested end to end in test_reroute.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from fleet_manager.world import load_world
from fleet_manager.zone_rules import GeofenceLedger, position_violation, zone_blocks_at


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def test_position_violation_uses_time_and_altitude(world) -> None:  # type: ignore[no-untyped-def]
    """Inside a no-fly zone counts; above its ceiling, outside its time window or outside the area is judged too."""
    esplanadi = next(z for z in world.airspace.zones if z.zone_id == "esplanadi-daytime")
    inside = esplanadi.polygon.representative_point()
    noon_utc = dt.datetime(2025, 6, 12, 10, 0, tzinfo=dt.UTC).timestamp()
    night_utc = dt.datetime(2025, 6, 12, 23, 0, tzinfo=dt.UTC).timestamp()
    assert position_violation(world.airspace, inside.x, inside.y, 40.0, noon_utc) == "esplanadi-daytime"
    assert position_violation(world.airspace, inside.x, inside.y, 80.0, noon_utc) is None  # above its 50 m ceiling
    assert position_violation(world.airspace, inside.x, inside.y, 40.0, night_utc) is None  # zone closed at night
    assert position_violation(world.airspace, 5000.0, 5000.0, 40.0, noon_utc) == "operating-area"
    assert not zone_blocks_at(esplanadi, night_utc, 40.0)


def test_ledger_counts_episodes_not_samples() -> None:
    """Many samples inside the same zone are one violation; leaving and re-entering is a second."""
    ledger = GeofenceLedger()
    assert ledger.observe("d1", "z", 1.0)
    assert not ledger.observe("d1", "z", 2.0)
    assert not ledger.observe("d1", None, 3.0)
    assert ledger.observe("d1", "z", 4.0)
    assert ledger.violations == 2 and [e[1] for e in ledger.episodes] == ["d1", "d1"]


def test_near_zone_alert_fires_once_per_episode(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A drone hovering 5 m off a no-fly zone is alerted once, not at every pass; leaving and coming back is another."""
    from test_dispatcher import fake_drone_hub

    from fleet_manager.adapters.base import LinkStatus, VehicleKind, VehicleState
    from fleet_manager.store.db import Database

    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    try:
        hub, drone, _recipients, _clock = fake_drone_hub(database, world)
        zone = next(z for z in world.airspace.zones if z.zone_id == "senate-square")
        inside, edge = zone.polygon.centroid, zone.polygon.exterior.interpolate(0.0)
        away_m = ((edge.x - inside.x) ** 2 + (edge.y - inside.y) ** 2) ** 0.5

        def hover(offset_m: float) -> None:  # on the line centroid -> edge, offset_m beyond the edge
            scale = (away_m + offset_m) / away_m
            x_m, y_m = inside.x + (edge.x - inside.x) * scale, inside.y + (edge.y - inside.y) * scale
            latitude_deg, longitude_deg = world.frame.to_wgs84(x_m, y_m)
            drone.state = VehicleState("drone-1", VehicleKind.DRONE, 0.0, latitude_deg, longitude_deg,
                                       relative_altitude_m=60.0, armed=True, battery_remaining_pct=100.0,
                                       battery_remaining_wh=500.0, link=LinkStatus.CONNECTED)

        def near_alerts() -> int:
            return sum(alert.kind == "geofence_near" for alert in hub.monitor.alerts)

        hover(5.0)
        for _ in range(20):
            hub.monitor.check_all()
        assert near_alerts() == 1
        hover(200.0)
        hub.monitor.check_all()
        hover(5.0)
        hub.monitor.check_all()
        hub.monitor.check_all()
        assert near_alerts() == 2
    finally:
        database.dispose()


async def test_a_zone_reaction_missed_while_the_link_was_down_is_applied_when_it_is_back(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Found by the safety days: a zone published while a drone's radio was out; the recall never reached it
    and nobody asked again, so it flew into the zone. Now the zone is owed to it and applied on the link's return."""
    import asyncio
    import math

    from test_dispatcher import HUB, fake_drone_hub

    from fleet_manager.adapters.base import LinkStatus, VehicleKind, VehicleState
    from fleet_manager.errors import LinkLost
    from fleet_manager.store import zones as zone_store
    from fleet_manager.store.db import Database

    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    try:
        hub, drone, _recipients, clock = fake_drone_hub(database, world)
        x_m, y_m = world.hub.x_m + 600.0, world.hub.y_m
        latitude_deg, longitude_deg = world.frame.to_wgs84(x_m, y_m)
        recalls: list[str] = []

        async def return_home() -> None:
            if drone.state.link is not LinkStatus.CONNECTED:
                raise LinkLost("drone-1", "return_home()", "no HEARTBEAT")
            recalls.append("return")

        drone.return_home = return_home  # type: ignore[method-assign]
        fly = drone.replace_mission

        async def replace_mission(mission, *, geofence=None):  # type: ignore[no-untyped-def]
            if drone.state.link is not LinkStatus.CONNECTED:
                raise LinkLost("drone-1", "replace_mission()", "no HEARTBEAT")
            recalls.append("home around the zones")  # out of the zone, then a safe path home (not an RTL)
            await fly(mission, geofence=geofence)

        drone.replace_mission = replace_mission  # type: ignore[method-assign]

        def report(link: LinkStatus) -> None:
            drone.state = VehicleState("drone-1", VehicleKind.DRONE, clock.now(), latitude_deg, longitude_deg,
                                       relative_altitude_m=60.0, armed=True, battery_remaining_pct=90.0,
                                       battery_remaining_wh=450.0, link=link)

        report(LinkStatus.LOST)
        hub.monitor.check_all()  # the link is seen lost
        ring = [list(world.frame.to_wgs84(x_m + 150 * math.cos(a / 12 * math.pi),
                                          y_m + 150 * math.sin(a / 12 * math.pi)))[::-1] for a in range(24)]
        with database.transaction() as session:
            zone_store.create_zone(session, hub_id=HUB, frame=world.frame, actor="operator", at_s=clock.now(), feature={
                "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {"id": "pop-up", "kind": "no_fly", "lower_m": 0, "upper_m": 120}})
        await hub.airspace.refresh()
        hub.monitor.check_all()  # the recall is tried and fails: the radio is out
        await asyncio.gather(*hub.monitor._actions, return_exceptions=True)
        assert recalls == []
        report(LinkStatus.CONNECTED)
        hub.monitor.check_all()  # the link is back: the owed zone is applied again
        await asyncio.gather(*hub.monitor._actions, return_exceptions=True)
        kinds = [a.kind for a in hub.monitor.alerts]
        # (the geofence check, seeing it inside the zone now, sends it the same way)
        assert recalls and set(recalls) == {"home around the zones"}, recalls
        assert kinds[kinds.index("link_restored"):].count("zone_recall") == 1, kinds
        hub.monitor.check_all()  # and only once
        await asyncio.gather(*hub.monitor._actions, return_exceptions=True)
        assert [a.kind for a in hub.monitor.alerts].count("zone_recall") == 2
    finally:
        database.dispose()
