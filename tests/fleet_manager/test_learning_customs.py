"""Customs-delay prediction: learnt from simulated clearances; long holds flagged to the backend before clearance."""

from __future__ import annotations

from pathlib import Path

import pytest
from learning_helpers import learning_scenario

from fleet_manager.customs_forecast import HELD_LONG_EVENT, CustomsForecastConfig, CustomsForecaster
from fleet_manager.domain.orders import Address, OrderStatus, Recipient
from fleet_manager.learning.customs_facts import customs_metadata
from fleet_manager.learning.customs_model import CustomsModel, CustomsQuery
from fleet_manager.learning.eta_model import LearningError
from fleet_manager.learning.features import build_tables
from fleet_manager.store import orders as order_store
from fleet_manager.store import outbox
from fleet_manager.store.db import Database
from fleet_manager.world import load_world
from mission_planner.clock import Clock
from sim_worlds.history_day import simulate_history, varied_days

TZ = "Europe/Helsinki"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> CustomsModel:
    """Trained on two short days in which CN parcels wait 4x longer and expensive ones 2x."""
    world = load_world("helsinki")
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('customs') / 'history.db'}")
    database.migrate()
    for day in varied_days(learning_scenario(), 2, seed=9):
        simulate_history(day, database, addresses=world.addresses, hub=world.hub, hub_id="customs")
    with database.read() as session:
        clearances = build_tables(session.connection(), hub_ids=["customs"], timezone=TZ).clearances
    database.dispose()
    with pytest.raises(LearningError, match="needs at least"):
        CustomsModel.train(clearances.head(3))
    return CustomsModel.train(clearances, seed=0, timezone=TZ)


def test_expected_clearance_follows_origin_category_and_value(model: CustomsModel) -> None:
    """A pricey CN gadget is expected to wait far longer than cheap Estonian clothing; unknowns still predict."""
    at_s = 1_749_711_600.0
    slow, fast, unknown = model.predict([
        CustomsQuery("CN", "electronics", 800.0, 1.0, at_s), CustomsQuery("EE", "apparel", 30.0, 1.0, at_s),
        CustomsQuery("BR", "", float("nan"), 1.0, at_s)])
    assert slow > 3 * fast > 0
    assert unknown > 0


async def test_long_hold_is_flagged_early(model: CustomsModel, tmp_path: Path) -> None:
    """Orders at customs get a forecast at the next cycle; the long one raises a webhook event, once."""
    database = Database(f"sqlite:///{tmp_path / 'live.db'}")
    database.migrate()
    now_s = 1_749_711_600.0
    hub_id = "live"

    def create(origin: str, category: str, value_eur: float) -> str:
        with database.transaction() as session:
            order, _ = order_store.create_order(session, new=order_store.NewOrder(
                hub_id=hub_id, recipient=Recipient("Eero Saar"), destination=Address(60.17, 24.94), weight_kg=1.0,
                metadata=customs_metadata(origin, category, value_eur)), actor="test", at_s=now_s)
        assert order.status is OrderStatus.AWAITING_CUSTOMS
        return order.order_id

    slow, fast = create("CN", "electronics", 800.0), create("EE", "apparel", 30.0)
    expected_slow, expected_fast = model.predict([CustomsQuery("CN", "electronics", 800.0, 1.0, now_s),
                                                  CustomsQuery("EE", "apparel", 30.0, 1.0, now_s)])
    threshold_s = (expected_slow + expected_fast) / 2
    forecaster = CustomsForecaster(database=database, clock=Clock(start_s=now_s), hub_id=hub_id,
                                   config=CustomsForecastConfig(model, "model:test", held_long_s=threshold_s))
    assert await forecaster.forecast_new() == [slow]
    assert await forecaster.forecast_new() == []  # forecast once per parcel
    with database.read() as session:
        forecasts = {o: order_store.get_order(session, order_id=o).customs_forecast for o in (slow, fast)}
        events = [e for e in outbox.events_after(session, after_seq=0, hub_ids=[hub_id])
                  if e.type.endswith(HELD_LONG_EVENT)]
    assert forecasts[slow]["held_long"] is True and forecasts[fast]["held_long"] is False
    assert forecasts[slow]["expected_clearance_s"] == pytest.approx(expected_slow, abs=0.1)
    assert [e.subject for e in events] == [f"orders/{slow}"] and events[0].webhook
    assert events[0].data["expected_cleared_at_s"] == pytest.approx(now_s + expected_slow, abs=0.1)
    database.dispose()


async def test_without_a_model_nothing_is_forecast(tmp_path: Path) -> None:
    """No customs model: the forecaster leaves orders alone."""
    database = Database(f"sqlite:///{tmp_path / 'none.db'}")
    database.migrate()
    forecaster = CustomsForecaster(database=database, clock=Clock(), hub_id="none",
                                   config=CustomsForecastConfig(None))
    assert await forecaster.forecast_new() == []
    database.dispose()
