"""The finalmile_sim_robot ROS 2 package (ament_python): indexed, console script runs, launch file declares its args."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ament_index = pytest.importorskip("ament_index_python.packages", reason="ament_index_python not installed")

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]

SOURCE = Path(__file__).resolve().parents[2] / "ros_ws" / "src" / "finalmile_sim_robot"


def _prefix() -> Path:
    try:
        return Path(ament_index.get_package_prefix("finalmile_sim_robot"))
    except ament_index.PackageNotFoundError:
        pytest.skip("finalmile_sim_robot not built (run `make ros` and source tools/env.sh)")


def test_package_is_format_3_ament_python() -> None:
    """package.xml is format 3 with build type ament_python; resource marker and setup.py data_files exist."""
    text = (SOURCE / "package.xml").read_text()
    assert '<package format="3">' in text and "<build_type>ament_python</build_type>" in text
    assert (SOURCE / "resource" / "finalmile_sim_robot").exists()
    assert "launch/*.launch.py" in (SOURCE / "setup.py").read_text()


def test_console_script_is_installed_and_runs() -> None:
    """`ros2 run finalmile_sim_robot sim_robots --help` would print the robots' flags."""
    script = _prefix() / "lib" / "finalmile_sim_robot" / "sim_robots"
    assert script.exists(), script
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "--count" in done.stdout and "--speedup" in done.stdout


def test_launch_file_is_installed_and_hands_its_arguments_on_as_parameters() -> None:
    """The installed launch file runs `sim_robots`, declares its arguments and passes them as `parameters=`
    (count, world, speedup, battery_pct, speed_limit, the map datum, fromll_service), not as flags."""
    launch = _prefix() / "share" / "finalmile_sim_robot" / "launch" / "sim_robots.launch.py"
    tree = ast.parse(launch.read_text())
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert {"finalmile_sim_robot", "sim_robots", "count", "world", "speedup", "battery_pct", "speed_limit",
            "map_datum", "latitude_deg", "longitude_deg", "yaw_deg", "projection", "fromll_service"} <= strings
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    node_call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Node")
    assert {k.arg for k in node_call.keywords} >= {"parameters", "name"}
    assert "arguments" not in {k.arg for k in node_call.keywords}
