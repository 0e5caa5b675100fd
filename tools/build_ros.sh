#!/usr/bin/env bash
# colcon build of ros_ws against the venv's ROS 2 Kilted wheels. Run through `make ros`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${FINALMILE_VENV:-$root/.venv}"

# A real Nav2 install provides nav2_msgs; ours is built only where none is found, so that
# a real Nav2 robot and the sim robot share one definition on the wire. Look in an explicit
# prefix, in the ament prefixes inherited from a sourced ROS 2 (e.g. /opt/ros/kilted), in
# /opt/ros/*, and in the venv — but never in our own ros_ws/install.
system_nav2_prefix=""
candidates=("${FINALMILE_SYSTEM_NAV2_PREFIX:-}" "$venv")
IFS=':' read -r -a inherited <<< "${AMENT_PREFIX_PATH:-}"
candidates+=("${inherited[@]}")
for distro in /opt/ros/*; do candidates+=("$distro"); done
for prefix in "${candidates[@]}"; do
  [ -n "$prefix" ] || continue
  # Ours, or another FinalMile checkout's stand-in (a shell that sourced its tools/env.sh), is no system Nav2.
  case "$prefix" in "$root/ros_ws/install"* | */ros_ws/install/nav2_msgs) continue ;; esac
  if [ -f "$prefix/share/ament_index/resource_index/packages/nav2_msgs" ]; then
    system_nav2_prefix="$prefix"
    break
  fi
done

export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
skip=()
if [ -n "$system_nav2_prefix" ]; then
  echo "build_ros: real nav2_msgs found in $system_nav2_prefix; not building ros_ws/src/nav2_msgs" >&2
  skip+=(--packages-skip nav2_msgs)
  # A stand-in from an earlier build would shadow the real one in tools/env.sh.
  rm -rf "$root/ros_ws/install/nav2_msgs" "$root/ros_ws/build/nav2_msgs"
  if [ "$system_nav2_prefix" != "$venv" ]; then
    export AMENT_PREFIX_PATH="$system_nav2_prefix:$AMENT_PREFIX_PATH" CMAKE_PREFIX_PATH="$system_nav2_prefix:$CMAKE_PREFIX_PATH"
  fi
fi
cd "$root/ros_ws"
colcon build --event-handlers console_cohesion- status- summary+ "${skip[@]}" \
  --cmake-args -DBUILD_TESTING=OFF "-DPython3_EXECUTABLE=$venv/bin/python" -Wno-dev
