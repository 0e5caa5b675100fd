"""SITL fixtures: the ArduCopter SITL binary from FINALMILE_SITL_BINARY (skip with the reason when unset)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from sim_worlds.sitl import BINARY_ENV, SitlFleet, start_on_free_instances


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
    """Start a SitlFleet on a random instance base (ports 5760+10·I), drawing again when one is leased or taken."""

    def make(count: int, **kwargs: Any) -> SitlFleet:
        return start_on_free_instances(sitl_binary, count, **kwargs)

    return make
