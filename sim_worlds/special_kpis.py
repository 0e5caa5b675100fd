"""KPIs of a day's cold-chain parcels and typed addresses (from the store's audit trail and the backend's view).

- `cold_chain_parcels`, `cold_chain_delivered`, `cold_chain_held` (on hold after an excursion at the hub),
  `cold_chain_unplannable` (the planner refused them, with a reason);
- `cold_chain_excursions`: excursion episodes the fleet manager raised from the sensors' MQTT readings;
- `max_minutes_out_of_conditioning`: the longest hand-over minus the last departure from the hub, over
  the delivered cold-chain parcels (audit trail times), and `cold_chain_over_limit` (those over their limit);
- `addresses_typed`, `addresses_resolved` (confident: delivered on the resolver's answer),
  `addresses_reviewed` (went to the review queue), `addresses_wrong` (confident and not the building the
  recipient meant), `address_reviews_decided` (by the simulated operator), accuracy and a per-kind count.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

_HANDED_OVER = ("delivered", "delivered_to_locker")


def _excursions(database_url: str, hub_id: str) -> tuple[int, int]:
    """(excursion episodes, parcels with at least one) from the store."""
    from sqlalchemy import func, select

    from fleet_manager.store.db import Database
    from fleet_manager.store.models import ParcelConditionRow

    database = Database(database_url)
    try:
        with database.read() as session:
            episodes = session.scalar(select(func.coalesce(func.sum(ParcelConditionRow.excursions), 0))
                                      .where(ParcelConditionRow.hub_id == hub_id)) or 0
            parcels = session.scalar(select(func.count()).select_from(ParcelConditionRow)
                                     .where(ParcelConditionRow.hub_id == hub_id, ParcelConditionRow.excursions > 0))
    finally:
        database.dispose()
    return int(episodes), int(parcels or 0)


def cold_chain_kpis(database_url: str, hub_id: str, orders: list[Any], events: dict[str, list[Any]]) -> dict[str, Any]:
    """The cold-chain figures of a day."""
    cold = [o for o in orders if o.is_cold_chain]
    minutes_out: list[float] = []
    over = 0
    for order in cold:
        departed = None
        for event in events[order.order_id]:
            status = event.to_status.value
            if status == "out_for_delivery":
                departed = event.at_s
            elif status in _HANDED_OVER and departed is not None:
                minutes = (event.at_s - departed) / 60.0
                minutes_out.append(minutes)
                limit = order.handling["cold_chain"]["max_minutes_out_of_conditioning"]
                over += int(minutes > limit)
    episodes, parcels = _excursions(database_url, hub_id) if cold else (0, 0)
    return {
        "cold_chain_parcels": len(cold),
        "cold_chain_delivered": sum(1 for o in cold if o.status.value in (*_HANDED_OVER, "picked_up")),
        "cold_chain_held": sum(1 for o in cold if o.status.value == "on_hold"),
        "cold_chain_unplannable": sum(1 for o in cold if o.unplannable_reason
                                      and not o.unplannable_reason.startswith("left out")),
        "cold_chain_excursions": episodes,
        "cold_chain_parcels_with_excursion": parcels,
        "max_minutes_out_of_conditioning": round(max(minutes_out), 1) if minutes_out else None,
        "cold_chain_over_limit": over,
    }


def typed_address_kpis(outcomes: dict[str, dict[str, Any]], reviews_decided: int) -> dict[str, Any]:
    """The typed-address figures of a day, scored against what each recipient meant."""
    resolved = [o for o in outcomes.values() if o["status"] == "resolved"]
    wrong = [o for o in resolved if o["target"] != o["expected"]]
    by_kind: Counter[str] = Counter()
    for outcome in outcomes.values():
        verdict = "review" if outcome["status"] != "resolved" else (
            "right" if outcome["target"] == outcome["expected"] else "wrong")
        by_kind[f"{outcome['kind']}:{verdict}"] += 1
    return {
        "addresses_typed": len(outcomes),
        "addresses_resolved": len(resolved),
        "addresses_reviewed": sum(1 for o in outcomes.values() if o["order_status"] == "address_review"),
        "addresses_wrong": len(wrong),
        "address_reviews_decided": reviews_decided,
        "address_top1_accuracy_pct": round(100.0 * (len(resolved) - len(wrong)) / len(outcomes), 1)
        if outcomes else None,
        "addresses_by_kind": dict(sorted(by_kind.items())),
    }
