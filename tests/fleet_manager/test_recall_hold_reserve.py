"""The battery check keeps what a drone burns while its recall is planned and sent.

`Rerouter.recall` stops the drone first (BRAKE) and sends its way home once planned: seconds of wall time, minutes
of flight in a sped-up simulation. At x60 a recall on the Andorra day held its drone 38 s (0.64 s of wall time, the
first of the day building the re-routes' path planner): ~10 Wh of hover the check did not count, on top of the
flight it priced, and recalled drones landed under their 25 % reserve. The margin now covers the hold: a second of
wall time until a recall has been timed, then the longest hold of the latest recalls.
"""

from __future__ import annotations

import asyncio
import dataclasses

from test_dispatcher import setup, world  # noqa: F401  (fixtures)

from mission_planner.clock import Clock

SPEEDUP = 60.0


class _Ticks:
    """A monotonic clock the test moves by hand (wall seconds)."""

    def __init__(self) -> None:
        self.wall_s = 0.0

    def __call__(self) -> float:
        return self.wall_s


class _SlowRecall:
    """A re-router whose recall takes `wall_s` of wall time."""

    def __init__(self, ticks: _Ticks, wall_s: float) -> None:
        self.ticks, self.wall_s, self.recalled = ticks, wall_s, 0

    async def recall(self, vehicle, airspace, now_s: float) -> None:  # type: ignore[no-untyped-def]
        self.ticks.wall_s += self.wall_s
        self.recalled += 1


def _out_there(hub, drone, place):  # type: ignore[no-untyped-def]
    """(monitor on an x60 clock moved by hand, drone-1, its state 800 m east of the hub, 60 m up, the ticks)."""
    ticks = _Ticks()
    monitor = hub.monitor
    monitor.clock = Clock(start_s=1_749_704_400.0, speedup=SPEEDUP, _monotonic=ticks)
    out = place.frame.to_wgs84(place.hub.x_m + 800.0, place.hub.y_m)
    flying = dataclasses.replace(drone.state, latitude_deg=out[0], longitude_deg=out[1], relative_altitude_m=60.0,
                                 armed=True)
    return monitor, hub.missions.fleet.get("drone-1"), flying, ticks


def _with_left(state, vehicle, monitor, model, extra_wh: float):  # type: ignore[no-untyped-def]
    """`state` with its way home, the reserve and `extra_wh` left in the pack."""
    reserve_wh = vehicle.profile.battery_wh * vehicle.profile.reserve_pct / 100.0
    left_wh = monitor._energy_to_finish_wh(vehicle, state, model) + reserve_wh + extra_wh
    return dataclasses.replace(state, battery_remaining_wh=left_wh)


async def test_at_x60_a_drone_is_recalled_while_its_pack_still_covers_the_hold_of_its_recall(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Its way home, the reserve and the margin until the next pass, and 5 Wh more: less than a minute of hover (a
    second of wall time at x60) while its recall is planned and sent, so it comes in now."""
    _database, hub, drone, _recipients, _clock = setup
    monitor, vehicle, flying, ticks = _out_there(hub, drone, world)
    monitor.rerouter = _SlowRecall(ticks, 0.0)
    model = monitor._energy_model(vehicle)
    pass_s = monitor.config.period_wall_s * SPEEDUP
    until_next_pass_wh = monitor.config.battery_margin_wh + model.power_w(0.0, model.max_airspeed_m_s) * pass_s / 3600
    hold_wh = model.hover_power_w(0.0) * SPEEDUP / 3600.0
    assert hold_wh > 15.0
    drone.state = _with_left(flying, vehicle, monitor, model, until_next_pass_wh + 5.0)
    monitor._check_battery(vehicle, drone.state)
    assert [a.kind for a in monitor.alerts] == ["low_battery"]


async def test_the_margin_keeps_as_long_a_hold_as_the_last_recall_took(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A loaded host: the last recall took 4 s of wall time (4 minutes of flight at x60). A drone whose pack covers
    the margin of a one-second hold, and 20 Wh more, is recalled: 4 minutes of hover are ~68 Wh."""
    _database, hub, drone, _recipients, _clock = setup
    monitor, vehicle, flying, ticks = _out_there(hub, drone, world)
    model = monitor._energy_model(vehicle)
    one_second_hold_wh = monitor._margin_wh(model)
    monitor.rerouter = _SlowRecall(ticks, 4.0)
    await monitor._recall(vehicle, monitor.airspace.current, monitor.clock.now())
    assert monitor._margin_wh(model) - one_second_hold_wh > model.hover_power_w(0.0) * 3 * SPEEDUP / 3600.0 - 1e-6
    drone.state = _with_left(flying, vehicle, monitor, model, one_second_hold_wh + 20.0)
    monitor._check_battery(vehicle, drone.state)
    assert [a.kind for a in monitor.alerts] == ["low_battery"]
    # quick recalls since (0.05 s of wall time, as most on that day): the slow one no longer counts
    monitor.rerouter = _SlowRecall(ticks, 0.05)
    for _ in range(monitor.config.timed_recalls):
        await monitor._recall(vehicle, monitor.airspace.current, monitor.clock.now())
    assert monitor._margin_wh(model) < one_second_hold_wh - model.hover_power_w(0.0) * 0.9 * SPEEDUP / 3600.0


async def test_a_drone_with_nothing_left_to_drop_is_not_recalled_on_its_way_home(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Short of its way home, the reserve and the margin: a drone still to drop its parcel is recalled (the recall
    skips the drop); one that has dropped it is only alerted about, since the rest of its mission is already the
    way home and a recall would fly it after a hold that burns hover (the x60 Andorra hub-drones day: recalled on
    most long trips, after the drop, drones landed at 21-23 % with a 25 % reserve)."""
    from types import SimpleNamespace

    from fleet_manager.adapters.base import Mission, MissionStep, StepKind

    _database, hub, drone, _recipients, _clock = setup
    monitor, vehicle, flying, ticks = _out_there(hub, drone, world)
    door = world.frame.to_wgs84(world.hub.x_m + 900.0, world.hub.y_m)
    mission = Mission("m-1", (MissionStep(StepKind.TAKEOFF, altitude_m=60.0),
                              MissionStep(StepKind.DELIVER, *door, altitude_m=60.0, order_id="o-1"),
                              MissionStep(StepKind.RETURN)))
    model = monitor._energy_model(vehicle)
    for resolved, recalls in ((set(), 1), ({"o-1"}, 0)):
        monitor.rerouter = recall = _SlowRecall(ticks, 0.0)
        monitor._recalled.clear()
        monitor.alerts.clear()
        hub.missions.running["drone-1"] = SimpleNamespace(mission=mission, order_ids=["o-1"], resolved=resolved,
                                                          payload_kg={}, launched_from=None)
        drone.state = _with_left(flying, vehicle, monitor, model, -5.0)
        monitor._check_battery(vehicle, drone.state)
        for _ in range(3):  # the recall runs as a task of the event loop
            await asyncio.sleep(0)
        (alert,) = [a for a in monitor.alerts if a.kind == "low_battery"]
        assert recall.recalled == recalls, alert.message
        assert ("not recalled" in alert.message) is (recalls == 0)
