# Source this to use the venv's ROS 2 Kilted (PyPI wheels) and the colcon-built FinalMile interfaces:
#   . tools/env.sh
# `make` exports the same variables for its own targets.
_fm_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_fm_venv="${FINALMILE_VENV:-$_fm_root/.venv}"
export AMENT_PREFIX_PATH="$_fm_venv"
export CMAKE_PREFIX_PATH="$_fm_venv"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
for _fm_pkg in "$_fm_root"/ros_ws/install/*/; do
  [ -d "$_fm_pkg" ] || continue
  _fm_pkg="${_fm_pkg%/}"
  AMENT_PREFIX_PATH="$_fm_pkg:$AMENT_PREFIX_PATH"
  [ -d "$_fm_pkg/lib/python3.11/site-packages" ] && PYTHONPATH="$_fm_pkg/lib/python3.11/site-packages${PYTHONPATH:+:$PYTHONPATH}"
  [ -d "$_fm_pkg/lib" ] && LD_LIBRARY_PATH="$_fm_pkg/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export AMENT_PREFIX_PATH PYTHONPATH LD_LIBRARY_PATH
export PATH="$_fm_venv/bin:$PATH"
unset _fm_root _fm_venv _fm_pkg
