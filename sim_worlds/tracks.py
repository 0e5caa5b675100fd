"""What every vehicle reported over a simulated day: distance, energy, busy time, battery, geofence, terrain clearance.

The day's KPIs come from these tracks (the vehicles' own telemetry), never from the plan.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet_manager.adapters.base import VehicleKind, VehicleState
from fleet_manager.fleet import Fleet, FleetVehicle
from fleet_manager.world import World
from fleet_manager.zone_rules import position_violation
from mission_planner.clearance import ClearanceViolation, PositionReport, terrain_clearance_violations
from mission_planner.clock import Clock

logger = logging.getLogger(__name__)


@dataclass
class Track:
    """What a vehicle reported over the day, summarised for the KPIs and the map."""

    vehicle_id: str
    kind: VehicleKind
    points: list[tuple[float, float, float]] = field(default_factory=list)  # (stamp_s, lat, lon), thinned
    distance_m: float = 0.0
    energy_wh: float = 0.0
    busy_s: float = 0.0
    min_battery_pct: float = 100.0
    reserve_pct: float = 0.0  # its profile's battery reserve: reported charge under it is a breach
    samples: int = 0
    _last: VehicleState | None = None


def reserve_breaches(tracks: Mapping[str, Track]) -> list[str]:
    """The vehicles whose reported charge went below their profile's reserve, and how low."""
    return [f"{t.vehicle_id}: {t.min_battery_pct:.1f} % (reserve {t.reserve_pct:g} %)"
            for _id, t in sorted(tracks.items()) if t.samples and t.min_battery_pct < t.reserve_pct]


class TrackRecorder:
    """Follows every vehicle's own telemetry: distance, energy, busy time, battery, geofence conformance."""

    def __init__(self, fleet: Fleet, world: World, airspace_now: Callable[[], Any], clock: Clock) -> None:
        self.fleet = fleet
        self.world = world
        self.clock = clock
        self.tracks = {v.vehicle_id: Track(v.vehicle_id, v.kind, reserve_pct=v.profile.reserve_pct) for v in fleet}
        self.violations: list[tuple[float, str, str]] = []
        self._airspace_now = airspace_now
        self._inside: set[tuple[str, str]] = set()
        # Drones' reported positions (worlds with terrain): judged against the elevation model at the end.
        self.positions: list[PositionReport] = []

    async def follow(self, vehicle: FleetVehicle) -> None:
        """Consume one vehicle's telemetry until its adapter closes."""
        async for state in vehicle.adapter.telemetry():
            self.observe(vehicle, state)

    def observe(self, vehicle: FleetVehicle, state: VehicleState) -> None:
        """Fold one telemetry sample in."""
        track = self.tracks[vehicle.vehicle_id]
        track.samples += 1
        last = track._last
        if state.battery_remaining_pct is not None:
            track.min_battery_pct = min(track.min_battery_pct, state.battery_remaining_pct)
        if last is not None and state.position_valid and last.position_valid:
            dt_s = max(0.0, state.stamp_s - last.stamp_s)
            x0, y0 = self.world.frame.to_local(last.latitude_deg, last.longitude_deg)
            x1, y1 = self.world.frame.to_local(state.latitude_deg, state.longitude_deg)
            step_m = math.hypot(x1 - x0, y1 - y0)
            # A jump (re-home, simulator restart) is not distance travelled; nor is a carried vehicle's ride on its
            # van (the van's km): a drone counts only while armed, a robot only while on a mission of its own.
            riding = vehicle.carried_by is not None and not (
                (state.armed or last.armed) if vehicle.kind is VehicleKind.DRONE else vehicle.mission_id is not None)
            if step_m < 500.0 and not riding:
                track.distance_m += step_m
            if (
                state.battery_remaining_wh is not None
                and last.battery_remaining_wh is not None
                and state.battery_remaining_wh < last.battery_remaining_wh
            ):
                track.energy_wh += last.battery_remaining_wh - state.battery_remaining_wh
            if vehicle.mission_id is not None:
                track.busy_s += dt_s
        if not track.points or state.stamp_s - track.points[-1][0] >= 5.0:
            track.points.append((state.stamp_s, state.latitude_deg, state.longitude_deg))
        track._last = state
        if vehicle.kind is VehicleKind.DRONE:
            self._check_fence(vehicle.vehicle_id, state)
            if self.world.terrain is not None and state.position_valid:
                # Airborne: armed and off its home's ground. A drone on the ground (before take-off, after
                # touch-down, riding a van that sets it down stop after stop) reports 0 m above home; in the air
                # over terrain the height above home may be negative (a door below home), hence the magnitude.
                # One touched down at a later van stop (higher or lower than its launch point, its home) stands off
                # home's height until it disarms: the KPI does not count a still drone at the ground (clearance.py).
                airborne = state.armed and abs(state.relative_altitude_m) >= 1.0
                self.positions.append(PositionReport(state.stamp_s, vehicle.vehicle_id, state.latitude_deg,
                                                     state.longitude_deg, state.altitude_amsl_m,
                                                     airborne=airborne, ground_speed_m_s=state.ground_speed_m_s))

    def terrain_clearance(self) -> list[ClearanceViolation] | None:
        """Episodes of drones outside 30..120 m above the ground, from their own reports (None: flat world)."""
        if self.world.terrain is None:
            return None
        return terrain_clearance_violations(self.positions, self.world.terrain, self.world.frame)

    def clearance_samples(self, episode: ClearanceViolation, *, before_s: float = 30.0,
                          after_s: float = 10.0) -> list[dict[str, Any]]:
        """The reports of the episode's drone from `before_s` before it to `after_s` after, each with its height
        above the model's ground: what an engineer reads to tell a flight path from a column or a landing."""
        terrain = self.world.terrain
        if terrain is None:
            return []
        samples = [p for p in self.positions if p.vehicle_id == episode.vehicle_id
                   and episode.start_s - before_s <= p.at_s <= episode.end_s + after_s]
        rows = []
        for p in sorted(samples, key=lambda p: p.at_s):
            x, y = self.world.frame.to_local(p.latitude_deg, p.longitude_deg)
            ground_m = terrain.elevation_at(x, y) if terrain.covers(x, y) else math.nan
            rows.append({"at_s": p.at_s, "latitude_deg": p.latitude_deg, "longitude_deg": p.longitude_deg,
                         "altitude_amsl_m": round(p.altitude_amsl_m, 2),
                         "height_m": None if math.isnan(ground_m) else round(p.altitude_amsl_m - ground_m, 2),
                         "ground_speed_m_s": p.ground_speed_m_s, "airborne": p.airborne})
        return rows

    def _check_fence(self, vehicle_id: str, state: VehicleState) -> None:
        keys = {k for k in self._inside if k[0] == vehicle_id}
        if state.relative_altitude_m < 1.0 or not state.position_valid:
            self._inside -= keys
            return
        x_m, y_m = self.world.frame.to_local(state.latitude_deg, state.longitude_deg)
        zone_id = position_violation(self._airspace_now(), x_m, y_m, state.relative_altitude_m, self.clock.now())
        if zone_id is None:
            self._inside -= keys
            return
        if (vehicle_id, zone_id) not in self._inside:
            self._inside.add((vehicle_id, zone_id))
            self.violations.append((self.clock.now(), vehicle_id, zone_id))
            logger.error("GEOFENCE VIOLATION: %s reported a position inside %s", vehicle_id, zone_id)
