"""`python -m sim_worlds.mavsim`: the same simulator and options as `finalmile mavsim`."""

from __future__ import annotations

import argparse
import logging
import sys

from mission_planner.errors import FinalMileError
from sim_worlds.mavsim.cli import add_arguments, run


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(prog="python -m sim_worlds.mavsim",
                                     description="ArduCopter-compatible multi-vehicle MAVLink simulator")
    add_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except FinalMileError as exc:
        logging.getLogger("sim_worlds.mavsim").error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
