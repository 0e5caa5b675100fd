"""`finalmile keys`: new random secrets for `finalmile serve`, printed as FINALMILE_* lines for an env file."""

from __future__ import annotations

import argparse
import base64
import secrets
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `keys` command."""
    parser = subparsers.add_parser(
        "keys",
        help="print new random API keys, server secret and webhook secret",
        description=(
            "Print FINALMILE_API_KEYS (one key per role; --locker ID adds a key bound to that locker), "
            "FINALMILE_SERVER_SECRET and FINALMILE_WEBHOOK_SECRET (Standard Webhooks 'whsec_' form) with "
            "fresh random values, as lines for docker/.env or a shell."
        ),
    )
    parser.add_argument("--locker", action="append", default=[], metavar="LOCKER_ID", help="a locker terminal key")
    parser.set_defaults(func=run)


def new_key() -> str:
    """43 URL-safe random characters (256 bits)."""
    return secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    """`whsec_` + base64 of 32 random bytes, as Standard Webhooks libraries expect."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def run(args: argparse.Namespace) -> int:
    """Print the lines."""
    entries = [f"{role}:{new_key()}" for role in ("backend", "operator", "viewer")]
    entries += [f"locker@{locker_id}:{new_key()}" for locker_id in args.locker]
    sys.stdout.write(f"FINALMILE_API_KEYS={','.join(entries)}\n")
    sys.stdout.write(f"FINALMILE_SERVER_SECRET={new_key()}\n")
    sys.stdout.write(f"FINALMILE_WEBHOOK_SECRET={new_webhook_secret()}\n")
    return 0
