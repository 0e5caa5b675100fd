"""`python -m fleet_manager.cli` is the `finalmile` command."""

import sys

from . import main

sys.exit(main())
