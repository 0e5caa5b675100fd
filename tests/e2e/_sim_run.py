"""Run `finalmile sim` as a subprocess in its own session and kill the whole group afterwards (simulators too)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path


def run_sim(scenario: Path, runs: Path, run_id: str, *extra: str, timeout_s: float,
            env: dict[str, str] | None = None) -> tuple[int, str]:
    """(exit code, combined output) of `finalmile sim SCENARIO --headless` into runs/run_id; `env` adds settings."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet_manager.cli", "sim", str(scenario), "--runs-dir", str(runs),
         "--run-id", run_id, "--headless", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, env={**os.environ, **(env or {})})
    try:
        output, _ = process.communicate(timeout=timeout_s)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: simulators included
        process.wait(timeout=10)
    return process.returncode, output.decode(errors="replace")
