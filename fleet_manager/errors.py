"""Errors of the fleet manager; all derive from mission_planner's FinalMileError."""

from __future__ import annotations

from mission_planner.errors import FinalMileError


class AdapterError(FinalMileError):
    """A vehicle refused, failed or did not answer a request.

    Carries the vehicle, the call, and the vehicle's own result code and text, so an operator
    can see what the autopilot or robot said (e.g. MAV_RESULT_DENIED + 'PreArm: GPS 1: Bad fix').
    """

    def __init__(
        self,
        vehicle_id: str,
        call: str,
        reason: str,
        *,
        result_code: int | None = None,
        result_name: str | None = None,
        status_text: str | None = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.call = call
        self.reason = reason
        self.result_code = result_code
        self.result_name = result_name
        self.status_text = status_text
        detail = f" [{result_name or result_code}]" if (result_name or result_code is not None) else ""
        text = f": {status_text!r}" if status_text else ""
        super().__init__(f"{vehicle_id}: {call} failed{detail}: {reason}{text}")


class CommandRefused(AdapterError):
    """The vehicle answered and said no (COMMAND_ACK != ACCEPTED, goal rejected, MISSION_ACK error)."""


class MissionBusy(CommandRefused):
    """`start_mission()` on a vehicle whose mission is still running; `replace_mission()` switches it."""


class NoMissionRunning(CommandRefused):
    """`replace_mission()` on a vehicle that runs no mission; `start_mission()` starts one."""


class CommandFenced(CommandRefused):
    """Never sent: the command came from a process that no longer leads the vehicle's hub (`StaleLeader`)."""


class AdapterTimeout(AdapterError):
    """The vehicle did not answer within the timeout."""


class LinkLost(AdapterError):
    """No telemetry (heartbeat, odometry) from the vehicle within the link timeout."""


class NotConnected(AdapterError):
    """A command was sent to an adapter that is not connected; call `connect()` first."""


class StoreError(FinalMileError):
    """The store refused an operation (illegal transition, unknown id, conflict)."""


class StaleLeader(StoreError):
    """A write or a vehicle command for a hub by a process whose lease token is not the hub's newest.

    A leader deposed while it was paused (or cut off) learns it here: its late writes and commands are
    refused by the token, whatever it still believes.
    """

    def __init__(self, hub_id: str, token: int | None, newest_token: int | None, *, lapsed: bool = False) -> None:
        self.hub_id = hub_id
        self.token = token
        self.newest_token = newest_token
        if token is None:
            why = "this process does not lead it (no lease)"
        elif lapsed:
            why = f"this process holds token {token} but its lease lapsed unrenewed (a standby may lead now)"
        else:
            newest = "no token" if newest_token is None else f"token {newest_token}"
            why = f"this process holds token {token} but the hub's lease is at {newest}"
        super().__init__(f"hub {hub_id!r}: refused, {why} (deposed leader)")


class SchemaBehind(StoreError):
    """The database schema is older than this code (or newer, or missing): run `finalmile db upgrade` first."""

    def __init__(self, database: str, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database {database} is at schema revision {current or 'none (empty database)'}, this FinalMile needs "
            f"{head}: run `finalmile db upgrade` (once, before starting the service; it no longer migrates at start-up)"
        )


class ConfigError(FinalMileError):
    """The configuration is invalid or unsafe (e.g. serving on a public address without API keys)."""


class AddressQueryError(FinalMileError, ValueError):
    """A typed address cannot be read at all (empty, too long); names the field and the value."""
