"""Object semantics through kubernetes_asyncio: identity, versions, status, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiServer
from tests.integration.apiserver.widgets import GROUP, PLURAL, widget, widget_crd

MERGE = "application/merge-patch+json"

WIDGET_W = (GROUP, "v1", "default", PLURAL, "w")  # how the custom-object API names widget w


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def cm(name: str, namespace: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


async def test_create_assigns_uid_timestamp_and_increasing_versions(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    first = await core.create_namespaced_config_map("default", cm("a"))
    second = await core.create_namespaced_config_map("default", cm("b"))
    assert first.metadata.uid
    assert second.metadata.uid
    assert first.metadata.uid != second.metadata.uid
    assert first.metadata.creation_timestamp is not None
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    listed = await core.list_namespaced_config_map("default")
    assert int(listed.metadata.resource_version) >= int(second.metadata.resource_version)


async def test_create_answers_201_and_duplicate_answers_409_already_exists(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    _, code, _ = await core.create_namespaced_config_map_with_http_info("default", cm("a"))
    assert code == 201
    with pytest.raises(ApiException) as info:
        await core.create_namespaced_config_map("default", cm("a"))
    body = status_of(info.value)
    assert info.value.status == 409
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "a" already exists'
    assert body["details"] == {"name": "a", "kind": "configmaps"}


async def test_missing_object_is_404_with_status(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    with pytest.raises(ApiException) as info:
        await core.read_namespaced_config_map("nope", "default")
    body = status_of(info.value)
    assert (info.value.status, body["reason"]) == (404, "NotFound")
    assert body["message"] == 'configmaps "nope" not found'


async def test_generate_name_makes_a_unique_name(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    body = cm("")
    body["metadata"] = {"generateName": "ledger-"}
    one = await core.create_namespaced_config_map("default", body)
    two = await core.create_namespaced_config_map("default", body)
    assert one.metadata.name.startswith("ledger-")
    assert len(one.metadata.name) == len("ledger-") + 5
    assert one.metadata.name != two.metadata.name


async def test_invalid_name_is_422_naming_metadata_name(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    with pytest.raises(ApiException) as info:
        await core.create_namespaced_config_map("default", cm("Not_Valid"))
    body = status_of(info.value)
    assert (info.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"].startswith('ConfigMap "Not_Valid" is invalid: metadata.name: Invalid')
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert body["details"]["causes"][0]["reason"] == "FieldValueInvalid"


async def test_namespaced_object_needs_an_existing_namespace(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    with pytest.raises(ApiException) as info:
        await core.create_namespaced_config_map("ghost", cm("a", namespace="ghost"))
    body = status_of(info.value)
    assert info.value.status == 404
    assert body["message"] == 'namespaces "ghost" not found'


async def test_put_with_stale_resource_version_is_409_conflict(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    created = await core.create_namespaced_config_map("default", cm("x", k="1"))
    fresh = await core.replace_namespaced_config_map(
        "x",
        "default",
        {
            **cm("x", k="2"),
            "metadata": {"name": "x", "resourceVersion": created.metadata.resource_version},
        },
    )
    assert int(fresh.metadata.resource_version) > int(created.metadata.resource_version)
    with pytest.raises(ApiException) as info:
        await core.replace_namespaced_config_map(
            "x",
            "default",
            {
                **cm("x", k="3"),
                "metadata": {"name": "x", "resourceVersion": created.metadata.resource_version},
            },
        )
    body = status_of(info.value)
    assert (info.value.status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "x": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


async def test_noop_update_keeps_the_resource_version(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    created = await core.create_namespaced_config_map("default", cm("x", k="1"))
    again = await core.patch_namespaced_config_map("x", "default", {"data": {"k": "1"}})
    assert again.metadata.resource_version == created.metadata.resource_version


async def test_generation_counts_spec_changes_only(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(kube_api_client)
    ext = client.ApiextensionsV1Api(kube_api_client)
    await ext.create_custom_resource_definition(widget_crd())
    made = await custom.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, widget("w"))
    assert made["metadata"]["generation"] == 1
    labelled = await custom.patch_namespaced_custom_object(
        *WIDGET_W, {"metadata": {"labels": {"a": "b"}}}, _content_type=MERGE
    )
    assert labelled["metadata"]["generation"] == 1
    status = await custom.patch_namespaced_custom_object_status(
        *WIDGET_W, {"status": {"ready": True}}, _content_type=MERGE
    )
    assert status["metadata"]["generation"] == 1
    resized = await custom.patch_namespaced_custom_object(
        *WIDGET_W, {"spec": {"size": 4}}, _content_type=MERGE
    )
    assert resized["metadata"]["generation"] == 2


async def test_status_subresource_is_kept_apart_from_the_main_resource(
    kube_api_client: client.ApiClient,
) -> None:
    custom = client.CustomObjectsApi(kube_api_client)
    await client.ApiextensionsV1Api(kube_api_client).create_custom_resource_definition(widget_crd())
    body = widget("w")
    body["status"] = {"ready": True}
    made = await custom.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, body)
    assert "status" not in made, "status given on create must be dropped"
    made = await custom.patch_namespaced_custom_object_status(
        *WIDGET_W, {"status": {"ready": True}, "spec": {"size": 9}}, _content_type=MERGE
    )
    assert made["status"] == {"ready": True}
    assert made["spec"]["size"] == 3, "a status write changed the spec"
    made = await custom.patch_namespaced_custom_object(
        *WIDGET_W, {"status": {"ready": False}, "spec": {"size": 5}}, _content_type=MERGE
    )
    assert made["status"] == {"ready": True}, "a main-resource write changed the status"
    assert made["spec"]["size"] == 5


async def test_direct_store_access_goes_through_the_same_rules(lab_apiserver: LabApiServer) -> None:
    made = lab_apiserver.create(cm("direct", k="v"))
    assert made["metadata"]["uid"]
    assert lab_apiserver.get("v1", "ConfigMap", "direct", "default") == made
