"""Run real ArduCopter SITL drones for a world: N processes, delivery-drone parameters, ready to arm.

`SitlFleet` is a context manager: it starts `count` ArduCopter SITL processes (instance i serves
MAVLink on TCP 127.0.0.1:5760+10·(instance_base+i), as `sim_vehicle.py -I` does), each in a fresh
work directory with its home a few metres from the given home, loads the parameters a delivery
drone needs (fence, battery failsafes, a simulated servo gripper, RTL altitude, waypoint speed)
and reads them back, then waits until every vehicle can arm in GUIDED (EKF has a position). On
exit, Ctrl-C or interpreter shutdown it kills every process group it started.

The binary is the user's own ArduCopter SITL build (`./waf copter` → `build/sitl/bin/arducopter`),
given as `binary=` or through the environment variable FINALMILE_SITL_BINARY.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from mission_planner.errors import FinalMileError
from mission_planner.geodesy import LocalFrame

from .leases import Lease, try_lease
from .process_group import stop_groups

logger = logging.getLogger(__name__)

BINARY_ENV = "FINALMILE_SITL_BINARY"
BASE_PORT = 5760
PORT_STRIDE = 10
MAX_INSTANCE = 255  # SITL keeps -I in one byte: -I350 silently serves on the ports of -I94
SERIAL_PORT_OFFSETS = (0, 2, 3)  # SERIAL0 (the fleet manager), SERIAL1 and SERIAL2 (observers)
GCS_SYSTEM_ID = 255  # ArduPilot's MAV_GCS_SYSID: set-up works with MAV_OPTIONS bit 0 (only the GCS is obeyed)


# What a delivery drone needs on top of ArduCopter's defaults. Looked up in ArduPilot's parameter
# docs (ardupilot.org/copter/docs/parameters.html) and the autotest's gripper test.
DELIVERY_PARAMETERS: Mapping[str, float] = {
    "FENCE_ENABLE": 1,  # fences on at boot
    "FENCE_TYPE": 5,  # bitmask: 1 max altitude + 4 polygon (inclusion/exclusion uploaded by the fleet manager)
    "FENCE_ACTION": 1,  # breach -> RTL, or LAND when RTL is not possible
    "FENCE_ALT_MAX": 120,  # m, the open-category ceiling
    # Dijkstra's round the fence's exclusion zones in AUTO, GUIDED and RTL: a lost link's RTL keeps out of them
    # (only read at boot: hence the defaults file)
    "OA_TYPE": 2,
    "BATT_LOW_VOLT": 10.5,  # V: low-battery failsafe threshold (3S pack, 12.6 V full)
    "BATT_CRT_VOLT": 10.0,  # V: critical threshold
    "BATT_LOW_TIMER": 5,  # s below the threshold before the failsafe triggers
    "BATT_FS_LOW_ACT": 2,  # low battery -> RTL
    "BATT_FS_CRT_ACT": 1,  # critical battery -> LAND
    "GRIP_ENABLE": 1,  # gripper library on
    "GRIP_TYPE": 1,  # servo gripper
    "GRIP_GRAB": 2000,  # PWM us
    "GRIP_RELEASE": 1000,  # PWM us
    "SIM_GRPS_ENABLE": 1,  # SITL's simulated servo gripper
    "SIM_GRPS_PIN": 8,  # ... listening to servo output 8
    "SERVO8_FUNCTION": 28,  # output 8 drives the gripper (function 28 = Gripper)
    "RTL_ALT": 2500,  # cm: return at >= 25 m, above central-Helsinki roofs
    "WPNAV_SPEED": 1000,  # cm/s: 10 m/s cruise between waypoints
}

# The calibration and frame values ArduPilot's autotest loads for a SITL quad (copter.parm): without
# them SITL reports uncalibrated accelerometers and never becomes armable.
SITL_QUAD_DEFAULTS: Mapping[str, float] = {
    "FRAME_CLASS": 1,
    "FRAME_TYPE": 0,
    "FS_THR_ENABLE": 1,
    "BATT_MONITOR": 4,
    "MOT_THST_HOVER": 0.39,
    "MOT_THST_EXPO": 0.65,
    "MOT_BAT_VOLT_MIN": 9.6,
    "MOT_BAT_VOLT_MAX": 12.8,
    "SIM_BARO_RND": 0,
    **{f"COMPASS_OFS{n}_{axis}": value for n in ("", "2", "3") for axis, value in (("X", 5), ("Y", 13), ("Z", -18))},
    **{f"INS_ACC{n}OFFS_{axis}": 0.001 for n in ("", "2") for axis in "XYZ"},
    **{f"INS_ACC{n}SCAL_{axis}": 1.001 for n in ("", "2") for axis in "XYZ"},
    **{f"RC{ch}_{what}": value for ch in range(1, 9) for what, value in (("MIN", 1000), ("MAX", 2000), ("TRIM", 1500))},
}

# Parameters whose value only a reboot applies, so they must be in the defaults file, not set later.
_READ_BACK_TOLERANCE = 1e-3


class SitlError(FinalMileError):
    """SITL cannot be started, configured or made ready."""


def check_instances(instance_base: int, count: int) -> None:
    """Refuse instance numbers SITL would wrap: -I300 silently serves on the ports of -I44."""
    if instance_base < 0 or instance_base + count - 1 > MAX_INSTANCE:
        raise SitlError(
            f"--instance-base {instance_base} with {count} drone(s) needs instances up to {instance_base + count - 1}; "
            f"SITL instances must be 0..{MAX_INSTANCE} (SITL keeps the instance in one byte)"
        )


def sitl_tcp_port(instance: int, serial: int = 0) -> int:
    """The TCP port of SERIAL`serial` of SITL instance `instance`, derived as SITL derives it.

    Raises SitlError for an instance SITL would wrap (outside 0..255) rather than guess its port.
    """
    if not 0 <= instance <= MAX_INSTANCE:
        raise SitlError(f"SITL instance {instance} is outside 0..{MAX_INSTANCE} (SITL keeps it in one byte)")
    return BASE_PORT + PORT_STRIDE * (instance & 0xFF) + SERIAL_PORT_OFFSETS[serial]



@dataclass(frozen=True)
class SitlVehicle:
    """One running SITL drone."""

    index: int
    instance: int
    url: str
    home: tuple[float, float, float, float]  # lat_deg, lon_deg, alt_m, heading_deg
    workdir: Path
    pid: int


def resolve_binary(binary: str | os.PathLike[str] | None) -> Path:
    """The SITL binary from the argument or FINALMILE_SITL_BINARY; raises SitlError naming both otherwise."""
    source = "binary argument (--binary)"
    if binary is None or str(binary) == "":
        binary = os.environ.get(BINARY_ENV) or None
        source = f"environment variable {BINARY_ENV}"
    if binary is None:
        raise SitlError(
            f"no ArduCopter SITL binary: pass --binary PATH (binary=...) or set {BINARY_ENV} "
            "to an arducopter SITL build (./waf copter -> build/sitl/bin/arducopter)"
        )
    path = Path(binary).expanduser()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise SitlError(
            f"ArduCopter SITL binary {str(path)!r} from the {source} is not an executable file; "
            f"fix --binary PATH or {BINARY_ENV}"
        )
    return path.resolve()


def spread_homes(
    home: tuple[float, float, float, float], count: int, spacing_m: float = 5.0
) -> list[tuple[float, float, float, float]]:
    """`count` homes on a grid `spacing_m` apart, centred on `home` (so drones never share a spot)."""
    latitude_deg, longitude_deg, altitude_m, heading_deg = home
    frame = LocalFrame.at(latitude_deg, longitude_deg)
    columns = max(1, int(count**0.5 + 0.999))
    rows = (count + columns - 1) // columns
    homes = []
    for i in range(count):
        x_m = (i % columns - (columns - 1) / 2) * spacing_m
        y_m = (i // columns - (rows - 1) / 2) * spacing_m
        lat, lon = frame.to_wgs84(x_m, y_m)
        homes.append((lat, lon, altitude_m, heading_deg))
    return homes


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class SitlFleet:
    """`count` ArduCopter SITL drones, started on enter and killed (whole process groups) on exit."""

    def __init__(
        self,
        binary: str | os.PathLike[str] | None = None,
        count: int = 1,
        speedup: float = 5,
        home: tuple[float, float, float, float] = (60.1715, 24.9381, 10.0, 0.0),
        instance_base: int = 0,
        workdir: str | os.PathLike[str] | None = None,
        params: Mapping[str, float] | None = None,
        *,
        ready_timeout_s: float = 240.0,
        home_spacing_m: float = 5.0,
        wait_armable: bool = True,
    ) -> None:
        if count < 1:
            raise SitlError(f"count must be >= 1, got {count}")
        if speedup <= 0:
            raise SitlError(f"speedup must be > 0, got {speedup}")
        check_instances(instance_base, count)
        self.binary = resolve_binary(binary)
        self.count = count
        self.speedup = speedup
        self.home = home
        self.instance_base = instance_base
        self.params: dict[str, float] = {**DELIVERY_PARAMETERS, **(params or {})}
        self.ready_timeout_s = ready_timeout_s
        self.wait_armable = wait_armable  # False: return once parameters are set (for tests of refusals)
        self._root = Path(workdir) if workdir is not None else None
        self._homes = spread_homes(home, count, home_spacing_m)
        self._processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._tempdirs: list[Path] = []
        self._leases: list[Lease] = []
        self.vehicles: tuple[SitlVehicle, ...] = ()

    @property
    def urls(self) -> tuple[str, ...]:
        """MAVLink URLs of the running drones (`tcp:127.0.0.1:PORT`), in order."""
        return tuple(v.url for v in self.vehicles)

    def __enter__(self) -> SitlFleet:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start every process, configure it and wait until each can arm in GUIDED; cleans up on failure."""
        atexit.register(self.stop)
        try:
            vehicles = [self._launch(i) for i in range(self.count)]
            with concurrent.futures.ThreadPoolExecutor(max_workers=self.count) as pool:
                list(pool.map(self._prepare, vehicles))
            self.vehicles = tuple(vehicles)
        except BaseException:
            self.stop()
            raise
        logger.info("SITL fleet ready: %s", ", ".join(self.urls))

    def stop(self) -> None:
        """Kill every process group started (TERM, then KILL after 3 s) and remove temporary work dirs."""
        processes, self._processes = self._processes, []
        stop_groups(processes, grace_s=3.0)
        for log in self._logs:
            log.close()
        self._logs = []
        for path in self._tempdirs:
            shutil.rmtree(path, ignore_errors=True)
        self._tempdirs = []
        for lease in self._leases:
            lease.release()
        self._leases = []
        self.vehicles = ()
        atexit.unregister(self.stop)

    def dead(self) -> list[int]:
        """Indices of drones whose SITL process has exited."""
        return [i for i, p in enumerate(self._processes) if p.poll() is not None]

    # ------------------------------------------------------------------ one vehicle

    def _workdir(self, index: int, instance: int) -> Path:
        if self._root is None:
            path = Path(tempfile.mkdtemp(prefix=f"finalmile-sitl-{instance}-"))
            self._tempdirs.append(path)
            return path
        path = self._root / f"sitl-{instance}"
        if path.exists():
            shutil.rmtree(path)  # a fresh vehicle: no stored mission, fence or parameters
        path.mkdir(parents=True)
        return path

    def _launch(self, index: int) -> SitlVehicle:
        instance = self.instance_base + index
        port = sitl_tcp_port(instance)
        # Another FinalMile process may have picked this instance and not bound its ports yet: the lease,
        # held until stop(), makes the pick exclusive on this machine (the port probe alone races).
        lease = try_lease("sitl-instance", instance)
        if lease is None:
            raise SitlError(f"SITL instance {instance} is in use by another FinalMile process; choose another "
                            "instance_base")
        self._leases.append(lease)
        for busy in (sitl_tcp_port(instance, serial) for serial in range(len(SERIAL_PORT_OFFSETS))):
            if not _port_free(busy):
                raise SitlError(f"TCP port {busy} for SITL instance {instance} is in use; choose another instance_base")
        workdir = self._workdir(index, instance)
        defaults = workdir / "finalmile.parm"
        defaults.write_text(
            "".join(f"{name} {value:g}\n" for name, value in {**SITL_QUAD_DEFAULTS, **self.params}.items())
        )
        home = self._homes[index]
        command = [
            str(self.binary), "--model", "+", "--speedup", f"{self.speedup:g}", "--defaults", str(defaults),
            f"-I{instance}", "--home", ",".join(f"{v:.7f}" if i < 2 else f"{v:g}" for i, v in enumerate(home)),
        ]  # fmt: skip
        log = (workdir / "sitl.log").open("wb")
        self._logs.append(log)
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self._processes.append(process)
        logger.info("SITL instance %d (pid %d) on tcp:127.0.0.1:%d in %s", instance, process.pid, port, workdir)
        return SitlVehicle(index, instance, f"tcp:127.0.0.1:{port}", home, workdir, process.pid)

    def _prepare(self, vehicle: SitlVehicle) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        conn = _connect(vehicle, deadline)
        try:
            _check_parameters(conn, vehicle, self.params, deadline)
            if self.wait_armable:
                _wait_armable(conn, vehicle, deadline)
        finally:
            conn.close()  # SERIAL0 serves one client at a time: leave it to the fleet manager


