"""Discovery documents as clients read them."""

from __future__ import annotations

import aiohttp
from kubernetes_asyncio import client

from lbc_lab.apiserver import LabApiServer

HEADERS = {"Authorization": "Bearer lbc-lab-admin"}


async def test_version_and_core_discovery(kube_api_client: client.ApiClient) -> None:
    version = await client.VersionApi(kube_api_client).get_code()
    assert (version.major, version.minor) == ("1", "32")
    core = await client.CoreApi(kube_api_client).get_api_versions()
    assert core.versions == ["v1"]
    resources = await client.CoreV1Api(kube_api_client).get_api_resources()
    by_name = {r.name: r for r in resources.resources}
    assert by_name["pods"].namespaced is True
    assert by_name["pods"].short_names == ["po"]
    assert "pods/status" in by_name
    assert by_name["namespaces"].namespaced is False
    assert set(by_name["configmaps"].verbs) >= {"get", "list", "watch", "create", "patch", "delete"}


async def test_group_discovery_lists_the_built_in_groups(kube_api_client: client.ApiClient) -> None:
    groups = await client.ApisApi(kube_api_client).get_api_versions()
    names = {g.name for g in groups.groups}
    assert names >= {
        "discovery.k8s.io",
        "events.k8s.io",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
    }
    lease_group = await client.CoordinationApi(kube_api_client).get_api_group()
    assert lease_group.preferred_version.group_version == "coordination.k8s.io/v1"


async def test_openapi_v3_lists_patch_operations_with_field_validation(
    lab_apiserver: LabApiServer,
) -> None:
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        async with session.get(f"{lab_apiserver.url}/openapi/v3") as r:
            root = await r.json()
        url = root["paths"]["api/v1"]["serverRelativeURL"]
        async with session.get(lab_apiserver.url + url) as r:
            doc = await r.json()
    patch = doc["paths"]["/api/v1/namespaces/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "",
        "version": "v1",
        "kind": "Namespace",
    }
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


async def test_unknown_resource_is_404(lab_apiserver: LabApiServer) -> None:
    async with (
        aiohttp.ClientSession(headers=HEADERS) as session,
        session.get(f"{lab_apiserver.url}/apis/nope.example.com/v1/things") as r,
    ):
        body = await r.json()
    assert r.status == 404
    assert body["kind"] == "Status"
