"""ArduCopter's AUTO mode: runs the stored mission item by item.

Announces each command as ArduPilot does (`Mission: <seq> <name>`), reports completion with
MISSION_ITEM_REACHED (and `Reached command #<seq>` for waypoints), runs DO_ commands in order as
they are reached, flies RTL/LAND items inside AUTO (the heartbeat keeps custom_mode 3), and at
the end of the mission disarms if landed or holds position if flying. A waypoint without a delay
followed by another waypoint or a loiter is flown through, not stopped on (ArduCopter's fast waypoint).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sim_worlds.mavsim import mission_protocol as mp
from sim_worlds.mavsim.guidance import Nav, NavKind, rtl_nav
from sim_worlds.mavsim.physics import corner_speed_m_s

if TYPE_CHECKING:
    from sim_worlds.mavsim.autopilot import Vehicle

COMMAND_NAMES = {
    mp.NAV_WAYPOINT: "WP", mp.NAV_LOITER_UNLIM: "LoitUnlim", mp.NAV_LOITER_TURNS: "LoitTurns",
    mp.NAV_LOITER_TIME: "LoitTime", mp.NAV_RETURN_TO_LAUNCH: "RTL", mp.NAV_LAND: "Land",
    mp.NAV_TAKEOFF: "Takeoff", mp.NAV_DELAY: "Delay", mp.CONDITION_DELAY: "CondDelay",
    mp.DO_CHANGE_SPEED: "ChangeSpeed", mp.DO_GRIPPER: "Gripper",
}
_NAV_COMMANDS = mp.LOCATION_COMMANDS | {mp.NAV_RETURN_TO_LAUNCH, mp.NAV_DELAY}


class MissionExecutor:
    """State of the mission run (current item, waiting, running)."""

    def __init__(self, vehicle: Vehicle) -> None:
        self.vehicle = vehicle
        self.current_seq = 0
        self.running = False
        self.complete = False
        self._wait_until_s: float | None = None
        self._landing_leg = False
        self._active: mp.MissionItem | None = None  # the item being flown, as it was when it started

    @property
    def items(self) -> list[mp.MissionItem]:
        """Stored mission (index 0 is the home slot)."""
        return self.vehicle.mission

    def mission_changed(self) -> None:
        """A new mission was uploaded or cleared.

        As ArduPilot's AP_Mission: a running mission keeps flying the item it has loaded (its copy
        in memory) and then goes on with the next index of the *new* list, until a
        MISSION_SET_CURRENT jumps; a mission not running starts again from item 1.
        """
        if self.running and self.items:
            return
        self.running = False
        self.complete = False
        self.current_seq = 0
        self._active = None

    def starts_with_takeoff(self) -> bool:
        """The next navigation command is a take-off (ModeAuto refuses to start on the ground otherwise)."""
        start = self.current_seq if self.current_seq > 0 and not self.complete else 1
        for item in self.items[start:]:
            if item.command in _NAV_COMMANDS:
                return item.command == mp.NAV_TAKEOFF
        return False

    def set_current(self, seq: int) -> bool:
        """MISSION_SET_CURRENT: jump (restarts the item now when running)."""
        if not 0 < seq < len(self.items) and not (seq == 0 and len(self.items) > 1):
            return False
        seq = max(1, seq)
        self.complete = False
        if self.running:
            self._start(seq)
        else:
            self.current_seq = seq
        return True

    def pause(self) -> None:
        """Leaving AUTO: keep the current item for a later resume."""
        self.running = False
        self._wait_until_s = None

    def start_or_resume(self) -> None:
        """Entering AUTO (or MISSION_START)."""
        if len(self.items) <= 1:
            self._finish()
            return
        restart = self.vehicle.params.get("MIS_RESTART") >= 1
        seq = 1 if restart or self.complete or self.current_seq <= 0 else self.current_seq
        self.complete = False
        self.running = True
        self._start(seq)

    # ---- running -----------------------------------------------------------------------
    def _start(self, seq: int) -> None:
        vehicle = self.vehicle
        self._wait_until_s = None
        self._landing_leg = False
        if seq >= len(self.items):
            self._finish()
            return
        self.current_seq = seq
        item = self.items[seq]
        self._active = item
        name = COMMAND_NAMES.get(item.command, str(item.command))
        vehicle.statustext(mavlink.MAV_SEVERITY_INFO, f"Mission: {seq} {name}")
        kin = vehicle.kin
        command = item.command
        if command == mp.NAV_TAKEOFF:
            self._take_off(item)
        elif command in (mp.NAV_WAYPOINT, mp.NAV_LOITER_TIME, mp.NAV_LOITER_UNLIM, mp.NAV_LOITER_TURNS):
            x_m, y_m = self._target_xy(item)
            vehicle.nav = Nav(NavKind.GOTO, x_m, y_m, self._relative_alt(item),
                              pass_speed_m_s=self._pass_speed_m_s(item, (x_m, y_m, self._relative_alt(item))))
        elif command == mp.NAV_LAND:
            if item.x == 0 and item.y == 0:
                vehicle.nav = Nav(NavKind.LAND, kin.x_m, kin.y_m)
                self._landing_leg = True
            else:
                x_m, y_m = self._target_xy(item)
                vehicle.nav = Nav(NavKind.GOTO, x_m, y_m, kin.alt_m)
        elif command == mp.NAV_RETURN_TO_LAUNCH:
            vehicle.nav = rtl_nav(kin, vehicle.flight_settings(), vehicle.ground_under_m())
            self._landing_leg = True
        elif command in (mp.NAV_DELAY, mp.CONDITION_DELAY):
            vehicle.nav = Nav(NavKind.HOLD, kin.x_m, kin.y_m, kin.alt_m)
            self._wait_until_s = vehicle.now_s + max(0.0, item.param1)
        elif command == mp.DO_CHANGE_SPEED:
            if item.param2 > 0:
                if item.param1 >= 3:
                    vehicle.descent_override_m_s = item.param2
                elif item.param1 >= 2:
                    vehicle.climb_override_m_s = item.param2
                else:
                    vehicle.speed_override_m_s = item.param2
            self._done(item)
        elif command == mp.DO_GRIPPER:
            grab = int(item.param2) == 1
            if vehicle.gripper_action(grab=grab):
                vehicle.statustext(mavlink.MAV_SEVERITY_INFO, "Gripper Grabbed" if grab else "Gripper Released")
            self._done(item)
        else:
            vehicle.statustext(mavlink.MAV_SEVERITY_WARNING, f"Skipping invalid cmd #{command}")
            self._done(item)

    def _take_off(self, item: mp.MissionItem) -> None:
        vehicle = self.vehicle
        kin = vehicle.kin
        if vehicle.landed:
            if not vehicle.may_take_off_in_auto():
                return  # waits for arming and a raised throttle: ArduCopter's auto_armed gate
            vehicle.landed = False
            vehicle.touchdown_s = None
        vehicle.nav = Nav(NavKind.TAKEOFF, kin.x_m, kin.y_m, max(self._relative_alt(item), kin.alt_m))

    def update(self, arrived: bool) -> None:
        """Called every tick in AUTO with whether the controller reached its target."""
        item = self._active
        if not self.running or item is None:
            return
        vehicle = self.vehicle
        command = item.command
        now = vehicle.now_s
        if command == mp.NAV_TAKEOFF:
            if vehicle.landed and vehicle.may_take_off_in_auto() and vehicle.nav.kind is NavKind.IDLE:
                self._take_off(item)  # armed, or the throttle raised, after entering AUTO
            elif arrived and vehicle.nav.kind is NavKind.TAKEOFF:
                self._done(item)
        elif command in (mp.NAV_WAYPOINT, mp.NAV_LOITER_TIME):
            if self._wait_until_s is None and arrived and vehicle.nav.kind is NavKind.GOTO and (
                    vehicle.nav.pass_speed_m_s > 0):
                # flown through: the next leg starts at once, at the speed it has (no hold, no stop)
                vehicle.statustext(mavlink.MAV_SEVERITY_INFO, f"Reached command #{self.current_seq}")
                self._done(item)
            elif self._wait_until_s is None:
                if arrived and vehicle.nav.kind is NavKind.GOTO:
                    vehicle.nav = Nav(NavKind.HOLD, vehicle.nav.x_m, vehicle.nav.y_m, vehicle.nav.alt_m)
                    self._wait_until_s = now + max(0.0, float(int(item.param1)))
            elif now >= self._wait_until_s:
                if command == mp.NAV_WAYPOINT:
                    vehicle.statustext(mavlink.MAV_SEVERITY_INFO, f"Reached command #{self.current_seq}")
                self._done(item)
        elif command in (mp.NAV_DELAY, mp.CONDITION_DELAY):
            if self._wait_until_s is not None and now >= self._wait_until_s:
                self._done(item)
        elif command in (mp.NAV_LAND, mp.NAV_RETURN_TO_LAUNCH):
            if not self._landing_leg and arrived:
                vehicle.nav = Nav(NavKind.LAND, vehicle.nav.x_m, vehicle.nav.y_m)
                self._landing_leg = True
            elif self._landing_leg and vehicle.landed and vehicle.touchdown_s is not None and (
                    now - vehicle.touchdown_s >= 1.0):
                vehicle.disarm()
                self._done(item)

    def _done(self, item: mp.MissionItem) -> None:
        if item.command in _NAV_COMMANDS:  # SITL reports no MISSION_ITEM_REACHED for DO_ commands
            self.vehicle.broadcast_active(mavlink.MAVLink_mission_item_reached_message(item.seq))
        if self.running:
            self._start(item.seq + 1)

    def _finish(self) -> None:
        vehicle = self.vehicle
        self.running = False
        self.complete = True
        self._active = None
        if vehicle.landed:
            vehicle.disarm()
        else:
            kin = vehicle.kin
            vehicle.nav = Nav(NavKind.HOLD, kin.x_m, kin.y_m, kin.alt_m)

    # ---- item geometry -------------------------------------------------------------------
    def _pass_speed_m_s(self, item: mp.MissionItem, target: tuple[float, float, float]) -> float:
        """The speed a waypoint is flown through at (0: it stops there). As ArduCopter's ModeAuto::set_next_wp: a
        NAV_WAYPOINT without a delay whose next navigation command is a waypoint or a loiter gives the position
        controller that next leg, and the vehicle flies on through the corner instead of stopping on it."""
        if item.command != mp.NAV_WAYPOINT or int(item.param1) > 0:
            return 0.0
        following = next((i for i in self.items[item.seq + 1:] if i.command in _NAV_COMMANDS), None)
        if following is None or following.command not in (mp.NAV_WAYPOINT, mp.NAV_LOITER_UNLIM, mp.NAV_LOITER_TIME):
            return 0.0
        if following.x == 0 and following.y == 0:
            return 0.0  # a loiter where the vehicle is: it stops at this waypoint
        kin = self.vehicle.kin
        after = (*self._target_xy(following), self._relative_alt(following))
        return corner_speed_m_s((kin.x_m, kin.y_m, kin.alt_m), target, after, self.vehicle.flight_settings().limits)

    def _relative_alt(self, item: mp.MissionItem) -> float:
        if item.frame == 0:  # MAV_FRAME_GLOBAL: AMSL
            return item.z - self.vehicle.home.altitude_amsl_m
        return item.z

    def _target_xy(self, item: mp.MissionItem) -> tuple[float, float]:
        kin = self.vehicle.kin
        if item.x == 0 and item.y == 0:
            return kin.x_m, kin.y_m
        x_m, y_m = self.vehicle.home.to_local(item.x * 1e-7, item.y * 1e-7)
        if not (math.isfinite(x_m) and math.isfinite(y_m)):
            return kin.x_m, kin.y_m
        return x_m, y_m

    def mission_state(self) -> int:
        """MISSION_STATE for MISSION_CURRENT."""
        if len(self.items) <= 1:
            return mavlink.MISSION_STATE_NO_MISSION
        if self.complete:
            return mavlink.MISSION_STATE_COMPLETE
        if self.running:
            return mavlink.MISSION_STATE_ACTIVE
        return mavlink.MISSION_STATE_NOT_STARTED if self.current_seq <= 1 else mavlink.MISSION_STATE_PAUSED
