"""ETA model: trained from simulated history, saved and loaded as a version; its window reaches the recipient.

The notification test goes through the real path: the lifecycle's departure writes the
out_for_delivery notification to the outbox, the webhook deliverer POSTs it to a receiver.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path

import pytest
from fm_helpers import SECRET, WebhookReceiver, webhook_receiver
from learning_helpers import learning_scenario

from fleet_manager.api.schemas import OrderOut
from fleet_manager.config import webhook_secret_bytes
from fleet_manager.domain.notifications import DEFAULT_ETA_SPREAD_S
from fleet_manager.domain.orders import Address, DeliveryMode, Order, OrderStatus, Recipient
from fleet_manager.learning import leg_facts as facts
from fleet_manager.learning.eta_model import EtaModel, LearningError, LegQuery
from fleet_manager.learning.eta_service import EtaService
from fleet_manager.learning.features import build_tables
from fleet_manager.learning.model_store import load_models, save_models
from fleet_manager.learning.training import learn_from_store
from fleet_manager.order_lifecycle import OrderLifecycle
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store import orders as order_store
from fleet_manager.store.db import Database
from fleet_manager.webhooks import WebhookConfig, WebhookDeliverer
from fleet_manager.world import load_world
from mission_planner.clock import Clock
from sim_worlds.history_day import simulate_history, varied_days

TZ = "Europe/Helsinki"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Database:
    """Three short simulated days of one hub in a SQLite store."""
    world = load_world("helsinki")
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('history') / 'history.db'}")
    database.migrate()
    base = learning_scenario(fleet={"drones": {"count": 4}, "robots": {"count": 6}, "vans": {"count": 2}})
    for day in varied_days(base, 3, seed=5):
        simulate_history(day, database, addresses=world.addresses, hub=world.hub, hub_id="hist")
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def models_dir(history: Database, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`finalmile learn`'s work on that history: one saved version."""
    folder = tmp_path_factory.mktemp("models")
    learn_from_store(history, models_dir=folder, hub_ids=["hist"], timezone=TZ, seed=1)
    return folder


def test_trained_model_round_trip(history: Database, models_dir: Path, tmp_path: Path) -> None:
    """Save -> load gives the same predictions; metrics are on disk; the newest version wins; broken is an error."""
    models_dir = Path(shutil.copytree(models_dir, tmp_path / "models"))  # this test adds versions
    loaded = load_models(models_dir)
    assert loaded is not None and loaded.eta is not None and loaded.customs is not None
    metrics = json.loads((loaded.path / "metrics.json").read_text())
    assert metrics["version"] == loaded.version and set(metrics["models"]) == {"eta", "customs"}
    assert 0 <= metrics["eta"]["test"]["coverage_pct"] <= 100 and metrics["eta"]["test"]["legs"] > 0

    with history.read() as session:
        legs = build_tables(session.connection(), hub_ids=["hist"], timezone=TZ).legs
    retrained = EtaModel.train(legs, timezone=TZ, seed=1)
    queries = [LegQuery(mode=m, depart_at_s=1_749_715_200.0, planned_duration_s=p, planned_distance_m=p * 2,
                        wind_speed_m_s=5.0, headwind_m_s=2.0, weight_kg=1.0, legs_in_flight=3.0)
               for m, p in (("robot", 600.0), ("van", 1500.0), ("drone", 200.0))]
    newer = save_models(models_dir, metrics={"note": "second"}, eta=retrained)
    newest = load_models(models_dir)
    assert newest is not None and newest.version == newer.name > loaded.version
    assert newest.eta is not None and newest.eta.predict(queries) == retrained.predict(queries)
    for window in retrained.predict(queries):
        assert window.earliest_s <= window.expected_s <= window.latest_s
    first = load_models(models_dir, version=loaded.version)
    assert first is not None and first.eta is not None
    assert first.eta.predict(queries) == loaded.eta.predict(queries)

    (models_dir / "20990101T000000Z").mkdir()
    (models_dir / "20990101T000000Z" / "metrics.json").write_text("{not json")
    with pytest.raises(LearningError, match="cannot be loaded"):
        load_models(models_dir)
    with pytest.raises(LearningError, match="needs at least"):
        EtaModel.train(legs.head(5), timezone=TZ)
    # The live service has no weather feed: a history without wind or temperature still trains and predicts.
    no_weather = legs.assign(wind_speed_m_s=math.nan, headwind_m_s=math.nan, ambient_temp_c=math.nan)
    blind = EtaModel.train(no_weather, timezone=TZ, seed=1)
    assert set(blind.unknown) == {"wind_speed_m_s", "headwind_m_s", "ambient_temp_c"}
    assert all(w.earliest_s <= w.expected_s <= w.latest_s for w in blind.predict(queries))
    assert load_models(models_dir / "none") is None


class _Present:
    async def is_present(self, order: Order) -> bool:
        return True


def _stopped_clock(start_s: float) -> tuple[Clock, list[float]]:
    """A clock that moves only when the test moves it (add seconds to the list's item)."""
    offset = [0.0]
    return Clock(start_s=start_s, _monotonic=lambda: offset[0]), offset


