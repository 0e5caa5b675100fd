"""Scenario files: the shipped day loads, bad values are refused with the field named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sim_worlds.scenario import ScenarioError, load_scenario, parse_duration_s, validate_scenario


def test_shipped_helsinki_day_loads_by_world_name() -> None:
    """`finalmile sim helsinki` finds the world's default day with its fleet, demand and mid-day zone."""
    scenario = load_scenario("helsinki")
    assert scenario.name == "helsinki_day"
    assert scenario.duration_s == 4 * 3600
    assert scenario.start_time == dt.time(8, 0)
    assert scenario.fleet.drones.count > 0 and scenario.fleet.robots.count > 0 and scenario.fleet.vans.count > 0
    assert scenario.zone_events and scenario.zone_events[0].appears_at == dt.time(10, 30)
    # 08:00 in Helsinki summer time is 05:00 UTC.
    assert dt.datetime.fromtimestamp(scenario.start_epoch_s, dt.UTC).hour == 5


@pytest.mark.parametrize(("text", "seconds"), [("4h", 14400.0), ("90min", 5400.0), ("30s", 30.0), (12, 12.0)])
def test_durations_parse(text: object, seconds: float) -> None:
    """Durations accept h/min/s suffixes and plain seconds."""
    assert parse_duration_s(text) == seconds


def test_invalid_values_name_field_and_value() -> None:
    """A negative presence probability and a bad duration are both reported, with field and value."""
    with pytest.raises(ScenarioError) as info:
        validate_scenario(
            {"name": "bad", "recipients": {"presence_probability": -0.5}, "duration_s": "four hours"}, source="x.yaml"
        )
    message = str(info.value)
    assert "recipients.presence_probability" in message and "-0.5" in message
    assert "duration_s" in message and "four hours" in message


def test_unknown_field_and_price_mode_are_refused() -> None:
    """Typos are not silently ignored."""
    with pytest.raises(ScenarioError, match=r"fleet\.drone"):
        validate_scenario({"name": "bad", "fleet": {"drone": {"count": 2}}})
    with pytest.raises(ScenarioError, match="bike"):
        validate_scenario(
            {"name": "bad", "prices": {"modes": {"bike": {"eur_per_km": 1, "eur_per_hour": 1}}}}
        )


def test_customs_delay_bounds_checked(tmp_path: Path) -> None:
    """max < min is an error naming both."""
    path = tmp_path / "day.yaml"
    path.write_text("name: d\ndemand: {customs_delay_min_s: 1h, customs_delay_max_s: 10min}\n")
    with pytest.raises(ScenarioError, match="customs_delay_max_s"):
        load_scenario(str(path))


def test_overrides_revalidate() -> None:
    """CLI overrides go through validation too."""
    scenario = load_scenario("helsinki_day").with_overrides(duration_s="30min", seed=3)
    assert scenario.duration_s == 1800 and scenario.seed == 3
    with pytest.raises(ScenarioError, match="speedup"):
        load_scenario("helsinki_day").with_overrides(speedup=-1)


def test_zone_event_circle_is_closed_ring() -> None:
    """The pop-up zone's ring is closed and about radius_m from its centre."""
    event = load_scenario("helsinki_day").zone_events[0]
    ring = event.polygon_lonlat()
    assert ring[0] == ring[-1] and len(ring) == 25
