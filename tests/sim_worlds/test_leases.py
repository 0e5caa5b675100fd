"""Machine-wide leases (sim_worlds.leases): one holder per number across processes, freed when the holder dies."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim_worlds.leases import SLOT_PORTS, LeaseError, lease_directory, lease_one, lease_port_slots, try_lease

HOLD = """
import sys, time
from sim_worlds.leases import try_lease
lease = try_lease(sys.argv[1], int(sys.argv[2]))
print("held" if lease is not None else "taken", flush=True)
time.sleep(120)
"""


@pytest.fixture
def kind() -> Iterator[str]:
    """A resource kind of its own (parallel runs of these tests never meet); its lock files removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    for path in lease_directory().glob(f"{name}-*.lock"):
        path.unlink(missing_ok=True)


def _holder(kind: str, number: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", HOLD, kind, str(number)], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_number_held_by_another_process_is_refused_until_that_process_is_killed(kind: str) -> None:
    holder = _holder(kind, 7)
    try:
        assert try_lease(kind, 7) is None
        other = try_lease(kind, 8)  # a neighbour is free
        assert other is not None and other.number == 8
        other.release()
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # no clean-up code runs: the kernel drops the lock
        holder.wait(timeout=10)
    mine = try_lease(kind, 7)
    assert mine is not None
    mine.release()


def test_lease_one_skips_held_numbers_and_fails_naming_the_kind_when_all_are_held(kind: str) -> None:
    holder = _holder(kind, 1)
    try:
        with lease_one(kind, [1, 2]) as lease:
            assert lease.number == 2
            with pytest.raises(LeaseError, match=kind):
                lease_one(kind, [1, 2])
        with lease_one(kind, [1, 2]) as again:  # released on leaving the block
            assert again.number == 2
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)


def test_port_slots_are_consecutive_outside_the_ephemeral_range_and_skip_a_port_someone_else_bound() -> None:
    """A simulator's ports never come from the range outgoing connections draw from, and never meet a bound port."""
    rng = random.Random(5)
    first_pick = SLOT_PORTS[random.Random(5).randrange(len(SLOT_PORTS) - 3 + 1)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:  # a foreign program on the first slot's UDP
        try:
            squatter.bind(("127.0.0.1", first_pick + 1))
        except OSError:
            pytest.skip(f"port {first_pick + 1} is in use on this machine already")
        slots = lease_port_slots(3, rng=rng)
        try:
            bases = [lease.number for lease in slots]
            assert first_pick not in bases
            assert bases == [bases[0], bases[0] + 10, bases[0] + 20]
            low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
            assert all(not low <= base + offset <= high for base in bases for offset in range(10))
            [other] = lease_port_slots(1)  # another caller never gets a slot that is held
            assert other.number not in bases
            other.release()
        finally:
            for lease in slots:
                lease.release()
