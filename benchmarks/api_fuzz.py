"""Schema fuzzing of the running Fleet API with schemathesis: every operation, N examples each, no 5xx allowed.

Shared by the deterministic CI test (`tests/fleet_manager/test_api.py`, fixed seed) and the long unseeded
run in `python -m benchmarks api_fuzz`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, seed, settings

#: Endless streams are not fuzzed (the stream tests cover them).
SKIPPED_PATHS = frozenset({"/v1/events/stream"})


@dataclass
class FuzzReport:
    """What the fuzzing saw."""

    operations: int = 0
    calls: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        """One CSV row."""
        classes = Counter(f"{code // 100}xx" for code in self.by_status.elements())
        return {
            "operations": self.operations,
            "calls": self.calls,
            **{k: classes.get(k, 0) for k in ("2xx", "4xx", "5xx")},
            "server_errors": len(self.server_errors),
        }


def fuzz_api(base_url: str, headers: dict[str, str], *, examples: int, fixed_seed: int | None) -> FuzzReport:
    """Fuzz every operation of `base_url`'s OpenAPI document with `examples` cases each; 5xx are collected."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIPPED_PATHS:
            continue
        report.operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=fixed_seed is not None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            report.calls += 1
            report.by_status[response.status_code] += 1
            if response.status_code >= 500:
                report.server_errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        (seed(fixed_seed)(run) if fixed_seed is not None else run)()
    return report
