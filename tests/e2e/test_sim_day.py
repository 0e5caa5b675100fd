"""`finalmile sim` end to end: a short day on the embedded simulators, checked through its kpis.json.

Runs the real command in a subprocess (own process group, killed on timeout) with a small fleet:
MAVLink simulator drones, ROS 2 sim robots when ROS 2 is importable, simulated vans, the simulated
backend over HTTP and the fleet manager. Checks the KPI fields and invariants a user relies on,
that every process it started is gone afterwards, and that the report was written.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from fleet_manager.world import address_index_for_world, load_world
from sim_worlds.report import TERMINAL_OR_KNOWN
from sim_worlds.scenario import load_scenario
from sim_worlds.special_demand import day_orders

pytestmark = [pytest.mark.sim, pytest.mark.slow, pytest.mark.timeout(180)]

REQUIRED = ("orders_total", "delivered", "delivered_to_locker", "on_time_pct", "delivery_time_p50_s",
            "delivery_time_p95_s", "failed_attempts", "cost_per_parcel", "energy_wh_by_mode", "km_by_mode",
            "min_battery_reserve_pct", "battery_reserve_breaches", "min_battery_pct_by_vehicle", "geofence_violations",
            "webhooks_delivered", "webhooks_dead_lettered",
            "drone_backend")


def _small_day(tmp_path: Path) -> Path:
    data = load_scenario("helsinki_day").model_dump(mode="json")
    data.update(name="e2e_day", duration_s=1800, speedup=120, seed=11)
    data["fleet"]["drones"]["count"] = 3
    data["fleet"]["robots"]["count"] = 2
    data["fleet"]["vans"]["count"] = 1
    data["demand"]["orders_per_hour"] = [40.0]
    data["demand"]["customs_delay_min_s"] = 120
    data["demand"]["customs_delay_max_s"] = 300
    data["zone_events"] = []
    path = tmp_path / "e2e_day.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@contextlib.contextmanager
def _process_group(command: list[str], **kwargs: object):  # type: ignore[no-untyped-def]
    process = subprocess.Popen(command, start_new_session=True, **kwargs)  # type: ignore[call-overload]
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_short_day_runs_and_reports(tmp_path: Path) -> None:
    """A 30-minute day: KPIs present, zero geofence violations, parcels delivered, webhooks through, no orphans."""
    scenario_path = _small_day(tmp_path)
    runs = tmp_path / "runs"
    started = time.monotonic()
    children: set[int] = set()
    with _process_group([sys.executable, "-m", "fleet_manager.cli", "sim", str(scenario_path), "--runs-dir",
                         str(runs), "--run-id", "e2e", "--headless"],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
        parent = psutil.Process(process.pid)
        while process.poll() is None:
            with contextlib.suppress(psutil.Error):
                children |= {c.pid for c in parent.children(recursive=True)}
            if time.monotonic() - started > 170:
                raise AssertionError("finalmile sim did not finish in time")
            time.sleep(0.5)
        output = process.stdout.read().decode(errors="replace") if process.stdout else ""
    wall_s = time.monotonic() - started
    assert process.returncode == 0, output[-3000:]
    assert children, "the simulators should run as child processes"
    alive = [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not alive, f"orphans left behind: {alive}"
    assert "run folder:" in output and "geofence_violations" in output

    kpis = json.loads((runs / "e2e" / "kpis.json").read_text())
    for key in REQUIRED:
        assert key in kpis, key
    assert kpis["drone_backend"] == "embedded"
    assert kpis["geofence_violations"] == 0
    scenario = load_scenario(str(scenario_path))
    index = address_index_for_world("helsinki")
    day = day_orders(scenario, load_world("helsinki"), index)
    assert kpis["orders_total"] == len(day) > 0  # same seed, same demand
    # the demo's cold-chain parcels (one failing box, held at the hub) and typed addresses
    assert kpis["cold_chain_parcels"] == scenario.demand.cold_chain.orders > 0
    assert kpis["cold_chain_excursions"] >= 1 and kpis["cold_chain_held"] >= 1
    assert kpis["cold_chain_over_limit"] == 0
    assert kpis["addresses_typed"] == sum(o.address_text is not None for o in day) > 0
    assert kpis["addresses_resolved"] + kpis["addresses_reviewed"] == kpis["addresses_typed"]
    assert kpis["delivered"] + kpis["delivered_to_locker"] > 0
    assert not kpis["unknown_statuses"]
    assert set(kpis["orders_by_status"]) <= TERMINAL_OR_KNOWN
    assert kpis["webhooks_delivered"] > 0 and kpis["webhook_bad_signatures"] == 0
    assert kpis["webhook_out_of_order"] == 0
    assert kpis["webhooks_received_by_backend"] > 0
    assert 0 < kpis["min_battery_reserve_pct"] <= 100
    assert kpis["cost_per_parcel"] > 0
    assert set(kpis["energy_wh_by_mode"]) == {"drone", "robot", "van"}
    report = (runs / "e2e" / "report.html").read_text()
    assert "data:image/png;base64," in report and "geofence_violations" in report
    print(f"e2e day: {wall_s:.1f} s wall, {kpis['delivered']} delivered of {kpis['orders_total']}")
