"""``python -m lbc lab apiserver``: serve in the foreground until SIGTERM, SIGINT (or stdin EOF).

Protocol with a parent process: once it serves and the kubeconfig is written, exactly one JSON
line goes to stdout, ``{"url": "http://127.0.0.1:<port>", "kubeconfig": "<path>", "pid": N}``,
and a human-readable line to stderr. With ``--stop-on-stdin-eof`` the server also stops when its
stdin closes, so a parent that dies (even by SIGKILL) never leaves a lab server behind.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from lbc_lab.apiserver.server import LabApiServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbc lab apiserver", description="Kubernetes API server emulator"
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: free)")
    parser.add_argument("--kubeconfig", type=Path, default=None, help="write a kubeconfig here")
    parser.add_argument("--history-size", type=int, default=20_000, help="watch history events")
    parser.add_argument(
        "--bookmark-interval", type=float, default=1.0, help="seconds between BOOKMARK events"
    )
    parser.add_argument(
        "--rbac", action="store_true", help="enforce Role/ClusterRole rules (admin: all)"
    )
    parser.add_argument(
        "--stop-on-stdin-eof", action="store_true", help="exit when stdin closes (for parents)"
    )
    return parser


async def _stdin_closed(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass
    stop.set()


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
        rbac=args.rbac,
    ) as api:
        ready = {"url": api.url, "kubeconfig": str(api.kubeconfig_path), "pid": os.getpid()}
        print(json.dumps(ready), flush=True)
        print(f"lab apiserver: serving on {api.url}", file=sys.stderr, flush=True)
        watcher = asyncio.create_task(_stdin_closed(stop)) if args.stop_on_stdin_eof else None
        try:
            await stop.wait()
        finally:
            if watcher is not None:
                watcher.cancel()


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