async def _depart_one(database: Database, lifecycle: OrderLifecycle, hub_id: str, now_s: float,
                      planned_s: float) -> str:
    """An order loaded on a robot, then its departure through the lifecycle (as the mission runner does)."""
    def load(session):  # type: ignore[no-untyped-def]
        order, _ = order_store.create_order(session, new=order_store.NewOrder(
            hub_id=hub_id, recipient=Recipient("Aino Laine"), destination=Address(60.17, 24.94), weight_kg=1.5,
            customs_cleared=True), actor="test", at_s=now_s - 600)
        fleet_store.create_mission(session, mission_id="m-1", hub_id=hub_id, vehicle_id="robot-1",
                                   order_ids=[order.order_id], steps=[], at_s=now_s, details={})
        for target in (OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.LOADED):
            order_store.transition_order(session, order_id=order.order_id, to_status=target, actor="test",
                                         reason="test", at_s=now_s, vehicle_id="robot-1", mission_id="m-1")
        return order.order_id

    order_id = await database.write_async(load)
    legs = {order_id: {facts.PLANNED_DURATION_KEY: planned_s, facts.PLANNED_DISTANCE_KEY: planned_s * 1.4,
                       facts.STOP_INDEX_KEY: 0.0, facts.BEARING_KEY: 90.0}}
    await lifecycle.depart(mission_id="m-1", vehicle_id="robot-1", mode=DeliveryMode.ROBOT, order_ids=[order_id],
                           eta_s={order_id: now_s + planned_s}, legs=legs)
    return order_id


async def test_notification_eta_comes_from_the_model(models_dir: Path, tmp_path: Path) -> None:
    """out_for_delivery and arriving_soon webhooks carry the model's window; the API view shows it, refreshed."""
    database = Database(f"sqlite:///{tmp_path / 'live.db'}")
    database.migrate()
    hub_id, now_s = "live", 1_749_713_400.0  # 10:30 local on a June day
    clock, offset = _stopped_clock(now_s)
    models = load_models(models_dir)
    assert models is not None and models.eta is not None
    service = EtaService(models, arriving_soon_s=900.0)
    lifecycle = OrderLifecycle(database=database, clock=clock, hub_id=hub_id, recipients=_Present(), eta=service)
    order_id = await _depart_one(database, lifecycle, hub_id, now_s, planned_s=480.0)

    expected = models.eta.predict([LegQuery(mode="robot", depart_at_s=now_s, planned_duration_s=480.0,
                                            planned_distance_m=480.0 * 1.4, stop_index=0.0, weight_kg=1.5,
                                            legs_in_flight=0.0)])[0]
    with database.read() as session:
        order = order_store.get_order(session, order_id=order_id)
    view = OrderOut.of(order)
    assert view.eta is not None and view.eta.source == f"model:{models.version}"
    assert view.eta.expected.timestamp() == pytest.approx(expected.expected_s, abs=1e-3)

    receiver = WebhookReceiver()
    with webhook_receiver(receiver) as url:
        config = WebhookConfig(url=url, secret=webhook_secret_bytes(SECRET), max_attempts=3, backoff_base_s=0.05,
                               backoff_max_s=0.1, poll_interval_s=0.05)
        deliverer = WebhookDeliverer(database, config, hub_ids=[hub_id], clock=clock)
        task = asyncio.create_task(deliverer.run())
        try:
            async with asyncio.timeout(20):  # the deliverer POSTs within a few polls
                while not {"com.finalmile.notification.out_for_delivery", "com.finalmile.notification.arriving_soon"
                           } <= {e["type"] for e in receiver.accepted_events()}:
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    by_type = {e["type"]: e["data"] for e in receiver.accepted_events()}
    out = by_type["com.finalmile.notification.out_for_delivery"]
    assert out["eta_earliest_s"] == pytest.approx(max(now_s, expected.earliest_s), abs=1e-3)
    assert out["eta_latest_s"] == pytest.approx(expected.latest_s, abs=1e-3)
    fixed = (now_s, now_s + 480.0 + DEFAULT_ETA_SPREAD_S)  # what the fixed margin would have said
    assert abs(out["eta_earliest_s"] - fixed[0]) > 1 or abs(out["eta_latest_s"] - fixed[1]) > 1
    soon = by_type["com.finalmile.notification.arriving_soon"]
    assert soon["eta_latest_s"] == pytest.approx(expected.latest_s, abs=1e-3) and soon["minutes"] >= 1

    # The mission progresses: four minutes on, the refreshed window starts no earlier than now.
    offset[0] = 240.0
    await lifecycle.refresh_etas(order_ids=[order_id])
    with database.read() as session:
        refreshed = order_store.get_order(session, order_id=order_id).eta
        kinds = [n["kind"] for n in order_store.list_notifications(session, order_id=order_id)]
    assert refreshed["updated_at_s"] == pytest.approx(now_s + 240.0, abs=1e-3)
    assert refreshed["earliest_s"] >= now_s + 240.0 and refreshed["arriving_soon_sent"] is True
    assert kinds.count("arriving_soon") == 1  # announced once
    database.dispose()


async def test_without_a_model_the_fixed_window_stays(tmp_path: Path) -> None:
    """No model on disk: today's planner ETA ± 15 min, no arriving_soon."""
    database = Database(f"sqlite:///{tmp_path / 'fixed.db'}")
    database.migrate()
    now_s = 1_749_713_400.0
    service = EtaService(load_models(tmp_path / "no-models"))
    lifecycle = OrderLifecycle(database=database, clock=_stopped_clock(now_s)[0], hub_id="fixed",
                               recipients=_Present(), eta=service)
    order_id = await _depart_one(database, lifecycle, "fixed", now_s, planned_s=1800.0)
    with database.read() as session:
        notes = order_store.list_notifications(session, order_id=order_id)
        eta = order_store.get_order(session, order_id=order_id).eta
    assert [n["kind"] for n in notes] == ["out_for_delivery"]
    payload = notes[0]["payload"]
    assert payload["eta_earliest_s"] == now_s + 1800.0 - DEFAULT_ETA_SPREAD_S
    assert payload["eta_latest_s"] == now_s + 1800.0 + DEFAULT_ETA_SPREAD_S
    assert eta["source"] == "fixed" and not math.isnan(eta["expected_s"])
    database.dispose()
