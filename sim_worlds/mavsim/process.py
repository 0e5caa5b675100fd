"""Start `python -m sim_worlds.mavsim` as a child process (tests, benchmarks, `finalmile sim`).

`MavsimProcess` is a context manager: it picks free ports when none are given, starts the
simulator in its own process group, waits until vehicle 0's TCP port accepts, and on exit kills
the whole group (TERM, then KILL).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from types import TracebackType

from sim_worlds.leases import lease_port_slots
from sim_worlds.mavsim.runner import SimulatorConfigError
from sim_worlds.process_group import exit_with_parent, stop_group

_PORT_STRIDE = 10


def free_tcp_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MavsimProcess:
    """The simulator as a subprocess (`finalmile mavsim` when `via_finalmile`); `.urls` are its TCP URLs."""

    def __init__(
        self,
        count: int = 1,
        *,
        speedup: float = 1.0,
        home: tuple[float, float, float] = (60.1715, 24.9381, 10.0),
        params: Mapping[str, float] | None = None,
        base_port: int | None = None,
        udp_base_port: int | None = None,
        extra_args: tuple[str, ...] = (),
        via_finalmile: bool = False,
        start_timeout_s: float = 20.0,
        control: bool = False,
        exit_with_parent: bool = False,
    ) -> None:
        # Ports come from leased slots (sim_worlds.leases): another FinalMile process never draws the same ones,
        # and no outgoing connection takes one before the simulator binds it.
        own_ports = base_port is None or udp_base_port is None
        slots = (count if own_ports else 0) + (1 if control else 0)
        self._port_leases = lease_port_slots(slots) if slots else []
        if base_port is None or udp_base_port is None:
            base_port, udp_base_port = self._port_leases[0].number, self._port_leases[0].number + 1
        self.control_port = self._port_leases[-1].number if control else None
        if self.control_port is not None:
            extra_args = (*extra_args, "--control-port", str(self.control_port))
        self.exit_with_parent = exit_with_parent  # the simulator dies with the process that started it
        self.count = count
        self.base_port = base_port
        self.udp_base_port = udp_base_port
        self.start_timeout_s = start_timeout_s
        launcher = ("-m", "fleet_manager.cli", "mavsim") if via_finalmile else ("-m", "sim_worlds.mavsim")
        self.command = [
            sys.executable, *launcher, "--count", str(count), "--base-port", str(base_port),
            "--udp-base-port", str(udp_base_port), "--speedup", f"{speedup:g}",
            "--home-lat", f"{home[0]:.7f}", "--home-lon", f"{home[1]:.7f}", "--home-alt", f"{home[2]:g}",
            *(arg for name, value in (params or {}).items() for arg in ("--param", f"{name}={value:g}")),
            *extra_args,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def urls(self) -> list[str]:
        """`tcp:127.0.0.1:PORT` of every vehicle."""
        return [f"tcp:127.0.0.1:{self.base_port + _PORT_STRIDE * i}" for i in range(self.count)]

    @property
    def control_url(self) -> str:
        """`tcp:127.0.0.1:PORT` of the sim-control channel (SimulatorConfigError when not opened)."""
        if self.control_port is None:
            raise SimulatorConfigError("this simulator was started without control=True: no sim-control channel")
        return f"tcp:127.0.0.1:{self.control_port}"

    @property
    def udp_ports(self) -> list[int]:
        """UDP port of every vehicle."""
        return [self.udp_base_port + _PORT_STRIDE * i for i in range(self.count)]

    def __enter__(self) -> MavsimProcess:
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=exit_with_parent if self.exit_with_parent else None)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            returncode = self.process.poll()
            if returncode is not None:
                self.stop()
                raise SimulatorConfigError(f"mavsim exited with code {returncode}: {self.command}")
            # Probe the port bound last: the sim-control channel, else the last vehicle's.
            last_port = self.base_port + _PORT_STRIDE * (self.count - 1)
            probe_port = last_port if self.control_port is None else self.control_port
            with socket.socket() as sock, contextlib.suppress(OSError):
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", probe_port)) != 0:
                    time.sleep(0.1)
                    continue
                # A bare probe connection must not boot vehicle 0 early: only the last is touched.
                return self
        self.stop()
        raise SimulatorConfigError(f"mavsim did not open tcp {self.base_port} within {self.start_timeout_s} s")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Kill the process group (TERM, then KILL after 5 s)."""
        process, self.process = self.process, None
        if process is not None:
            stop_group(process, grace_s=5.0)
        leases, self._port_leases = self._port_leases, []
        for lease in leases:
            lease.release()
