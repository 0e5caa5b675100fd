"""Every error of the Fleet API as an RFC 9457 problem (`application/problem+json`), one status per error kind.

A problem has `type`, `title`, `status`, `detail` (one sentence naming the field or the resource) and
`instance` (the path). Validation problems add `errors`: one entry per bad field with its `loc`, `msg`
and `type`, and the value only when it is a short scalar: a request body is never echoed back (it may
hold NaN, broken Unicode, megabytes, or a secret).
"""

from __future__ import annotations

import http
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleet_manager.domain.errors import CompartmentLocked, Conflict, IdempotencyMismatch, NotFound, PickupRefused
from fleet_manager.errors import StoreError
from mission_planner.errors import AirspaceError, FinalMileError

from .limits import safe_value

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:finalmile:problem:"
_SECRET_FIELDS = frozenset({"code", "key", "secret", "token", "password", "authorization"})

_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFound, 404, "not-found"),
    (IdempotencyMismatch, 422, "idempotency-key-reused"),
    (PickupRefused, 403, "pickup-code-refused"),
    (CompartmentLocked, 423, "compartment-locked"),
    (Conflict, 409, "conflict"),
    (StoreError, 409, "conflict"),
    (AirspaceError, 422, "invalid-zone"),
    (FinalMileError, 400, "bad-request"),
)


class ProblemResponse(JSONResponse):
    """`application/problem+json`; rendered ASCII-only so no text can fail to encode."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    """One problem response; `kind` names its type (`urn:finalmile:problem:<kind>`), else `about:blank`."""
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind if kind else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extensions)
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def status_for(exc: Exception) -> int:
    """HTTP status of a FinalMile error."""
    return next(code for kind, code, _ in _STATUS if isinstance(exc, kind))


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic errors without their input: loc, dotted field, message, type (and a short scalar value)."""
    out = []
    for error in errors:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        entry: dict[str, Any] = {
            "loc": loc,
            "field": ".".join(str(part) for part in loc),
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        name = str(loc[-1]).lower() if loc else ""
        if "input" in error and name not in _SECRET_FIELDS:
            value = safe_value(error["input"])
            if value is not None and error.get("type") != "missing":
                entry["value"] = value
        out.append(entry)
    return out


def validation_problem(errors: Sequence[Mapping[str, Any]], *, instance: str | None = None) -> ProblemResponse:
    """422 naming every bad field (`detail` lists the first few)."""
    entries = field_errors(errors)
    parts = [f"{e['field']}: {e['msg']}" + (f" (got {e['value']!r})" if "value" in e else "") for e in entries[:3]]
    more = f" (and {len(entries) - 3} more)" if len(entries) > 3 else ""
    return problem(422, "; ".join(parts) + more, kind="validation", instance=instance, errors=entries)


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return validation_problem(errors, instance=request.url.path)


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    if not isinstance(exc, StarletteHTTPException):
        return await _unexpected(request, exc)
    detail = exc.detail if isinstance(exc.detail, str) else http.HTTPStatus(exc.status_code).description
    return problem(exc.status_code, detail, instance=request.url.path, headers=exc.headers)


async def _finalmile_error(request: Request, exc: Exception) -> ProblemResponse:
    status, kind = next((code, name) for cls, code, name in _STATUS if isinstance(exc, cls))
    extensions: dict[str, Any] = {}
    if isinstance(exc, PickupRefused):
        extensions["attempts_left"] = exc.attempts_left
    return problem(status, str(exc), kind=kind, instance=request.url.path, **extensions)


async def _database_busy(request: Request, exc: Exception) -> ProblemResponse:
    return problem(
        503,
        f"database unavailable: {type(exc).__name__}",
        kind="database-unavailable",
        instance=request.url.path,
        headers={"Retry-After": "1"},
    )


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal error; it is logged on the server", kind="internal", instance=request.url.path)


def install(app: FastAPI) -> None:
    """Register the handlers on an app: every error leaves as a problem document."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(FinalMileError, _finalmile_error)
    app.add_exception_handler(OperationalError, _database_busy)
    app.add_exception_handler(Exception, _unexpected)
