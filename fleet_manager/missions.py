"""Planner output -> adapter `Mission`s: drone sorties along safe paths, robot and van delivery tours.

Pure functions (no I/O): the dispatcher calls them with planner results and sends what they
return through the adapters. Missions are also stored as JSON (`mission_steps_json`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mission_planner.drone_paths import DronePath
from mission_planner.geodesy import LocalFrame

from .adapters.base import Mission, MissionStep, StepKind


@dataclass(frozen=True)
class Stop:
    """A delivery stop: the order and where the parcel is handed over (WGS84)."""

    order_id: str
    latitude_deg: float
    longitude_deg: float


def drone_sortie(
    mission_id: str,
    stop: Stop,
    outbound: DronePath,
    inbound: DronePath,
    frame: LocalFrame,
    *,
    cruise_speed_m_s: float | None = None,
    release_altitude_m: float = 3.0,
) -> Mission:
    """Take off, fly the outbound path's cruise corners, deliver, fly the inbound corners, return and land."""
    altitude_m = outbound.cruise_altitude_m
    steps: list[MissionStep] = [MissionStep(StepKind.TAKEOFF, altitude_m=altitude_m)]
    steps += _cruise_steps(outbound, frame)
    steps.append(
        MissionStep(
            StepKind.DELIVER,
            stop.latitude_deg,
            stop.longitude_deg,
            altitude_m=altitude_m,
            order_id=stop.order_id,
            release_altitude_m=release_altitude_m,
        )
    )
    steps += _cruise_steps(inbound, frame)
    steps.append(MissionStep(StepKind.RETURN))
    return Mission(mission_id, tuple(steps), cruise_speed_m_s=cruise_speed_m_s)


def drone_reroute(
    mission_id: str,
    remaining_stop: Stop | None,
    to_stop: DronePath | None,
    home_path: DronePath,
    frame: LocalFrame,
    *,
    cruise_speed_m_s: float | None = None,
) -> Mission:
    """A mission for a drone already in the air: (safe path to its pending drop and deliver,) then home."""
    steps: list[MissionStep] = []
    if remaining_stop is not None and to_stop is not None:
        steps += _cruise_steps(to_stop, frame)
        steps.append(
            MissionStep(
                StepKind.DELIVER,
                remaining_stop.latitude_deg,
                remaining_stop.longitude_deg,
                altitude_m=to_stop.cruise_altitude_m,
                order_id=remaining_stop.order_id,
            )
        )
    steps += _cruise_steps(home_path, frame)
    steps.append(MissionStep(StepKind.RETURN))
    return Mission(mission_id, tuple(steps), cruise_speed_m_s=cruise_speed_m_s)


def _cruise_steps(path: DronePath, frame: LocalFrame) -> list[MissionStep]:
    # The first and last waypoints are the vertical columns at start and goal; the corners between
    # them are where the path bends around a zone, and the goal column itself is flown to as a GOTO.
    steps = []
    for waypoint in path.waypoints[1:-1]:
        latitude_deg, longitude_deg = frame.to_wgs84(waypoint.x_m, waypoint.y_m)
        steps.append(MissionStep(StepKind.GOTO, latitude_deg, longitude_deg, altitude_m=path.cruise_altitude_m))
    return steps


def ground_tour(mission_id: str, stops: Sequence[Stop], *, cruise_speed_m_s: float | None = None) -> Mission:
    """Robots and vans: deliver at each stop in order, then return to the hub."""
    steps = [MissionStep(StepKind.DELIVER, s.latitude_deg, s.longitude_deg, order_id=s.order_id) for s in stops]
    steps.append(MissionStep(StepKind.RETURN))
    return Mission(mission_id, tuple(steps), cruise_speed_m_s=cruise_speed_m_s)


def mission_steps_json(mission: Mission) -> list[dict[str, Any]]:
    """The steps as JSON-able dicts (what the store and the dashboard show)."""
    return [{**asdict(step), "kind": step.kind.value} for step in mission.steps]


def delivery_steps(mission: Mission) -> dict[int, str]:
    """Step index -> order id of every DELIVER step."""
    return {
        index: step.order_id
        for index, step in enumerate(mission.steps)
        if step.kind is StepKind.DELIVER and step.order_id is not None
    }
