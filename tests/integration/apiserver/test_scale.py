"""The lab holds 100,000 pods and answers pages and lookups reading only what they serve.

The cost is counted in objects read from the store, not timed: what a page takes in seconds is
a benchmark's figure (``tests/perf/bench_apiserver.py``).
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from lbc_lab.apiserver import LabApiServer

PODS = 100_000


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"p-{i:06d}",
            "namespace": "default",
            "labels": {"app": f"a{i % 100}"},
        },
        "spec": {"nodeName": f"n{i % 50}", "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running", "podIP": f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"},
    }


async def test_a_hundred_thousand_pods_are_held_and_served(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    pods = lab_apiserver.type_of("v1", "Pod")
    with lab_apiserver.bulk():
        for i in range(PODS):
            lab_apiserver.objects.create(pods, "default", pod(i), keep_status=True)
    assert lab_apiserver.store.count("pods") == PODS
    store_get = lab_apiserver.store.get
    reads: list[str] = []

    def counted(storage: str, namespace: str, name: str) -> Any:
        reads.append(name)
        return store_get(storage, namespace, name)

    monkeypatch.setattr(lab_apiserver.store, "get", counted)

    async def read(request: Any) -> tuple[Any, int]:
        reads.clear()
        return await request, len(reads)

    core = client.CoreV1Api(kube_api_client)
    first, cost = await read(core.list_namespaced_pod("default", limit=500))
    assert [p.metadata.name for p in first.items[:2]] == ["p-000000", "p-000001"]
    assert first.metadata.remaining_item_count == PODS - 500
    assert cost == 500
    second, cost = await read(
        core.list_namespaced_pod("default", limit=500, _continue=first.metadata._continue)
    )
    assert second.items[0].metadata.name == "p-000500"
    assert cost == 500
    one, cost = await read(
        core.list_namespaced_pod("default", field_selector="metadata.name=p-099999")
    )
    assert [p.status.pod_ip for p in one.items] == ["10.1.134.159"]
    assert cost == 1
    labelled, cost = await read(
        core.list_namespaced_pod("default", label_selector="app=a7", limit=50)
    )
    assert len(labelled.items) == 50
    # Every hundredth pod matches: the page reads up to its fiftieth match, not the store.
    assert cost == 49 * 100 + 8
