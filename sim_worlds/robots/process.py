"""Start `finalmile robots` as a child process in its own process group (tests, benchmarks).

`RobotsProcess` is a context manager: it starts N sim robots on a ROS domain and on exit kills the
whole group (TERM, then KILL). Readiness is the adapter's business (`connect()` waits for odometry);
`kill()` drops the robots at once, as a crashed robot computer would.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from types import TracebackType

from mission_planner.errors import FinalMileError
from sim_worlds.process_group import kill_group, stop_group


class RobotsProcessError(FinalMileError):
    """The robots process could not start or exited early."""


class RobotsProcess:
    """`python -m fleet_manager.cli robots --count N ...` as a subprocess."""

    def __init__(
        self,
        count: int,
        *,
        domain_id: int,
        speedup: float = 1.0,
        world: str = "helsinki",
        battery_pct: float = 100.0,
        namespace_prefix: str = "robot_",
        first_index: int = 1,
        ros_args: Sequence[str] = (),
        executor: str = "events",
        control_port: int | None = None,
    ) -> None:
        """`ros_args` go after `--ros-args` (e.g. ["-p", "map_datum.yaw_deg:=30"]); the manager node is named
        `sim_robots_<prefix><first_index>` so that several processes on one domain have distinct names."""
        self.count = count
        self.domain_id = domain_id
        self.namespaces = [f"/{namespace_prefix}{first_index + i}" for i in range(count)]
        self.command = [
            sys.executable, "-m", "fleet_manager.cli", "robots", "--count", str(count), "--world", world,
            "--speedup", f"{speedup:g}", "--domain-id", str(domain_id), "--battery-pct", f"{battery_pct:g}",
            "--namespace-prefix", namespace_prefix, "--first-index", str(first_index), "--executor", executor,
            *(("--control-port", str(control_port)) if control_port is not None else ()),
            "--ros-args", "-r", f"__node:=sim_robots_{namespace_prefix}{first_index}", *ros_args,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in __exit__)

    @property
    def pid(self) -> int:
        """Process id (= process group id) of the running robots."""
        if self.process is None:
            raise RobotsProcessError("robots process not started")
        return self.process.pid

    def __enter__(self) -> RobotsProcess:
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._log.close()

    def check_alive(self) -> None:
        """RobotsProcessError with the process's output if it has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise RobotsProcessError(f"robots exited with code {self.process.returncode}:\n{self.output()}")

    def output(self) -> str:
        """Everything the process printed so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole group now (a robot computer losing power)."""
        if self.process is not None:
            kill_group(self.process)

    def stop(self) -> None:
        """Kill the process group (TERM, then KILL after 5 s)."""
        if self.process is not None:
            stop_group(self.process, grace_s=5.0)
