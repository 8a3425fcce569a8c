"""CustomResourceDefinitions: applying one registers its resources with their schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

import lbc_lab.apiserver
from lbc_lab.apiserver import LabApiServer
from tests.integration.apiserver.widgets import GROUP, PLURAL, widget, widget_crd

HEADERS = {"Authorization": "Bearer lbc-lab-admin"}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture
async def widgets(kube_api_client: client.ApiClient) -> client.CustomObjectsApi:
    await client.ApiextensionsV1Api(kube_api_client).create_custom_resource_definition(widget_crd())
    return client.CustomObjectsApi(kube_api_client)


def causes(exc: ApiException) -> list[tuple[str, str]]:
    body: dict[str, Any] = json.loads(exc.body)
    assert (body["code"], body["reason"]) == (422, "Invalid")
    return [(c["field"], c["reason"]) for c in body["details"]["causes"]]


async def test_crd_is_established_and_its_resources_discoverable(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    ext = client.ApiextensionsV1Api(kube_api_client)
    crd = await ext.create_custom_resource_definition(widget_crd())
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd.status.stored_versions == ["v1"]
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for version in ("v1", "v1alpha1"):
            async with session.get(f"{lab_apiserver.url}/apis/{GROUP}/{version}") as r:
                doc = await r.json()
            names = {res["name"]: res for res in doc["resources"]}
            assert names[PLURAL]["kind"] == "Widget"
            assert names[PLURAL]["namespaced"] is True
            assert names[PLURAL]["shortNames"] == ["wd"]
            assert ("widgets/status" in names) == (version == "v1")
        async with session.get(f"{lab_apiserver.url}/apis") as r:
            groups = {g["name"]: g for g in (await r.json())["groups"]}
    assert groups[GROUP]["preferredVersion"]["version"] == "v1"


async def test_every_served_version_serves_the_same_objects(
    widgets: client.CustomObjectsApi,
) -> None:
    await widgets.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, widget("w"))
    old = await widgets.get_namespaced_custom_object(GROUP, "v1alpha1", "default", PLURAL, "w")
    assert old["apiVersion"] == f"{GROUP}/v1alpha1"
    assert old["spec"]["size"] == 3
    with pytest.raises(ApiException) as info:
        await widgets.get_namespaced_custom_object_status(GROUP, "v1alpha1", "default", PLURAL, "w")
    assert info.value.status == 404


async def test_cluster_scoped_crd_serves_cluster_scoped_objects(
    kube_api_client: client.ApiClient,
) -> None:
    await client.ApiextensionsV1Api(kube_api_client).create_custom_resource_definition(
        widget_crd(scope="Cluster")
    )
    custom = client.CustomObjectsApi(kube_api_client)
    body = widget("global")
    del body["metadata"]["namespace"]
    made = await custom.create_cluster_custom_object(GROUP, "v1", PLURAL, body)
    assert "namespace" not in made["metadata"]
    listed = await custom.list_cluster_custom_object(GROUP, "v1", PLURAL)
    assert [o["metadata"]["name"] for o in listed["items"]] == ["global"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"size": "big"}, [("spec.size", "FieldValueTypeInvalid")]),
        ({"size": 3, "color": "pink"}, [("spec.color", "FieldValueNotSupported")]),
        ({"size": 3, "code": "ABCD"}, [("spec.code", "FieldValueInvalid")]),
        ({"size": 11}, [("spec.size", "FieldValueInvalid")]),
        ({"color": "red"}, [("spec.size", "FieldValueRequired")]),
        ({"size": 3, "tags": ["a", 1]}, [("spec.tags[1]", "FieldValueTypeInvalid")]),
        ({"size": 3, "port": True}, [("spec.port", "FieldValueTypeInvalid")]),
    ],
)
async def test_schema_violations_are_422_naming_the_field(
    widgets: client.CustomObjectsApi, spec: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    body = widget("bad")
    body["spec"] = spec
    with pytest.raises(ApiException) as info:
        await widgets.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, body)
    assert causes(info.value) == expected
    message = json.loads(info.value.body)["message"]
    assert message.startswith(f'Widget.{GROUP} "bad" is invalid: {expected[0][0]}: ')


async def test_int_or_string_accepts_both(widgets: client.CustomObjectsApi) -> None:
    await widgets.create_namespaced_custom_object(
        GROUP, "v1", "default", PLURAL, widget("a", port=80)
    )
    await widgets.create_namespaced_custom_object(
        GROUP, "v1", "default", PLURAL, widget("b", port="http")
    )


async def test_unknown_fields_are_pruned_and_defaults_applied(
    widgets: client.CustomObjectsApi,
) -> None:
    body = widget("w", extra="dropped")
    made = await widgets.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, body)
    assert "extra" not in made["spec"]
    assert made["spec"]["mode"] == "auto"


async def post_widget_with_extra(
    api: LabApiServer, **params: str
) -> tuple[int, list[str], dict[str, Any]]:
    """POST of a widget with a field its schema lacks: status, Warning headers, body."""
    async with (
        aiohttp.ClientSession(headers=HEADERS) as session,
        session.post(
            f"{api.url}/apis/{GROUP}/v1/namespaces/default/{PLURAL}",
            params=params,
            json=widget("w", extra="x"),
        ) as response,
    ):
        return response.status, response.headers.getall("Warning", []), await response.json()


async def test_strict_field_validation_refuses_unknown_fields(
    lab_apiserver: LabApiServer, widgets: client.CustomObjectsApi
) -> None:
    status, _, body = await post_widget_with_extra(lab_apiserver, fieldValidation="Strict")
    assert status == 400
    assert 'unknown field "spec.extra"' in body["message"]


async def test_printer_columns_make_the_table(
    lab_apiserver: LabApiServer, widgets: client.CustomObjectsApi
) -> None:
    await widgets.create_namespaced_custom_object(
        GROUP, "v1", "default", PLURAL, widget("w", size=7, color="red")
    )
    async with (
        aiohttp.ClientSession(headers={**HEADERS, "Accept": TABLE}) as session,
        session.get(f"{lab_apiserver.url}/apis/{GROUP}/v1/namespaces/default/{PLURAL}") as r,
    ):
        table = await r.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Color", "Age"]
    cells = table["rows"][0]["cells"]
    assert cells[:3] == ["w", 7, "red"]
    assert cells[3].endswith("s")
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_deleting_the_crd_removes_its_objects_and_endpoints(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient, widgets: client.CustomObjectsApi
) -> None:
    await widgets.create_namespaced_custom_object(GROUP, "v1", "default", PLURAL, widget("w"))
    await client.ApiextensionsV1Api(kube_api_client).delete_custom_resource_definition(
        f"{PLURAL}.{GROUP}"
    )
    with pytest.raises(ApiException) as info:
        await widgets.list_namespaced_custom_object(GROUP, "v1", "default", PLURAL)
    assert info.value.status == 404
    assert lab_apiserver.store.count(f"{PLURAL}.{GROUP}") == 0


async def test_invalid_crd_is_refused(kube_api_client: client.ApiClient) -> None:
    crd = widget_crd()
    crd["metadata"]["name"] = "wrong.name"
    with pytest.raises(ApiException) as info:
        await client.ApiextensionsV1Api(kube_api_client).create_custom_resource_definition(crd)
    assert ("metadata.name", "FieldValueInvalid") in causes(info.value)


def test_nothing_about_target_group_bindings_is_hard_coded() -> None:
    package = Path(lbc_lab.apiserver.__file__).parent
    for source in package.glob("*.py"):
        text = source.read_text().lower()
        assert "targetgroupbinding" not in text, source
        assert "elbv2.k8s.aws" not in text, source


async def test_pruned_fields_are_reported_in_warning_headers(
    lab_apiserver: LabApiServer, widgets: client.CustomObjectsApi
) -> None:
    status, warnings, _ = await post_widget_with_extra(lab_apiserver)
    assert status == 201
    assert warnings == ['299 - "unknown field \\"spec.extra\\""']
