"""Planner legs -> adapter missions for van-carried drones: the launched trip and the van's WAIT."""

from __future__ import annotations

import dataclasses

import pytest

from fleet_manager.adapters.base import Mission, MissionStep, StepKind
from fleet_manager.missions import MissionBuildError, carried_drone_trip, carried_robot_trip, with_waits_after
from mission_planner.drone_paths import Waypoint
from mission_planner.geodesy import LocalFrame
from mission_planner.plan import Leg, LegKind

FRAME = LocalFrame.at(60.1715, 24.9381)
STOP = (200.0, -300.0)
DROP = (400.0, -100.0)


def _trip(recovery_xy: tuple[float, float]) -> list[Leg]:
    out = (Waypoint(*STOP, 0.0), Waypoint(300.0, -200.0, 60.0), Waypoint(*DROP, 0.0))
    back = (Waypoint(*DROP, 0.0), Waypoint(350.0, -250.0, 60.0), Waypoint(*recovery_xy, 0.0))
    return [
        Leg(LegKind.LAUNCH, "drone-1", 0.0, 0.0, 60.0, STOP, STOP, order_ids=("o1",)),
        Leg(LegKind.DROPOFF, "drone-1", 60.0, 200.0, 230.0, STOP, DROP, 290.0, 20.0, ("o1",), waypoints=out),
        Leg(LegKind.RECOVERY, "drone-1", 230.0, 370.0, 430.0, DROP, recovery_xy, 290.0, 15.0, waypoints=back),
    ]


def test_carried_trip_flies_out_delivers_and_returns_to_the_launch_stop() -> None:
    """Take off where the van set the drone down, corners out, drop, corners back, RETURN (home = launch)."""
    mission = carried_drone_trip("m1", _trip(STOP), FRAME, cruise_altitude_m=60.0)
    kinds = [step.kind for step in mission.steps]
    assert kinds == [StepKind.TAKEOFF, StepKind.GOTO, StepKind.DELIVER, StepKind.GOTO, StepKind.RETURN]
    deliver = mission.steps[2]
    assert deliver.order_id == "o1"
    assert (deliver.latitude_deg, deliver.longitude_deg) == pytest.approx(FRAME.to_wgs84(*DROP))


def test_recovery_at_another_stop_lands_beside_the_van() -> None:
    """Recovered at a later stop: the way back ends in a LAND where the van will stand, not an RTL to the launch."""
    kerb = (60.1700, 24.9400)
    mission = carried_drone_trip("m1", _trip((900.0, 900.0)), FRAME, cruise_altitude_m=60.0, land_at=kerb)
    kinds = [step.kind for step in mission.steps]
    assert kinds == [StepKind.TAKEOFF, StepKind.GOTO, StepKind.DELIVER, StepKind.GOTO, StepKind.LAND]
    assert (mission.steps[-1].latitude_deg, mission.steps[-1].longitude_deg) == kerb


def test_the_landing_beside_the_van_carries_the_ground_of_its_stop_above_the_launch_stops() -> None:
    """Over terrain the recovery stop may stand far below or above the launch stop (home, whose height the
    altitudes stay relative to): the LAND carries that stop's ground above home, as every waypoint carries its own,
    so the battery check prices the landing from the drone's height above the ground there."""
    launch_ground_m, recovery_ground_m = 1_660.0, 1_460.0
    legs = _trip((900.0, 900.0))
    back = (Waypoint(*DROP, 0.0, 1_600.0), Waypoint(350.0, -250.0, 60.0, 1_500.0),
            Waypoint(900.0, 900.0, 0.0, recovery_ground_m))
    legs[2] = dataclasses.replace(legs[2], waypoints=back)
    kerb = (60.1700, 24.9400)
    mission = carried_drone_trip("m1", legs, FRAME, cruise_altitude_m=60.0, land_at=kerb,
                                 home_ground_m=launch_ground_m)
    assert mission.steps[-1].ground_above_home_m == pytest.approx(-200.0)  # the recovery leg's end
    mission = carried_drone_trip("m1", legs, FRAME, cruise_altitude_m=60.0, land_at=kerb,
                                 home_ground_m=launch_ground_m, land_ground_m=1_455.0)
    assert mission.steps[-1].ground_above_home_m == pytest.approx(-205.0)  # the ground where the van stands


