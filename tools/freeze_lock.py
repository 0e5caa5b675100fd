"""Write requirements.lock from the venv: every installed distribution, pinned exactly.

Plain `pip freeze` also lists the `*.egg-info` folders that the ROS 2 wheels drop into
site-packages (e.g. `action_msgs`), which are not installable names on PyPI; only real
wheel installs (`*.dist-info`) are kept here. Run with the venv's python after adding a package.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import sys

_SKIP = {"finalmile", "pip"}


def main() -> int:
    """Print the lock file to stdout."""
    pins = set()
    for dist in importlib.metadata.distributions():
        path = getattr(dist, "_path", None)
        if path is None or pathlib.Path(str(path)).suffix != ".dist-info":
            continue
        name = dist.metadata["Name"]
        if name.lower() in _SKIP:
            continue
        pins.add(f"{name}=={dist.version}")
    sys.stdout.write("\n".join(sorted(pins, key=str.lower)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
