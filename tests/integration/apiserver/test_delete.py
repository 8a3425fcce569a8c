"""Deletion: finalizers hold the object, DeleteOptions preconditions, namespace cascade."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiServer

MERGE = "application/merge-patch+json"


def cm(
    name: str, namespace: str = "default", finalizers: list[str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}}


async def test_finalizers_hold_the_object_until_removed_then_it_is_deleted(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    lab_apiserver.create(cm("held", finalizers=["lbc.example.com/cleanup"]))
    start = str(lab_apiserver.store.rv)
    events: list[tuple[str, Any]] = []

    async def consume() -> None:
        async with watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=5
        ) as stream:
            async for event in stream:
                events.append((event["type"], event["object"]))
                if event["type"] == "DELETED":
                    return

    watcher = asyncio.create_task(consume())
    _, code, _ = await core.delete_namespaced_config_map_with_http_info("held", "default")
    assert code == 202, "a delete held by finalizers is accepted, not done"
    held = await core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_config_map(
            "held",
            "default",
            {"metadata": {"finalizers": ["lbc.example.com/cleanup", "new/one"]}},
            _content_type=MERGE,
        )
    assert info.value.status == 422
    await core.patch_namespaced_config_map(
        "held", "default", {"metadata": {"finalizers": None}}, _content_type=MERGE
    )
    async with asyncio.timeout(5):
        await watcher
    with pytest.raises(ApiException) as gone:
        await core.read_namespaced_config_map("held", "default")
    assert gone.value.status == 404
    assert [t for t, _ in events] == ["MODIFIED", "DELETED"]
    assert events[0][1].metadata.deletion_timestamp is not None


async def test_delete_without_finalizers_is_immediate(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    await core.create_namespaced_config_map("default", cm("x"))
    _, code, _ = await core.delete_namespaced_config_map_with_http_info("x", "default")
    assert code == 200
    with pytest.raises(ApiException) as info:
        await core.delete_namespaced_config_map("x", "default")
    assert info.value.status == 404


async def test_delete_preconditions_are_honoured(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    made = await core.create_namespaced_config_map("default", cm("x"))
    await core.patch_namespaced_config_map("x", "default", {"data": {"a": "1"}})
    stale = client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=made.metadata.resource_version)
    )
    with pytest.raises(ApiException) as info:
        await core.delete_namespaced_config_map("x", "default", body=stale)
    assert info.value.status == 409
    assert "Precondition failed: ResourceVersion in precondition" in info.value.body
    wrong_uid = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid"))
    with pytest.raises(ApiException) as info:
        await core.delete_namespaced_config_map("x", "default", body=wrong_uid)
    assert info.value.status == 409
    assert "Precondition failed: UID in precondition" in info.value.body
    right = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=made.metadata.uid))
    await core.delete_namespaced_config_map("x", "default", body=right)


async def test_deleting_a_namespace_deletes_its_contents_after_finalizers(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    await core.create_namespace({"metadata": {"name": "team"}})
    await core.create_namespaced_config_map("team", cm("plain", "team"))
    await core.create_namespaced_config_map("team", cm("held", "team", ["x/y"]))
    await core.delete_namespace("team")
    terminating = await core.read_namespace("team")
    assert terminating.status.phase == "Terminating"
    with pytest.raises(ApiException) as info:
        await core.create_namespaced_config_map("team", cm("late", "team"))
    assert info.value.status == 403
    left = await core.list_namespaced_config_map("team")
    assert [c.metadata.name for c in left.items] == ["held"]
    await core.patch_namespaced_config_map(
        "held", "team", {"metadata": {"finalizers": None}}, _content_type=MERGE
    )
    with pytest.raises(ApiException) as gone:
        await core.read_namespace("team")
    assert gone.value.status == 404


async def test_delete_collection_removes_matching_objects(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        await core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"app": app}}}
        )
    await core.delete_collection_namespaced_config_map("default", label_selector="app=x")
    left = await core.list_namespaced_config_map("default")
    assert [c.metadata.name for c in left.items] == ["c"]
