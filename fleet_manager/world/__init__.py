"""The delivery world: streets, walkways, addressed buildings, hub, lockers and zones, from OSM.

The service (API, planner translation) and the simulators both read it; it imports neither.
Typed addresses resolve to a building and drop point through the world's address index
(`address_index_for_world` -> `AddressResolver.resolve`).
"""

from .address_resolver import AddressResolver as AddressResolver
from .address_resolver import Resolution as Resolution
from .address_resolver import ResolutionStatus as ResolutionStatus
from .addresses import AddressIndex as AddressIndex
from .addresses import address_index_for_world as address_index_for_world
from .addresses import load_address_index as load_address_index
from .geojson import world_geojson as world_geojson
from .model import Building as Building
from .model import Site as Site
from .model import World as World
from .model import available_worlds as available_worlds
from .model import build_world as build_world
from .model import load_world as load_world
from .model import world_spec as world_spec
