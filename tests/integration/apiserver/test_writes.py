"""PATCH flavours and write preconditions through kubernetes_asyncio."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiServer
from tests.integration.apiserver.widgets import GROUP, PLURAL, widget, widget_crd

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "containers": [
                {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "side:1"},
            ]
        },
    }


@pytest.fixture
async def custom(kube_api_client: client.ApiClient) -> client.CustomObjectsApi:
    """The widget CRD installed and one widget ``w`` in ``default``."""
    await client.ApiextensionsV1Api(kube_api_client).create_custom_resource_definition(widget_crd())
    api = client.CustomObjectsApi(kube_api_client)
    await api.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, widget("w"))
    return api


async def test_merge_patch_merges_objects_and_null_deletes(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "m"}, "data": {"keep": "1", "drop": "2"}}
    )
    patched = await core.patch_namespaced_config_map(
        "m", "default", {"data": {"drop": None, "new": "3"}}, _content_type=MERGE
    )
    assert patched.data == {"keep": "1", "new": "3"}


async def test_json_patch_applies_operations_and_failed_test_is_422(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "j"}, "data": {"a": "1"}}
    )
    patched = await core.patch_namespaced_config_map(
        "j",
        "default",
        [
            {"op": "test", "path": "/data/a", "value": "1"},
            {"op": "add", "path": "/data/b", "value": "2"},
            {"op": "replace", "path": "/data/a", "value": "10"},
            {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}},
        ],
    )
    assert patched.data == {"a": "10", "b": "2"}
    assert patched.metadata.labels == {"x": "y"}
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_config_map(
            "j", "default", [{"op": "test", "path": "/data/a", "value": "nope"}]
        )
    assert info.value.status == 422


async def test_strategic_merge_patch_merges_lists_by_key(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    await core.create_namespaced_pod("default", pod("p"))
    patched = await core.patch_namespaced_pod(
        "p",
        "default",
        {
            "spec": {
                "containers": [
                    {"name": "app", "image": "app:2", "ports": [{"containerPort": 8080}]},
                    {"name": "extra", "image": "extra:1"},
                ]
            }
        },
        _content_type=STRATEGIC,
    )
    by_name = {c.name: c for c in patched.spec.containers}
    assert [c.name for c in patched.spec.containers] == ["app", "sidecar", "extra"]
    assert by_name["app"].image == "app:2"
    assert sorted(p.container_port for p in by_name["app"].ports) == [80, 8080]
    status = await core.patch_namespaced_pod_status(
        "p",
        "default",
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        _content_type=STRATEGIC,
    )
    status = await core.patch_namespaced_pod_status(
        "p",
        "default",
        {
            "status": {
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True"},
                ]
            }
        },
        _content_type=STRATEGIC,
    )
    assert {c.type: c.status for c in status.status.conditions} == {
        "Ready": "True",
        "PodScheduled": "True",
    }
    removed = await core.patch_namespaced_pod(
        "p",
        "default",
        {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}},
        _content_type=STRATEGIC,
    )
    assert [c.name for c in removed.spec.containers] == ["app", "extra"]


async def test_service_ports_merge_by_port(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    await core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "svc"},
            "spec": {"ports": [{"port": 80, "targetPort": 8080, "name": "http"}]},
        },
    )
    patched = await core.patch_namespaced_service(
        "svc",
        "default",
        {"spec": {"ports": [{"port": 443, "name": "https"}, {"port": 80, "targetPort": 9090}]}},
        _content_type=STRATEGIC,
    )
    ports = {p.port: p for p in patched.spec.ports}
    assert sorted(ports) == [80, 443]
    assert ports[80].target_port == 9090
    assert ports[80].name == "http"


async def test_strategic_merge_patch_on_a_custom_resource_is_415(
    custom: client.CustomObjectsApi,
) -> None:
    with pytest.raises(ApiException) as info:
        await custom.patch_namespaced_custom_object(
            GROUP, "v1", "default", PLURAL, "w", {"spec": {"size": 2}}, _content_type=STRATEGIC
        )
    assert info.value.status == 415


async def test_resource_version_inside_a_patch_is_a_precondition(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    made = await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "c"}, "data": {}}
    )
    rv = made.metadata.resource_version
    await core.patch_namespaced_config_map(
        "c",
        "default",
        {"metadata": {"resourceVersion": rv}, "data": {"a": "1"}},
        _content_type=MERGE,
    )
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_config_map(
            "c",
            "default",
            {"metadata": {"resourceVersion": rv}, "data": {"a": "2"}},
            _content_type=MERGE,
        )
    assert info.value.status == 409
    assert "the object has been modified" in info.value.body


async def test_server_side_apply_creates_merges_and_records_the_manager(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    applied = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa", "namespace": "default"},
        "data": {"a": "1", "b": "2"},
    }
    created, code, _ = await core.patch_namespaced_config_map_with_http_info(
        "ssa", "default", applied, field_manager="lbc", _content_type=APPLY
    )
    assert code == 201
    assert created.data == {"a": "1", "b": "2"}
    await core.patch_namespaced_config_map(
        "ssa", "default", {"data": {"other": "x"}}, field_manager="someone", _content_type=MERGE
    )
    applied["data"] = {"a": "10"}
    merged = await core.patch_namespaced_config_map(
        "ssa", "default", applied, field_manager="lbc", _content_type=APPLY
    )
    assert merged.data == {"a": "10", "other": "x"}, "fields lbc stopped applying must go"
    managers = {(m.manager, m.operation) for m in merged.metadata.managed_fields}
    assert ("lbc", "Apply") in managers
    assert ("someone", "Update") in managers


async def test_server_side_apply_needs_a_field_manager(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_config_map(
            "x",
            "default",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
            _content_type=APPLY,
        )
    assert info.value.status == 400


async def test_update_of_a_custom_resource_without_resource_version_is_refused(
    custom: client.CustomObjectsApi,
) -> None:
    with pytest.raises(ApiException) as info:
        await custom.replace_namespaced_custom_object(
            GROUP, "v1", "default", PLURAL, "w", widget("w", size=4)
        )
    assert info.value.status == 422
    assert "metadata.resourceVersion" in info.value.body


async def test_server_side_apply_conflicts_unless_forced(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    applied: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "owned", "namespace": "default"},
        "data": {"a": "1"},
    }
    await core.patch_namespaced_config_map(
        "owned", "default", applied, field_manager="lbc", _content_type=APPLY
    )
    await core.patch_namespaced_config_map(
        "owned", "default", {"data": {"a": "2"}}, field_manager="someone", _content_type=MERGE
    )
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_config_map(
            "owned", "default", applied, field_manager="lbc", _content_type=APPLY
        )
    body = json.loads(info.value.body)
    assert (info.value.status, body["reason"]) == (409, "Conflict")
    assert (
        body["message"] == 'Apply failed with 1 conflict: conflict with "someone" using v1: .data.a'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "someone" using v1',
            "field": ".data.a",
        }
    ]
    same = {**applied, "data": {"a": "2"}}
    await core.patch_namespaced_config_map(
        "owned", "default", same, field_manager="lbc", _content_type=APPLY
    )
    forced = await core.patch_namespaced_config_map(
        "owned", "default", applied, field_manager="lbc", force=True, _content_type=APPLY
    )
    assert forced.data == {"a": "1"}
