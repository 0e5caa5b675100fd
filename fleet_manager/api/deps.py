"""Annotated dependencies: the service, and the caller's API key checked against a role."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleet_manager.config import Role

from .service import FleetService

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def get_service(request: Request) -> FleetService:
    """The app's service object."""
    service: FleetService = request.app.state.service
    return service


ServiceDep = Annotated[FleetService, Depends(get_service)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a stable key id (hash prefix, never the key) and its roles."""

    key_id: str
    roles: frozenset[Role]

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        role = "/".join(sorted(r.value for r in self.roles)) if len(self.roles) < len(Role) else "open"
        return f"{role}:{self.key_id}"


def _authenticate(service: FleetService, token: str | None) -> Principal:
    keys = service.settings.api_keys
    if not keys:
        # No keys configured: allowed only on loopback (`finalmile serve` refuses otherwise).
        return Principal("anonymous", frozenset(Role))
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>'",
            {"WWW-Authenticate": "Bearer"},
        )
    roles = keys.get(token)
    if roles is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key", {"WWW-Authenticate": "Bearer"})
    return Principal(hashlib.sha256(token.encode()).hexdigest()[:12], roles)


def require(*roles: Role, allow_query_token: bool = False) -> Callable[..., Principal]:
    """A dependency admitting keys with any of `roles` (401 without a key, 403 with another role)."""

    def check(
        service: ServiceDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        access_token: Annotated[
            str | None, Query(description="API key for EventSource clients that cannot set headers")
        ] = None,
    ) -> Principal:
        token = credentials.credentials if credentials else None
        if token is None and allow_query_token:
            token = access_token
        principal = _authenticate(service, token)
        if not principal.roles & set(roles):
            wanted = " or ".join(r.value for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this endpoint needs the {wanted} role")
        return principal

    if not allow_query_token:

        def check_header_only(
            service: ServiceDep,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        ) -> Principal:
            return check(service, credentials, None)

        return check_header_only
    return check


READERS = (Role.VIEWER, Role.OPERATOR, Role.BACKEND)

Reader = Annotated[Principal, Depends(require(*READERS))]
StreamReader = Annotated[Principal, Depends(require(*READERS, allow_query_token=True))]
Backend = Annotated[Principal, Depends(require(Role.BACKEND))]
BackendOrOperator = Annotated[Principal, Depends(require(Role.BACKEND, Role.OPERATOR))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
LockerTerminal = Annotated[Principal, Depends(require(Role.LOCKER, Role.OPERATOR))]
