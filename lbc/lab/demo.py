"""The seed document's two-cluster scenario on the lab (built with the controller)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    del argv
    print("lbc demo: the scenario needs the controller, which is not built yet", file=sys.stderr)
    return 1