def start_on_free_instances(
    binary: str | os.PathLike[str] | None, count: int, *, lowest: int = 20, tries: int = 5, **kwargs: Any
) -> SitlFleet:
    """A started SitlFleet on a random instance base >= `lowest`, drawing again (up to `tries` times) when an
    instance is leased by another FinalMile process or its ports are taken by a foreign one."""
    last: SitlError | None = None
    for _ in range(tries):
        fleet = SitlFleet(binary, count=count, instance_base=random.randrange(lowest, MAX_INSTANCE - count + 2),
                          **kwargs)
        try:
            fleet.start()
            return fleet
        except SitlError as exc:
            if "in use" not in str(exc):
                raise
            last = exc
    raise SitlError(f"no free SITL instance range after {tries} tries: {last}")


# ---------------------------------------------------------------------- blocking MAVLink helpers
# Plain pymavlink in one thread per vehicle: set-up runs once, before any asyncio fleet manager.


def _connect(vehicle: SitlVehicle, deadline: float) -> Any:
    from pymavlink import mavutil

    port = int(vehicle.url.rsplit(":", 1)[1])
    while True:
        try:
            conn = mavutil.mavlink_connection(
                f"tcp:127.0.0.1:{port}", source_system=GCS_SYSTEM_ID, source_component=191, retries=0
            )
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                raise SitlError(f"SITL instance {vehicle.instance}: cannot connect to {vehicle.url}: {exc}") from exc
            time.sleep(0.2)
    heartbeat = conn.wait_heartbeat(timeout=max(1.0, deadline - time.monotonic()))
    if heartbeat is None:
        conn.close()
        raise SitlError(
            f"SITL instance {vehicle.instance}: no HEARTBEAT on {vehicle.url}; see {vehicle.workdir}/sitl.log"
        )
    return conn


