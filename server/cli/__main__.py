"""`python -m server.cli`: the `vigil` command from a checkout (the supervisor starts its workers so too)."""
import sys

from server.cli import main

sys.exit(main())
