"""`finalmile address` through a real subprocess: one query, --json, stdin JSON lines, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT_S = 120


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One address cache for the module: the first call builds it, the others read it."""
    return tmp_path_factory.mktemp("address-cache")


def finalmile(cache_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `finalmile address ...` in its own process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "fleet_manager.cli", "address", *args, "--cache-dir", str(cache_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=cache_dir,
        check=False,
    )


def test_json_prints_one_resolution_object(cache_dir: Path) -> None:
    """--json: one object with the drop point's coordinates, building, confidence, review flag, alternatives."""
    done = finalmile(cache_dir, "Mannerheimvägen 14 B 23, 00100 Helsingfors", "--world", "helsinki", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    result = json.loads(line)
    assert result["needs_review"] is False
    assert result["building_id"].startswith("osm-")
    assert 60.16 < result["latitude_deg"] < 60.18 and 24.93 < result["longitude_deg"] < 24.96
    assert 0.75 <= result["confidence"] <= 1.0
    assert isinstance(result["alternatives"], list)
    assert result["unit"] == "B 23"


def test_human_readable_output_and_exit_code_for_review(cache_dir: Path) -> None:
    """Without --json a person reads the answer; a query that needs review exits 3 and says why."""
    done = finalmile(cache_dir, "Aleksanterinkatu 11")
    assert done.returncode == 0, done.stderr
    assert "resolved" in done.stdout and "drop point" in done.stdout
    review = finalmile(cache_dir, "Esplanadi 33")
    assert review.returncode == 3
    assert "needs review" in review.stdout and "Pohjoisesplanadi 33" in review.stdout


def test_stdin_gives_one_json_object_per_line_in_order(cache_dir: Path) -> None:
    """Queries on stdin, one per line: as many JSON lines out, in order; a blank line gets an error object."""
    queries = ["Aleksanterinkatu 11, 00100 Helsinki", "Mannerheimintie 999", "", "00120 Helsinki Lonnrotinkatu 9"]
    done = finalmile(cache_dir, "--world", "helsinki", stdin="\n".join(queries) + "\n")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["query"] for r in results] == queries
    assert results[0]["needs_review"] is False
    assert results[1]["needs_review"] is True and results[1]["building_id"] is None
    assert "empty" in results[2]["error"]
    assert results[3]["needs_review"] is False


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["Mannerheimintie 14", "--world", "atlantis"], None, "unknown world 'atlantis'"),
        (["   "], None, "address query is empty"),
        ([], "", "no address on standard input"),
        (["Mannerheimintie 14", "--country", "Narnia"], None, "country 'Narnia'"),
    ],
)
def test_bad_input_is_one_clear_line_without_traceback(
    cache_dir: Path, args: list[str], stdin: str | None, says: str
) -> None:
    """A bad world, an empty query, empty stdin or an unknown country: one line naming it, exit 1."""
    done = finalmile(cache_dir, *args, stdin=stdin)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and says in errors[0]
    assert done.stdout == ""
