"""The world the fleet works in, as GeoJSON for the dashboard map (streets, walkways, buildings, hub, lockers)."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Header, Response

from ..deps import Reader, ServiceDep

router = APIRouter(prefix="/world", tags=["world"])


@functools.lru_cache(maxsize=4)
def _world_document(world_name: str) -> tuple[bytes, str]:
    """The encoded GeoJSON document and its ETag; a world never changes while the process runs."""
    from fleet_manager.world import load_world, world_geojson

    body = json.dumps(world_geojson(load_world(world_name)), separators=(",", ":"), ensure_ascii=False).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@router.get(
    "",
    responses={
        200: {"content": {"application/json": {}}, "description": "the world document"},
        304: {"description": "unchanged since the ETag sent in If-None-Match"},
    },
)
def get_world(
    service: ServiceDep,
    _caller: Reader,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Streets, walkways and building footprints (GeoJSON, WGS84), the hub, the lockers and the map bounds."""
    body, etag = _world_document(service.settings.world)
    headers = {"ETag": etag, "Cache-Control": "private, max-age=300"}
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