def _request(conn: Any, send: Any, match: Any, timeout_s: float, tries: int = 5) -> Any:
    for _ in range(tries):
        send()
        end = time.monotonic() + timeout_s / tries
        while (remaining := end - time.monotonic()) > 0:
            msg = conn.recv_match(blocking=True, timeout=remaining)
            if msg is not None and match(msg):
                return msg
    return None


def _check_parameters(conn: Any, vehicle: SitlVehicle, params: Mapping[str, float], deadline: float) -> None:
    """Read every delivery parameter back; set (and re-read) any that the defaults file did not apply."""
    target = (conn.target_system, conn.target_component)

    def read(name: str) -> float | None:
        msg = _request(
            conn,
            lambda: conn.mav.param_request_read_send(*target, name.encode(), -1),
            lambda m: m.get_type() == "PARAM_VALUE" and m.param_id == name,
            timeout_s=5.0,
        )
        return None if msg is None else float(msg.param_value)

    for name, wanted in params.items():
        value = read(name)
        if value is None or abs(value - wanted) > _READ_BACK_TOLERANCE * max(1.0, abs(wanted)):
            conn.mav.param_set_send(*target, name.encode(), float(wanted), 9)
            value = read(name)
        if value is None:
            raise SitlError(f"SITL instance {vehicle.instance}: parameter {name} does not exist on this firmware")
        if abs(value - wanted) > _READ_BACK_TOLERANCE * max(1.0, abs(wanted)):
            raise SitlError(f"SITL instance {vehicle.instance}: parameter {name} reads back {value}, wanted {wanted}")
        if time.monotonic() > deadline:
            raise SitlError(f"SITL instance {vehicle.instance}: timed out setting parameters")
    logger.info("SITL instance %d: %d parameters read back", vehicle.instance, len(params))


