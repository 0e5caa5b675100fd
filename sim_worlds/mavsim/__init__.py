"""ArduCopter-compatible multi-vehicle MAVLink simulator (`finalmile mavsim`).

Vehicle i (sysid i+1) serves MAVLink 2 on TCP 127.0.0.1:(5760 + 10·i) and UDP
127.0.0.1:(14550 + 10·i), and behaves on the wire as ArduCopter 4.7 SITL does.
"""

from sim_worlds.mavsim.autopilot import BootTimeline as BootTimeline
from sim_worlds.mavsim.autopilot import ReleaseEvent as ReleaseEvent
from sim_worlds.mavsim.autopilot import Vehicle as Vehicle
from sim_worlds.mavsim.runner import Fleet as Fleet
from sim_worlds.mavsim.runner import FleetConfig as FleetConfig
from sim_worlds.mavsim.runner import SimulatorConfigError as SimulatorConfigError
from sim_worlds.mavsim.runner import run_fleet as run_fleet
