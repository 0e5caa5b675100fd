"""Machine-wide leases on numbered resources that programs pick "at random": ROS 2 domain ids, SITL instances.

Two simulated days, test workers or developers on one machine that each draw a random ROS_DOMAIN_ID out
of the same hundred (or a random SITL instance, whose ports are fixed by its number) collide now and
then: their robots or drones cross-talk, or one SITL binds the other's ports. A lease is an exclusive,
non-blocking `flock` on `<tmp>/finalmile-leases/<kind>-<number>.lock`, held for as long as the resource is
in use; the kernel drops it when the holder exits, even on SIGKILL, so a crashed run never leaks one.
Only FinalMile processes take these leases: a foreign program on the same number is not seen.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from mission_planner.errors import FinalMileError

#: The hundred ROS_DOMAIN_IDs FinalMile's simulated robots and test nodes draw from (DDS ports stay < 65536).
ROS_TEST_DOMAINS = range(100, 200)


class LeaseError(FinalMileError):
    """Every candidate number of a resource is leased by another process."""


class Lease:
    """One held number; `release()` (or leaving the `with` block, or exiting) frees it."""

    def __init__(self, kind: str, number: int, fd: int) -> None:
        self.kind = kind
        self.number = number
        self._fd: int | None = fd

    def release(self) -> None:
        """Free the number (closing the lock file drops the flock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Lease({self.kind!r}, {self.number})"


def lease_directory() -> Path:
    """Where the lock files live (one folder per machine, i.e. per temporary directory)."""
    path = Path(tempfile.gettempdir()) / "finalmile-leases"
    if not path.is_dir():
        path.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            path.chmod(0o1777)  # like /tmp: every user of the machine leases here
    return path


def try_lease(kind: str, number: int) -> Lease | None:
    """The lease on `kind` number `number`, or None when another process holds it."""
    fd = os.open(lease_directory() / f"{kind}-{number}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return Lease(kind, number, fd)


def lease_one(kind: str, candidates: Sequence[int], *, rng: random.Random | None = None) -> Lease:
    """A lease on one free number out of `candidates`, tried in random order (LeaseError when all are held)."""
    order = list(candidates)
    (rng or random.SystemRandom()).shuffle(order)
    for number in order:
        lease = try_lease(kind, number)
        if lease is not None:
            return lease
    raise LeaseError(f"every {kind} number in {candidates!r} is leased by another process")


def lease_ros_domain() -> Lease:
    """A ROS_DOMAIN_ID out of ROS_TEST_DOMAINS that no other FinalMile process on this machine uses now."""
    return lease_one("ros-domain", ROS_TEST_DOMAINS)


#: Port slots of ten (`SLOT_PORTS.start + 10·k` and the nine above it) that FinalMile's simulators draw from:
#: below Linux's ephemeral range (32768-60999 by default), so no outgoing connection on the machine can take a
#: port between the probe and the simulator's bind, and below the ROS test domains' DDS ports (7400 + 250·100).
SLOT_PORTS = range(20000, 32000, 10)


def lease_port_slots(count: int, *, tries: int = 200, rng: random.Random | None = None) -> list[Lease]:
    """Leases on `count` consecutive free port slots (see SLOT_PORTS); `.number` of the first is its base port."""
    if not 0 < count <= len(SLOT_PORTS):
        raise LeaseError(f"cannot lease {count} port slots out of {len(SLOT_PORTS)}")
    pick = rng or random.SystemRandom()
    for _ in range(tries):
        first = pick.randrange(len(SLOT_PORTS) - count + 1)
        held: list[Lease] = []
        for slot in range(first, first + count):
            lease = try_lease("port-slot", SLOT_PORTS[slot])
            if lease is None or not _slot_free(SLOT_PORTS[slot]):
                if lease is not None:
                    lease.release()
                break
            held.append(lease)
        else:
            return held
        for lease in held:
            lease.release()
    raise LeaseError(f"no {count} consecutive free port slots in {tries} tries")


def _slot_free(base: int) -> bool:
    """Whether the slot's two ports a simulated vehicle uses (TCP base, UDP base + 1) are free right now."""
    for port, kind in ((base, socket.SOCK_STREAM), (base + 1, socket.SOCK_DGRAM)):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True
