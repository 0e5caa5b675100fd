"""`finalmile serve`: run the fleet manager (Fleet API, event stream, webhooks) with uvicorn."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` command."""
    parser = subparsers.add_parser(
        "serve",
        help="run the fleet manager service",
        description="Run the Fleet API. Configuration comes from FINALMILE_* variables (see fleet_manager.config).",
    )
    parser.add_argument("--host", default=None, help="bind address (default FINALMILE_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default FINALMILE_PORT or 8000)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the settings, refuse unsafe set-ups, and serve until interrupted."""
    import uvicorn

    from fleet_manager.api.app import create_app
    from fleet_manager.config import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = Settings(**overrides)
    settings.check_safe_to_serve()
    app = create_app(settings)
    logger.warning("FinalMile fleet manager on http://%s:%d (hub %s)", settings.host, settings.port, settings.hub_id)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", lifespan="on")
    return 0
