"""The Fleet API (FastAPI): `create_app(settings, ...)` builds it; `finalmile serve` runs it."""

from .app import create_app as create_app
from .service import FleetService as FleetService
