"""`finalmile robots`: run N Nav2-compatible sim robots (rclpy nodes) in one process."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `robots`."""
    parser = subparsers.add_parser(
        "robots",
        help="run Nav2-compatible sim robots (navigate_to_pose, odom, battery_state) on a ROS 2 domain",
        description="Run N sim robots in namespaces /robot_1.. with one executor; Ctrl-C stops them. "
                    "ROS parameters after --ros-args override the flags (-p count:=3 -p speedup:=10, "
                    "--params-file FILE); each robot also takes map_datum.latitude_deg / longitude_deg / "
                    "yaw_deg / projection and fromll_service (see sim_worlds/robots/params.py).",
    )
    parser.add_argument("--count", type=int, default=1, help="number of robots (default 1)")
    parser.add_argument("--world", default="helsinki", help="world name or YAML path (default helsinki)")
    parser.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per wall second (default 1)")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: from the environment)")
    parser.add_argument("--battery-pct", type=float, default=100.0, help="initial charge in percent (default 100)")
    parser.add_argument("--speed-limit", type=float, default=1.7, help="driving speed limit in m/s (default 1.7)")
    parser.add_argument("--namespace-prefix", default="robot_", help="namespace prefix (default robot_)")
    parser.add_argument("--first-index", type=int, default=1, help="index of the first robot (default 1)")
    parser.add_argument("--control-port", type=int, default=None,
                        help="open the sim-control channel (place/attach for vans) on this port (0 = any, logged)")
    parser.add_argument("--executor", choices=("events", "single_threaded"), default="events",
                        help="rclpy executor spinning the robots (default events: rclpy's EventsExecutor)")
    parser.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=[],
                        help="ROS 2 arguments, last on the line: -p NAME:=VALUE, --params-file FILE, -r ...")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sim_worlds.robots.runner import FleetConfig, run_fleet

    try:
        config = FleetConfig(
            count=args.count,
            world=args.world,
            speedup=args.speedup,
            domain_id=args.domain_id,
            battery_pct=args.battery_pct,
            speed_limit_m_s=args.speed_limit,
            namespace_prefix=args.namespace_prefix,
            first_index=args.first_index,
            control_port=args.control_port,
            executor=args.executor,
        )
    except ValueError as exc:
        raise SystemExit(f"finalmile robots: {exc}") from exc
    run_fleet(config, ros_args=args.ros_args)
    return 0
