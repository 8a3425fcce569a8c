"""Wiring and lifecycle of the daemon (filled in by the runtime work: informers, workers, lease)."""

from __future__ import annotations

import sys

from lbc.settings import Settings


def main(settings: Settings) -> int:
    print("lbc: the daemon is not wired yet", file=sys.stderr)
    del settings
    return 1
