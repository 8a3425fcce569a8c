"""The lab holds 100,000 pods and still answers pages, lookups and watches promptly."""

from __future__ import annotations

import time
from typing import Any

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
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    pods = lab_apiserver.type_of("v1", "Pod")
    with lab_apiserver.bulk():
        for i in range(PODS):
            lab_apiserver.objects.create(pods, "default", pod(i), keep_status=True)
    assert lab_apiserver.store.count("pods") == PODS
    core = client.CoreV1Api(kube_api_client)
    started = time.monotonic()
    first = await core.list_namespaced_pod("default", limit=500)
    assert [p.metadata.name for p in first.items[:2]] == ["p-000000", "p-000001"]
    assert first.metadata.remaining_item_count == PODS - 500
    second = await core.list_namespaced_pod(
        "default", limit=500, _continue=first.metadata._continue
    )
    assert second.items[0].metadata.name == "p-000500"
    one = await core.list_namespaced_pod("default", field_selector="metadata.name=p-099999")
    assert [p.status.pod_ip for p in one.items] == ["10.1.134.159"]
    labelled = await core.list_namespaced_pod("default", label_selector="app=a7", limit=50)
    assert len(labelled.items) == 50
    assert time.monotonic() - started < 20, "pages of a large store must stay cheap"
