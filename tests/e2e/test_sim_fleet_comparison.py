"""`finalmile sim andorra_day` compares three fleets by default: a short day, three rows, the right vehicles in each.

The shipped scenario cut to 10 simulated minutes at 100x (as tests/e2e/test_sim_andorra_day.py, shorter): this
test checks what each variant runs and that the table and plots come out, not who delivers what in ten minutes
(whether a plan is ready that soon depends on the machine's load); deliveries over terrain are
tests/e2e/test_sim_andorra_day.py's. No ROS 2 robots
(`--no-robots`); which robots each variant carries is checked in tests/sim_worlds/test_fleet_variants.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _sim_run import run_sim
from test_sim_andorra_day import _scenario

pytestmark = [pytest.mark.sim, pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_default_andorra_run_prints_and_plots_the_three_way_table(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    returncode, text = run_sim(_scenario(tmp_path, duration_s=600, speedup=100), runs, "cmp", "--no-robots",
                               timeout_s=560)
    folder = runs / "cmp"
    rows = {row["fleet_variant"]: row for row in json.loads((folder / "comparison.json").read_text())}
    assert list(rows) == ["vans_only", "hub_drones", "handoff"], text[-3000:]
    # the printed table: a header and one line per fleet
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("fleet ") and "EUR/parcel" in line)
    assert [line.split()[0] for line in lines[header + 1:header + 4]] == ["vans_only", "hub_drones", "handoff"]
    assert "comparison.html" in text and (folder / "comparison.html").read_text().count("<img") == 5
    vans_only, hub, handoff = rows["vans_only"], rows["hub_drones"], rows["handoff"]
    for row in rows.values():  # the same vans and demand every time
        assert row["vehicles"]["van"] == 4 and row["orders_total"] == vans_only["orders_total"] > 0
        assert row["geofence_violations"] == 0 and row["terrain_clearance_violations"] == 0, row
    # vans only: no drone flew, nobody was launched
    assert vans_only["vehicles"]["drone"] == 0 and vans_only["km_by_mode"]["drone"] == 0.0
    assert vans_only["energy_wh_by_mode"]["drone"] == 0.0 and vans_only["van_launched_trips"]["drone"] == 0
    # hub drones: the 8 drones, none carried, none launched from a van (whether they fly within 25 min depends on
    # the plan: orders have 3-hour windows)
    assert hub["vehicles"]["drone"] == 8 and hub["vehicles_carried"]["drone"] == 0
    assert hub["van_launched_trips"]["drone"] == 0
    # handoff: the same 8 drones, all on the vans; none flew from the hub
    assert handoff["vehicles"]["drone"] == 8 and handoff["vehicles_carried"]["drone"] == 8
    assert handoff["van_launched_trips"]["drone"] > 0 or handoff["km_by_mode"]["drone"] == 0.0
    assert returncode == 0, text[-3000:]
