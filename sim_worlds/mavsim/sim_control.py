"""Simulation control: what a real drone gets from the physical world, not over MAVLink.

A van carries a landed, disarmed drone and drives it somewhere; a hub worker swaps its battery.
Neither is something an autopilot is told, so the simulator takes them on a separate channel
(only ever on 127.0.0.1): newline-delimited JSON over TCP, one request per line, one reply per
request, in order. `vehicle` is the simulator's vehicle index (sysid - 1).

    request                                                       what it does
    {"id": 1, "op": "ping"}                                       liveness; reply {"vehicles": N}
    {"id": 2, "op": "status", "vehicle": 0}                       the vehicle's state (below)
    {"id": 3, "op": "place", "vehicle": 0,
     "latitude_deg": 60.17, "longitude_deg": 24.94}               move a landed, disarmed vehicle there
    {"id": 4, "op": "attach", "vehicle": 0, "carrier": "van-1"}   stowed on a carrier: arming is refused
                                                                  ("Arm: stowed on van-1") until detach
    {"id": 5, "op": "detach", "vehicle": 0}                       no longer stowed
    {"id": 6, "op": "recharge", "vehicle": 0, "remaining_pct": 100}
                                                                  battery swapped/charged (any state of
                                                                  the pack -> remaining_pct; failsafe cleared)

    reply  {"id": 3, "ok": true, "status": {...}}   or   {"id": 3, "ok": false, "error": "..."}

`status` is {"vehicle", "system_id", "armed", "landed", "latitude_deg", "longitude_deg",
"relative_alt_m", "battery_remaining_pct", "carrier", "home_latitude_deg", "home_longitude_deg"}.
`place` and `attach` refuse an armed or flying vehicle. Moving home needs no channel: it is
MAVLink's MAV_CMD_DO_SET_HOME (and arming resets home to where the vehicle stands, as ArduCopter
does). ArduPilot SITL has no such channel: there a battery swap is MAV_CMD_BATTERY_RESET (42651,
param1 battery mask, param2 percent; ACCEPTED by SITL 4.7 and by this simulator), and a landed
vehicle cannot be moved (SIM_OPOS_* apply only at reboot), so a SITL day flies drones from the hub.

`MavsimControl` is the blocking client (the van simulator and the day runner use it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from mission_planner.errors import FinalMileError
from sim_worlds.mavsim.autopilot import Vehicle

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0


class SimControlError(FinalMileError):
    """The simulator refused a control request (or could not be reached)."""


# ---- pure request handling -------------------------------------------------------------------
def status(vehicle: Vehicle) -> dict[str, Any]:
    """What the control channel reports about one vehicle."""
    latitude_deg, longitude_deg = vehicle.location()
    return {
        "vehicle": vehicle.index,
        "system_id": vehicle.system_id,
        "armed": vehicle.armed,
        "landed": vehicle.landed,
        "latitude_deg": latitude_deg,
        "longitude_deg": longitude_deg,
        "relative_alt_m": vehicle.kin.alt_m,
        "battery_remaining_pct": vehicle.battery.state_of_charge * 100.0,
        "carrier": vehicle.carrier,
        "mission_uploads": vehicle.mission_uploads,  # mission lists accepted since boot (fleet manager restarts)
        "home_latitude_deg": vehicle.home.latitude_deg,
        "home_longitude_deg": vehicle.home.longitude_deg,
    }


def _require_parked(vehicle: Vehicle, op: str) -> None:
    if vehicle.armed or not vehicle.landed:
        what = "armed" if vehicle.armed else "flying"
        raise SimControlError(
            f"{op}: vehicle {vehicle.index} (sysid {vehicle.system_id}) is {what}; "
            "only a landed, disarmed vehicle can be moved or stowed")


GroundModel = Callable[[float, float], float]  # (latitude_deg, longitude_deg) -> ground, m above sea level


def place(vehicle: Vehicle, latitude_deg: float, longitude_deg: float, ground: GroundModel | None = None) -> None:
    """Put a landed, disarmed vehicle at (latitude_deg, longitude_deg), on the ground.

    Without a `ground` model the ground is flat at home's altitude. With one (a world with terrain),
    home moves to the placed point at the ground's altitude there, as arming would: a drone a van
    sets down at a stop up a valley then reports altitudes above sea level that match the terrain.
    """
    _require_parked(vehicle, "place")
    if not (math.isfinite(latitude_deg) and math.isfinite(longitude_deg)) or abs(latitude_deg) > 90 \
            or abs(longitude_deg) > 180:
        raise SimControlError(f"place: ({latitude_deg}, {longitude_deg}) is not a WGS84 lat/lon")
    vehicle.kin.stop()
    if ground is not None:
        try:
            ground_m = float(ground(latitude_deg, longitude_deg))
        except FinalMileError as exc:
            raise SimControlError(f"place: no ground height at ({latitude_deg}, {longitude_deg}): {exc}") from exc
        vehicle.move_home(latitude_deg, longitude_deg, ground_m, announce=False)
        vehicle.kin.x_m = vehicle.kin.y_m = 0.0
    else:
        vehicle.kin.x_m, vehicle.kin.y_m = vehicle.home.to_local(latitude_deg, longitude_deg)
    vehicle.kin.alt_m = 0.0


def attach(vehicle: Vehicle, carrier: str) -> None:
    """Stow a landed, disarmed vehicle on `carrier` (arming refused until `detach`)."""
    _require_parked(vehicle, "attach")
    if not carrier:
        raise SimControlError("attach: carrier must be a non-empty name")
    if vehicle.carrier not in (None, carrier):
        raise SimControlError(f"attach: vehicle {vehicle.index} is already stowed on {vehicle.carrier}")
    vehicle.carrier = carrier


def recharge(vehicle: Vehicle, remaining_pct: float) -> None:
    """The pack is now at `remaining_pct` (swap or charge); clears the battery failsafe."""
    if not (math.isfinite(remaining_pct) and 0 <= remaining_pct <= 100):
        raise SimControlError(f"recharge: remaining_pct must be within 0..100, got {remaining_pct}")
    vehicle.reset_battery(remaining_pct)


def number_field(request: dict[str, Any], name: str) -> float:
    """The request's field `name` as a finite number (SimControlError naming the field otherwise)."""
    value = request.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SimControlError(f"{request.get('op')}: field {name!r} must be a finite number, got {value!r}")
    return float(value)


