"""``python -m lbc run`` as a child process, for the tests that run the real daemon."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, Any

import anyio
import anyio.abc


@asynccontextmanager
async def lbc_run(env: dict[str, str], stdout: int | IO[Any]) -> AsyncIterator[anyio.abc.Process]:
    """The daemon with ``env``, stderr into ``stdout``; killed and reaped however the block ends
    (shielded, so a cancelled test leaves no daemon behind)."""
    process = await anyio.open_process(
        [sys.executable, "-m", "lbc", "run"], env=env, stdout=stdout, stderr=subprocess.STDOUT
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()
