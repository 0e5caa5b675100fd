"""History to features: a short simulated history in the store becomes leg, clearance and area-hour tables.

Runs on SQLite and PostgreSQL (the `database` fixture); the scenario knobs the history is meant to
reveal (rush hours, customs delay by origin and category, absence by hour) show in the tables.
"""

from __future__ import annotations

import math

import pytest
from learning_helpers import learning_scenario

from fleet_manager.learning.features import build_tables
from fleet_manager.store.db import Database
from fleet_manager.world import World, load_world
from sim_worlds.history_day import simulate_history


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("helsinki")


def test_history_becomes_training_tables(database: Database, hub_id: str, world: World) -> None:
    """Every leg, clearance and order of the simulated day is in the tables, with what the scenario varied."""
    scenario = learning_scenario()
    stats = simulate_history(scenario, database, addresses=world.addresses, hub=world.hub, hub_id=hub_id)
    assert stats.legs > 20 and stats.customs_cleared > 10

    with database.read() as session:
        tables = build_tables(session.connection(), hub_ids=[hub_id], timezone=scenario.timezone)

    legs = tables.legs
    assert len(legs) == stats.legs
    assert set(legs["mode"]) <= {"robot", "van"} and legs["hub_id"].eq(hub_id).all()
    assert legs[["planned_duration_s", "planned_distance_m", "ambient_temp_c"]].notna().all().all()
    assert (legs["actual_duration_s"] > 0).all()
    # rush hour (08:00-09:00): ground legs take far longer than planned; after it, about as planned
    ratio = legs["actual_duration_s"] / legs["planned_duration_s"]
    in_rush = legs["local_hour"] < 8.75  # departed well inside the rush
    after = legs["local_hour"] >= 9.0
    assert ratio[in_rush].median() > 1.5
    assert ratio[after].median() < 1.3
    assert legs["legs_in_flight"].max() >= 1  # several vehicles out at once

    clearances = tables.clearances
    assert len(clearances) == stats.customs_cleared
    assert clearances["clearance_s"].notna().all()
    by_origin = clearances.groupby("origin")["clearance_s"].median()
    assert by_origin["CN"] > 2 * by_origin["EE"]
    assert set(clearances["goods_category"]) == {"apparel", "electronics"}
    assert (clearances.loc[clearances["goods_category"] == "electronics", "declared_value_eur"] >= 200).all()

    area_hours = tables.area_hours
    assert area_hours["orders"].sum() == stats.orders
    assert area_hours["attempts"].sum() == stats.legs
    assert area_hours["failed_attempts"].sum() == stats.attempts_failed
    # absence 09:30-10:00: nobody answers the door
    at_door_s = legs["depart_at_s"] + legs["actual_duration_s"] - scenario.start_epoch_s  # 0 = 08:00
    absent = legs[(at_door_s >= 1.5 * 3600) & (at_door_s < 2 * 3600)]
    assert len(absent) > 0 and not absent["delivered"].any()


def test_absence_window_empties_the_door(database: Database, hub_id: str, world: World) -> None:
    """An absence window with presence 0 over the whole day: every attempt fails (and the tables say so)."""
    scenario = learning_scenario(recipients={"presence_probability": 1.0, "presence_spread": 0.0, "absence": [
        {"start": "00:00", "end": "23:59", "presence_factor": 0.0}]})
    stats = simulate_history(scenario, database, addresses=world.addresses, hub=world.hub, hub_id=hub_id)
    with database.read() as session:
        tables = build_tables(session.connection(), hub_ids=[hub_id], timezone=scenario.timezone)
    assert stats.delivered == 0 and len(tables.legs) == stats.legs > 0
    assert not tables.legs["delivered"].any()


def test_tables_slice_by_hub_and_time(database: Database, hub_id: str, world: World) -> None:
    """Another hub's rows stay out; a slice by time keeps only orders created in it."""
    scenario = learning_scenario()
    simulate_history(scenario, database, addresses=world.addresses, hub=world.hub, hub_id=hub_id)
    with database.read() as session:
        empty = build_tables(session.connection(), hub_ids=["no-such-hub"])
        first_half = build_tables(session.connection(), hub_ids=[hub_id],
                                  until_s=scenario.start_epoch_s + 1800.0)
        everything = build_tables(session.connection(), hub_ids=[hub_id])
    assert empty.legs.empty and empty.clearances.empty and empty.area_hours.empty
    assert 0 < len(first_half.legs) < len(everything.legs)
    assert not math.isnan(first_half.legs["planned_duration_s"].iloc[0])
