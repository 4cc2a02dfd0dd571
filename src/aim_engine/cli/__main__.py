"""`python -m aim_engine.cli`: the `aim-engine` command."""

import sys

from aim_engine.cli import main

sys.exit(main())