def vehicle_index(request: dict[str, Any], count: int) -> int:
    """The request's `vehicle` index, checked against `count` vehicles."""
    index = request.get("vehicle")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise SimControlError(f"{request.get('op')}: vehicle must be an index 0..{count - 1}, got {index!r}")
    return index


def handle_request(vehicles: Sequence[Vehicle], request: dict[str, Any],
                   ground: GroundModel | None = None) -> dict[str, Any]:
    """One request -> one reply (never raises: errors are replies with ok false); `ground`: see `place`."""
    request_id = request.get("id")
    try:
        op = request.get("op")
        if op == "ping":
            return {"id": request_id, "ok": True, "vehicles": len(vehicles)}
        vehicle = vehicles[vehicle_index(request, len(vehicles))]
        if op == "place":
            place(vehicle, number_field(request, "latitude_deg"), number_field(request, "longitude_deg"), ground)
        elif op == "attach":
            attach(vehicle, str(request.get("carrier") or ""))
        elif op == "detach":
            vehicle.carrier = None
        elif op == "recharge":
            recharge(vehicle, number_field(request, "remaining_pct"))
        elif op != "status":
            raise SimControlError(f"unknown op {op!r} (ping, status, place, attach, detach, recharge)")
        return {"id": request_id, "ok": True, "status": status(vehicle)}
    except SimControlError as exc:
        return {"id": request_id, "ok": False, "error": str(exc)}