def test_recovery_at_another_stop_needs_the_landing_point() -> None:
    """Without the van's position at the recovery stop a later-stop trip is a clear error, not an RTL."""
    with pytest.raises(MissionBuildError, match="recovery"):
        carried_drone_trip("m1", _trip((900.0, 900.0)), FRAME, cruise_altitude_m=60.0)


def test_carried_robot_trip_goes_to_the_door_then_to_the_van() -> None:
    """A van-launched robot: DELIVER at the door's footpath node, then GOTO where the van stands."""
    legs = _trip((900.0, 900.0))
    meet = (60.1710, 24.9410)
    mission = carried_robot_trip("m2", legs, lambda xy: FRAME.to_wgs84(*xy), meet_at=meet)
    assert [s.kind for s in mission.steps] == [StepKind.DELIVER, StepKind.GOTO]
    assert mission.steps[0].order_id == "o1"
    assert (mission.steps[1].latitude_deg, mission.steps[1].longitude_deg) == meet
    with pytest.raises(MissionBuildError, match="LAUNCH"):
        carried_robot_trip("m3", legs[1:], lambda xy: FRAME.to_wgs84(*xy), meet_at=meet)


def test_waits_go_right_after_the_named_stop_deliveries() -> None:
    """WAITs follow the DELIVER of each named order; the new DELIVER indexes are returned."""
    van = Mission("v1", (MissionStep(StepKind.DELIVER, 60.17, 24.94, order_id="a"),
                         MissionStep(StepKind.DELIVER, 60.16, 24.95, order_id="b"),
                         MissionStep(StepKind.DELIVER, 60.15, 24.96, order_id="c"), MissionStep(StepKind.RETURN)))
    waited, index = with_waits_after(van, {"a": 60.0, "c": 120.0})
    assert index == {"a": 0, "c": 3}
    assert [s.kind for s in waited.steps] == [StepKind.DELIVER, StepKind.WAIT, StepKind.DELIVER, StepKind.DELIVER,
                                              StepKind.WAIT, StepKind.RETURN]
    assert (waited.steps[1].duration_s, waited.steps[4].duration_s) == (60.0, 120.0)
    with pytest.raises(MissionBuildError, match="zzz"):
        with_waits_after(van, {"zzz": 1.0})


def test_a_van_standing_below_the_stop_point_launches_the_drone_no_higher_than_the_ceiling_above_it() -> None:
    """The planner's climb column tops out 120 m above its stop point; the van stands at a kerb 15 m lower. The
    take-off (straight up, where the drone arms) stays under the 120 m ceiling above the kerb, and the first corner
    keeps the planner's altitude: on the full Andorra day a drone climbed to 134 m above the kerb before this."""
    ground_m = 1000.0
    out = (Waypoint(*STOP, 0.0, ground_m), Waypoint(*STOP, 120.0, ground_m), Waypoint(*DROP, 0.0, ground_m))
    back = (Waypoint(*DROP, 0.0, ground_m), Waypoint(*STOP, 60.0, ground_m), Waypoint(*STOP, 0.0, ground_m))
    legs = [
        Leg(LegKind.LAUNCH, "drone-1", 0.0, 0.0, 60.0, STOP, STOP, order_ids=("o1",)),
        Leg(LegKind.DROPOFF, "drone-1", 60.0, 200.0, 230.0, STOP, DROP, 290.0, 20.0, ("o1",), waypoints=out),
        Leg(LegKind.RECOVERY, "drone-1", 230.0, 370.0, 430.0, DROP, STOP, 290.0, 15.0, waypoints=back),
    ]
    kerb_ground_m = ground_m - 15.0
    mission = carried_drone_trip("m1", legs, FRAME, cruise_altitude_m=60.0, home_ground_m=kerb_ground_m)
    takeoff, first_corner = mission.steps[0], mission.steps[1]
    assert takeoff.kind is StepKind.TAKEOFF and takeoff.altitude_m is not None
    assert 30.0 <= takeoff.altitude_m <= 120.0 - 10.0  # above the kerb's ground, the vertical margin kept
    assert first_corner.kind is StepKind.GOTO and first_corner.altitude_m == pytest.approx(135.0)
