"""Long unseeded schema fuzzing of the Fleet API (schemathesis), counting 5xx answers; the CI test runs a seeded one.

Run as `python -m benchmarks api_fuzz` (`--quick` for 20 examples per operation instead of 300).
Results: benchmarks/results/api_fuzz.csv; every 5xx found is printed.
"""

from __future__ import annotations

import logging
import tempfile
import time
from typing import Any

from .api_fuzz import fuzz_api
from .bench_api import KEY, _serve
from .pg_scratch import scratch_postgres

NAME = "api_fuzz"
logger = logging.getLogger(__name__)


def run(args: Any = None) -> list[dict[str, Any]]:
    """Fuzz on SQLite and PostgreSQL; one row per store."""
    examples = 20 if getattr(args, "quick", False) else 300
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, scratch_postgres() as pg_url:
        stores = [("sqlite", f"sqlite:///{tmp}/fuzz.db")] + ([("postgresql", pg_url)] if pg_url else [])
        for store, database_url in stores:
            with _serve(database_url) as (url, _app):
                started = time.perf_counter()
                report = fuzz_api(url, {"Authorization": f"Bearer {KEY}"}, examples=examples, fixed_seed=None)
                for failure in report.server_errors:
                    logger.error("5xx: %s", failure)
                rows.append(
                    {
                        "store": store,
                        "examples_per_operation": examples,
                        **report.as_row(),
                        "seconds": time.perf_counter() - started,
                    }
                )
    return rows
