"""kubectl, the user's client, against a lab cluster: one helper for the tests that drive it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml


class Kubectl:
    """Runs ``kubectl`` with ``kubeconfig`` and its own discovery cache; every run is bounded."""

    def __init__(self, kubeconfig: Path, cache: Path, *, timeout: float = 30.0) -> None:
        self.base = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache)]
        self.timeout = timeout

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """A long-running kubectl (``get --watch``); the caller reads and ends it."""
        return await asyncio.create_subprocess_exec(
            *self.base, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )

    async def run(
        self, *args: str, ok: bool = True, stdin: str | None = None
    ) -> tuple[int, str, str]:
        """Exit code, stdout and stderr; with ``ok`` a non-zero exit fails the test."""
        process = await asyncio.create_subprocess_exec(
            *self.base,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await process.communicate(stdin.encode() if stdin else None)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        code = process.returncode
        assert code is not None
        if ok:
            assert code == 0, f"kubectl {' '.join(args)} failed: {err.decode()}"
        return code, out.decode(), err.decode()

    async def apply(self, obj: dict[str, Any]) -> tuple[int, str]:
        """``kubectl apply`` of one object; its exit code and what it printed (not checked)."""
        code, out, err = await self.run("apply", "-f", "-", stdin=yaml.safe_dump(obj), ok=False)
        return code, out + err

    async def merge_patch(
        self, kind: str, name: str, namespace: str, patch: dict[str, Any], *, ok: bool = True
    ) -> tuple[int, str, str]:
        """``kubectl patch --type merge`` of one object with ``patch``."""
        return await self.run(
            "patch", kind, name, "-n", namespace, "--type", "merge", "-p", json.dumps(patch), ok=ok
        )

    async def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        """One object as kubectl shows it (``-o json``)."""
        _, out, _ = await self.run("get", kind, name, "-n", namespace, "-o", "json")
        found: dict[str, Any] = json.loads(out)
        return found
