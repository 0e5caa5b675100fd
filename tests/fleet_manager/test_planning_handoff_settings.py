"""The van handoff knobs of the live planner come from FINALMILE_* settings."""

from __future__ import annotations

import pydantic
import pytest

from fleet_manager.config import Settings
from fleet_manager.runtime import planning_config
from mission_planner.van_handoff import Recovery


def test_handoff_search_time_and_spare_packs_reach_the_dispatcher_policy(monkeypatch) -> None:
    """FINALMILE_HANDOFF_SEARCH_S and FINALMILE_VAN_SPARE_PACKS set the policy the live planner plans with; the
    dispatcher's own rules (later-stop recovery, no launch from the hub) stay."""
    monkeypatch.setenv("FINALMILE_HANDOFF_SEARCH_S", "0.7")
    monkeypatch.setenv("FINALMILE_VAN_SPARE_PACKS", "3")
    policy = planning_config(Settings()).handoff
    assert (policy.search_s, policy.spare_packs) == (0.7, 3)
    assert policy.recovery is Recovery.LATER_STOP and policy.launch_at_depot is False


def test_defaults_search_briefly_and_count_no_spare_pack(monkeypatch) -> None:
    """Unset: a short search per van trip, and no spare pack assumed (a drone flies its trips on one pack)."""
    monkeypatch.delenv("FINALMILE_HANDOFF_SEARCH_S", raising=False)
    monkeypatch.delenv("FINALMILE_VAN_SPARE_PACKS", raising=False)
    policy = planning_config(Settings()).handoff
    assert 0 < policy.search_s <= 1.0 and policy.spare_packs == 0


@pytest.mark.parametrize(("name", "value"), [("FINALMILE_HANDOFF_SEARCH_S", "-1"),
                                             ("FINALMILE_VAN_SPARE_PACKS", "-2")])
def test_bad_values_are_refused(monkeypatch, name: str, value: str) -> None:
    """A negative search time or pack count is a settings error, not a silent default."""
    monkeypatch.setenv(name, value)
    with pytest.raises(pydantic.ValidationError):
        Settings()
