"""The delivery world: streets, walkways, addressed buildings, hub, lockers and zones, from OSM.

The service (API, planner translation) and the simulators both read it; it imports neither.
"""

from .geojson import world_geojson as world_geojson
from .model import Building as Building
from .model import Site as Site
from .model import World as World
from .model import available_worlds as available_worlds
from .model import build_world as build_world
from .model import load_world as load_world
