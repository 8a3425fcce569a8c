"""``python -m lbc lab apiserver``: serves, writes a kubeconfig, stops on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from kubernetes_asyncio import client
from lbc.lab.kube_fixtures import api_client_for


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_writes_kubeconfig_and_stops_on_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    kubeconfig = tmp_path / "nested" / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lbc",
        "lab",
        "apiserver",
        "--kubeconfig",
        str(kubeconfig),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            line = await process.stdout.readline()
        assert b"serving on http://127.0.0.1:" in line
        assert kubeconfig.exists()
        api_client = await api_client_for(kubeconfig)
        try:
            namespaces = await client.CoreV1Api(api_client).list_namespace()
        finally:
            await api_client.close()
        assert "default" in [n.metadata.name for n in namespaces.items]
        process.send_signal(sig)
        async with asyncio.timeout(10):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
