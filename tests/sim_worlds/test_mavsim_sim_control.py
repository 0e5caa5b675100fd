"""mavsim sim-control channel over real TCP, seen from MAVLink too: place, stow, recharge, DO_SET_HOME."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator

import pytest
from _mavsim_gcs import Gcs, offset_e7
from pymavlink.dialects.v20 import ardupilotmega as mav

from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.mavsim.sim_control import MavsimControl, SimControlError

pytestmark = pytest.mark.sim
HOME = (60.1715, 24.9381, 10.0)
STOP = (60.1690, 24.9450)  # a van stop ~470 m south-east of the hub


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    dn = math.radians(a[0] - b[0]) * 6378137
    de = math.radians(a[1] - b[1]) * 6378137 * math.cos(math.radians(a[0]))
    return math.hypot(dn, de)


@pytest.fixture
def sim() -> Iterator[MavsimProcess]:
    """Two vehicles at 10x, armable 3 s after connecting, with the sim-control channel open."""
    with MavsimProcess(2, speedup=10, home=HOME, params={"DISARM_DELAY": 0}, extra_args=("--boot-s", "3"),
                       control=True) as process:
        yield process


def _home(gcs: Gcs) -> tuple[float, float, float]:
    """HOME_POSITION as (lat, lon, alt AMSL m), asked for with REQUEST_MESSAGE (the ack may come after it)."""
    assert gcs.command(mav.MAV_CMD_REQUEST_MESSAGE, 242) == mav.MAV_RESULT_ACCEPTED
    gcs.pump(0.2)
    home = [m for m in gcs.seen if m.get_type() == "HOME_POSITION"][-1]
    return home.latitude * 1e-7, home.longitude * 1e-7, home.altitude / 1000.0


def _ready(gcs: Gcs) -> None:
    gcs.heartbeat()
    gcs.stream(0, 10)
    gcs.wait_type("HOME_POSITION", 10.0)  # the EKF origin is set: home exists
    gcs.wait(lambda m: m.get_type() == "GLOBAL_POSITION_INT" and m.lat != 0, 10, "a GPS position")


@pytest.mark.timeout(60)
def test_place_moves_a_landed_drone_and_mavlink_reports_it_there(sim: MavsimProcess) -> None:
    """A parked drone placed at a van stop reports that position over MAVLink; the other drone stays."""
    with MavsimControl(sim.control_url) as control, Gcs(sim.urls[0]) as gcs:
        _ready(gcs)
        assert control.ping() == 2
        status = control.place(0, *STOP)
        assert _distance_m((status["latitude_deg"], status["longitude_deg"]), STOP) < 0.01
        assert status["landed"] and not status["armed"]
        position = gcs.wait(lambda m: m.get_type() == "GLOBAL_POSITION_INT"
                            and _distance_m((m.lat * 1e-7, m.lon * 1e-7), STOP) < 0.5, 5, "the placed position")
        assert position.relative_alt == 0
        other = control.status(1)
        assert _distance_m((other["latitude_deg"], other["longitude_deg"]), HOME[:2]) < 10


@pytest.mark.timeout(60)
def test_an_armed_drone_cannot_be_moved_or_stowed(sim: MavsimProcess) -> None:
    """Place/attach of an armed vehicle is refused with an error that says why; it stays put."""
    with MavsimControl(sim.control_url) as control, Gcs(sim.urls[0]) as gcs:
        _ready(gcs)
        gcs.wait_armable_and_arm()
        with pytest.raises(SimControlError, match=r"vehicle 0 .* is armed"):
            control.place(0, *STOP)
        with pytest.raises(SimControlError, match="is armed"):
            control.attach(0, "van-1")
        status = control.status(0)
        assert status["armed"] and status["carrier"] is None
        assert _distance_m((status["latitude_deg"], status["longitude_deg"]), HOME[:2]) < 1


@pytest.mark.timeout(60)
def test_a_stowed_drone_refuses_to_arm_until_detached(sim: MavsimProcess) -> None:
    """Riding a van, arming fails with 'Arm: stowed on van-1'; after detach it arms, and home moves there."""
    with MavsimControl(sim.control_url) as control, Gcs(sim.urls[0]) as gcs:
        _ready(gcs)
        gcs.wait_armable_and_arm()
        assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 0) == mav.MAV_RESULT_ACCEPTED
        assert control.attach(0, "van-1")["carrier"] == "van-1"
        control.place(0, *STOP)
        assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == mav.MAV_RESULT_FAILED
        gcs.pump(0.3)
        assert "Arm: stowed on van-1" in gcs.texts
        assert control.detach(0)["carrier"] is None
        assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == mav.MAV_RESULT_ACCEPTED
        # ArduCopter resets home to where it arms: RTL now returns to the van stop.
        assert _distance_m(_home(gcs)[:2], STOP) < 0.5


@pytest.mark.timeout(60)
def test_recharge_and_battery_reset_show_in_sys_status(sim: MavsimProcess) -> None:
    """sim-control recharge and MAVLink MAV_CMD_BATTERY_RESET both set SYS_STATUS.battery_remaining."""
    with MavsimControl(sim.control_url) as control, Gcs(sim.urls[0]) as gcs:
        _ready(gcs)
        assert round(control.recharge(0, 35.0)["battery_remaining_pct"]) == 35
        gcs.wait(lambda m: m.get_type() == "SYS_STATUS" and m.battery_remaining == 35, 5, "35 % remaining")
        assert control.recharge(0)["battery_remaining_pct"] == pytest.approx(100.0)
        gcs.wait(lambda m: m.get_type() == "SYS_STATUS" and m.battery_remaining == 100, 5, "a full pack")
        with pytest.raises(SimControlError, match=r"remaining_pct must be within 0\.\.100"):
            control.recharge(0, 140.0)
        assert gcs.command(mav.MAV_CMD_BATTERY_RESET, 1, 50) == mav.MAV_RESULT_ACCEPTED  # as on SITL 4.7
        gcs.wait(lambda m: m.get_type() == "SYS_STATUS" and m.battery_remaining == 50, 5, "50 % after reset")


@pytest.mark.timeout(60)
def test_do_set_home_moves_home_not_the_vehicle(sim: MavsimProcess) -> None:
    """COMMAND_LONG 179 param1=0 lat/lon/alt (AMSL) -> ACCEPTED and HOME_POSITION there; param1=1 -> here."""
    with Gcs(sim.urls[0]) as gcs:
        _ready(gcs)
        lat_e7, lon_e7 = offset_e7(HOME[:2], 200.0, 150.0)
        result = gcs.command(mav.MAV_CMD_DO_SET_HOME, 0, 0, 0, 0, lat_e7 * 1e-7, lon_e7 * 1e-7, 12.0)
        assert result == mav.MAV_RESULT_ACCEPTED
        latitude, longitude, altitude_m = _home(gcs)
        # COMMAND_LONG params are float32: about 0.4 m of resolution at 60 degrees.
        assert _distance_m((latitude, longitude), (lat_e7 * 1e-7, lon_e7 * 1e-7)) < 1.0
        assert altitude_m == pytest.approx(12.0)
        items = gcs.download(mav.MAV_MISSION_TYPE_MISSION)
        assert round(latitude * 1e7) == items[0].x and items[0].z == pytest.approx(12.0)
        # The vehicle itself did not move; its altitude above the new home changed by the 2 m.
        position = gcs.wait_type("GLOBAL_POSITION_INT", 5.0)
        assert _distance_m((position.lat * 1e-7, position.lon * 1e-7), HOME[:2]) < 0.5
        assert position.relative_alt == pytest.approx(-2000, abs=5)
        assert gcs.command(mav.MAV_CMD_DO_SET_HOME, 1) == mav.MAV_RESULT_ACCEPTED
        assert _distance_m(_home(gcs)[:2], HOME[:2]) < 0.5


@pytest.mark.timeout(30)
def test_malformed_requests_get_clear_errors(sim: MavsimProcess) -> None:
    """Bad vehicle index, unknown op, a missing number and a non-JSON line are refused, not fatal."""
    with MavsimControl(sim.control_url) as control:
        with pytest.raises(SimControlError, match=r"vehicle must be an index 0\.\.1, got 7"):
            control.status(7)
        with pytest.raises(SimControlError, match="unknown op 'teleport'"):
            control.request("teleport", vehicle=0)
        with pytest.raises(SimControlError, match="field 'longitude_deg' must be a finite number"):
            control.request("place", vehicle=0, latitude_deg=60.0)
        host, _, port = sim.control_url.removeprefix("tcp:").rpartition(":")
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            raw.sendall(b"hello\n")
            reply = json.loads(raw.makefile().readline())
        assert reply == {"id": None, "ok": False, "error": "a request is one JSON object per line"}
        assert control.ping() == 2  # the channel survives


def test_a_simulator_without_the_channel_says_so() -> None:
    """control_url of a simulator started without control=True raises a clear error; no process needed."""
    process = MavsimProcess(1)
    with pytest.raises(Exception, match="without control=True"):
        _ = process.control_url
    with pytest.raises(SimControlError, match="no simulator control channel"):
        MavsimControl("tcp:127.0.0.1:1").connect()
