"""mavsim on the wire: banner, heartbeats, streams, mission/fence protocol, params, garbage — over real TCP/UDP."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from _mavsim_gcs import Gcs, offset_e7
from pymavlink.dialects.v20 import ardupilotmega as mav

from sim_worlds.mavsim.process import MavsimProcess

pytestmark = pytest.mark.sim
HOME = (60.1715, 24.9381, 10.0)


@pytest.fixture(scope="module")
def sim() -> Iterator[MavsimProcess]:
    """Two vehicles through the real `finalmile mavsim` command, 4x speed, armable after 4 s."""
    with MavsimProcess(2, speedup=4, home=HOME, extra_args=("--boot-s", "4"), via_finalmile=True) as process:
        yield process


@pytest.mark.timeout(60)
def test_banner_then_mavlink2_heartbeats_per_vehicle(sim: MavsimProcess) -> None:
    """The first TCP client gets ArduPilot's text banner, then MAVLink 2 heartbeats of a quad, sysid i+1."""
    with socket.create_connection(("127.0.0.1", sim.base_port + 10), timeout=5) as raw:
        data = b""
        end = time.monotonic() + 5
        while b"\xfd" not in data and time.monotonic() < end:
            data += raw.recv(4096)
    assert data.startswith(b"\n\nInit ArduCopter V4.7.0-dev")
    for index, url in enumerate(sim.urls):
        with Gcs(url, talking=False) as gcs:
            beat = gcs.heartbeat()
            assert (beat.get_srcSystem(), beat.get_srcComponent()) == (index + 1, 1)
            assert (beat.type, beat.autopilot, beat.custom_mode) == (mav.MAV_TYPE_QUADROTOR,
                                                                     mav.MAV_AUTOPILOT_ARDUPILOTMEGA, 0)
            assert gcs.conn.mavlink20()


@pytest.mark.timeout(60)
def test_streams_are_off_until_requested_and_statustext_only_to_active_links(sim: MavsimProcess) -> None:
    """A silent client gets heartbeats only; SET_MESSAGE_INTERVAL and REQUEST_DATA_STREAM start streams."""
    with Gcs(sim.urls[0], talking=False) as gcs:
        gcs.heartbeat()
        kinds = {m.get_type() for m in gcs.pump(1.5)}
        assert "GLOBAL_POSITION_INT" not in kinds and "SYS_STATUS" not in kinds and "STATUSTEXT" not in kinds
        assert gcs.command(mav.MAV_CMD_SET_MESSAGE_INTERVAL, 33, 100000) == mav.MAV_RESULT_ACCEPTED
        positions = [m for m in gcs.pump(1.0) if m.get_type() == "GLOBAL_POSITION_INT"]
        assert len(positions) >= 10  # 10 Hz of simulated time at 4x speed
        assert gcs.command(mav.MAV_CMD_SET_MESSAGE_INTERVAL, 9999, 100000) == mav.MAV_RESULT_DENIED
        gcs.pump(0.3)
        assert "No ap_message for mavlink id (9999)" in gcs.texts
        gcs.stream(0, 4)
        kinds = {m.get_type() for m in gcs.pump(1.0)}
        assert {"SYS_STATUS", "BATTERY_STATUS", "GPS_RAW_INT", "ATTITUDE", "VFR_HUD", "EKF_STATUS_REPORT",
                "MISSION_CURRENT"} <= kinds
        assert gcs.command(31999) == mav.MAV_RESULT_UNSUPPORTED


