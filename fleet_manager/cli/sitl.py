"""`finalmile sitl`: run N ArduCopter SITL drones at a world's hub until Ctrl-C, printing their URLs."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `sitl` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sitl",
        help="run ArduCopter SITL drones (real firmware) at a world's hub",
        description="Start N ArduCopter SITL processes (instance i on tcp:127.0.0.1:5760+10*(base+i)) with "
        "delivery-drone parameters, wait until each can arm in GUIDED, print the URLs, run until Ctrl-C.",
    )
    parser.add_argument("--count", type=int, default=1, help="number of SITL drones")
    parser.add_argument("--speedup", type=float, default=1.0, help="SITL --speedup (simulated s per wall s)")
    parser.add_argument("--world", default="helsinki", help="world whose hub is home")
    parser.add_argument("--binary", default=None, help="arducopter SITL binary (default: $FINALMILE_SITL_BINARY)")
    parser.add_argument("--instance-base", type=int, default=0, help="SITL instance of the first drone (-I)")
    parser.add_argument("--home-alt-m", type=float, default=10.0, help="home altitude AMSL, metres")
    parser.add_argument("--workdir", default=None, help="keep work dirs (eeprom, logs) here instead of a temp dir")
    parser.add_argument("--remote-id", action="store_true",
                        help="Remote ID enforced (DID_ENABLE=1, DID_OPTIONS=1, DID_MAVPORT=2) with a simulated "
                             "transmitter on each drone's SERIAL2; drones then arm only while a GCS streams "
                             "Remote ID data (the fleet file's hub remote_id)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="another parameter for every drone (repeatable), e.g. MAV_OPTIONS=1")
    parser.set_defaults(func=_run)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # leaves the SitlFleet context, which kills every process it started


def _run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from fleet_manager.world import load_world
    from sim_worlds.mavsim.params import parse_overrides
    from sim_worlds.remote_id_tx import RemoteIdTransmitter
    from sim_worlds.sitl import SitlError, SitlFleet, check_instances, resolve_binary, sitl_tcp_port

    check_instances(args.instance_base, args.count)  # fail fast, before starting anything
    params = parse_overrides(args.param)
    resolve_binary(args.binary)
    hub = load_world(args.world).hub
    if args.remote_id:
        params.update({"DID_ENABLE": 1, "DID_OPTIONS": 1, "DID_MAVPORT": 2})
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Ctrl-C must always clean up.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, _stop_on_sigterm)
    with SitlFleet(
        args.binary, count=args.count, speedup=args.speedup, instance_base=args.instance_base,
        home=(hub.latitude_deg, hub.longitude_deg, args.home_alt_m, 0.0), workdir=args.workdir, params=params,
        wait_armable=not args.remote_id,
    ) as fleet, ExitStack() as transmitters:  # fmt: skip
        for vehicle in fleet.vehicles:
            if args.remote_id:
                transmitters.enter_context(RemoteIdTransmitter(
                    f"tcp:127.0.0.1:{sitl_tcp_port(vehicle.instance, 2)}", speedup=args.speedup))
            sys.stdout.write(
                f"drone {vehicle.index}: {vehicle.url}  home {vehicle.home[0]:.7f},{vehicle.home[1]:.7f}\n"
            )
        sys.stdout.write(f"{fleet.count} ArduCopter SITL drone(s) ready at {args.world} hub; Ctrl-C to stop\n")
        sys.stdout.flush()
        try:
            while not (dead := fleet.dead()):
                time.sleep(1.0)
        except KeyboardInterrupt:
            return 0
        raise SitlError(f"SITL drone(s) {dead} exited; see their sitl.log in the work directory")
