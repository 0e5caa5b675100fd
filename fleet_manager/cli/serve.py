"""`finalmile serve`: run the fleet manager — Fleet API, event stream, webhooks and, with a fleet, the dispatcher."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleet_manager.config import Settings

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` command."""
    parser = subparsers.add_parser(
        "serve",
        help="run the fleet manager service",
        description=(
            "Run the fleet manager. Configuration comes from FINALMILE_* variables (see fleet_manager.config). "
            "With a fleet file (FINALMILE_FLEET_FILE / --fleet-file) or FINALMILE_VEHICLES it connects to those "
            "vehicles and runs the dispatcher and the safety monitors too; without, it serves the API alone."
        ),
    )
    parser.add_argument("--host", default=None, help="bind address (default FINALMILE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default FINALMILE_PORT or 8000)")
    parser.add_argument("--fleet-file", type=Path, default=None, help="fleet YAML (default FINALMILE_FLEET_FILE)")
    parser.add_argument("--vehicles", default=None, help="vehicle shorthand (default FINALMILE_VEHICLES)")
    parser.add_argument(
        "--hubs", default=None, metavar="A,B",
        help="hubs of the fleet file to lead, each through a lease in the store (default FINALMILE_HUBS); "
             "several processes may name the same hubs: one leads each, the others stand by and take over",
    )
    parser.add_argument("--standby", action="store_true", default=None,
                        help="start as a standby: let a primary started alongside take the hubs first")
    parser.add_argument("--api-only", action="store_true", default=None,
                        help="a stateless API replica for every hub of the fleet file: no vehicles, no dispatcher; "
                             "orders routed by hub id or location, events streamed from NATS JetStream "
                             "(needs FINALMILE_NATS_URL; default FINALMILE_API_ONLY)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the settings, refuse unsafe set-ups, and serve until interrupted."""
    from fleet_manager.config import load_settings

    overrides = {
        key: value
        for key, value in (("host", args.host), ("port", args.port), ("fleet_file", args.fleet_file),
                           ("vehicles", args.vehicles), ("hubs", args.hubs), ("standby", args.standby),
                           ("api_only", args.api_only))
        if value is not None
    }
    settings = load_settings(**overrides)
    settings.check_safe_to_serve()
    asyncio.run(serve(settings))
    return 0


async def serve(settings: Settings) -> None:
    """Build the runtime (connecting the fleet's vehicles) and serve the API until cancelled."""
    import uvicorn

    from fleet_manager.runtime import Runtime

    runtime = await Runtime.start(settings)
    try:
        if settings.api_only:
            vehicles = f"API replica for hubs {', '.join(runtime.app.state.service.hub_ids)}"
        elif runtime.leaderships:
            vehicles = f"hubs {', '.join(runtime.leaderships)} by lease as {settings.node_id}"
        else:
            vehicles = ", ".join(v.vehicle_id for v in runtime.fleet) or "no vehicles: API only"
        logger.warning("FinalMile fleet manager on http://%s:%d (%s)", settings.host, settings.port, vehicles)
        # Keep idle connections longer than clients do (httpx: 5 s), so a client never reuses one the server
        # has just closed (a ReadError on a POST it cannot safely retry).
        config = uvicorn.Config(
            runtime.app, host=settings.host, port=settings.port, log_level="warning", timeout_keep_alive=75
        )
        await uvicorn.Server(config).serve()
    finally:
        await runtime.close()