@pytest.mark.timeout(60)
def test_mission_and_fence_upload_read_back_like_arducopter(sim: MavsimProcess) -> None:
    """Item 0 reads back as home, _INT frames as plain, RTL without position; fence items keep vertices."""
    with Gcs(sim.urls[1]) as gcs:
        gcs.heartbeat()
        # Item 0 is home only once the vehicle has one (EKF origin after boot): a GCS asks first. Run alone, this
        # test met a just-booted simulator and read back home as 0, 0.
        deadline = time.monotonic() + 20.0
        while gcs.command(mav.MAV_CMD_GET_HOME_POSITION) != mav.MAV_RESULT_ACCEPTED:
            assert time.monotonic() < deadline, "the vehicle has no home 20 s after boot"
            gcs.pump(0.2)
        wp = offset_e7(HOME, 50, 0)
        mission = [(0, 16, 0, 0, 0, 0, 0.0), (3, 22, 0, 0, 0, 0, 15.0), (6, 16, 0, 0, *wp, 15.0),
                   (3, 211, 1, 0, 0, 0, 0.0), (3, 20, 0, 0, 5, 5, 5.0)]
        assert gcs.upload(mav.MAV_MISSION_TYPE_MISSION, mission) == mav.MAV_MISSION_ACCEPTED
        items = gcs.download(mav.MAV_MISSION_TYPE_MISSION)
        assert [i.command for i in items] == [16, 22, 16, 211, 20]
        assert items[0].frame == 0 and abs(items[0].x - round(HOME[0] * 1e7)) < 100
        assert (items[2].frame, items[2].x, items[2].y) == (3, *wp)
        assert (items[4].frame, items[4].x, items[4].y, items[4].z) == (0, 0, 0, 0.0)
        corners = [offset_e7(HOME, n, e) for n, e in ((200, -200), (200, 200), (-200, 200), (-200, -200))]
        fence = [(0, 5001, 4, 0, *c, 0.0) for c in corners] + [(0, 5004, 20, 0, *offset_e7(HOME, 80, 80), 0.0)]
        assert gcs.upload(mav.MAV_MISSION_TYPE_FENCE, fence) == mav.MAV_MISSION_ACCEPTED
        read = gcs.download(mav.MAV_MISSION_TYPE_FENCE)
        assert [(i.command, i.param1, i.x, i.y, i.autocontinue) for i in read] == [
            (c, p1, x, y, 0) for _, c, p1, _, x, y, _ in fence]
        bad = [(0, 5002, 2, 0, *offset_e7(HOME, 10, 10), 0.0), (0, 5002, 2, 0, *offset_e7(HOME, 20, 10), 0.0)]
        assert gcs.upload(mav.MAV_MISSION_TYPE_FENCE, bad) == mav.MAV_MISSION_ERROR
        gcs.pump(0.3)
        assert "Invalid vertex count (2)" in gcs.texts and "Fence validation failed" in gcs.texts
        assert len(gcs.download(mav.MAV_MISSION_TYPE_FENCE)) == 5  # the valid fence stays
        invalid = [(0, 16, 0, 0, 0, 0, 0.0), (3, 31999, 0, 0, 0, 0, 10.0)]
        assert gcs.upload(mav.MAV_MISSION_TYPE_MISSION, invalid) == mav.MAV_MISSION_UNSUPPORTED
        off_earth = [(0, 16, 0, 0, 0, 0, 0.0), (6, 16, 0, 0, 950_000_000, 0, 10.0)]
        assert gcs.upload(mav.MAV_MISSION_TYPE_MISSION, off_earth) == mav.MAV_MISSION_INVALID_PARAM5_X


@pytest.mark.timeout(60)
def test_parameters_read_and_set_with_arducopter_names_and_types(sim: MavsimProcess) -> None:
    """PARAM_REQUEST_READ/SET answer with ArduCopter's names, MAV_PARAM_TYPEs and rounding."""
    with Gcs(sim.urls[0]) as gcs:
        gcs.heartbeat()
        gcs.conn.mav.param_request_read_send(gcs.target, 1, b"WPNAV_SPEED", -1)
        value = gcs.wait_type("PARAM_VALUE", param_id="WPNAV_SPEED")
        assert (value.param_value, value.param_type) == (1000.0, mav.MAV_PARAM_TYPE_REAL32)
        assert gcs.set_param("FENCE_ACTION", 2.4) == 2.0  # INT8: rounded as ArduPilot stores it
        gcs.conn.mav.param_request_list_send(gcs.target, 1)
        values = [m for m in gcs.pump(1.0) if m.get_type() == "PARAM_VALUE"]
        names = {m.param_id for m in values}
        assert {"FENCE_ENABLE", "BATT_FS_LOW_ACT", "FS_GCS_TIMEOUT", "GRIP_ENABLE", "RTL_ALT"} <= names
        assert gcs.set_param("FENCE_ACTION", 1) == 1.0


@pytest.mark.timeout(60)
def test_garbage_and_truncated_packets_do_not_hurt(sim: MavsimProcess) -> None:
    """Random bytes, a truncated frame and a bad CRC on TCP and UDP; the vehicle still answers."""
    truncated = mav.MAVLink_heartbeat_message(6, 8, 0, 0, 0, 3).pack(mav.MAVLink(None, 255, 0))[:7]
    bad_crc = bytearray(mav.MAVLink_command_long_message(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0).pack(
        mav.MAVLink(None, 255, 0)))
    bad_crc[-1] ^= 0xFF
    junk = bytes(range(256)) * 4 + b"\xfd\xff\xff" + truncated + bytes(bad_crc) + b"\xfe\x09" * 50
    with socket.create_connection(("127.0.0.1", sim.base_port), timeout=5) as raw:
        raw.sendall(junk)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for chunk in (junk[:100], junk[100:700], truncated, bytes(bad_crc), b""):
            udp.sendto(chunk, ("127.0.0.1", sim.udp_ports[0]))
    with Gcs(sim.urls[0]) as gcs:
        gcs.heartbeat()
        assert gcs.command(mav.MAV_CMD_DO_SET_MODE, 1, 4) == mav.MAV_RESULT_ACCEPTED
        assert gcs.command(mav.MAV_CMD_DO_SET_MODE, 1, 0) == mav.MAV_RESULT_ACCEPTED
    with Gcs(f"udpout:127.0.0.1:{sim.udp_ports[0]}") as gcs:
        gcs.pump(0.2)
        assert gcs.heartbeat().get_srcSystem() == 1
