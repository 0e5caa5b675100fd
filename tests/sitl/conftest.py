"""SITL fixtures: the ArduCopter SITL binary from FINALMILE_SITL_BINARY (skip with the reason when unset)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from sim_worlds.sitl import BINARY_ENV, MAX_INSTANCE, SitlError, SitlFleet


@pytest.fixture(scope="session")
def sitl_binary() -> str:
    """Path of the ArduCopter SITL binary; skips the test when FINALMILE_SITL_BINARY is unset or not executable."""
    path = os.environ.get(BINARY_ENV, "")
    if not path:
        pytest.skip(f"{BINARY_ENV} is not set: point it at an ArduCopter SITL build to run SITL tests")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"{BINARY_ENV}={path!r} is not an executable file")
    return path


@pytest.fixture(scope="session")
def make_sitl_fleet(sitl_binary: str) -> Callable[..., SitlFleet]:
    """Start a SitlFleet on a random instance base (ports 5760+10·I), retrying when the ports are taken."""

    def make(count: int, **kwargs: Any) -> SitlFleet:
        last: SitlError | None = None
        for _ in range(5):
            fleet = SitlFleet(
                sitl_binary, count=count, instance_base=random.randrange(20, MAX_INSTANCE - count), **kwargs
            )
            try:
                fleet.start()
                return fleet
            except SitlError as exc:
                if "in use" not in str(exc):
                    raise
                last = exc
        raise SitlError(f"no free SITL instance range after 5 tries: {last}")

    return make
