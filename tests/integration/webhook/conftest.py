"""Fixtures: a CA, a serving certificate directory, and a running webhook server."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from lbc.webhook.certs import ServingCertificate
from lbc.webhook.server import WebhookServer

from lbc_lab.scenario import eventually
from tests.integration.webhook.pki import Authority
from tests.unit.webhook.fakes import Cluster, FakeGroups


@dataclass
class Running:
    server: WebhookServer
    certificate: ServingCertificate
    authority: Authority
    cert_dir: Path
    cluster: Cluster
    groups: FakeGroups

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.authority.pem.decode())


@pytest.fixture
def authority() -> Authority:
    return Authority.create()


@pytest_asyncio.fixture
async def webhook(authority: Authority, tmp_path: Path) -> AsyncIterator[Running]:
    cert_dir = tmp_path / "certs"
    authority.write_serving(cert_dir)
    certificate = ServingCertificate(cert_dir, period=0.05)
    cluster, groups = Cluster(), FakeGroups()
    server = WebhookServer(cluster.caches, groups, certificate, addr="127.0.0.1:0", budget=0.5)
    # A task of its own: fixture set-up and teardown run in different tasks.
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _bound(server), timeout=5, what="the webhook server bound")
    try:
        yield Running(server, certificate, authority, cert_dir, cluster, groups)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _bound(server: WebhookServer) -> bool:
    return server.port != 0
