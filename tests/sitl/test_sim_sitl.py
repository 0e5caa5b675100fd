"""`finalmile sim --drones sitl`: the same simulated day with its drones on real ArduCopter SITL.

Skipped unless FINALMILE_SITL_BINARY names the ArduCopter SITL binary.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim_worlds.scenario import load_scenario

pytestmark = [
    pytest.mark.sitl,
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(not os.environ.get("FINALMILE_SITL_BINARY"), reason="FINALMILE_SITL_BINARY is not set"),
]


def test_sim_day_with_sitl_drones(tmp_path: Path) -> None:
    """A short day with 2 SITL drones (and vans): KPIs say 'sitl', drones flew, no geofence violation."""
    data = load_scenario("helsinki_day").model_dump(mode="json")
    data.update(name="sitl_day", duration_s=600, speedup=10, seed=5)
    data["fleet"]["sitl_drones"] = 2
    data["fleet"]["robots"]["count"] = 0
    data["fleet"]["vans"]["count"] = 1
    data["demand"]["orders_per_hour"] = [40.0]
    data["demand"]["customs_share"] = 0.0
    data["zone_events"] = []
    scenario = tmp_path / "sitl_day.yaml"
    scenario.write_text(yaml.safe_dump(data))
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet_manager.cli", "sim", str(scenario), "--drones", "sitl", "--runs-dir", str(runs),
         "--run-id", "sitl", "--headless"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=400)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-3000:]
    kpis = json.loads((runs / "sitl" / "kpis.json").read_text())
    assert kpis["drone_backend"] == "sitl"
    assert kpis["vehicles"]["drone"] == 2
    assert kpis["geofence_violations"] == 0
    assert kpis["orders_total"] > 0
    assert kpis["km_by_mode"]["drone"] > 0, "the SITL drones should have flown"
