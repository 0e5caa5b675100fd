"""Fuzzed MAVLink frames (random, truncated, bad CRC, a spoofer's id) crash neither the adapter nor mavsim."""

from __future__ import annotations

import pytest

from benchmarks.mavlink_fuzz import KINDS, fuzz_adapter, fuzz_frames, fuzz_simulator
from sim_worlds.mavsim.process import MavsimProcess


def test_the_frames_are_of_every_kind_and_reproducible() -> None:
    frames = fuzz_frames(40, seed=3)
    assert {kind for kind, _ in frames} == set(KINDS)
    assert frames == fuzz_frames(40, seed=3)


@pytest.mark.sim
@pytest.mark.timeout(240)
async def test_fuzzed_frames_crash_neither_adapter_nor_simulator() -> None:
    frames = fuzz_frames(800, seed=19)
    with MavsimProcess(1, speedup=1.0, control=True, extra_args=("--boot-s", "2")) as sim:
        adapter = await fuzz_adapter(sim.urls[0], frames)
        simulator = await fuzz_simulator(sim, frames)
    assert adapter.crashes == 0 and simulator.crashes == 0, (adapter.problems, simulator.problems)
    assert adapter.rejected_frames is not None and adapter.rejected_frames > 0  # the bad frames did reach the parser