# ---- server (in the simulator's loop) ------------------------------------------------------
async def serve_json_lines(handle: Callable[[dict[str, Any]], dict[str, Any]], host: str,
                           port: int) -> asyncio.Server:
    """A JSON-lines request/reply server: `handle(request) -> reply` for every line (0 = any free port)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("not an object")
                except ValueError:
                    reply: dict[str, Any] = {"id": None, "ok": False, "error": "a request is one JSON object per line"}
                else:
                    reply = handle(request)
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            # Closing the server at shutdown cancels its client tasks: a normal end, not an error
            # (Python 3.11's start_server callback would otherwise log the cancellation as one).
            pass
        finally:
            writer.close()

    return await asyncio.start_server(client, host, port)


async def serve_control(vehicles: Sequence[Vehicle], host: str, port: int,
                        ground: GroundModel | None = None) -> asyncio.Server:
    """Listen for control clients on host:port (0 = any free port); returns the server."""
    return await serve_json_lines(lambda request: handle_request(vehicles, request, ground), host, port)


def control_port(server: asyncio.Server) -> int:
    """The port a control server is bound to."""
    return int(server.sockets[0].getsockname()[1])


# ---- client ----------------------------------------------------------------------------------
class MavsimControl:
    """Blocking client of the control channel: `with MavsimControl("tcp:127.0.0.1:PORT") as control:`."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        scheme, _, rest = url.partition(":")
        host, _, port = rest.removeprefix("//").rpartition(":")
        if scheme != "tcp" or not host or not port.isdigit():
            raise SimControlError(f"sim-control URL {url!r} is not 'tcp:HOST:PORT'")
        self.url = url
        self._address = (host, int(port))
        self.timeout_s = timeout_s
        self._socket: socket.socket | None = None
        self._buffer = b""
        self._next_id = 1

    def __enter__(self) -> MavsimControl:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Open the connection (raises SimControlError naming the URL)."""
        if self._socket is not None:
            return
        try:
            self._socket = socket.create_connection(self._address, timeout=self.timeout_s)
        except OSError as exc:
            raise SimControlError(f"no simulator control channel at {self.url}: {exc}") from exc

    def wait_ready(self, timeout_s: float) -> int:
        """Retry connecting until the simulator answers a ping (a starting simulator); returns its count."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.ping()
            except SimControlError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        """Close the connection; idempotent."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
            self._buffer = b""

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return its reply; SimControlError when refused or timed out."""
        self.connect()
        sock = self._socket
        if sock is None:
            raise SimControlError(f"{op}: not connected to {self.url}")
        request_id = self._next_id
        self._next_id += 1
        try:
            sock.sendall((json.dumps({"id": request_id, "op": op, **fields}) + "\n").encode())
            while b"\n" not in self._buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise SimControlError(f"{op}: {self.url} closed the connection")
                self._buffer += chunk
        except OSError as exc:  # socket.timeout is an OSError
            self.close()
            raise SimControlError(f"{op}: no reply from {self.url} within {self.timeout_s} s: {exc}") from exc
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("id") != request_id:
            self.close()
            raise SimControlError(f"{op}: reply {reply.get('id')} to request {request_id}: channel out of step")
        if not reply.get("ok"):
            raise SimControlError(str(reply.get("error")))
        return reply

    def ping(self) -> int:
        """Number of vehicles the simulator runs."""
        return int(self.request("ping")["vehicles"])

    def status(self, vehicle_index: int) -> dict[str, Any]:
        """The vehicle's state (see the module docstring)."""
        return dict(self.request("status", vehicle=vehicle_index)["status"])

    def place(self, vehicle_index: int, latitude_deg: float, longitude_deg: float) -> dict[str, Any]:
        """Move a landed, disarmed vehicle; returns its new status."""
        reply = self.request("place", vehicle=vehicle_index, latitude_deg=latitude_deg, longitude_deg=longitude_deg)
        return dict(reply["status"])

    def attach(self, vehicle_index: int, carrier: str) -> dict[str, Any]:
        """Stow a landed, disarmed vehicle on `carrier` (it cannot arm until detached)."""
        return dict(self.request("attach", vehicle=vehicle_index, carrier=carrier)["status"])

    def detach(self, vehicle_index: int) -> dict[str, Any]:
        """Unstow the vehicle."""
        return dict(self.request("detach", vehicle=vehicle_index)["status"])

    def recharge(self, vehicle_index: int, remaining_pct: float = 100.0) -> dict[str, Any]:
        """Battery swapped or charged to `remaining_pct`."""
        return dict(self.request("recharge", vehicle=vehicle_index, remaining_pct=remaining_pct)["status"])
