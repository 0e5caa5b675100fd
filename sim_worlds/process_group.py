"""Stop a child started with `start_new_session=True` together with everything it spawned."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def kill_group(process: subprocess.Popen[bytes], *, wait_s: float = 10.0) -> None:
    """SIGKILL the process group now and reap the leader."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=wait_s)


def stop_group(process: subprocess.Popen[bytes], *, grace_s: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after `grace_s`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        kill_group(process)
