"""The raw-JSON client against the lab API server: real Status errors, patches, subresources."""

from __future__ import annotations

from typing import Any

import pytest
from lbc.core.errors import ConflictError, NotFoundError, TransientError
from lbc.kube.client import (
    CONFIG_MAPS,
    PODS,
    TARGET_GROUP_BINDINGS,
    AlreadyExistsError,
    ExpiredError,
    InvalidError,
    KubeClient,
    PatchType,
)
from tests.integration.kube.conftest import configmap, pod
from tests.objects import target_group_binding

from lbc_lab.apiserver import LabApiServer

TG_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"


def binding(name: str) -> dict[str, Any]:
    return target_group_binding(name, TG_ARN, namespace="default", service="web")


async def test_create_get_replace_and_stale_replace_conflicts(kube: KubeClient) -> None:
    created = await kube.create(CONFIG_MAPS, configmap("ledger", targets="a:1"))
    fetched = await kube.get(CONFIG_MAPS, "ledger", "default")
    assert fetched["data"] == {"targets": "a:1"}
    fetched["data"]["targets"] = "a:1,b:2"
    replaced = await kube.replace(CONFIG_MAPS, fetched)
    assert replaced["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    created["data"]["targets"] = "stale"
    with pytest.raises(ConflictError) as caught:
        await kube.replace(CONFIG_MAPS, created)
    assert not isinstance(caught.value, AlreadyExistsError)
    assert (await kube.get(CONFIG_MAPS, "ledger", "default"))["data"]["targets"] == "a:1,b:2"


async def test_creating_a_taken_name_is_already_exists(kube: KubeClient) -> None:
    await kube.create(CONFIG_MAPS, configmap("x"))
    with pytest.raises(AlreadyExistsError):
        await kube.create(CONFIG_MAPS, configmap("x"))


async def test_missing_objects_are_not_found(kube: KubeClient) -> None:
    with pytest.raises(NotFoundError):
        await kube.get(CONFIG_MAPS, "nope", "default")
    with pytest.raises(NotFoundError):
        await kube.delete(CONFIG_MAPS, "nope", "default")


async def test_merge_json_and_strategic_patches_apply_as_named(kube: KubeClient) -> None:
    await kube.create(CONFIG_MAPS, configmap("p", a="1", b="2"))
    merged = await kube.patch(
        CONFIG_MAPS, "p", {"data": {"a": None, "c": "3"}}, "default", patch_type=PatchType.MERGE
    )
    assert merged["data"] == {"b": "2", "c": "3"}
    patched = await kube.patch(
        CONFIG_MAPS,
        "p",
        [{"op": "replace", "path": "/data/b", "value": "20"}],
        "default",
        patch_type=PatchType.JSON,
    )
    assert patched["data"] == {"b": "20", "c": "3"}
    await kube.create(PODS, pod("web-0", "10.0.0.1"))
    strategic = await kube.patch(
        PODS,
        "web-0",
        {"metadata": {"labels": {"tier": "front"}}},
        "default",
        patch_type=PatchType.STRATEGIC,
    )
    assert strategic["metadata"]["labels"] == {"app": "web", "tier": "front"}


async def test_status_patch_changes_status_only(kube: KubeClient, tgb_crd: Any) -> None:
    await kube.create(TARGET_GROUP_BINDINGS, binding("web"))
    out = await kube.patch_status(
        TARGET_GROUP_BINDINGS,
        "web",
        {"status": {"observedGeneration": 1}, "spec": {"targetType": "instance"}},
        "default",
    )
    assert out["status"]["observedGeneration"] == 1
    assert out["spec"]["targetType"] == "ip"


async def test_schema_violations_are_invalid_with_causes(kube: KubeClient, tgb_crd: Any) -> None:
    bad = binding("bad")
    bad["spec"]["targetType"] = "lambda"
    with pytest.raises(InvalidError) as caught:
        await kube.create(TARGET_GROUP_BINDINGS, bad)
    assert any("targetType" in cause for cause in caught.value.causes)


async def test_delete_with_a_stale_uid_precondition_is_refused(kube: KubeClient) -> None:
    created = await kube.create(CONFIG_MAPS, configmap("d"))
    with pytest.raises(ConflictError):
        await kube.delete(CONFIG_MAPS, "d", "default", uid="not-the-uid")
    await kube.delete(CONFIG_MAPS, "d", "default", uid=created["metadata"]["uid"])
    with pytest.raises(NotFoundError):
        await kube.get(CONFIG_MAPS, "d", "default")


async def test_injected_server_errors_and_throttling_are_transient(
    kube: KubeClient, lab_apiserver: LabApiServer
) -> None:
    lab_apiserver.faults.fail("get", "configmaps", code=503)
    with pytest.raises(TransientError):
        await kube.get(CONFIG_MAPS, "x", "default")
    lab_apiserver.faults.fail("list", "configmaps", code=429)
    with pytest.raises(TransientError) as caught:
        await kube.list(CONFIG_MAPS, "default")
    assert caught.value.reason == "TooManyRequests"


async def test_a_slow_server_hits_the_call_deadline(
    kube: KubeClient, lab_apiserver: LabApiServer
) -> None:
    lab_apiserver.faults.add_latency(2.0, "get", "configmaps")
    with pytest.raises(TransientError) as caught:
        await kube.get(CONFIG_MAPS, "x", "default", timeout=0.2)
    assert caught.value.reason == "Timeout"


async def test_paginated_list_and_expired_watch(
    kube: KubeClient, lab_apiserver: LabApiServer
) -> None:
    for i in range(5):
        await kube.create(CONFIG_MAPS, configmap(f"c{i}"))
    page = await kube.list(CONFIG_MAPS, "default", limit=2)
    names = [o["metadata"]["name"] for o in page["items"]]
    token = page["metadata"]["continue"]
    while token:
        page = await kube.list(CONFIG_MAPS, "default", limit=2, continue_token=token)
        names += [o["metadata"]["name"] for o in page["items"]]
        token = page["metadata"].get("continue")
    assert [n for n in names if n.startswith("c")] == [f"c{i}" for i in range(5)]
    old_rv = page["metadata"]["resourceVersion"]
    await kube.create(CONFIG_MAPS, configmap("later"))
    lab_apiserver.faults.expire_history()
    with pytest.raises(ExpiredError):
        async for _ in kube.watch(CONFIG_MAPS, resource_version=old_rv, timeout_seconds=5):
            pass
