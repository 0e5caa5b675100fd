#!/usr/bin/env bash
# colcon build of ros_ws against the venv's ROS 2 Kilted wheels. Run through `make ros`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${FINALMILE_VENV:-$root/.venv}"
export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
skip=()
# A real Nav2 install provides nav2_msgs; ours is built only where none is found, so that
# a real Nav2 robot and the sim robot share one definition on the wire.
if [ -d "$root/ros_ws/src/nav2_msgs" ] && [ -n "${FINALMILE_SYSTEM_NAV2_PREFIX:-}" ] \
   && [ -f "$FINALMILE_SYSTEM_NAV2_PREFIX/share/ament_index/resource_index/packages/nav2_msgs" ]; then
  skip+=(--packages-skip nav2_msgs)
fi
cd "$root/ros_ws"
colcon build --event-handlers console_cohesion- status- summary+ "${skip[@]}" \
  --cmake-args -DBUILD_TESTING=OFF "-DPython3_EXECUTABLE=$venv/bin/python" -Wno-dev
