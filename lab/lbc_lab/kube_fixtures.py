"""pytest fixtures for the lab Kubernetes API server (a plugin loaded by the root conftest.py).

- ``lab_apiserver`` (function): a fresh ``LabApiServer`` on a free 127.0.0.1 port, stopped
  after the test; state never leaks between tests (starting one takes a few milliseconds).
- ``lab_kubeconfig`` (function): the path of that server's kubeconfig (kubectl and
  kubernetes_asyncio both accept it).
- ``kube_api_client`` (function): a kubernetes_asyncio ``ApiClient`` for that server, closed
  after the test.

Usage::

    async def test_something(lab_apiserver: LabApiServer, kube_api_client: ApiClient) -> None:
        core = client.CoreV1Api(kube_api_client)
        await core.create_namespaced_config_map("default", {...})
        lab_apiserver.faults.fail("list", "configmaps", code=500)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from lbc_lab.apiserver.server import LabApiServer


@pytest_asyncio.fixture
async def lab_apiserver() -> AsyncIterator[LabApiServer]:
    async with LabApiServer.running() as api:
        yield api


@pytest_asyncio.fixture
async def lab_kubeconfig(lab_apiserver: LabApiServer) -> Path:
    return lab_apiserver.kubeconfig_path


async def api_client_for(kubeconfig: Path) -> Any:
    """A kubernetes_asyncio ApiClient configured from ``kubeconfig`` (caller closes it)."""
    from kubernetes_asyncio import client, config  # noqa: PLC0415 - only tests pay the import

    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration=configuration)


@pytest_asyncio.fixture
async def kube_api_client(lab_kubeconfig: Path) -> AsyncIterator[Any]:
    api_client = await api_client_for(lab_kubeconfig)
    try:
        yield api_client
    finally:
        await api_client.close()
