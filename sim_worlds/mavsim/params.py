"""A small ArduCopter parameter table with the real names, defaults and MAVLink types.

Defaults are ArduCopter 4.7's, overlaid with the autotest `copter.parm` values SITL runs with
(WPNAV_SPEED 1000, BATT_MONITOR 4, ...), plus a fitted servo gripper (GRIP_ENABLE 1) because every
simulated vehicle is a delivery drone. `SIM_*` names are simulator knobs; the ones SITL also has
(SIM_WIND_SPD, SIM_WIND_DIR, SIM_BATT_CAP_AH, SIM_GPS_DISABLE) keep SITL's meaning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mission_planner.errors import FinalMileError

# MAV_PARAM_TYPE values used by ArduPilot on the wire.
INT8 = 2
INT16 = 4
INT32 = 6
REAL32 = 9


class ParamError(FinalMileError):
    """A parameter name or value is not acceptable."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its name, MAVLink type and default value."""

    name: str
    param_type: int
    default: float


_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("ARMING_CHECK", INT32, 1),
    ParamSpec("AUTO_OPTIONS", INT32, 0),
    ParamSpec("BATT_ARM_MAH", INT32, 0),
    ParamSpec("BATT_ARM_VOLT", REAL32, 0.0),
    ParamSpec("BATT_CAPACITY", INT32, 3300),
    ParamSpec("BATT_CRT_MAH", REAL32, 0.0),
    ParamSpec("BATT_CRT_VOLT", REAL32, 0.0),
    ParamSpec("BATT_FS_CRT_ACT", INT8, 0),
    ParamSpec("BATT_FS_LOW_ACT", INT8, 0),
    ParamSpec("BATT_LOW_MAH", REAL32, 0.0),
    ParamSpec("BATT_LOW_TIMER", INT8, 10),
    ParamSpec("BATT_LOW_VOLT", REAL32, 10.5),
    ParamSpec("BATT_MONITOR", INT8, 4),
    ParamSpec("DID_ENABLE", INT8, 0),
    ParamSpec("DID_MAVPORT", INT8, -1),
    ParamSpec("DID_OPTIONS", INT16, 0),
    ParamSpec("DISARM_DELAY", INT8, 10),
    ParamSpec("FENCE_ACTION", INT8, 1),
    ParamSpec("FENCE_ALT_MAX", REAL32, 100.0),
    ParamSpec("FENCE_ALT_MIN", REAL32, -10.0),
    ParamSpec("FENCE_ENABLE", INT8, 0),
    ParamSpec("FENCE_MARGIN", REAL32, 2.0),
    ParamSpec("FENCE_RADIUS", REAL32, 150.0),
    ParamSpec("FENCE_TYPE", INT8, 7),
    ParamSpec("FS_GCS_ENABLE", INT8, 0),
    ParamSpec("FS_GCS_TIMEOUT", REAL32, 5.0),
    ParamSpec("FS_OPTIONS", INT32, 16),  # Copter default: GCS_CONTINUE_IF_PILOT_CONTROL
    ParamSpec("FS_THR_ENABLE", INT8, 1),
    ParamSpec("GRIP_ENABLE", INT8, 1),
    ParamSpec("GRIP_TYPE", INT8, 1),
    ParamSpec("LAND_SPEED", INT16, 50),
    ParamSpec("LAND_SPEED_HIGH", INT16, 0),
    ParamSpec("MAV_GCS_SYSID", INT16, 255),
    ParamSpec("MAV_OPTIONS", INT16, 0),
    ParamSpec("OA_MARGIN_MAX", REAL32, 5.0),
    ParamSpec("OA_TYPE", INT8, 0),
    ParamSpec("MIS_RESTART", INT8, 0),
    ParamSpec("PILOT_TKOFF_ALT", REAL32, 0.0),
    ParamSpec("RC3_DZ", INT16, 30),
    ParamSpec("RC3_MIN", INT16, 1000),
    ParamSpec("RC_OVERRIDE_TIME", REAL32, 3.0),
    ParamSpec("RTL_ALT", INT32, 1500),
    ParamSpec("RTL_ALT_TYPE", INT8, 0),  # 0 relative to home, 1 above terrain (Copter 4.x)
    ParamSpec("RTL_LOIT_TIME", INT32, 5000),
    ParamSpec("RTL_SPEED", REAL32, 0.0),
    ParamSpec("SERIAL0_PROTOCOL", INT8, 2),
    ParamSpec("SIM_BATT_CAP_AH", REAL32, 0.0),
    ParamSpec("SIM_GPS_DISABLE", INT8, 0),
    ParamSpec("SIM_PAYLOAD_KG", REAL32, 1.0),
    ParamSpec("SIM_WIND_DIR", REAL32, 180.0),
    ParamSpec("SIM_WIND_SPD", REAL32, 0.0),
    ParamSpec("TERRAIN_ENABLE", INT8, 1),
    ParamSpec("WPNAV_ACCEL", REAL32, 250.0),
    ParamSpec("WPNAV_RADIUS", REAL32, 200.0),
    ParamSpec("WPNAV_SPEED", REAL32, 1000.0),
    ParamSpec("WPNAV_SPEED_DN", REAL32, 150.0),
    ParamSpec("WPNAV_SPEED_UP", REAL32, 250.0),
    ParamSpec("WPNAV_TER_MARGIN", REAL32, 10.0),  # m: terrain following slows to hold the height within it
)

