"""Annotated dependencies: the service, and the caller's API key checked against a role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleet_manager.config import Role

from .keyring import ANONYMOUS, Principal
from .service import FleetService

__all__ = ["Principal", "ServiceDep", "require"]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def get_service(request: Request) -> FleetService:
    """The app's service object."""
    service: FleetService = request.app.state.service
    return service


ServiceDep = Annotated[FleetService, Depends(get_service)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, {"WWW-Authenticate": "Bearer"})


def _authenticate(service: FleetService, token: str | None) -> Principal:
    if service.keyring.open:
        # No keys configured: allowed only on loopback (`finalmile serve` refuses otherwise).
        return ANONYMOUS
    if not token:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    principal = service.keyring.authenticate(token)
    if principal is None:
        raise _unauthorized("unknown API key")
    return principal


def _admit(principal: Principal, roles: tuple[Role, ...]) -> Principal:
    if not principal.roles & set(roles):
        wanted = " or ".join(r.value for r in roles)
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this endpoint needs the {wanted} role")
    return principal


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting keys with any of `roles` (401 without a key, 403 with another role).

    Keys come in the Authorization header only: a key in a URL ends up in logs, proxies and history.
    """

    def check(
        service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        return _admit(_authenticate(service, credentials.credentials if credentials else None), roles)

    return check


def require_stream(*roles: Role) -> Callable[..., Principal]:
    """Like `require`, but a short-lived stream ticket (`?ticket=`, for EventSource clients) also admits."""

    def check(
        service: ServiceDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        ticket: Annotated[
            str | None,
            Query(max_length=512, description="a stream ticket from POST /v1/events/stream-tickets (not a key)"),
        ] = None,
    ) -> Principal:
        if credentials is None and ticket is not None and not service.keyring.open:
            principal = service.keyring.redeem_ticket(ticket)
            if principal is None:
                raise _unauthorized("stream ticket invalid or expired; get a new one")
            return _admit(principal, roles)
        return _admit(_authenticate(service, credentials.credentials if credentials else None), roles)

    return check


READERS = (Role.VIEWER, Role.OPERATOR, Role.BACKEND)

Reader = Annotated[Principal, Depends(require(*READERS))]
StreamReader = Annotated[Principal, Depends(require_stream(*READERS))]
Backend = Annotated[Principal, Depends(require(Role.BACKEND))]
BackendOrOperator = Annotated[Principal, Depends(require(Role.BACKEND, Role.OPERATOR))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
LockerTerminal = Annotated[Principal, Depends(require(Role.LOCKER, Role.OPERATOR))]
