"""Stop a child started with `start_new_session=True` together with everything it spawned."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable
from typing import Any


def kill_group(process: subprocess.Popen[Any], *, wait_s: float = 10.0) -> None:
    """SIGKILL the process group now and reap the leader."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=wait_s)


def stop_group(process: subprocess.Popen[Any], *, grace_s: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after `grace_s`."""
    stop_groups([process], grace_s=grace_s)


def stop_groups(processes: Iterable[subprocess.Popen[Any]], *, grace_s: float = 5.0) -> None:
    """SIGTERM every group at once (so they shut down in parallel), then SIGKILL whatever outlives `grace_s`."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            kill_group(process)
