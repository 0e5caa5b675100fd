"""`ros2 run finalmile_sim_robot sim_robots --count N --speedup K`: the flags of `finalmile robots`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the sim robots; needs the `finalmile` distribution importable (pip install -e . in the ROS env)."""
    try:
        from fleet_manager.cli import main as finalmile_main
    except ImportError as exc:
        sys.stderr.write(
            "finalmile_sim_robot needs the `finalmile` Python distribution (sim_worlds.robots) on PYTHONPATH: "
            f"pip install -e <finalmile checkout> in this ROS 2 environment ({exc})\n"
        )
        return 1
    # `ros2 run ... --ros-args -p count:=3` and `ros2 launch` (which appends --ros-args -r __node:=...
    # --params-file ...) hand ROS arguments on: the robots read them as ROS parameters.
    args = list(sys.argv[1:] if argv is None else argv)
    return int(finalmile_main(["robots", *args]))


if __name__ == "__main__":
    sys.exit(main())
