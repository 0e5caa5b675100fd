"""MAVProxy (ArduPilot's own ground station, 1.8.75) flies a delivery as an operator would, on mavsim and on SITL.

One script, driven with pexpect as ArduPilot's autotest drives MAVProxy: wait for the vehicle and its
parameters, load a delivery mission from a QGC WPL file and read it back, GUIDED, arm when ready,
raise the throttle (`rc 3 1500`: ArduCopter with AUTO_OPTIONS=0 does not take off in AUTO
otherwise), AUTO; take-off, the drop waypoint, the gripper, RTL and landing, until disarmed. The
simulator run needs nothing but the repository; the SITL run needs FINALMILE_SITL_BINARY.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from sim_worlds.mavsim.process import MavsimProcess
from sim_worlds.sitl import SitlFleet

SPEEDUP = 5.0  # MAVProxy answers mission requests within ArduPilot's 8 s (vehicle time) upload timeout
HOME = (60.1715, 24.9381, 10.0)
DROP_NORTH_M, DROP_EAST_M = 60.0, 30.0


def _mission_file(path: Path, home: tuple[float, float]) -> Path:
    """Take-off 15 m, the drop point at 15 m, down to 5 m, release the gripper, climb, RTL (QGC WPL 110)."""
    lat = home[0] + math.degrees(DROP_NORTH_M / 6378137.0)
    lon = home[1] + math.degrees(DROP_EAST_M / (6378137.0 * math.cos(math.radians(home[0]))))
    rows = [
        (0, 1, 0, 16, 0, home[0], home[1], HOME[2]),
        (1, 0, 3, 22, 0, 0, 0, 15),
        (2, 0, 3, 16, 0, lat, lon, 15),
        (3, 0, 3, 16, 2, lat, lon, 5),
        (4, 0, 3, 211, 1, 0, 0, 0),
        (5, 0, 3, 16, 0, lat, lon, 15),
        (6, 0, 3, 20, 0, 0, 0, 0),
    ]
    lines = ["QGC WPL 110"]
    for seq, current, frame, command, param1, x, y, z in rows:
        # DO_GRIPPER (211): param1 gripper 1, param2 0 = release
        lines.append(f"{seq}\t{current}\t{frame}\t{command}\t{param1}\t0\t0\t0\t{x:.7f}\t{y:.7f}\t{z}\t1")
    path.write_text("\n".join(lines) + "\n")
    return path


def fly_delivery_with_mavproxy(url: str, workdir: Path, home: tuple[float, float]) -> str:
    """The operator's session; returns MAVProxy's console output. Fails naming the step that did not happen."""
    mission = _mission_file(workdir / "delivery.txt", home)
    console = workdir / "mavproxy.log"
    proxy = pexpect.spawn(sys.executable, ["-m", "MAVProxy.mavproxy", "--master", url, "--source-system", "255",
                                           "--state-basedir", str(workdir), "--aircraft", "finalmile"],
                          cwd=str(workdir), encoding="utf-8", timeout=60, echo=False)
    proxy.logfile_read = console.open("w")

    def expect(pattern: str | list[str], what: str, timeout_s: float = 60) -> int:
        try:
            return int(proxy.expect(pattern, timeout=timeout_s))
        except (pexpect.TIMEOUT, pexpect.EOF):
            pytest.fail(f"MAVProxy on {url}: no {what} within {timeout_s} s; console in {console}:\n"
                        f"{console.read_text()[-3000:]}")

    try:
        expect("Detected vehicle", "vehicle")
        expect(r"Received \d+ parameters", "parameters", 120)
        proxy.sendline(f"wp load {mission}")
        expect("Sent all 7 waypoints", "mission upload")
        proxy.sendline("wp list")
        expect("Requesting 7 waypoints", "mission download")
        expect(r"16 3 \S+ \S+ 5\.000000 p1=2\.0", "read-back of the release waypoint (5 m, 2 s hold)")
        expect("Saved 7 waypoints", "the whole read-back")
        proxy.sendline("mode guided")
        expect("GUIDED>", "GUIDED mode")
        for _ in range(60):
            proxy.sendline("arm throttle")
            if expect(["ARMED", "Arm: ", "PreArm: "], "an answer to arming") == 0:
                break
            proxy.expect([pexpect.TIMEOUT], timeout=1.0)
        else:
            pytest.fail(f"never armable; console in {console}")
        proxy.sendline("rc 3 1500")
        proxy.sendline("mode auto")
        expect("Mission: 1 Takeoff", "AUTO and its take-off")
        expect("Reached command #2", "the drop point", 120)
        expect("Gripper", "the gripper release", 120)
        expect("Mission: 6 RTL", "RTL", 120)
        expect("DISARMED", "landing and disarm", 240)
        proxy.sendline("rc 3 1000")
        return console.read_text()
    finally:
        proxy.logfile_read.close()
        proxy.terminate(force=True)


@pytest.mark.sim
@pytest.mark.timeout(300)
def test_mavproxy_flies_a_delivery_on_mavsim(tmp_path: Path) -> None:
    """The operator's MAVProxy session succeeds on the in-repo simulator."""
    with MavsimProcess(1, speedup=SPEEDUP, home=HOME, extra_args=("--boot-s", "10")) as sim:
        output = fly_delivery_with_mavproxy(sim.urls[0], tmp_path, HOME[:2])
    assert "Gripper load released" in output


@pytest.mark.sitl
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_mavproxy_flies_the_same_delivery_on_sitl(tmp_path: Path, make_sitl_fleet: Callable[..., SitlFleet]) -> None:
    """The same session succeeds on real ArduCopter SITL (delivery parameters: gripper on SERVO8)."""
    fleet = make_sitl_fleet(1, speedup=SPEEDUP, home=(*HOME, 0.0))
    try:
        lat, lon, _, _ = fleet.vehicles[0].home
        output = fly_delivery_with_mavproxy(fleet.urls[0], tmp_path, (lat, lon))
    finally:
        fleet.stop()
    assert "Gripper load released" in output
