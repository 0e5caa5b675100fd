"""The one contract every vehicle adapter fulfils (MAVLink drones, ROS 2 Nav2 robots, vans).

The dispatcher speaks only this interface; it never knows which autopilot, robot stack or
simulator is on the other side. Commands are coroutines that raise an `AdapterError` subclass
carrying the vehicle's own result code; telemetry is an async generator of `VehicleState`.

Missions: `start_mission` starts one on a vehicle that runs none (`MissionBusy` otherwise);
`replace_mission` switches a vehicle on a mission to a new one at once, the in-flight re-route
(`NoMissionRunning` when none runs; when the vehicle refuses, the old mission runs on).
What a vehicle can do beyond the contract is a capability protocol here (`Carrier`), checked
with `isinstance(adapter, Carrier)`, never by naming an adapter class.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mission_planner.airspace import Airspace, ZoneKind
from mission_planner.model import VehicleKind as VehicleKind  # one kind for planner, adapters and store


class LinkStatus(enum.StrEnum):
    """Whether telemetry is arriving from the vehicle."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOST = "lost"


@dataclass(frozen=True)
class VehicleState:
    """One telemetry snapshot, in SI units, WGS84 at the interface."""

    vehicle_id: str
    kind: VehicleKind
    stamp_s: float  # clock time of the newest message folded into this snapshot
    latitude_deg: float
    longitude_deg: float
    altitude_amsl_m: float = 0.0
    relative_altitude_m: float = 0.0
    heading_deg: float = 0.0
    ground_speed_m_s: float = 0.0
    battery_remaining_pct: float | None = None
    battery_remaining_wh: float | None = None
    battery_voltage_v: float | None = None
    charging: bool = False  # on a charger: the hub's dock, or a van's bay (robots: BatteryState CHARGING)
    mode: str = ""
    armed: bool = False
    link: LinkStatus = LinkStatus.CONNECTED
    mission_id: str | None = None
    mission_step: int | None = None  # index into Mission.steps being executed
    position_valid: bool = True  # False before a GPS fix / localisation
    wind_speed_m_s: float | None = None  # the vehicle's own wind estimate (drones: MAVLink WIND), horizontal
    wind_from_deg: float | None = None  # where that wind blows from (0 north, 90 east)


class StepKind(enum.StrEnum):
    """One step of a vehicle mission."""

    TAKEOFF = "takeoff"  # climb to altitude_m above home (drones)
    GOTO = "goto"  # move to the position (drones at altitude_m; robots and vans on the ground)
    DELIVER = "deliver"  # hand the parcel over here: drones descend, release, climb; robots open the compartment
    WAIT = "wait"  # hold position for duration_s
    LAND = "land"  # land where the vehicle is (drones)
    RETURN = "return"  # go back to home / launch point and land (drones: RTL)


@dataclass(frozen=True)
class MissionStep:
    """A step with its target; unused fields keep their defaults."""

    kind: StepKind
    latitude_deg: float | None = None
    longitude_deg: float | None = None
    altitude_m: float | None = None  # above home
    duration_s: float = 0.0
    order_id: str | None = None  # the parcel a DELIVER step hands over
    release_altitude_m: float = 3.0  # DELIVER by drone: height above ground at which the gripper opens
    # Drones over terrain: the ground under the step, metres above the ground at home (< 0: lower than
    # home). `altitude_m` stays above home; the step flies `altitude_m - ground_above_home_m` above the
    # ground there, and a DELIVER releases at `ground_above_home_m + release_altitude_m` above home.
    ground_above_home_m: float = 0.0
    # DELIVER by drone: hover over the drop point until the fleet manager says whether the recipient takes the
    # parcel (`DropConfirmation`): released only then, kept aboard otherwise. False: release on arrival (a
    # mission stored before drones held, or an adapter test flying a bare mission).
    confirm_release: bool = False


@dataclass(frozen=True)
class Mission:
    """An ordered list of steps for one vehicle."""

    mission_id: str
    steps: tuple[MissionStep, ...]
    cruise_speed_m_s: float | None = None


@dataclass(frozen=True)
class FencePolygon:
    """A geofence polygon: vertices (latitude_deg, longitude_deg), not closed (first != last)."""

    vertices: tuple[tuple[float, float], ...]
    inclusion: bool