def _command(conn: Any, command: int, *params: float, timeout_s: float = 3.0) -> int | None:
    padded = [float(p) for p in params] + [0.0] * (7 - len(params))
    msg = _request(
        conn,
        lambda: conn.mav.command_long_send(conn.target_system, conn.target_component, command, 0, *padded),
        lambda m: m.get_type() == "COMMAND_ACK" and m.command == command,
        timeout_s=timeout_s,
        tries=2,
    )
    return None if msg is None else int(msg.result)


def _wait_armable(conn: Any, vehicle: SitlVehicle, deadline: float) -> None:
    """Try to arm in GUIDED about once a (wall) second until ArduCopter accepts, then disarm."""
    from pymavlink import mavutil

    mav = mavutil.mavlink
    last_text = ""
    while time.monotonic() < deadline:
        if _command(conn, mav.MAV_CMD_DO_SET_MODE, mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4) == 0:
            result = _command(conn, mav.MAV_CMD_COMPONENT_ARM_DISARM, 1)
            if result == 0:
                _command(conn, mav.MAV_CMD_COMPONENT_ARM_DISARM, 0)
                logger.info("SITL instance %d: armable in GUIDED", vehicle.instance)
                return
        end = time.monotonic() + 1.0
        while (remaining := end - time.monotonic()) > 0:
            msg = conn.recv_match(type="STATUSTEXT", blocking=True, timeout=remaining)
            if msg is not None:
                last_text = msg.text
    raise SitlError(
        f"SITL instance {vehicle.instance}: not armable in GUIDED within the timeout "
        f"(last message {last_text!r}); see {vehicle.workdir}/sitl.log"
    )
