"""ArduCopter's GCS failsafe, configured so that a drone keeps flying its mission through a leader failover.

What ArduCopter (4.x, `ArduCopter/events.cpp`) does when the GCS goes silent: after FS_GCS_TIMEOUT
seconds without a HEARTBEAT from MAV_GCS_SYSID it runs the FS_GCS_ENABLE action (1 RTL, 3 SmartRTL
or RTL, 4 SmartRTL or land, 5 land, 6 DO_LAND_START or RTL, 7 brake or land; 2 was removed in 4.0
and blocks arming) unless an FS_OPTIONS bit keeps the current flight: bit 1 (2) "continue if in
AUTO", bit 3 (8) "continue if landing". Heartbeats coming back clear it ("GCS Failsafe Cleared").

FinalMile's choice (`GcsFailsafe()`): RTL (1), a 15 s timeout (a failover takes up to 10 s, so a
drone hovering in GUIDED survives it too), and the two continue bits added to whatever the vehicle
already had. A drone in AUTO then finishes its delivery whatever happens to the fleet manager, and
comes home anyway: every mission FinalMile uploads ends with NAV_RETURN_TO_LAUNCH. In any other
mode a silence longer than 15 s makes it return. Copter's default bit 4 (16, "continue if pilot control")
is cleared: a FinalMile drone has no pilot, and its BRAKE hold (the monitors' pause before a re-route) is such
a mode, so with the bit a drone whose link dropped during the hold hovered there until its battery failsafe
(ArduCopter SITL: "GCS Failsafe - Continuing Pilot Control").

Which heartbeats count: ArduPilot's `GCS_MAVLINK::handle_heartbeat` refreshes the failsafe's last-seen
time only for a sender `sysid_is_gcs()` accepts, i.e. the GCS system id parameter (GCS.cpp: "what MAVLink
source system IDs are accepted for GCS failsafe handling, RC overrides and manual control"; default 255).
A drone whose parameter names another id never sees FinalMile as its GCS: the failsafe would never arm
(no GCS ever seen) and RC overrides would be dropped. So FinalMile also sets that parameter to its own
source system id at connect. It is `MAV_GCS_SYSID` from ArduCopter 4.7 (converted from the old one at
first boot) and `SYSID_MYGCS` before; the vehicle knows only one of them, so both are asked at once and
the one that answers is set and read back.

And the zones: a drone whose link is lost flies its failsafe RTL in a straight line home, through any no-fly
zone in the way, unless its autopilot plans round the fence itself. ArduCopter does with OA_TYPE 2 (Dijkstra's,
`AC_Avoidance/AP_OADijkstra.cpp`: in AUTO, GUIDED and RTL, round the exclusion polygons and circles FinalMile
uploads as its fence). OA_TYPE takes effect only at boot, so it belongs in the drone's configuration
(the README's parameter list; the simulators boot with it); at connect FinalMile reads it, sets
OA_MARGIN_MAX (how wide the autopilot goes round) and warns when it is off.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from ..errors import AdapterTimeout, CommandRefused
from .mavlink_params import MavlinkParameters

logger = logging.getLogger(__name__)

FS_GCS_ENABLED_ALWAYS_RTL = 1
FS_OPTION_GCS_CONTINUE_IF_AUTO = 1 << 1
FS_OPTION_CONTINUE_IF_LANDING = 1 << 3
FS_OPTION_GCS_CONTINUE_IF_PILOT_CONTROL = 1 << 4
_TIMEOUT_RANGE_S = (2.0, 120.0)  # FS_GCS_TIMEOUT @Range


@dataclass(frozen=True)
class GcsFailsafe:
    """The GCS-failsafe parameters FinalMile sets on a drone at connect (see the module docstring)."""

    enable: int = FS_GCS_ENABLED_ALWAYS_RTL
    timeout_s: float = 15.0
    options_set: int = FS_OPTION_GCS_CONTINUE_IF_AUTO | FS_OPTION_CONTINUE_IF_LANDING
    options_clear: int = FS_OPTION_GCS_CONTINUE_IF_PILOT_CONTROL
    zone_margin_m: float = 10.0  # OA_MARGIN_MAX: how far outside a zone the autopilot's own way round keeps

    def __post_init__(self) -> None:
        if self.enable == 2:
            raise ValueError("FS_GCS_ENABLE=2 was removed from ArduCopter 4.0 (arming refused); use FS_OPTIONS")
        if not 0 <= self.enable <= 7:
            raise ValueError(f"FS_GCS_ENABLE must be 0..7, got {self.enable}")
        if not _TIMEOUT_RANGE_S[0] <= self.timeout_s <= _TIMEOUT_RANGE_S[1]:
            raise ValueError(f"FS_GCS_TIMEOUT must be within {_TIMEOUT_RANGE_S} s, got {self.timeout_s}")
        if not 0.1 <= self.zone_margin_m <= 100.0:
            raise ValueError(f"OA_MARGIN_MAX must be within 0.1..100 m, got {self.zone_margin_m}")


#: The GCS system id parameter: ArduCopter 4.7 and later, then older firmware.
GCS_SYSID_NAMES = ("MAV_GCS_SYSID", "SYSID_MYGCS")


async def gcs_sysid_parameter(params: MavlinkParameters, vehicle_id: str) -> str:
    """The name the vehicle gives its GCS system id (`GCS_SYSID_NAMES`): both read at once, the first answer wins
    (the firmware ignores a read of a name it does not have; that read is cancelled). Neither answering is
    `CommandRefused`; a link lost meanwhile is raised as such."""
    reads: dict[asyncio.Future[float], str] = {asyncio.ensure_future(params.get(name)): name
                                              for name in GCS_SYSID_NAMES}
    failures: list[BaseException] = []
    try:
        pending: set[asyncio.Future[float]] = set(reads)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for read in done:
                error = read.exception()
                if error is None:
                    return reads[read]
                failures.append(error)
    finally:
        for read in reads:
            read.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
    lost = next((error for error in failures if not isinstance(error, AdapterTimeout)), None)
    if lost is not None:
        raise lost
    raise CommandRefused(vehicle_id, "configure_gcs_failsafe()",
                         f"the vehicle answers for none of {', '.join(GCS_SYSID_NAMES)}: not an ArduPilot?")


async def apply_gcs_failsafe(params: MavlinkParameters, vehicle_id: str, config: GcsFailsafe, *,
                             gcs_system_id: int) -> dict[str, float]:
    """Set the GCS system id parameter to `gcs_system_id` (the id FinalMile sends with), FS_GCS_ENABLE,
    FS_GCS_TIMEOUT and FS_OPTIONS (`options_set` on, `options_clear` off, the vehicle's other bits kept), then read
    them back.

    Returns the values read back by name (MAV_GCS_SYSID or SYSID_MYGCS, as the vehicle has it); raises
    `CommandRefused` when one differs from what was set.
    """
    sysid_name = await gcs_sysid_parameter(params, vehicle_id)
    options = (int(await params.get("FS_OPTIONS")) | config.options_set) & ~config.options_clear
    wanted = {sysid_name: float(gcs_system_id), "FS_GCS_ENABLE": float(config.enable),
              "FS_GCS_TIMEOUT": config.timeout_s, "FS_OPTIONS": float(options)}
    for name, value in wanted.items():
        await params.set(name, value)
    # A second read, not the PARAM_SET echo alone: what the autopilot holds is what counts.
    read_back = {name: await params.get(name) for name in wanted}
    for name, value in wanted.items():
        if not math.isclose(read_back[name], value, abs_tol=1e-3):
            raise CommandRefused(vehicle_id, "configure_gcs_failsafe()", f"{name} reads back {read_back[name]}, "
                                 f"not {value}")
    return read_back


OA_TYPES_AROUND_FENCES = (2, 3)  # Dijkstra's, Dijkstra's with BendyRuler


async def apply_fence_avoidance(params: MavlinkParameters, vehicle_id: str, config: GcsFailsafe) -> bool:
    """Whether the autopilot flies round its fence's exclusion zones by itself (OA_TYPE 2 or 3 at boot; OA_MARGIN_MAX
    then set to `config.zone_margin_m`). Off, or a vehicle without the parameter: False and a warning."""
    try:
        oa_type = int(await params.get("OA_TYPE"))
    except AdapterTimeout:
        logger.warning("%s: no OA_TYPE parameter: after a lost link its RTL flies straight home, through any zone",
                       vehicle_id)
        return False
    if oa_type not in OA_TYPES_AROUND_FENCES:
        logger.warning("%s: OA_TYPE %d: after a lost link its RTL flies straight home, through any zone in the way "
                       "(set OA_TYPE 2 and reboot)", vehicle_id, oa_type)
        return False
    await params.set("OA_MARGIN_MAX", config.zone_margin_m)
    return True
