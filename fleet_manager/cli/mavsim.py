"""`finalmile mavsim`: run N simulated ArduCopter drones (MAVLink on TCP 5760+10·i, UDP 14550+10·i)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `mavsim` command."""
    from sim_worlds.mavsim.cli import add_arguments

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "mavsim", help="ArduCopter-compatible MAVLink drone simulator",
        description="Simulate N quadcopters that speak MAVLink as ArduCopter SITL does.")
    add_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sim_worlds.mavsim.cli import run

    return run(args)
