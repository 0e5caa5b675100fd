"""Map FinalMile errors to HTTP answers (`{"detail": "..."}`), one status per error kind."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from fleet_manager.domain.errors import CompartmentLocked, Conflict, IdempotencyMismatch, NotFound, PickupRefused
from fleet_manager.errors import StoreError
from mission_planner.errors import AirspaceError, FinalMileError

_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (IdempotencyMismatch, 422),
    (PickupRefused, 403),
    (CompartmentLocked, 423),
    (Conflict, 409),
    (StoreError, 409),
    (AirspaceError, 422),
    (FinalMileError, 400),
)


def status_for(exc: Exception) -> int:
    """HTTP status of a FinalMile error."""
    return next(code for kind, code in _STATUS if isinstance(exc, kind))


async def _finalmile_error(_request: Request, exc: Exception) -> JSONResponse:
    body: dict[str, object] = {"detail": str(exc)}
    if isinstance(exc, PickupRefused):
        body["attempts_left"] = exc.attempts_left
    return JSONResponse(body, status_code=status_for(exc))


async def _database_busy(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"database unavailable: {type(exc).__name__}"}, 503, headers={"Retry-After": "1"})


def install(app: FastAPI) -> None:
    """Register the handlers on an app."""
    app.add_exception_handler(FinalMileError, _finalmile_error)
    app.add_exception_handler(OperationalError, _database_busy)
