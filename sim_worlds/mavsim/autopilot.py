"""One simulated ArduCopter: boot timeline, arming checks, flight modes, failsafes, gripper.

Everything here runs in simulated seconds (`now_s`) handed in by the runner; nothing blocks and
nothing does I/O except through the vehicle's links. Message handling lives in `commands.py`,
the AUTO mission in `mission_executor.py`, the outgoing telemetry in `telemetry.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from mission_planner.errors import FinalMileError
from sim_worlds.mavsim import modes
from sim_worlds.mavsim.avoidance import ERROR_REPORT_S, FenceAvoidance, NoPath
from sim_worlds.mavsim.battery import Battery
from sim_worlds.mavsim.fence import FENCE_TYPE_ALT_MIN, FENCE_TYPE_POLYGON, Fence, FenceVertex, breaches, validate
from sim_worlds.mavsim.guidance import FlightSettings, Nav, NavKind, RtlPhase, advance, rtl_nav
from sim_worlds.mavsim.link import Link
from sim_worlds.mavsim.mission_executor import MissionExecutor
from sim_worlds.mavsim.mission_protocol import FENCE, MISSION, MissionItem, MissionProtocol
from sim_worlds.mavsim.params import ParamTable
from sim_worlds.mavsim.physics import GeoOrigin, Kinematics, Limits, stopping_point, wind_vector
from sim_worlds.mavsim.rc import RcInput
from sim_worlds.mavsim.remote_id import RemoteIdState, pre_arm_failure, warnings_due

logger = logging.getLogger(__name__)

SEV_CRITICAL = mavlink.MAV_SEVERITY_CRITICAL
SEV_WARNING = mavlink.MAV_SEVERITY_WARNING
SEV_NOTICE = mavlink.MAV_SEVERITY_NOTICE
SEV_INFO = mavlink.MAV_SEVERITY_INFO
SEV_DEBUG = mavlink.MAV_SEVERITY_DEBUG

MAX_SUBSTEP_S = 0.05
GRIPPER_ACTION_S = 3.0  # AP_Gripper_Servo's servo travel time before "released"/"grabbed"
LANDED_DISARM_S = 1.0  # land detector + disarm after touchdown, as seen on SITL
PREARM_REPORT_S = 30.0
# A ground station's heartbeats come once a wall second, whatever the speed-up: at k x, FS_GCS_TIMEOUT of vehicle
# time is FS_GCS_TIMEOUT/k of wall time (0.125 s for 15 s at 120x), shorter than the heartbeat period, and the
# failsafe would trip between two heartbeats (arming refused: "GCS failsafe on"). The simulator also waits this
# much wall time of silence (at 1x nothing changes), as it does for mission uploads.
GCS_TIMEOUT_MIN_WALL_S = 3.0
_FS_GCS_CONTINUE_IF_AUTO = 1 << 1  # Copter FailsafeOption bits (FS_OPTIONS)
_FS_CONTINUE_IF_LANDING = 1 << 3
_FS_GCS_CONTINUE_IF_PILOT_CONTROL = 1 << 4  # Copter's default FS_OPTIONS (16)


class PowerModel(Protocol):
    """The planner's multirotor energy model (mission_planner.energy.MultirotorModel)."""

    @property
    def battery_capacity_wh(self) -> float:
        """Usable pack energy."""
        ...

    def power_w(self, payload_kg: float, airspeed_m_s: float, climb_rate_m_s: float = 0.0) -> float:
        """Electrical power drawn in this flight condition."""
        ...


@dataclass(frozen=True)
class BootTimeline:
    """Simulated seconds after the first client connects until each boot stage.

    SITL: ready 1.5 s, GPS fix 9 s, EKF origin (home) 19 s, EKF using GPS (armable in GUIDED) 41 s.
    The default here is shorter (20 s to armable) but keeps the order, so a ground station sees
    the same refusals in the same sequence; `scaled(ekf_gps_s)` stretches or shrinks it.
    """

    ready_s: float = 1.5
    gps_fix_s: float = 6.0
    origin_s: float = 12.0
    ekf_gps_s: float = 20.0

    @classmethod
    def scaled(cls, ekf_gps_s: float) -> BootTimeline:
        """The default timeline stretched so that the EKF uses GPS at `ekf_gps_s` (ready stays <= 1.5 s)."""
        if ekf_gps_s <= 0:
            raise ValueError(f"ekf_gps_s must be > 0, got {ekf_gps_s}")
        factor = ekf_gps_s / cls.ekf_gps_s
        return cls(min(1.5, 1.5 * factor), 6.0 * factor, 12.0 * factor, ekf_gps_s)


@dataclass(frozen=True)
class ReleaseEvent:
    """Where and when the gripper let the parcel go."""

    system_id: int
    time_s: float
    latitude_deg: float
    longitude_deg: float
    relative_alt_m: float


@dataclass
class Failsafes:
    """Active failsafe flags."""

    battery: int = 0  # 0 none, 1 low, 2 critical
    gcs: bool = False
    fence_breaches: int = 0
    low_volt_since_s: float | None = None
    crit_volt_since_s: float | None = None


@dataclass
class GripperState:
    """Servo gripper: releasing/grabbing completes after GRIPPER_ACTION_S."""

    released: bool = False
    pending: str | None = None  # "released" / "grabbed"
    done_at_s: float = 0.0
    releases: list[ReleaseEvent] = field(default_factory=list)