_INT_RANGES = {INT8: (-128, 127), INT16: (-32768, 32767), INT32: (-(2**31), 2**31 - 1)}


#: Names ArduCopter 4.7 gave parameters that older firmware still has under their old name (GCS.cpp's
#: MAV_GCS_SYSID was Parameters.cpp's SYSID_MYGCS, converted at first boot of 4.7).
NAMES_BEFORE_4_7 = {"MAV_GCS_SYSID": "SYSID_MYGCS"}


class ParamTable:
    """Current values of one vehicle's parameters, in a fixed (sorted) index order.

    `names_before_4_7`: the vehicle speaks of the parameters in `NAMES_BEFORE_4_7` by their old names on the
    wire, as an ArduCopter before 4.7 does (the new name is unknown to it); the simulator's own code keeps
    asking by the 4.7 name.
    """

    def __init__(self, overrides: dict[str, float] | None = None, *, names_before_4_7: bool = False) -> None:
        self._current = dict(NAMES_BEFORE_4_7) if names_before_4_7 else {}
        specs = [ParamSpec(self._current.get(s.name, s.name), s.param_type, s.default) for s in _SPECS]
        self._specs = {spec.name: spec for spec in sorted(specs, key=lambda spec: spec.name)}
        self._names = list(self._specs)
        self._values = {spec.name: float(spec.default) for spec in self._specs.values()}
        for name, value in (overrides or {}).items():
            self.set(name, value)

    @property
    def count(self) -> int:
        """Number of parameters (PARAM_VALUE.param_count)."""
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._specs  # the names on the wire

    def get(self, name: str) -> float:
        """Value of `name`; ParamError if there is no such parameter."""
        name = self._current.get(name, name)
        if name not in self._values:
            raise ParamError(f"no parameter named {name!r}")
        return self._values[name]

    def set(self, name: str, value: float) -> float:
        """Set `name` (rounded/clamped to its type as ArduPilot stores it) and return the stored value."""
        name = self._current.get(name, name)
        spec = self._specs.get(name)
        if spec is None:
            raise ParamError(f"no parameter named {name!r}")
        if not math.isfinite(value):
            raise ParamError(f"parameter {name} value {value!r} is not a finite number")
        if spec.param_type in _INT_RANGES:
            low, high = _INT_RANGES[spec.param_type]
            value = float(min(high, max(low, round(value))))
        self._values[name] = float(value)
        return self._values[name]

    def index_of(self, name: str) -> int:
        """Position of `name` in PARAM_REQUEST_LIST order."""
        return self._names.index(self._current.get(name, name))

    def name_at(self, index: int) -> str | None:
        """Name at `index`, or None when out of range."""
        return self._names[index] if 0 <= index < len(self._names) else None

    def type_of(self, name: str) -> int:
        """MAV_PARAM_TYPE of `name`."""
        return self._specs[self._current.get(name, name)].param_type

    def names(self) -> list[str]:
        """All names in index order."""
        return list(self._names)


def parse_overrides(items: list[str] | None) -> dict[str, float]:
    """Parse `NAME=VALUE` strings (the CLI's --param) into a dict; ParamError names the bad item."""
    result: dict[str, float] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ParamError(f"--param {item!r} is not NAME=VALUE")
        try:
            result[name.strip().upper()] = float(text)
        except ValueError as exc:
            raise ParamError(f"--param {item!r}: value {text!r} is not a number") from exc
    return result
