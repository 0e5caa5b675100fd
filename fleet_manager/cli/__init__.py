"""The `finalmile` command line: one module per command group under `fleet_manager.cli`.

Each command module defines `register(subparsers) -> None`, adding its sub-command whose
handler is stored as `func` on the parsed namespace and returns an exit code. Command modules
import their heavy dependencies (rclpy, pyrosm, uvicorn) inside the handler, so `--help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence

from mission_planner.errors import FinalMileError

# Order is the order in `finalmile --help`. A module that does not exist yet is simply absent.
COMMAND_MODULES = ("world", "address", "sim", "serve", "db", "learn", "keys", "mavsim", "sitl", "robots")

logger = logging.getLogger("finalmile")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available command."""
    parser = argparse.ArgumentParser(
        prog="finalmile",
        description="FinalMile: open fleet orchestrator for autonomous last-mile delivery.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module_name = f"{__name__}.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `finalmile` console script."""
    if argv is None:  # the console script: make ROS 2 importable without sourcing tools/env.sh
        from .ros_env import reexec_with_ros_environment

        reexec_with_ros_environment(sys.argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose >= 2 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Our own packages talk at INFO by default; libraries only when something is wrong.
    for package in ("finalmile", "mission_planner", "fleet_manager", "sim_worlds"):
        logging.getLogger(package).setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except FinalMileError as exc:  # configuration and run errors: one line, the traceback only with -v
        if args.verbose:
            logger.exception("%s", exc)
        else:
            logger.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
