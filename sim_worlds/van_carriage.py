"""What a van physically does to the vehicles it carries, through their simulators' control channels.

A simulated van (`sim_worlds.vans`) holds drones and robots; in reality they sit in its load bay
and move with it. Simulators do not know that, so a `Carriage` tells them: stow a parked vehicle
on the van, move it with the van, release it (on the ground, where the van stands), and say where a
parked vehicle is before recovering it. `ChannelCarriage` does this over a simulator's sim-control
channel (the same JSON lines for `sim_worlds.mavsim` drones and `sim_worlds.robots` robots; client
`MavsimControl`); `Carriages` routes each vehicle id to the carriage that knows it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from mission_planner.errors import FinalMileError
from sim_worlds.mavsim.sim_control import MavsimControl, SimControlError

logger = logging.getLogger(__name__)


class CarriageError(FinalMileError):
    """A carried vehicle could not be stowed, moved or released (names the vehicle and why)."""


class Carriage(Protocol):
    """The simulator side of carrying vehicles."""

    def handles(self, vehicle_id: str) -> bool:
        """True when this carriage can carry `vehicle_id`."""
        ...

    def parked_position(self, vehicle_id: str) -> tuple[float, float]:
        """(lat, lon) of a landed, disarmed vehicle; CarriageError when it is armed or flying."""
        ...

    def stow(self, vehicle_id: str, van_id: str, latitude_deg: float, longitude_deg: float) -> None:
        """The parked vehicle is now in `van_id`'s bay at (lat, lon); it cannot start moving by itself."""
        ...

    def move(self, vehicle_id: str, latitude_deg: float, longitude_deg: float) -> None:
        """The van carrying it has moved."""
        ...

    def release(self, vehicle_id: str, latitude_deg: float, longitude_deg: float) -> None:
        """Put it down at (lat, lon), free to go."""
        ...

    def swap_pack(self, vehicle_id: str) -> float | None:
        """Put a full pack in a stowed vehicle; returns the charge (%) of the pack taken out, None when this
        vehicle takes no swaps aboard (robots charge from the van's bay instead)."""
        ...


class ChannelCarriage:
    """The vehicles of one simulator process with a sim-control channel, by vehicle id -> index."""

    def __init__(self, control: MavsimControl, index_by_id: Mapping[str, int], *, swaps_packs: bool = False) -> None:
        self.control = control
        self.index_by_id = dict(index_by_id)
        self.swaps_packs = swaps_packs  # drones: the van carries spare packs for them

    @classmethod
    def numbered(cls, control: MavsimControl, prefix: str = "drone-", *, swaps_packs: bool = False) -> ChannelCarriage:
        """Ids `{prefix}1..N` for the simulator's vehicles 0..N-1 (`finalmile sim`: drone-N, robot_N)."""
        return cls(control, {f"{prefix}{i + 1}": i for i in range(control.ping())}, swaps_packs=swaps_packs)

    def handles(self, vehicle_id: str) -> bool:
        """True for the vehicles of this simulator."""
        return vehicle_id in self.index_by_id

    def _call(self, vehicle_id: str, what: str, *args: object) -> dict[str, object]:
        method = getattr(self.control, what)
        try:
            return dict(method(self.index_by_id[vehicle_id], *args))
        except SimControlError as exc:
            raise CarriageError(f"{vehicle_id}: {exc}") from exc

    def parked_position(self, vehicle_id: str) -> tuple[float, float]:
        """Where it stands; CarriageError when it is armed, flying or driving."""
        status = self._call(vehicle_id, "status")
        if status["armed"] or not status["landed"]:
            raise CarriageError(f"{vehicle_id} is {'armed' if status['armed'] else 'flying'}: "
                                "it must land/stop and disarm first")
        return float(status["latitude_deg"]), float(status["longitude_deg"])  # type: ignore[arg-type]

    def stow(self, vehicle_id: str, van_id: str, latitude_deg: float, longitude_deg: float) -> None:
        """Attach to the van (arming refused while stowed) and put it at the van."""
        self._call(vehicle_id, "attach", van_id)
        self._call(vehicle_id, "place", latitude_deg, longitude_deg)

    def move(self, vehicle_id: str, latitude_deg: float, longitude_deg: float) -> None:
        """Ride along."""
        self._call(vehicle_id, "place", latitude_deg, longitude_deg)

    def release(self, vehicle_id: str, latitude_deg: float, longitude_deg: float) -> None:
        """Set it down at the van's position and detach: it may arm and take off."""
        self._call(vehicle_id, "place", latitude_deg, longitude_deg)
        self._call(vehicle_id, "detach")

    def swap_pack(self, vehicle_id: str) -> float | None:
        """A full pack for a stowed drone (None for vehicles of a simulator whose packs are not swapped)."""
        if not self.swaps_packs:
            return None
        before = float(self._call(vehicle_id, "status")["battery_remaining_pct"])  # type: ignore[arg-type]
        self._call(vehicle_id, "recharge", 100.0)
        return before


class Carriages:
    """Several carriages (drone simulators, later robots) behind one `Carriage` interface."""

    def __init__(self, carriages: Sequence[Carriage]) -> None:
        self.carriages = tuple(carriages)

    def _for(self, vehicle_id: str) -> Carriage:
        for carriage in self.carriages:
            if carriage.handles(vehicle_id):
                return carriage
        raise CarriageError(f"{vehicle_id}: no simulator connected to this van knows that vehicle")

    def handles(self, vehicle_id: str) -> bool:
        """True when one of the carriages knows `vehicle_id`."""
        return any(carriage.handles(vehicle_id) for carriage in self.carriages)

    def parked_position(self, vehicle_id: str) -> tuple[float, float]:
        """See `Carriage.parked_position`."""
        return self._for(vehicle_id).parked_position(vehicle_id)

    def stow(self, vehicle_id: str, van_id: str, latitude_deg: float, longitude_deg: float) -> None:
        """See `Carriage.stow`."""
        self._for(vehicle_id).stow(vehicle_id, van_id, latitude_deg, longitude_deg)

    def move(self, vehicle_id: str, latitude_deg: float, longitude_deg: float) -> None:
        """See `Carriage.move`."""
        self._for(vehicle_id).move(vehicle_id, latitude_deg, longitude_deg)

    def release(self, vehicle_id: str, latitude_deg: float, longitude_deg: float) -> None:
        """See `Carriage.release`."""
        self._for(vehicle_id).release(vehicle_id, latitude_deg, longitude_deg)

    def swap_pack(self, vehicle_id: str) -> float | None:
        """See `Carriage.swap_pack`."""
        return self._for(vehicle_id).swap_pack(vehicle_id)
