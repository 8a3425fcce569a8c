"""``python -m lbc lab apiserver``: serve in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from lbc.lab.apiserver.server import LabApiServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lbc lab apiserver", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: free)")
    parser.add_argument("--kubeconfig", type=Path, default=None, help="write a kubeconfig here")
    parser.add_argument("--history-size", type=int, default=20_000, help="watch history events")
    parser.add_argument(
        "--bookmark-interval", type=float, default=1.0, help="seconds between BOOKMARK events"
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with LabApiServer.running(
        port=args.port,
        kubeconfig_path=args.kubeconfig,
        history_size=args.history_size,
        bookmark_interval=args.bookmark_interval,
    ) as api:
        print(f"lab apiserver serving on {api.url} kubeconfig={api.kubeconfig_path}", flush=True)
        await stop.wait()


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    # This process only serves the lab: fewer cyclic-GC passes keep a store of 100,000
    # objects from spending its time rescanning them.
    gc.set_threshold(50_000, 20, 100)
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"lbc lab apiserver: {exc}", file=sys.stderr)
        return 1
    return 0
