"""`finalmile learn`: train the ETA and customs-delay models from the store's history and save a new version."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `learn` command."""
    parser = subparsers.add_parser(
        "learn", help="train prediction models from the store's history",
        description=("Build training tables from the store (FINALMILE_DATABASE_URL or --database-url), train the "
                     "ETA model (p10/p50/p90) and the customs-delay model on the older days, measure them on the "
                     "newest, and save them as a new version under --models-dir (the service loads the newest)."),
    )
    parser.add_argument("--database-url", help="store URL (default: FINALMILE_DATABASE_URL)")
    parser.add_argument("--hub", action="append", dest="hubs", metavar="HUB_ID", help="only these hubs' history")
    parser.add_argument("--models-dir", type=Path, help="where versions go (default: FINALMILE_MODELS_DIR)")
    parser.add_argument("--timezone", default="UTC", help="IANA zone of the hubs' local hours (default UTC)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-share", type=float, default=0.25, help="newest share of the days held out")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, save, print the version folder and its metrics."""
    from fleet_manager.config import Settings
    from fleet_manager.learning.training import learn_from_store
    from fleet_manager.store.db import Database

    settings = Settings()
    database = Database(args.database_url or settings.database_url)
    try:
        result = learn_from_store(database, models_dir=args.models_dir or settings.models_dir, hub_ids=args.hubs,
                                  timezone=args.timezone, seed=args.seed, test_share=args.test_share)
    finally:
        database.dispose()
    sys.stdout.write(f"{result.path}\n{json.dumps(result.metrics, indent=1, default=float)}\n")
    return 0
