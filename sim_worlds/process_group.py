"""Stop a child started with `start_new_session=True` together with everything it spawned."""

from __future__ import annotations

import contextlib
import ctypes
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


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent() -> None:
    """`preexec_fn` for a child in its own session: Linux sends it SIGTERM when its parent dies, however it dies.

    A simulator in its own process group does not get the signal that kills its parent; without this, a parent
    killed by SIGKILL (or by a signal re-raised after cleanup was skipped) leaves it running. Call Popen from the
    thread that lives as long as the child should: the kernel ties the signal to that thread.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