@dataclass(frozen=True)
class FenceCircle:
    """A geofence circle."""

    latitude_deg: float
    longitude_deg: float
    radius_m: float
    inclusion: bool


@dataclass(frozen=True)
class Geofence:
    """What a drone's autopilot enforces on its own: stay inside inclusions, out of exclusions."""

    polygons: tuple[FencePolygon, ...] = ()
    circles: tuple[FenceCircle, ...] = ()

    @classmethod
    def from_airspace(cls, airspace: Airspace, *, operator: str | None = None) -> Geofence:
        """Operating areas become inclusion polygons; no-fly and (for other operators) restricted zones exclusions."""
        polygons = []
        for zone in airspace.zones:
            ring = [(lat, lon) for lon, lat in zone.polygon_wgs84[:-1]]
            if not ring:
                ring = [airspace.frame.to_wgs84(x, y) for x, y in list(zone.polygon.exterior.coords)[:-1]]
            if zone.kind is ZoneKind.OPERATING_AREA:
                polygons.append(FencePolygon(tuple(ring), inclusion=True))
            elif zone.blocks(operator):
                polygons.append(FencePolygon(tuple(ring), inclusion=False))
        return cls(polygons=tuple(polygons))


class MissionOutcome(enum.StrEnum):
    """How a mission ended (as in Nav2's simple commander)."""

    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MissionResult:
    """The end of a mission, with the vehicle's own error code and message when it failed."""

    mission_id: str
    outcome: MissionOutcome
    error_code: int | None = None
    error_msg: str = ""
    steps_completed: int = 0


@dataclass(frozen=True)
class MissionEvent:
    """Progress of a running mission: a step reached, a parcel released/handed over, a mode change."""

    mission_id: str
    stamp_s: float
    step_index: int
    what: str  # "step_reached" | "payload_released" | "compartment_opened" | "mode_changed" | ...
    detail: str = ""
    latitude_deg: float | None = None
    longitude_deg: float | None = None


class HeldMission(enum.StrEnum):
    """What a vehicle says about a mission the fleet manager had given it (after a restart)."""

    RUNNING = "running"  # still on it: the adapter now follows it (wait_mission, mission_events)
    ENDED = "ended"  # it holds the mission but is no longer on it (landed and disarmed, result reported)
    ABSENT = "absent"  # it does not hold the mission (never received it, or another one replaced it)


@dataclass(frozen=True)
class AdoptionReport:
    """The vehicle's side of a mission the store says is in flight (see `MissionAdoption`)."""

    mission_id: str
    held: HeldMission
    steps_completed: int = 0
    handed_over_steps: tuple[int, ...] = ()  # DELIVER steps whose parcel has left the vehicle
    outcome: MissionOutcome | None = None  # ENDED: how it ended, as far as the vehicle shows
    detail: str = ""
    # ENDED: DELIVER steps whose parcel may or may not have left the vehicle (an operator confirms)
    unsure_steps: tuple[int, ...] = ()


