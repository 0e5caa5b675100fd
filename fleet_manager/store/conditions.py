"""Parcel sensor readings (temperature, humidity, shock) and the excursions they reveal.

Each reading is stored; the parcel's newest reading and excursion count are kept beside it. A
reading that breaks the parcel's handling limits while it is in the fleet's care opens an
excursion episode (until a reading is within limits again): a `parcel.condition_excursion`
event for the backend and the dashboard, and, when the parcel has not left the hub yet, the
order goes `on_hold` (an operator releases or cancels it). All in the caller's transaction.

With an allowance (`FINALMILE_COLD_CHAIN_WARM_ALLOWANCE_MIN`, as pharma "time out of refrigeration"
budgets allow, from the product's stability studies), readings above a cold-chain parcel's range are
not an excursion each: the time the parcel spends above it is summed over its readings (each reading's
state holds until the next one), and the excursion comes when that total passes the allowance; from
then on any reading above the range is one. Below the range (freezing) and shocks are excursions at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet_manager.domain.errors import NotFound
from fleet_manager.domain.handling import Handling
from fleet_manager.domain.orders import OrderStatus
from fleet_manager.domain.state_machine import AT_HUB

from .models import OrderRow, ParcelConditionRow, ParcelReadingRow
from .orders import _apply, _order_data, to_order
from .outbox import append_event

CONDITION_EXCURSION = "parcel.condition_excursion"
CONDITION_RECOVERED = "parcel.condition_recovered"
# After hand-over the parcel is the recipient's: readings are kept, nothing is raised.
_HANDED_OVER = frozenset({OrderStatus.DELIVERED, OrderStatus.PICKED_UP, OrderStatus.CANCELLED})


@dataclass(frozen=True)
class Reading:
    """One sensor reading; None where the sensor does not measure it."""

    at_s: float
    temperature_c: float | None = None
    humidity_pct: float | None = None
    shock_g: float | None = None


@dataclass(frozen=True)
class ReadingOutcome:
    """What one reading did: which limits it broke, whether it opened an excursion, whether the parcel was held."""

    order_id: str
    broken: tuple[str, ...]
    new_excursion: bool
    held: bool
    minutes_above_range: float = 0.0  # in total so far (counted only where an allowance is set)


@dataclass(frozen=True)
class Condition:
    """A sensed parcel: its newest reading, counts, and the recent readings (oldest first)."""

    order_id: str
    latest: Reading | None
    readings_total: int
    excursions: int
    in_excursion: bool
    recent: tuple[tuple[Reading, str], ...]  # (reading, what it broke or "")


def record_reading(
    session: Session, *, hub_id: str, order_id: str, reading: Reading, now_s: float | None = None,
    warm_allowance_s: float = 0.0,
) -> ReadingOutcome:
    """Store a reading of `order_id`'s sensor and act on an excursion (NotFound for an unknown order or hub).

    The order's changes (hold, events) are stamped `now_s`, the fleet clock's time (the reading keeps
    the sensor's own time, which may lag); the reading's time when not given. `warm_allowance_s` > 0 (or the
    order's own `warm_allowance_min`): time above the temperature range is an excursion only once it passes
    this in total (module docstring).
    """
    now_s = reading.at_s if now_s is None else now_s
    row = session.scalar(select(OrderRow).where(OrderRow.order_id == order_id).with_for_update())
    if row is None or row.hub_id != hub_id:
        raise NotFound(f"order {order_id!r} not found in hub {hub_id!r}")
    handling = Handling.from_json(row.handling)
    status = OrderStatus(row.status)
    broken = tuple(handling.excursion(temperature_c=reading.temperature_c, humidity_pct=reading.humidity_pct,
                                      shock_g=reading.shock_g))
    session.add(ParcelReadingRow(order_id=order_id, hub_id=hub_id, at_s=reading.at_s,
                                 temperature_c=reading.temperature_c, humidity_pct=reading.humidity_pct,
                                 shock_g=reading.shock_g, excursion="; ".join(broken)))
    above_s = 0.0
    cold = handling.cold_chain
    if cold is not None and cold.warm_allowance_min is not None:  # the parcel's own allowance wins
        warm_allowance_s = cold.warm_allowance_min * 60.0
    if warm_allowance_s > 0 and cold is not None:
        session.flush()  # the new reading is part of the history summed below
        above_s = _seconds_above(session, order_id, cold.max_temp_c)
        warm = reading.temperature_c is not None and reading.temperature_c > cold.max_temp_c
        if warm and above_s <= warm_allowance_s:  # within the allowance: being warm is not an excursion yet
            broken = tuple(handling.excursion(temperature_c=None, humidity_pct=reading.humidity_pct,
                                              shock_g=reading.shock_g))
        elif warm:
            broken += (f"{above_s / 60:.1f} min above {cold.max_temp_c:g} °C in total, "
                       f"allowance {warm_allowance_s / 60:g} min",)
    condition = session.get(ParcelConditionRow, order_id)
    if condition is None:
        condition = ParcelConditionRow(order_id=order_id, hub_id=hub_id, readings=0, excursions=0, in_excursion=False)
        session.add(condition)
    condition.at_s = reading.at_s
    condition.temperature_c, condition.humidity_pct, condition.shock_g = (
        reading.temperature_c, reading.humidity_pct, reading.shock_g)
    condition.readings = (condition.readings or 0) + 1
    in_care = status not in _HANDED_OVER
    new_excursion = bool(broken) and in_care and not condition.in_excursion
    held = False
    if new_excursion:
        condition.excursions = (condition.excursions or 0) + 1
        condition.in_excursion = True
        if condition.first_excursion_at_s is None:
            condition.first_excursion_at_s = reading.at_s
        held = status in AT_HUB
        if held:
            _apply(session, row, OrderStatus.ON_HOLD, actor="condition-monitor", at_s=now_s,
                   reason=f"condition excursion before departure: {'; '.join(broken)}",
                   details={"broken": list(broken), "temperature_c": reading.temperature_c,
                            "shock_g": reading.shock_g})
        append_event(session, hub_id=hub_id, event_type=CONDITION_EXCURSION, subject=f"orders/{order_id}",
                     data={**_order_data(to_order(row)), "broken": list(broken), "held": held,
                           "status_at_excursion": status.value, "reading": vars(reading),
                           "handling": handling.to_json(), "excursions": condition.excursions,
                           "minutes_above_range": round(above_s / 60, 2), "at_s": now_s}, at_s=now_s)
    elif not broken and condition.in_excursion:
        condition.in_excursion = False
        append_event(session, hub_id=hub_id, event_type=CONDITION_RECOVERED, subject=f"orders/{order_id}",
                     data={"order_id": order_id, "reference": row.reference, "reading": vars(reading),
                           "at_s": now_s}, at_s=now_s)
    session.flush()
    return ReadingOutcome(order_id, broken, new_excursion, held, round(above_s / 60, 2))


def _seconds_above(session: Session, order_id: str, max_temp_c: float) -> float:
    """Time the parcel spent above `max_temp_c`: each reading's temperature holds until the next reading."""
    rows = session.execute(select(ParcelReadingRow.at_s, ParcelReadingRow.temperature_c)
                           .where(ParcelReadingRow.order_id == order_id)
                           .order_by(ParcelReadingRow.at_s, ParcelReadingRow.seq)).all()
    total_s = 0.0
    for (at_s, temperature_c), (next_at_s, _) in itertools.pairwise(rows):
        if temperature_c is not None and temperature_c > max_temp_c:
            total_s += max(0.0, next_at_s - at_s)
    return total_s


def get_condition(session: Session, *, order_id: str, recent: int = 120) -> Condition:
    """A parcel's condition: newest reading, counts and the last `recent` readings (NotFound without readings)."""
    row = session.get(ParcelConditionRow, order_id)
    if row is None:
        raise NotFound(f"order {order_id!r} has no sensor readings")
    query = (select(ParcelReadingRow).where(ParcelReadingRow.order_id == order_id)
             .order_by(ParcelReadingRow.at_s.desc(), ParcelReadingRow.seq.desc()).limit(recent))
    readings = [(Reading(r.at_s, r.temperature_c, r.humidity_pct, r.shock_g), r.excursion)
                for r in session.scalars(query)]
    latest = Reading(row.at_s, row.temperature_c, row.humidity_pct, row.shock_g)
    return Condition(order_id, latest, row.readings, row.excursions, row.in_excursion, tuple(reversed(readings)))
