"""The benchmark runner (`python -m benchmarks`): discovery, tables, CSVs, empty sets, unknown names."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import __main__ as runner


def test_discovers_the_planner_benchmarks() -> None:
    """vrptw, truck_drone and scale are found as bench_<name> modules."""
    assert {"vrptw", "truck_drone", "scale"} <= set(runner.discover())


def test_table_and_csv_use_the_union_of_columns(tmp_path: Path) -> None:
    """Rows with different keys: the table and the CSV carry every column, blanks where missing."""
    rows = [{"instance": "C101", "solver": "planner", "gap_pct": 0.0}, {"instance": "MEAN", "wall_s": 1.5}]
    table = runner.format_table(rows)
    assert table.splitlines()[0].split() == ["instance", "solver", "gap_pct", "wall_s"]
    path = tmp_path / "x.csv"
    runner.write_csv(path, rows)
    with path.open() as handle:
        read = list(csv.DictReader(handle))
    assert read[1] == {"instance": "MEAN", "solver": "", "gap_pct": "", "wall_s": "1.5"}


def test_unknown_benchmark_is_refused(capsys) -> None:
    """An unknown name exits with 2 and lists what exists."""
    assert runner.main(["no_such_bench"]) == 2
    assert "available" in capsys.readouterr().err


def test_missing_truck_drone_data_gives_an_empty_set_with_a_message(tmp_path: Path, capsys, monkeypatch) -> None:
    """Without FSTSP data the FSTSP part is skipped (logged), the run still succeeds."""
    from benchmarks import bench_truck_drone

    monkeypatch.setattr(bench_truck_drone, "world_rows", lambda args, world_name, reachable_only: [])
    monkeypatch.delenv("FINALMILE_BENCH_DATA", raising=False)
    code = runner.main(["truck_drone", "--data-dir", str(tmp_path), "--results-dir", str(tmp_path)])
    assert code == 0
    assert "empty result set" in capsys.readouterr().out
