"""Customs forecasts: each parcel waiting for customs gets its expected clearance; long holds are told early.

Before each planning cycle the dispatcher asks the forecaster to look at the hub's parcels in
`awaiting_customs` that have no forecast yet. With a trained customs model (`finalmile learn`) it
stores the expected clearance on the order (API: `customs_forecast`) and, when that is longer than
`customs_held_long_s`, appends a `customs.held_long_predicted` event (a webhook to the backend)
at once — hours before the parcel would otherwise be noticed as late. Without a model it does nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mission_planner.clock import Clock

from .domain.orders import Order, OrderStatus
from .learning.customs_facts import customs_facts
from .learning.customs_model import CustomsModel, CustomsQuery
from .store import order_queries
from .store import orders as order_store
from .store.db import Database
from .store.outbox import append_event

logger = logging.getLogger(__name__)

HELD_LONG_EVENT = "customs.held_long_predicted"
_PAGE = 500


@dataclass(frozen=True)
class CustomsForecastConfig:
    """The model (None: no forecasts), its version label, and what counts as a long hold."""

    model: CustomsModel | None
    source: str = ""
    held_long_s: float = 3600.0


class CustomsForecaster:
    """Forecasts clearance for one hub's parcels at customs."""

    def __init__(self, *, database: Database, clock: Clock, hub_id: str, config: CustomsForecastConfig) -> None:
        self.database = database
        self.clock = clock
        self.hub_id = hub_id
        self.config = config

    async def forecast_new(self) -> list[str]:
        """Forecast the parcels at customs that have none yet; returns the ids flagged as held long."""
        model = self.config.model
        if model is None:
            return []
        now_s = self.clock.now()

        def forecast(session: Session) -> list[str]:
            waiting = [o for o in order_queries.list_orders(session, hub_ids=[self.hub_id],
                                                            statuses=[OrderStatus.AWAITING_CUSTOMS],
                                                            limit=_PAGE).orders if not o.customs_forecast]
            expected = model.predict([_query(o) for o in waiting])
            flagged = []
            for order, clearance_s in zip(waiting, expected, strict=True):
                held_long = clearance_s > self.config.held_long_s
                forecast = {"expected_clearance_s": round(clearance_s, 1),
                            "expected_cleared_at_s": order.created_at_s + clearance_s, "held_long": held_long,
                            "source": self.config.source, "forecast_at_s": now_s}
                order_store.set_customs_forecast(session, order_id=order.order_id, forecast=forecast)
                if held_long:
                    append_event(session, hub_id=self.hub_id, event_type=HELD_LONG_EVENT,
                                 subject=f"orders/{order.order_id}",
                                 data={"order_id": order.order_id, "reference": order.reference, **forecast},
                                 at_s=now_s)
                    flagged.append(order.order_id)
            return flagged

        flagged = await self.database.write_async(forecast)
        if flagged:
            logger.info("%s: %d parcel(s) predicted to be held long at customs", self.hub_id, len(flagged))
        return flagged


def _query(order: Order) -> CustomsQuery:
    """The model's view of an order (it reached customs when it was created awaiting clearance)."""
    declared = customs_facts(order.metadata)
    return CustomsQuery(origin=declared.origin, goods_category=declared.goods_category,
                        declared_value_eur=declared.declared_value_eur, weight_kg=order.weight_kg,
                        arrived_at_s=order.created_at_s)