class VehicleAdapter(abc.ABC):
    """A connection to one vehicle. Subclasses: MAVLink (drones), ROS 2 Nav2 (robots), van driver app."""

    vehicle_id: str
    kind: VehicleKind

    @abc.abstractmethod
    async def connect(self, timeout_s: float = 30.0) -> None:
        """Open the link and wait for the first telemetry; raises AdapterTimeout."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the link; idempotent."""

    @abc.abstractmethod
    def latest_state(self) -> VehicleState | None:
        """The newest telemetry snapshot, or None before the first one."""

    @abc.abstractmethod
    def telemetry(self) -> AsyncIterator[VehicleState]:
        """Every new snapshot as it arrives; the generator ends when the adapter is closed."""

    @abc.abstractmethod
    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the vehicle can take a mission (what that means is the adapter's; see each one).

        Raises AdapterTimeout, naming what was missing, when `timeout_s` passes first.
        """

    @abc.abstractmethod
    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Start `mission` on a vehicle that runs none; returns once the vehicle has begun.

        Raises MissionBusy while another mission runs (`replace_mission` switches it), CommandRefused
        (or a subclass) when the vehicle refuses the mission.
        """

    @abc.abstractmethod
    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        """Switch a vehicle that is on a mission to `mission` at once; the old one then ends CANCELED.

        Raises NoMissionRunning when no mission runs (`start_mission` starts one), CommandRefused (or
        a subclass) when the vehicle refuses; the old mission then runs on.
        """

    @abc.abstractmethod
    def mission_events(self) -> AsyncIterator[MissionEvent]:
        """Progress events of the current mission, as they happen."""

    @abc.abstractmethod
    async def wait_mission(self, timeout_s: float) -> MissionResult:
        """Wait until the current mission ends; raises AdapterTimeout after `timeout_s`."""

    @abc.abstractmethod
    async def pause(self) -> None:
        """Stop where the vehicle is and hold (drones: BRAKE/LOITER; robots: cancel the goal, keep the mission)."""

    async def fly_to(self, latitude_deg: float, longitude_deg: float, altitude_m: float) -> None:
        """Leave the mission and fly straight to a point, holding there (drones: GUIDED go-to, `altitude_m` above
        home): the way out of a no-fly zone while the path home is planned. Vehicles with no such command stop
        where they are (`pause`)."""
        await self.pause()

    @abc.abstractmethod
    async def resume(self) -> None:
        """Continue the paused mission."""

    @abc.abstractmethod
    async def return_home(self) -> None:
        """Abandon the mission and go back to home (drones: RTL)."""

    @abc.abstractmethod
    async def land(self) -> None:
        """Land now where the vehicle is (robots: stop)."""


@runtime_checkable
class Carrier(Protocol):
    """A vehicle that carries drones and robots (a van): load/unload at the hub, launch/recover at a stop."""

    carried: tuple[str, ...]  # ids of the vehicles on board

    async def load(self, vehicle_id: str) -> None:
        """Stow a vehicle standing at the hub."""

    async def unload(self, vehicle_id: str) -> None:
        """Take a vehicle out at the hub."""

    async def launch(self, vehicle_id: str) -> None:
        """Set a vehicle down at the stopped carrier."""

    async def recover(self, vehicle_id: str) -> None:
        """Take back a vehicle that has landed/stopped next to the stopped carrier."""


@runtime_checkable
class FenceHolding(Protocol):
    """A vehicle whose autopilot holds the airspace as its own geofence (drones): what keeps it out of a zone when
    the fleet manager cannot reach it (see `mavlink_failsafe`)."""

    async def update_geofence(self, geofence: Geofence) -> None:
        """Replace the fence the vehicle holds now, in flight or not."""


@runtime_checkable
class HomeSetting(Protocol):
    """A vehicle whose home (where RETURN goes) the fleet manager sets; by default where it was first seen,
    which after a restart may be anywhere on its route."""

    async def set_home(self, latitude_deg: float, longitude_deg: float) -> None:
        """RETURN goes to this point from now on."""


@runtime_checkable
class DropConfirmation(Protocol):
    """A vehicle that holds over each drop point (a DELIVER step with `confirm_release`) and reports it with a
    mission event `at_drop`; it lets the parcel go only when told the recipient takes it."""

    async def confirm_drop(self, mission_id: str, step_index: int, *, release: bool) -> None:
        """Release the parcel of DELIVER step `step_index` (`release`) or keep it aboard and fly on.

        Raises CommandRefused when the vehicle is not holding at that drop (a failsafe took it away), AdapterError
        when it cannot be told; it then holds on (the GCS failsafe brings it home if the link is gone).
        """


@runtime_checkable
class MissionAdoption(Protocol):
    """A vehicle that can say, after a fleet-manager restart, whether it still runs a mission it was given."""

    async def adopt_mission(self, mission: Mission) -> AdoptionReport:
        """Match `mission` (as the store kept it) with what the vehicle holds and does.

        RUNNING: the adapter follows it from now on as if it had started it (`wait_mission`,
        `mission_events`); ENDED / ABSENT: nothing is followed. Raises AdapterError when the vehicle
        cannot be asked (no link).
        """


@runtime_checkable
class RecordedLegAdoption(Protocol):
    """A vehicle whose own report of a mission can expire (a Nav2 navigator lists a finished goal for its result
    timeout only): after a restart the store's record of the legs sent is the evidence."""

    async def adopt_recorded_leg(self, mission: Mission, leg: int, *, releasing_step: int | None) -> AdoptionReport:
        """`leg`: the last leg the fleet manager recorded sending; `releasing_step`: the drop it last recorded
        deciding to release. RUNNING: followed from then on, as `MissionAdoption.adopt_mission`."""
