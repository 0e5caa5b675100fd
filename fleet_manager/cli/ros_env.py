"""The ROS 2 environment the CLI needs, set up by the CLI itself (what `tools/env.sh` sets for a shell).

ROS 2 Kilted comes from PyPI wheels into the venv and FinalMile's interface packages are built
with colcon into `ros_ws/install/`. Their libraries must be on LD_LIBRARY_PATH before the
process starts, so `finalmile` re-executes itself once with the variables set when they are
missing. A plain install without `ros_ws/install` runs as it is (robots are then unavailable).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

MARKER = "FINALMILE_ROS_ENV"
INSTALL_DIR = Path(__file__).resolve().parents[2] / "ros_ws" / "install"


def _packages(install_dir: Path) -> list[Path]:
    return sorted(p for p in install_dir.iterdir() if p.is_dir()) if install_dir.is_dir() else []


def ros_environment(environ: Mapping[str, str], *, install_dir: Path = INSTALL_DIR,
                    venv: Path | None = None) -> dict[str, str] | None:
    """The environment with the venv's ROS 2 and the colcon-built packages added; None when nothing is missing."""
    packages = _packages(install_dir)
    if not packages:
        return None
    prefix = str(venv or Path(sys.prefix))
    env = dict(environ)

    def prepend(name: str, paths: Sequence[str]) -> None:
        current = [p for p in env.get(name, "").split(os.pathsep) if p]
        env[name] = os.pathsep.join([*[p for p in paths if p not in current], *current])

    prepend("AMENT_PREFIX_PATH", [*(str(p) for p in packages), prefix])
    env.setdefault("CMAKE_PREFIX_PATH", prefix)
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    prepend("PYTHONPATH", [str(p / "lib" / "python3.11" / "site-packages") for p in packages
                           if (p / "lib" / "python3.11" / "site-packages").is_dir()])
    prepend("LD_LIBRARY_PATH", [str(p / "lib") for p in packages if (p / "lib").is_dir()])
    keys = ("AMENT_PREFIX_PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "RMW_IMPLEMENTATION")
    if all(env.get(key) == environ.get(key) for key in keys):
        return None
    return env


def reexec_with_ros_environment(argv: Sequence[str]) -> None:
    """Re-execute `finalmile argv` with the ROS 2 variables when they are missing (at most once)."""
    if os.environ.get(MARKER):
        return
    env = ros_environment(os.environ)
    if env is None:
        return
    env[MARKER] = "1"
    os.execve(sys.executable, [sys.executable, "-m", "fleet_manager.cli", *argv], env)
