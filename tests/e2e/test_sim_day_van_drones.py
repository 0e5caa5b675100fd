"""`finalmile sim` with vans that can carry drones and a hub that swaps batteries: a short day runs."""

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

pytestmark = [pytest.mark.sim, pytest.mark.slow, pytest.mark.timeout(150)]


def _scenario(tmp_path: Path) -> Path:
    data = load_scenario("helsinki_day").model_dump(mode="json")
    data.update(name="van_drones_day", duration_s=1800, speedup=120, seed=11)
    data["fleet"]["drones"].update(count=3, swap_time_s=60)
    data["fleet"]["robots"]["count"] = 0
    data["fleet"]["vans"].update(count=1, carries_drones=1)
    data["demand"]["orders_per_hour"] = [40.0]
    data["demand"].update(customs_delay_min_s=120, customs_delay_max_s=300)
    data["zone_events"] = []
    path = tmp_path / "van_drones_day.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_day_with_van_carried_drones_and_hub_swaps(tmp_path: Path) -> None:
    """The van simulator reaches the drones' sim-control channel; drones landing at the hub get full packs."""
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet_manager.cli", "sim", str(_scenario(tmp_path)), "--runs-dir", str(runs),
         "--run-id", "vd", "--headless"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=140)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: simulators included
        process.wait(timeout=10)
    assert process.returncode == 0, output.decode(errors="replace")[-2000:]
    run_dir = runs / "vd"
    kpis = json.loads((run_dir / "kpis.json").read_text())
    assert kpis["delivered"] + kpis["delivered_to_locker"] > 0
    assert "vans can carry drone-1, drone-2, drone-3" in (run_dir / "vans.log").read_text()
    swaps = [line for line in (run_dir / "sim.log").read_text().splitlines() if "got a full pack" in line]
    assert swaps, "no drone had its battery swapped at the hub"
