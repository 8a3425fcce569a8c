"""Ledger ConfigMap I/O against the lab API server: LBC format, optimistic concurrency."""

from __future__ import annotations

from typing import Any

import pytest
from lbc.core.errors import ConflictError
from lbc.core.ledger import LedgerAbsent, LedgerPresent
from lbc.core.targets import Target
from lbc.kube.client import CONFIG_MAPS, NAMESPACES, KubeClient
from lbc.kube.ledger import Ledgers

from lbc_lab.apiserver.server import LabApiServer
from tests.unit.core.factories import NS, binding

T1, T2 = Target("10.0.0.1", 8080), Target("10.0.0.2", 8080)


@pytest.fixture
async def kube(lab_apiserver: LabApiServer, kube_api_client: Any) -> KubeClient:
    client = KubeClient(kube_api_client)
    await client.create(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    )
    return client


async def test_ledger_is_written_in_lbc_format_with_labels_and_owner(kube: KubeClient) -> None:
    ledgers = Ledgers(kube)
    web = binding()
    assert await ledgers.read(web) == (LedgerAbsent(), None)
    rv = await ledgers.write(web, frozenset({T2, T1}), resource_version=None, current_value=None)
    obj = await kube.get(CONFIG_MAPS, "aws-lbc-targets-web", NS)
    assert obj["data"] == {"targets": "10.0.0.1:8080,10.0.0.2:8080"}
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "lbc"
    assert obj["metadata"]["ownerReferences"][0]["uid"] == web.uid
    state, stored = await ledgers.read(web)
    assert state == LedgerPresent(frozenset({T1, T2}), rv)
    assert stored == "10.0.0.1:8080,10.0.0.2:8080"
    assert ledgers.written_version(NS, "aws-lbc-targets-web") == rv


async def test_stale_write_is_a_conflict_and_changes_nothing(kube: KubeClient) -> None:
    ledgers = Ledgers(kube)
    web = binding()
    rv = await ledgers.write(web, frozenset({T1}), resource_version=None, current_value=None)
    await ledgers.write(
        web, frozenset({T1, T2}), resource_version=rv, current_value="10.0.0.1:8080"
    )
    with pytest.raises(ConflictError):
        await ledgers.write(web, frozenset(), resource_version=rv, current_value=None)
    state, _ = await ledgers.read(web)
    assert isinstance(state, LedgerPresent)
    assert state.targets == {T1, T2}


async def test_unchanged_bytes_are_not_written_and_delete_tolerates_absence(
    kube: KubeClient,
) -> None:
    ledgers = Ledgers(kube)
    web = binding()
    rv = await ledgers.write(web, frozenset({T1}), resource_version=None, current_value=None)
    same = await ledgers.write(
        web, frozenset({T1}), resource_version=rv, current_value="10.0.0.1:8080"
    )
    assert same == rv
    await ledgers.delete(web, resource_version=rv)
    await ledgers.delete(web, resource_version=None)
    assert (await ledgers.read(web))[0] == LedgerAbsent()


async def test_a_ledger_written_by_lbc_predecessor_is_read(kube: KubeClient) -> None:
    # LBC writes an unordered set, no labels, no owner.
    await kube.create(
        CONFIG_MAPS,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "aws-lbc-targets-web", "namespace": NS},
            "data": {"targets": "10.0.0.2:8080,10.0.0.1:8080"},
        },
    )
    state, _ = await Ledgers(kube).read(binding())
    assert isinstance(state, LedgerPresent)
    assert state.targets == {T1, T2}
