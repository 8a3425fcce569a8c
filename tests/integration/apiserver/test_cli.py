"""``python -m lbc lab apiserver`` as a process: serves, writes a kubeconfig, stops on SIGTERM,
SIGINT or (for parents) stdin EOF; ``LabApiControl`` drives its faults from outside."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiControl, LabApiServerProcess
from lbc_lab.kube_fixtures import api_client_for


@asynccontextmanager
async def lab_apiserver_cli(*args: str, **pipes: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m lbc lab apiserver ARGS`` with its stdout piped; killed if still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lbc", "lab", "apiserver", *args,
        stdout=asyncio.subprocess.PIPE, **pipes,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def namespaces(kubeconfig: Path) -> list[str]:
    api_client = await api_client_for(kubeconfig)
    try:
        listed = await client.CoreV1Api(api_client).list_namespace()
    finally:
        await api_client.close()
    return [n.metadata.name for n in listed.items]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_writes_kubeconfig_and_stops_on_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    kubeconfig = tmp_path / "nested" / "kubeconfig"
    async with lab_apiserver_cli("--kubeconfig", str(kubeconfig)) as process:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            ready = json.loads(await process.stdout.readline())
        assert ready["url"].startswith("http://127.0.0.1:")
        assert ready["kubeconfig"] == str(kubeconfig)
        assert "default" in await namespaces(kubeconfig)
        process.send_signal(sig)
        async with asyncio.timeout(10):
            assert await process.wait() == 0


async def test_child_process_is_controlled_over_lab_http_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    with LabApiServerProcess(kubeconfig_path=tmp_path / "kubeconfig") as api:
        control = LabApiControl(api.url)
        await control.fail("list", "namespaces", code=500, count=1)
        with pytest.raises(ApiException) as info:
            await namespaces(api.kubeconfig_path)
        assert info.value.status == 500
        assert "default" in await namespaces(api.kubeconfig_path)
        plan = await control.snapshot()
        assert {"verb": "list", "resource": "namespaces", "count": 2} in plan["requests"]
        await control.reset()
        assert (await control.snapshot())["requests"] == []
    assert api.stop() is None, "stopped once already by the context manager"


async def test_child_process_stops_when_its_parent_goes_away(tmp_path: Path) -> None:
    async with lab_apiserver_cli("--stop-on-stdin-eof", stdin=asyncio.subprocess.PIPE) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        async with asyncio.timeout(20):
            await process.stdout.readline()
        process.stdin.close()
        async with asyncio.timeout(10):
            assert await process.wait() == 0


async def test_rbac_child_process_issues_tokens_for_other_users(tmp_path: Path) -> None:
    with LabApiServerProcess(kubeconfig_path=tmp_path / "kubeconfig", rbac=True) as api:
        token = await LabApiControl(api.url).token_for("system:serviceaccount:default:lbc")
        viewer = tmp_path / "viewer"
        viewer.write_text(api.kubeconfig_path.read_text().replace("lbc-lab-admin", token))
        with pytest.raises(ApiException) as info:
            await namespaces(viewer)
        assert info.value.status == 403
        assert "default" in await namespaces(api.kubeconfig_path)