class Vehicle:
    """A quadcopter running (a model of) ArduCopter."""

    def __init__(
        self,
        index: int,
        home: GeoOrigin,
        power_model: PowerModel,
        params: ParamTable,
        timeline: BootTimeline | None = None,
        on_release: Callable[[ReleaseEvent], None] | None = None,
        ground: Callable[[float, float], float] | None = None,
    ) -> None:
        self.index = index
        # (lat, lon) -> ground m above sea level (a world's elevation model); None: flat ground at home's altitude
        self.ground = ground
        self.system_id = index + 1
        self.home = home
        self.params = params
        self.power_model = power_model
        self.timeline = timeline or BootTimeline()
        self.on_release = on_release
        self.links: list[Link] = []
        self.boot_s: float | None = None
        self.now_s = 0.0
        self.kin = Kinematics()
        self.nav = Nav()
        self.mode = modes.STABILIZE
        self.armed = False
        self.landed = True
        self.touchdown_s: float | None = None
        self.armed_idle_since_s: float | None = None
        self.home_set = False
        self.home_locked = False  # a GCS set home (DO_SET_HOME): arming no longer moves it (AP_Arming_Copter::arm)
        self.gps_fix = False
        self.ekf_gps = False
        capacity_wh = params.get("SIM_BATT_CAP_AH") * 11.1 or power_model.battery_capacity_wh
        self.battery = Battery(capacity_wh=capacity_wh, cells=3)
        params.set("BATT_CAPACITY", round(self.battery.capacity_mah))
        self.failsafe = Failsafes()
        self.gripper = GripperState()
        # The parcel hangs in the gripper whatever the servo reports: AP_Gripper opens at boot.
        self.payload_attached = True
        self.fence = Fence()
        self.avoidance = FenceAvoidance(int(params.get("OA_TYPE")))  # OA_TYPE takes effect at boot
        self._avoiding: Nav | None = None  # the target the planner's path leads to
        self.mission: list[MissionItem] = []
        self.mission_uploads = 0  # mission lists accepted (MISSION_COUNT..MISSION_ACK) since boot
        self.rally: list[MissionItem] = []
        self.protocol = MissionProtocol(self)
        self.executor = MissionExecutor(self)
        self.speed_override_m_s: float | None = None
        self.climb_override_m_s: float | None = None
        self.descent_override_m_s: float | None = None
        self.last_gcs_heartbeat_s: float | None = None
        self.last_gcs_heartbeat_wall_s = 0.0  # time.monotonic() of that heartbeat
        self.remote_id = RemoteIdState()
        self.rc = RcInput()
        self.auto_armed = False  # ArduCopter's ap.auto_armed: throttle raised (or a GUIDED take-off) since arming
        self.origin: GeoOrigin | None = None  # the EKF origin (LOCAL_POSITION_NED's zero), set once at boot
        self._remote_id_due_s = 0.0
        self.signing_key: bytes | None = None  # set by SETUP_SIGNING: every link signs, all but TCP require it
        self.signing_timestamp = 0
        self._last_prearm_report_s = 0.0
        self._booted_events: set[str] = set()
        self._heartbeat_due_s = 0.0
        self._timesync_due_s = 0.0
        # Simulation only (sim_control): the van this landed vehicle rides on, or None.
        self.carrier: str | None = None

    # ---- time and boot -------------------------------------------------------------------
    @property
    def boot_age_s(self) -> float:
        """Simulated seconds since boot (0 before the first connection)."""
        return 0.0 if self.boot_s is None else self.now_s - self.boot_s

    @property
    def time_boot_ms(self) -> int:
        """Milliseconds since boot, for message timestamps."""
        return int(self.boot_age_s * 1000.0) & 0xFFFFFFFF

    def start_boot(self, now_s: float) -> None:
        """SITL starts simulating when its first client connects; so does this vehicle."""
        if self.boot_s is None:
            self.boot_s = now_s
            self.now_s = now_s
            self._heartbeat_due_s = now_s
            self._timesync_due_s = now_s + 10.0

    def _boot_events(self) -> None:
        age = self.boot_age_s
        timeline = self.timeline

        def once(name: str, at_s: float) -> bool:
            if age >= at_s and name not in self._booted_events:
                self._booted_events.add(name)
                return True
            return False

        if once("ready", timeline.ready_s):
            self.statustext(SEV_INFO, "ArduPilot Ready")
            self.statustext(SEV_INFO, "AHRS: EKF3 active")
            if self.params.get("GRIP_ENABLE") >= 1:
                self._start_gripper("released")  # AP_Gripper_Servo::init_gripper() releases at boot
        if self.params.get("SIM_GPS_DISABLE") >= 1:
            return
        if once("gps", timeline.gps_fix_s):
            self.gps_fix = True
            self.statustext(SEV_INFO, "GPS 1: detected u-blox")
        if once("origin", timeline.origin_s):
            self.home_set = True
            self.origin = self.home
            self.fence.reindex(self.home)
            self.statustext(SEV_INFO, "EKF3 IMU0 origin set")
            self.statustext(SEV_INFO, f"Field Elevation Set: {self.home.altitude_amsl_m:.0f}m")
            self.statustext(SEV_INFO, "EKF3 IMU1 origin set")
            from sim_worlds.mavsim import telemetry  # local: telemetry imports this module's types

            self.broadcast(telemetry.gps_global_origin(self))
            self.broadcast(telemetry.home_position(self))
        if once("ekf", timeline.ekf_gps_s):
            self.ekf_gps = True
            self.statustext(SEV_INFO, "EKF3 IMU0 is using GPS")
            self.statustext(SEV_INFO, "EKF3 IMU1 is using GPS")

    # ---- output ----------------------------------------------------------------------------
    def add_link(self, link: Link) -> None:
        """A new link (TCP client, UDP peer): signed from the start when a signing key is set."""
        if self.signing_key is not None:
            link.enable_signing(self.signing_key, self.signing_timestamp)
        self.links.append(link)

    def setup_signing(self, key: bytes, initial_timestamp: int) -> bool:
        """SETUP_SIGNING: every link signs with `key` from now on (an all-zero key and timestamp turn it off)."""
        if self.armed:
            self.statustext(SEV_WARNING, "ERROR: Won't setup signing when armed")
            return False
        if not any(key) and initial_timestamp == 0:
            self.signing_key = None
            self.statustext(SEV_INFO, "Signing disabled: restart links to accept unsigned frames")
            return True
        self.signing_key, self.signing_timestamp = bytes(key), initial_timestamp
        for link in self.links:
            link.enable_signing(self.signing_key, initial_timestamp)
        return True

    def broadcast(self, message: Any) -> None:
        """Send to every link (HEARTBEAT, HOME_POSITION...)."""
        for link in self.links:
            link.send(message)

    def broadcast_active(self, message: Any) -> None:
        """Send to links that have spoken MAVLink to us (STATUSTEXT, MISSION_ITEM_REACHED)."""
        for link in self.links:
            if link.active:
                link.send(message)

    def statustext(self, severity: int, text: str) -> None:
        """STATUSTEXT to every active link, as ArduPilot's gcs().send_text()."""
        logger.debug("sysid %d: %s", self.system_id, text)
        self.broadcast_active(mavlink.MAVLink_statustext_message(severity, text.encode()[:50]))

    # ---- settings from parameters ---------------------------------------------------------
    def flight_settings(self) -> FlightSettings:
        """Controller limits from WPNAV_*/RTL_*/LAND_* (and DO_CHANGE_SPEED overrides)."""
        get = self.params.get
        speed = self.speed_override_m_s or get("WPNAV_SPEED") / 100.0
        climb = self.climb_override_m_s or get("WPNAV_SPEED_UP") / 100.0
        descent = self.descent_override_m_s or get("WPNAV_SPEED_DN") / 100.0
        return FlightSettings(
            limits=Limits(speed_m_s=max(0.2, speed), climb_m_s=max(0.1, climb),
                          descent_m_s=max(0.1, descent), accel_m_s2=max(0.5, get("WPNAV_ACCEL") / 100.0)),
            arrive_radius_m=max(0.05, get("WPNAV_RADIUS") / 100.0),
            rtl_alt_m=get("RTL_ALT") / 100.0,
            rtl_loiter_s=get("RTL_LOIT_TIME") / 1000.0,
            land_speed_m_s=max(0.1, get("LAND_SPEED") / 100.0),
            land_speed_high_m_s=(get("LAND_SPEED_HIGH") / 100.0) or max(0.1, descent),
            # ArduCopter flies RTL in the terrain frame only with terrain data; mavsim's "database" is the world's
            # elevation model (a real autopilot gets it from the ground station's TERRAIN_DATA answers)
            rtl_terrain=(get("RTL_ALT_TYPE") == 1 and get("TERRAIN_ENABLE") == 1 and self.ground is not None),
            terrain_margin_m=get("WPNAV_TER_MARGIN"),
        )

    def rtl_settings_speed(self) -> float:
        """RTL_SPEED (cm/s) or WPNAV_SPEED."""
        return self.params.get("RTL_SPEED") / 100.0 or self.flight_settings().limits.speed_m_s

    @property
    def position_ok(self) -> bool:
        """EKF has an absolute horizontal position."""
        return self.ekf_gps

    def location(self) -> tuple[float, float]:
        """(latitude_deg, longitude_deg) now."""
        return self.home.to_wgs84(self.kin.x_m, self.kin.y_m)

    # ---- arming ----------------------------------------------------------------------------
    def arming_failure(self) -> str | None:
        """The first reason ArduCopter would give for refusing to arm now, or None."""
        failures = self.arming_failures()
        return failures[0] if failures else None

    def arming_failures(self) -> list[str]:
        """Every reason ArduCopter gives for refusing to arm now, in its order (one `Arm: ` text each)."""
        get = self.params.get
        if self.boot_age_s < self.timeline.ready_s:
            return ["System not initialised"]
        checks = int(get("ARMING_CHECK"))
        if self.carrier is not None:
            return [f"stowed on {self.carrier}"]
        failures: list[str] = []
        if checks:
            if not self.home_set:
                failures.append("AHRS: waiting for home")
            elif self.mode in modes.REQUIRES_POSITION and not self.position_ok:
                failures.append("Need Position Estimate")
            battery = self.battery_check_failure()
            if battery:
                failures.append(battery)
            if self.failsafe.gcs:
                failures.append("GCS failsafe on")
            avoidance = self.avoidance.pre_arm_failure(int(get("OA_TYPE")))
            if avoidance:
                failures.append(avoidance)
        remote_id = pre_arm_failure(self.remote_id, self.params, self.now_s)
        if remote_id:
            failures.append(f"OpenDroneID: {remote_id}")
        if failures:
            return failures
        if self.mode in modes.NOT_ARMABLE or (self.mode == modes.AUTO and not int(get("AUTO_OPTIONS")) & 1):
            return [f"{modes.NAMES[self.mode]} mode not armable"]
        return []

    def battery_check_failure(self) -> str | None:
        """AP_BattMonitor's arming check text."""
        get = self.params.get
        volts = self.battery.voltage_v
        remaining_mah = get("BATT_CAPACITY") - self.battery.consumed_mah
        problems = (
            (get("BATT_ARM_VOLT") > 0 and volts < get("BATT_ARM_VOLT"), "below minimum arming voltage"),
            (get("BATT_ARM_MAH") > 0 and remaining_mah < get("BATT_ARM_MAH"), "below minimum arming capacity"),
            (self.failsafe.battery >= 1 and self._low_by_voltage(), "low voltage failsafe"),
            (self.failsafe.battery >= 1 and not self._low_by_voltage(), "low capacity failsafe"),
        )
        for failed, text in problems:
            if failed:
                return f"Battery 1 {text}"
        return None

    def _low_by_voltage(self) -> bool:
        low = self.params.get("BATT_LOW_VOLT")
        return low > 0 and self.battery.voltage_v < low

    def arm(self) -> bool:
        """Try to arm; sends ArduPilot's refusal text on failure."""
        if self.armed:
            return True
        failures = self.arming_failures()
        if failures:
            for failure in failures:
                self.statustext(SEV_CRITICAL, f"Arm: {failure}")
            return False
        self.armed = True
        self.armed_idle_since_s = self.now_s
        self.battery.current_a = 0.0
        self.statustext(SEV_INFO, "Arming motors")
        # Home is reset to the arming position, and announced (observed on SITL), unless a GCS locked it.
        if not self.home_locked:
            latitude, longitude = self.location()
            self.move_home(latitude, longitude, self.home.altitude_amsl_m + self.kin.alt_m, announce=False)
        from sim_worlds.mavsim import telemetry

        self.broadcast(telemetry.home_position(self))
        return True

    def throttle_zero(self) -> bool:
        """The pilot's throttle is at the bottom (RC3 within RC3_DZ of RC3_MIN, overrides included)."""
        get = self.params.get
        return self.rc.pwm(3, self.now_s, get("RC_OVERRIDE_TIME")) <= get("RC3_MIN") + get("RC3_DZ")

    def may_take_off_in_auto(self) -> bool:
        """ArduCopter starts an AUTO take-off from the ground only when auto armed (AUTO_OPTIONS bit 1 waives it)."""
        return self.armed and (self.auto_armed or bool(int(self.params.get("AUTO_OPTIONS")) & 2))

    def hold_point(self) -> tuple[float, float]:
        """Where a mode that holds position (LOITER, GUIDED, LAND) stops: past the current position when moving."""
        return stopping_point(self.kin, self.flight_settings().limits)

    def reset_battery(self, remaining_pct: float) -> None:
        """Set the pack to `remaining_pct` and clear the battery failsafe (AP_BattMonitor reset_remaining)."""
        self.battery.used_wh = self.battery.capacity_wh * (1.0 - min(100.0, max(0.0, remaining_pct)) / 100.0)
        self.failsafe.battery = 0
        self.failsafe.low_volt_since_s = self.failsafe.crit_volt_since_s = None

    def move_home(self, latitude_deg: float, longitude_deg: float, altitude_amsl_m: float,
                  *, announce: bool = True) -> None:
        """Move home (the local frame's origin) without moving the vehicle: state is re-expressed."""
        old = self.home
        new = GeoOrigin(latitude_deg, longitude_deg, altitude_amsl_m)
        if new == old:
            return
        dz_m = old.altitude_amsl_m - altitude_amsl_m

        def moved(x_m: float, y_m: float) -> tuple[float, float]:
            return new.to_local(*old.to_wgs84(x_m, y_m))

        self.kin.x_m, self.kin.y_m = moved(self.kin.x_m, self.kin.y_m)
        self.kin.alt_m += dz_m
        self.nav.x_m, self.nav.y_m = moved(self.nav.x_m, self.nav.y_m)
        self.nav.alt_m += dz_m
        self.home = new
        if self.home_set:
            self.fence.reindex(new)
        if announce:
            from sim_worlds.mavsim import telemetry

            self.broadcast(telemetry.home_position(self))

    def disarm(self) -> None:
        """Stop the motors."""
        if not self.armed:
            return
        self.armed = False
        self.auto_armed = False
        self.armed_idle_since_s = None
        self.nav = Nav(NavKind.IDLE)
        self.statustext(SEV_INFO, "Disarming motors")

    # ---- modes -----------------------------------------------------------------------------
    def set_mode(self, mode: int) -> bool:
        """Change flight mode with ArduCopter's checks; False (and a STATUSTEXT) when refused."""
        if mode not in modes.NAMES:
            self.statustext(SEV_WARNING, f"No such mode {mode}")
            return False
        name = modes.NAMES[mode]
        if mode == self.mode:
            return True
        if self.armed and mode in modes.REQUIRES_POSITION and not self.position_ok:
            self.statustext(SEV_WARNING, f"Mode change to {name} failed: requires position")
            return False
        if mode == modes.AUTO and self.armed and self.landed and not self.executor.starts_with_takeoff():
            self.statustext(SEV_WARNING, "Auto: Missing Takeoff Cmd")
            self.statustext(SEV_WARNING, "Mode change to AUTO failed: init failed")
            return False
        if mode in (modes.RTL, modes.SMART_RTL, modes.AUTO_RTL) and not self.home_set:
            self.statustext(SEV_WARNING, f"Mode change to {name} failed: init failed")
            return False
        previous = self.mode
        self.mode = mode
        if previous == modes.AUTO and mode != modes.AUTO:
            self.executor.pause()
        self._enter_mode(mode)
        return True

    def _enter_mode(self, mode: int) -> None:
        kin = self.kin
        if mode == modes.AUTO:
            self.executor.start_or_resume()
            return
        if self.landed:
            if mode == modes.LAND or mode in (modes.RTL, modes.SMART_RTL, modes.AUTO_RTL):
                self.nav = Nav(NavKind.LAND, kin.x_m, kin.y_m) if self.armed else Nav(NavKind.IDLE)
            else:
                self.nav = Nav(NavKind.IDLE)
            return
        if mode == modes.LAND:
            self.nav = Nav(NavKind.LAND, *self.hold_point())
        elif mode in (modes.RTL, modes.SMART_RTL, modes.AUTO_RTL):
            self.nav = rtl_nav(kin, self.flight_settings(), self.ground_under_m())
        elif mode == modes.BRAKE:
            self.nav = Nav(NavKind.BRAKE)
        else:
            self.nav = Nav(NavKind.HOLD, *self.hold_point(), kin.alt_m)

    def failsafe_mode(self, action: str) -> None:
        """Apply a failsafe action: 'rtl', 'smartrtl', 'land', 'brake', 'terminate'."""
        if not self.armed:
            return
        if self.landed:
            self.disarm()  # should_disarm_on_failsafe(): landed
            return
        if action == "terminate":
            self.disarm()
            return
        wanted = {"rtl": modes.RTL, "smartrtl": modes.SMART_RTL, "land": modes.LAND, "brake": modes.BRAKE}
        mode = wanted.get(action)
        if mode is None or self.mode == mode:
            return
        if not self.set_mode(mode):
            self.set_mode(modes.LAND)

    # ---- guided -----------------------------------------------------------------------------
    def takeoff(self, alt_m: float) -> bool:
        """User take-off (GUIDED): armed, on the ground, to `alt_m` above home."""
        if not self.armed or not self.landed or self.mode != modes.GUIDED or alt_m <= 0:
            return False
        self.auto_armed = True  # Mode::do_user_takeoff
        self.landed = False
        self.touchdown_s = None
        self.nav = Nav(NavKind.TAKEOFF, self.kin.x_m, self.kin.y_m, alt_m)
        return True

    def goto(self, x_m: float, y_m: float, alt_m: float) -> bool:
        """Guided go-to (SET_POSITION_TARGET_GLOBAL_INT / DO_REPOSITION): flying in GUIDED only."""
        if self.mode != modes.GUIDED or not self.armed or self.landed:
            return False
        self.nav = Nav(NavKind.GOTO, x_m, y_m, alt_m)
        return True

    # ---- gripper ----------------------------------------------------------------------------
    def gripper_action(self, grab: bool) -> bool:
        """DO_GRIPPER: release (grab=False) or grab; False when no gripper is enabled."""
        if self.params.get("GRIP_ENABLE") < 1:
            return False
        if not grab:
            if self.armed and self.payload_attached:
                lat, lon = self.location()
                event = ReleaseEvent(self.system_id, self.now_s, lat, lon, self.kin.alt_m)
                self.payload_attached = False
                self.gripper.releases.append(event)
                logger.info("sysid %d released payload at %.7f, %.7f, %.1f m", self.system_id, lat, lon,
                            self.kin.alt_m)
                if self.on_release is not None:
                    self.on_release(event)
            if self.gripper.released and self.gripper.pending is None:
                self.statustext(SEV_INFO, "Gripper load released")  # already open, as AP_Gripper says
                return True
            self._start_gripper("released")
        else:
            self._start_gripper("grabbed")
        return True

    def _start_gripper(self, target: str) -> None:
        self.gripper.pending = target
        self.gripper.done_at_s = self.now_s + GRIPPER_ACTION_S
        self.gripper.released = target == "released"
        self.statustext(SEV_INFO, "Gripper load releasing" if target == "released" else "Gripper load grabbing")

    def payload_kg(self) -> float:
        """Mass hanging under the vehicle (SIM_PAYLOAD_KG until released in flight)."""
        return max(0.0, self.params.get("SIM_PAYLOAD_KG")) if self.payload_attached else 0.0

    def load_payload(self) -> None:
        """A new parcel is attached (the next release in flight drops it)."""
        self.payload_attached = True

    # ---- mission host (mission_protocol.MissionHost) --------------------------------------
    def home_item(self) -> MissionItem:
        """Mission item 0 as ArduPilot reports it: home, frame GLOBAL, altitude AMSL."""
        if not self.home_set:
            return MissionItem(0, 0, 16)
        return MissionItem(0, 0, 16, x=round(self.home.latitude_deg * 1e7),
                           y=round(self.home.longitude_deg * 1e7), z=self.home.altitude_amsl_m)

    def stored_items(self, mission_type: int) -> list[MissionItem]:
        """Lists as read back."""
        if mission_type == MISSION:
            return [self.home_item(), *self.mission[1:]]
        if mission_type == FENCE:
            return [MissionItem(i, 0, v.command, param1=v.param1, x=v.latitude_e7, y=v.longitude_e7,
                                autocontinue=0, mission_type=FENCE) for i, v in enumerate(self.fence.items)]
        return list(self.rally)

    def commit_items(self, mission_type: int, items: list[MissionItem]) -> int:
        """Store an uploaded list (fence validated first, as AC_PolyFence_loader does)."""
        if mission_type == MISSION:
            self.mission = list(items)
            self.mission_uploads += 1
            self.executor.mission_changed()
            self.statustext(SEV_INFO, "Flight plan received")
        elif mission_type == FENCE:
            vertices = [FenceVertex(i.command, i.param1, i.x, i.y) for i in items]
            problems = validate(vertices)
            if problems:
                for text in problems:
                    self.statustext(SEV_WARNING, text)
                return mavlink.MAV_MISSION_ERROR
            self.fence.load(vertices, self.home if self.home_set else None)
            self.statustext(SEV_DEBUG, "Fence Indexed OK")
        else:
            self.rally = list(items)
        return mavlink.MAV_MISSION_ACCEPTED

    def clear_items(self, mission_type: int) -> int:
        """MISSION_CLEAR_ALL; a running mission cannot be cleared."""
        if mission_type == MISSION:
            if self.mode == modes.AUTO and self.executor.running:
                return mavlink.MAV_MISSION_ERROR
            self.mission = []
            self.executor.mission_changed()
        elif mission_type == FENCE:
            self.fence.load([], None)
        else:
            self.rally = []
        return mavlink.MAV_MISSION_ACCEPTED

    # ---- the tick ----------------------------------------------------------------------------
    def step(self, now_s: float) -> None:
        """Advance the vehicle to simulated time `now_s` (physics, mission, failsafes)."""
        if self.boot_s is None:
            self.now_s = now_s
            return
        dt_total = max(0.0, now_s - self.now_s)
        self._boot_events()
        if self.armed and not self.auto_armed and not self.throttle_zero():
            self.auto_armed = True
        settings = self.flight_settings()
        wind_e, wind_n = wind_vector(self.params.get("SIM_WIND_SPD"), self.params.get("SIM_WIND_DIR"))
        arrived = touched_down = False
        steps = max(1, int(dt_total / MAX_SUBSTEP_S + 0.999))
        dt = dt_total / steps
        for _ in range(steps):
            self.now_s += dt
            if self.armed and not self.landed:
                self._avoid_fence()
                result = advance(self.nav, self.kin, settings, self.now_s, dt, self._ground_alt_m())
                if result.arrived and self.mode == modes.AUTO and self.nav.kind is NavKind.GOTO and (
                        self.nav.pass_speed_m_s > 0):
                    # a waypoint flown through: the next leg starts in this substep, not after the whole tick (a
                    # second or more at x60), which the vehicle would spend overshooting and turning back
                    self.executor.update(True)
                else:
                    arrived = arrived or result.arrived
                if result.touched_down and not self.landed:
                    self.landed = True
                    self.touchdown_s = self.now_s
                    touched_down = True
                power = self.power_model.power_w(
                    self.payload_kg(), self.kin.airspeed_m_s(wind_e, wind_n), self.kin.vz_m_s)
                self.battery.drain(power, dt)
            else:
                self.kin.stop()
                self.battery.current_a = 0.0
        self.now_s = now_s
        if touched_down:
            self.nav = Nav(NavKind.IDLE)
        self._after_motion(arrived)
        self._gripper_update()
        self._check_battery()
        self._check_gcs()
        self._check_fence()
        self._auto_disarm()
        self._remote_id_update()
        self._prearm_report()
        self.protocol.update(now_s)

    def _ground_alt_m(self) -> float:
        """The ground under the vehicle, metres above home, while a landing needs it (0 without a ground model)."""
        if self.nav.kind not in (NavKind.LAND, NavKind.RTL):
            return 0.0
        return self.ground_under_m()

    def ground_under_m(self) -> float:
        """The ground under the vehicle, metres above home (0 without a ground model or off it)."""
        if self.ground is None:
            return 0.0
        try:
            return float(self.ground(*self.location())) - self.home.altitude_amsl_m
        except FinalMileError:  # off the elevation model: the flat ground at home's altitude
            return 0.0

    def _after_motion(self, arrived: bool) -> None:
        if self.mode == modes.AUTO:
            self.executor.update(arrived)
            return
        if arrived and self.nav.kind in (NavKind.TAKEOFF, NavKind.GOTO):
            self.nav = Nav(NavKind.HOLD, self.nav.x_m, self.nav.y_m, self.nav.alt_m)

    def _gripper_update(self) -> None:
        if self.gripper.pending and self.now_s >= self.gripper.done_at_s:
            text = "Gripper load released" if self.gripper.pending == "released" else "Gripper load grabbed"
            self.gripper.pending = None
            self.statustext(SEV_INFO, text)

    def _auto_disarm(self) -> None:
        if not self.armed or not self.landed:
            return
        if self.touchdown_s is not None:
            if self.now_s - self.touchdown_s < LANDED_DISARM_S:
                return
            self.touchdown_s = None
            if self.mode in (modes.LAND, modes.RTL, modes.SMART_RTL, modes.AUTO_RTL, modes.AUTO):
                self.disarm()
                return
            self.armed_idle_since_s = self.now_s
        delay = self.params.get("DISARM_DELAY")
        if (delay > 0 and self.nav.kind is NavKind.IDLE and self.armed_idle_since_s is not None
                and self.now_s - self.armed_idle_since_s >= delay):
            self.disarm()

    def _remote_id_update(self) -> None:
        if self.params.get("DID_ENABLE") < 1 or self.now_s < self._remote_id_due_s:
            return
        self._remote_id_due_s = self.now_s + 1.0
        self.remote_id.transmitter_update(self.now_s, self.home_set and self.gps_fix)
        for text in warnings_due(self.remote_id, self.params, self.now_s):
            self.statustext(SEV_INFO if text.endswith("OK") else SEV_WARNING, text)

    def _prearm_report(self) -> None:
        if self.armed or self.now_s - self._last_prearm_report_s < PREARM_REPORT_S:
            return
        self._last_prearm_report_s = self.now_s
        if self.boot_age_s < self.timeline.ready_s:
            return
        if not self.home_set:
            reason: str | None = "AHRS: waiting for home"
        elif not self.position_ok:
            reason = "Need Position Estimate"
        else:
            reason = self.battery_check_failure()
        remote_id = pre_arm_failure(self.remote_id, self.params, self.now_s)
        avoidance = self.avoidance.pre_arm_failure(int(self.params.get("OA_TYPE")))
        for text in (reason, remote_id and f"OpenDroneID: {remote_id}", avoidance):
            if text:
                self.statustext(SEV_CRITICAL, f"PreArm: {text}")

    # ---- failsafes ---------------------------------------------------------------------------
    def _check_battery(self) -> None:
        get = self.params.get
        volts = self.battery.voltage_v
        remaining_mah = get("BATT_CAPACITY") - self.battery.consumed_mah
        timer = get("BATT_LOW_TIMER")
        fs = self.failsafe

        def held(low: bool, since: float | None) -> tuple[bool, float | None]:
            if not low:
                return False, None
            since = self.now_s if since is None else since
            return self.now_s - since >= timer, since

        crit_v, fs.crit_volt_since_s = held(get("BATT_CRT_VOLT") > 0 and volts < get("BATT_CRT_VOLT"),
                                            fs.crit_volt_since_s)
        low_v, fs.low_volt_since_s = held(get("BATT_LOW_VOLT") > 0 and volts < get("BATT_LOW_VOLT"),
                                          fs.low_volt_since_s)
        critical = crit_v or (get("BATT_CRT_MAH") > 0 and remaining_mah < get("BATT_CRT_MAH"))
        low = low_v or (get("BATT_LOW_MAH") > 0 and remaining_mah < get("BATT_LOW_MAH"))
        level = 2 if critical else 1 if low else 0
        if level <= fs.battery:
            return
        fs.battery = level
        kind = "critical" if level == 2 else "low"
        self.statustext(SEV_WARNING, f"Battery 1 is {kind} {volts:.2f}V used {self.battery.consumed_mah:.0f} mAh")
        action = int(get("BATT_FS_CRT_ACT" if level == 2 else "BATT_FS_LOW_ACT"))
        self._do_failsafe_action(action)

    def _do_failsafe_action(self, action: int) -> None:
        # Copter FailsafeAction numbers (BATT_FS_*_ACT): 1 land, 2 RTL, 3 SmartRTL/RTL,
        # 4 SmartRTL/land, 5 terminate, 6 DO_LAND_START/RTL, 7 brake/land.
        mapping = {1: "land", 2: "rtl", 3: "smartrtl", 4: "smartrtl", 5: "terminate", 6: "rtl", 7: "brake"}
        if action in mapping:
            if self.mode == modes.LAND and action != 5:
                return  # already landing: continue
            self.failsafe_mode(mapping[action])

    def note_gcs_heartbeat(self, system_id: int) -> None:
        """Record a heartbeat from the ground station the failsafe watches (MAV_GCS_SYSID)."""
        if system_id == int(self.params.get("MAV_GCS_SYSID")):
            self.last_gcs_heartbeat_s = self.now_s
            self.last_gcs_heartbeat_wall_s = time.monotonic()

    def _check_gcs(self) -> None:
        get = self.params.get
        if self.last_gcs_heartbeat_s is None:
            return
        enable = int(get("FS_GCS_ENABLE"))
        lost = (self.now_s - self.last_gcs_heartbeat_s > get("FS_GCS_TIMEOUT")
                and time.monotonic() - self.last_gcs_heartbeat_wall_s > GCS_TIMEOUT_MIN_WALL_S)
        if not lost:
            if self.failsafe.gcs:
                self.failsafe.gcs = False
                self.statustext(SEV_WARNING, "GCS Failsafe Cleared")
            return
        if self.failsafe.gcs or enable == 0:
            return
        self.failsafe.gcs = True
        if not self.armed:
            self.statustext(SEV_WARNING, "GCS Failsafe")
            return
        if self.landed:
            self.statustext(SEV_WARNING, "GCS Failsafe - Disarming")
            self.disarm()
            return
        # As Copter's failsafe_gcs_on_event(): FS_OPTIONS bit 3 (8) keeps a landing going, bit 1 (2)
        # keeps an AUTO mission going. FS_GCS_ENABLE=2 ("continue in AUTO") was removed in Copter 4.0:
        # it now acts as 1 (RTL), and ArduPilot refuses to arm with it.
        options = int(get("FS_OPTIONS"))
        if self.mode == modes.LAND and options & _FS_CONTINUE_IF_LANDING:
            self.statustext(SEV_WARNING, "GCS Failsafe - Continuing Landing")
            return
        if self.mode == modes.AUTO and options & _FS_GCS_CONTINUE_IF_AUTO:
            self.statustext(SEV_WARNING, "GCS Failsafe - Continuing Auto Mode")
            return
        # bit 4 keeps a mode the pilot flies (Mode::is_autopilot() false: BRAKE, LOITER, ...); ArduCopter SITL says
        # "Continuing Pilot Control" for a drone held in BRAKE
        if self.mode not in modes.AUTOPILOT and options & _FS_GCS_CONTINUE_IF_PILOT_CONTROL:
            self.statustext(SEV_WARNING, "GCS Failsafe - Continuing Pilot Control")
            return
        self.statustext(SEV_WARNING, "GCS Failsafe")
        # FS_GCS_ENABLE: 1 RTL, 2 RTL (removed value), 3 SmartRTL/RTL, 4 SmartRTL/land, 5 land,
        # 6 DO_LAND_START/RTL, 7 brake/land.
        mapping = {1: "rtl", 2: "rtl", 3: "smartrtl", 4: "smartrtl", 5: "land", 6: "rtl", 7: "brake"}
        self.failsafe_mode(mapping.get(enable, "rtl"))

    def destination_within_fence(self, x_m: float, y_m: float, alt_m: float) -> bool:
        """AC_Fence::check_destination_within_fence: with the fence enabled, a GUIDED destination must lie inside
        the altitude ceiling, the circle and the polygons (the floor is not checked)."""
        get = self.params.get
        if get("FENCE_ENABLE") < 1 or not self.home_set:
            return True
        found = breaches(
            self.fence, int(get("FENCE_TYPE")) & ~FENCE_TYPE_ALT_MIN, x_m, y_m, alt_m,
            radius_m=get("FENCE_RADIUS"), alt_max_m=get("FENCE_ALT_MAX"), alt_min_m=get("FENCE_ALT_MIN"),
        )
        return found == 0

    def _avoid_fence(self) -> None:
        """OA_TYPE 2: the way around the polygon fence to the controller's target (GOTO in AUTO or GUIDED, the RTL's
        return leg), or a stop when there is none (avoidance.py)."""
        nav = self.nav
        if nav.kind is NavKind.GOTO:
            target = (nav.x_m, nav.y_m)
        elif nav.kind is NavKind.RTL and nav.rtl_phase is RtlPhase.RETURN:
            target = (0.0, 0.0)
        else:
            return
        get = self.params.get
        if not self.avoidance.enabled or get("FENCE_ENABLE") < 1 or not int(get("FENCE_TYPE")) & FENCE_TYPE_POLYGON:
            nav.via = None
            return
        if nav is not self._avoiding:  # a new target (mode, leg or command): planned afresh from here
            self._avoiding = nav
            self.avoidance.forget_destination()
        here = (self.kin.x_m, self.kin.y_m)
        try:
            nav.via = self.avoidance.waypoint(self.fence.shapes, self.fence.version, get("OA_MARGIN_MAX"), here,
                                              target)
        except NoPath as exc:
            nav.via = here  # AC_WPNav_OA on an error: the vehicle stops where it is
            if self.now_s - self.avoidance.last_error_s >= ERROR_REPORT_S:
                self.avoidance.last_error_s = self.now_s
                self.statustext(SEV_CRITICAL, f"Dijkstra: {exc}")

    def _check_fence(self) -> None:
        get = self.params.get
        if get("FENCE_ENABLE") < 1 or not self.home_set:
            self.failsafe.fence_breaches = 0
            return
        found = breaches(
            self.fence, int(get("FENCE_TYPE")), self.kin.x_m, self.kin.y_m, self.kin.alt_m,
            radius_m=get("FENCE_RADIUS"), alt_max_m=get("FENCE_ALT_MAX"), alt_min_m=get("FENCE_ALT_MIN"),
        )
        new = found & ~self.failsafe.fence_breaches
        self.failsafe.fence_breaches = found
        if not new or not self.armed:
            return
        if self.landed:
            self.disarm()
            return
        self.statustext(SEV_NOTICE, "Fence Breached")
        # FENCE_ACTION: 0 report, 1 RTL/land, 2 land, 3 SmartRTL/RTL/land, 4 brake/land,
        # 5 SmartRTL/land, 6 guided, 7 guided (throttle pass).
        action = int(get("FENCE_ACTION"))
        mapping = {1: "rtl", 2: "land", 3: "smartrtl", 4: "brake", 5: "smartrtl"}
        if action in mapping:
            self.failsafe_mode(mapping[action])
        elif action in (6, 7) and self.mode != modes.GUIDED and self.set_mode(modes.GUIDED):
            self.nav = Nav(NavKind.HOLD, 0.0, 0.0, self.kin.alt_m)

    def any_failsafe(self) -> bool:
        """A failsafe that makes HEARTBEAT.system_status CRITICAL."""
        return self.failsafe.battery > 0 or self.failsafe.gcs

    # ---- heartbeats and timesync scheduling (telemetry module builds them) ------------------
    def heartbeat_due(self) -> bool:
        """1 Hz heartbeat clock."""
        if self.boot_s is None or self.now_s < self._heartbeat_due_s:
            return False
        self._heartbeat_due_s = max(self._heartbeat_due_s + 1.0, self.now_s + 0.5)
        return True

    def timesync_due(self) -> bool:
        """TIMESYNC every ~10 s, unrequested, as SITL does."""
        if self.boot_s is None or self.now_s < self._timesync_due_s:
            return False
        self._timesync_due_s = self.now_s + 10.0
        return True
