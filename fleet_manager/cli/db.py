"""`finalmile db upgrade` / `finalmile db current`: the store's schema, migrated once and on purpose.

Services never migrate at start-up (replicas would race); they refuse a schema behind the code and
name this command. In production it is the compose file's init job, run before any service starts.
"""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `db` command group."""
    parser = subparsers.add_parser(
        "db",
        help="migrate the store's schema (upgrade) or show its revision (current)",
        description="The database is FINALMILE_DATABASE_URL (default: the SQLite file var/finalmile.db).",
    )
    parser.add_argument("--database-url", default=None, help="database URL (default FINALMILE_DATABASE_URL)")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    actions.add_parser("upgrade", help="apply every pending migration (idempotent; safe to run twice at once)")
    actions.add_parser("current", help="print the current and the head revision; exit 3 when behind")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Upgrade, or print `current=<rev> head=<rev>` (exit 0 at head, 3 behind)."""
    from fleet_manager.config import load_settings
    from fleet_manager.store.db import Database

    url = args.database_url or load_settings().database_url
    database = Database(url)
    try:
        if args.db_action == "upgrade":
            database.migrate()
            current, head = database.schema_revisions()
            logger.info("database %s upgraded to %s", database.display_url, current)
            return 0
        current, head = database.schema_revisions()
        sys.stdout.write(f"current={current or 'none'} head={head}\n")
        return 0 if current == head else 3
    finally:
        database.dispose()
