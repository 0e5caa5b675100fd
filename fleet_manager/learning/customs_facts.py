"""Where an order carries the facts customs decides on: its metadata keys (origin, category, declared value).

The backend sends them in `metadata` when it creates the order; the feature builder and the customs
model read them from there. One place names the keys so the writer and the readers cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ORIGIN_KEY = "origin_country"
CATEGORY_KEY = "goods_category"
DECLARED_VALUE_KEY = "declared_value_eur"


@dataclass(frozen=True)
class CustomsFacts:
    """What a parcel declares at customs ("" / NaN when the backend did not say)."""

    origin: str
    goods_category: str
    declared_value_eur: float


def customs_metadata(origin: str, goods_category: str, declared_value_eur: float) -> dict[str, Any]:
    """The metadata entries for these facts (empty ones left out)."""
    entries: dict[str, Any] = {}
    if origin:
        entries[ORIGIN_KEY] = origin
    if goods_category:
        entries[CATEGORY_KEY] = goods_category
    if declared_value_eur > 0:
        entries[DECLARED_VALUE_KEY] = declared_value_eur
    return entries


def customs_facts(metadata: Mapping[str, Any]) -> CustomsFacts:
    """The facts in an order's metadata; a value that is not a number counts as unknown (NaN)."""
    value = metadata.get(DECLARED_VALUE_KEY)
    try:
        declared = float(value) if value is not None and not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        declared = float("nan")
    return CustomsFacts(origin=str(metadata.get(ORIGIN_KEY) or ""),
                        goods_category=str(metadata.get(CATEGORY_KEY) or ""), declared_value_eur=declared)
