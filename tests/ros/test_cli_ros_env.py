"""`finalmile` sets up the ROS 2 environment itself: no `source tools/env.sh` needed in a fresh shell."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet_manager.cli.ros_env import INSTALL_DIR, ros_environment
from sim_worlds.leases import lease_ros_domain

# What tools/env.sh sets, our re-exec marker, and the ROS wheels' own bootstrap marker (its .pth re-executes
# Python once with the wheels' library folders on LD_LIBRARY_PATH).
ROS_VARIABLES = ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "RMW_IMPLEMENTATION",
                 "FINALMILE_ROS_ENV", "_ROS_WHEELS_BOOTSTRAP_COMPLETE")


def _clean_environment() -> dict[str, str]:
    """What a shell that never sourced tools/env.sh has."""
    return {key: value for key, value in os.environ.items() if key not in ROS_VARIABLES}


def test_the_environment_adds_every_built_package(tmp_path: Path) -> None:
    """Each colcon-built package's prefix, Python path and libraries are added; nothing twice; idempotent."""
    for name in ("pkg_a", "pkg_b"):
        (tmp_path / name / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    env = ros_environment({"LD_LIBRARY_PATH": "/usr/lib/x"}, install_dir=tmp_path, venv=Path("/venv"))
    assert env is not None
    assert env["AMENT_PREFIX_PATH"].split(os.pathsep) == [str(tmp_path / "pkg_a"), str(tmp_path / "pkg_b"), "/venv"]
    assert env["LD_LIBRARY_PATH"].split(os.pathsep)[-1] == "/usr/lib/x"
    assert env["RMW_IMPLEMENTATION"] == "rmw_fastrtps_cpp"
    assert ros_environment(env, install_dir=tmp_path, venv=Path("/venv")) is None  # already set: no re-exec
    assert ros_environment({}, install_dir=tmp_path / "missing") is None  # a plain install without ROS


@pytest.mark.ros
@pytest.mark.timeout(120)
def test_finalmile_robots_runs_from_a_shell_that_never_sourced_env_sh(tmp_path: Path) -> None:
    """The console script re-executes itself with the ROS 2 variables: sim robots start on DDS."""
    if not INSTALL_DIR.is_dir():
        pytest.skip("ros_ws/install is not built (make setup builds it)")
    finalmile = Path(sys.executable).with_name("finalmile")
    log_path = tmp_path / "robots.log"
    domain = lease_ros_domain()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(finalmile), "robots", "--count", "1", "--world", "helsinki",
             "--domain-id", str(domain.number)],
            env=_clean_environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while "sim robot(s) ready" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.2)
        assert "ModuleNotFoundError" not in log_path.read_text()
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        domain.release()
