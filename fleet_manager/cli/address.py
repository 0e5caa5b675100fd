"""`finalmile address "…"`: resolve typed addresses to a building and a drop point in a world."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the resolver pulls in rapidfuzz and numpy; `finalmile --help` stays fast
    from fleet_manager.world.address_resolver import AddressResolver

# Exit code when the one query did not resolve (needs review or not found): scripts can tell.
EXIT_NOT_RESOLVED = 3


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `address`."""
    parser = subparsers.add_parser(
        "address",
        help="resolve a typed address to a building and drop point (stdin: one query per line, JSON lines out)",
        description=(
            "Resolve a free-text address against a world's OpenStreetMap addresses. With a query, print "
            "the resolution (exit 0 if resolved, 3 if it needs review or was not found). Without one, read "
            "queries from standard input, one per line, and print one JSON object per line."
        ),
    )
    parser.add_argument("query", nargs="?", default=None, help="the address as typed; omit to read stdin")
    parser.add_argument("--world", default="helsinki", help="world name or path to a world YAML (default helsinki)")
    parser.add_argument("--json", action="store_true", help="print the resolution as one JSON object")
    parser.add_argument("--country", default=None, help="country hint: ISO code or name (FI, Suomi, AD, ...)")
    parser.add_argument("--language", default=None, help="language of the names shown: fi, sv, ca, es, fr, ...")
    parser.add_argument(
        "--review-below", type=float, default=None, help="confidence under which a person reviews (default 0.75)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path("var") / "cache", help="address index cache (default var/cache)"
    )
    parser.set_defaults(func=_address)


def _address(args: argparse.Namespace) -> int:
    from fleet_manager.errors import AddressQueryError
    from fleet_manager.world.address_resolver import DEFAULT_REVIEW_BELOW, AddressResolver
    from fleet_manager.world.addresses import address_index_for_world

    if args.query is not None and not args.query.strip():
        raise AddressQueryError("address query is empty (give an address, or none to read standard input)")
    review_below = DEFAULT_REVIEW_BELOW if args.review_below is None else args.review_below
    if not 0.0 < review_below <= 1.0:
        raise AddressQueryError(f"--review-below must be in (0, 1], got {review_below}")
    resolver = AddressResolver(address_index_for_world(args.world, cache_dir=args.cache_dir), review_below=review_below)
    hints = {"country": args.country, "language": args.language}
    if args.query is None:
        return _resolve_lines(resolver, hints, sys.stdin, sys.stdout)
    resolution = resolver.resolve(args.query, **hints)
    if args.json:
        sys.stdout.write(json.dumps(resolution.to_json(), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_human(resolution.to_json()) + "\n")
    return 0 if not resolution.needs_review else EXIT_NOT_RESOLVED


def _resolve_lines(resolver: AddressResolver, hints: dict[str, str | None], source: TextIO, out: TextIO) -> int:
    """One JSON object per input line, in order; a line that cannot be read gets an `error` object."""
    from fleet_manager.errors import AddressQueryError

    count = 0
    for line in source:
        text = line.rstrip("\r\n")
        count += 1
        try:
            payload = resolver.resolve(text, **hints).to_json()
        except AddressQueryError as exc:
            payload = {"query": text, "error": str(exc)}
        out.write(json.dumps(payload, ensure_ascii=False) + "\n")
        out.flush()
    if count == 0:
        raise AddressQueryError("no address on standard input (one query per line)")
    return 0


def _human(result: dict[str, object]) -> str:
    lines = [f"{result['query']}"]
    if result["status"] == "resolved":
        lines.append(f"  resolved (confidence {result['confidence']:.2f}): {result['address']}")
        lines.append(f"  building:   {result['building_id'] or 'none mapped (OSM address point)'}")
        if result["unit"]:
            lines.append(f"  unit:       {result['unit']}")
        door = f" {result['entrance_id']}" if result["entrance_id"] else ""
        lines.append(
            f"  drop point: {result['drop_point']}{door} at {result['latitude_deg']:.6f}, {result['longitude_deg']:.6f}"
        )
    else:
        status = "needs review" if result["status"] == "needs_review" else "not found"
        lines.append(f"  {status} (confidence {result['confidence']:.2f}): {result['reason']}")
    alternatives = result["alternatives"]
    if isinstance(alternatives, list) and alternatives:
        title = "alternatives" if result["status"] == "resolved" else "candidates"
        lines.append(f"  {title}:")
        lines.extend(
            f"    {alt['confidence']:.2f}  {alt['address']}  ({alt['building_id'] or alt['address_id']})"
            for alt in alternatives
        )
    return "\n".join(lines)
