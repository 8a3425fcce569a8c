"""``python -m lbc``: the command line."""

from lbc.cli import main

raise SystemExit(main())
