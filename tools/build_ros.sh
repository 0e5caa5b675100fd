#!/usr/bin/env bash
# colcon build of ros_ws against the venv's ROS 2 Kilted wheels. Run through `make ros`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${FINALMILE_VENV:-$root/.venv}"

# Stand-ins: ros_ws carries, of a few upstream interface packages, only the types FinalMile speaks
# (nav2_msgs: NavigateToPose; robot_localization: FromLL/ToLL; geographic_msgs: GeoPoint), field for
# field so that the wire is the same. A real install provides them; ours are built only where none
# is found. Look in an explicit prefix (FINALMILE_SYSTEM_NAV2_PREFIX), in the ament prefixes
# inherited from a sourced ROS 2 (e.g. /opt/ros/kilted), in /opt/ros/*, and in the venv — but never
# in our own ros_ws/install.
STAND_INS=(nav2_msgs geographic_msgs robot_localization)
candidates=("${FINALMILE_SYSTEM_NAV2_PREFIX:-}" "$venv")
IFS=':' read -r -a inherited <<< "${AMENT_PREFIX_PATH:-}"
candidates+=("${inherited[@]}")
for distro in /opt/ros/*; do candidates+=("$distro"); done

system_prefix_of() {
  local package="$1" prefix
  for prefix in "${candidates[@]}"; do
    [ -n "$prefix" ] || continue
    # Ours, or another FinalMile checkout's stand-in (a shell that sourced its tools/env.sh), is no system install.
    case "$prefix" in "$root/ros_ws/install"* | */ros_ws/install/"$package") continue ;; esac
    if [ -f "$prefix/share/ament_index/resource_index/packages/$package" ]; then
      echo "$prefix"
      return
    fi
  done
}

export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
skip=()
for package in "${STAND_INS[@]}"; do
  system_prefix="$(system_prefix_of "$package")"
  [ -n "$system_prefix" ] || continue
  echo "build_ros: real $package found in $system_prefix; not building ros_ws/src/$package" >&2
  skip+=("$package")
  # A stand-in from an earlier build would shadow the real one in tools/env.sh.
  rm -rf "$root/ros_ws/install/$package" "$root/ros_ws/build/$package"
  if [ "$system_prefix" != "$venv" ]; then
    case ":$AMENT_PREFIX_PATH:" in *":$system_prefix:"*) ;; *)
      export AMENT_PREFIX_PATH="$system_prefix:$AMENT_PREFIX_PATH" CMAKE_PREFIX_PATH="$system_prefix:$CMAKE_PREFIX_PATH" ;;
    esac
  fi
done
cd "$root/ros_ws"
colcon build --event-handlers console_cohesion- status- summary+ ${skip[@]+--packages-skip "${skip[@]}"} \
  --cmake-args -DBUILD_TESTING=OFF "-DPython3_EXECUTABLE=$venv/bin/python" -Wno-dev
