"""Point the ROS 2 wheels' CMake export files at this venv's interpreter and numpy headers.

The PyPI wheels of ROS 2 Kilted were built under /opt/python/cp311-cp311; their
`share/*/cmake/*.cmake` files name include directories from that build machine, so
colcon builds of interface packages fail until those paths name the local ones.
Idempotent: a file with no such path is left untouched.
"""

from __future__ import annotations

import logging
import pathlib
import re
import sys
import sysconfig

import numpy

logger = logging.getLogger("fix_ros_cmake")
_BUILD_PREFIX = "/opt/python/cp311-cp311"


def fix(venv: pathlib.Path) -> int:
    """Rewrite the build-machine paths under `venv/share/*/cmake`; return the number of files changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    pattern = re.compile(re.escape(_BUILD_PREFIX) + r"[^;\"\s)]*")

    def local(match: re.Match[str]) -> str:
        path = match.group(0)
        if "numpy" in path:
            return numpy_include
        if path.rstrip("/").endswith("include/python3.11"):
            return python_include
        return path.replace(_BUILD_PREFIX, sys.prefix)

    changed = 0
    for cmake_file in sorted(venv.glob("share/*/cmake/*.cmake")):
        text = cmake_file.read_text()
        if _BUILD_PREFIX not in text:
            continue
        cmake_file.write_text(pattern.sub(local, text))
        changed += 1
    return changed


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    count = fix(pathlib.Path(sys.prefix))
    logger.info("fix_ros_cmake: %d CMake export file(s) rewritten under %s", count, sys.prefix)
