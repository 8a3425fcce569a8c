"""RBAC enforcement (servers started with rbac=True): Roles, ClusterRoles and their bindings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiServer
from lbc_lab.kube_fixtures import api_client_for

SA = "system:serviceaccount:default:lbc"


@pytest_asyncio.fixture
async def rbac_api() -> AsyncIterator[LabApiServer]:
    async with LabApiServer.running(rbac=True) as api:
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
        for ns in ("default", "other"):
            api.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "c", "namespace": ns},
                }
            )
        yield api


@pytest_asyncio.fixture
async def as_sa(rbac_api: LabApiServer) -> AsyncIterator[client.ApiClient]:
    api_client = await api_client_for(rbac_api.kubeconfig_for(SA))
    try:
        yield api_client
    finally:
        await api_client.close()


def _metadata(name: str, namespace: str) -> dict[str, Any]:
    """Metadata of ``name``, in ``namespace`` unless that is empty (cluster-scoped)."""
    return {"name": name, **({"namespace": namespace} if namespace else {})}


def role(kind: str, name: str, rules: list[dict[str, Any]], namespace: str = "") -> dict[str, Any]:
    meta = _metadata(name, namespace)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "rules": rules,
    }


def binding(
    kind: str, role_kind: str, role_name: str, subject: dict[str, Any], namespace: str = ""
) -> dict[str, Any]:
    meta = _metadata(f"{role_name}-binding", namespace)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": [subject],
    }


SA_SUBJECT = {"kind": "ServiceAccount", "name": "lbc", "namespace": "default"}


async def status_of(call: Any) -> int:
    try:
        await call
    except ApiException as exc:
        return int(exc.status)
    return 200


async def test_a_role_binding_grants_its_verbs_in_its_namespace_only(
    rbac_api: LabApiServer, as_sa: client.ApiClient
) -> None:
    core = client.CoreV1Api(as_sa)
    assert await status_of(core.read_namespaced_config_map("c", "default")) == 403
    rbac_api.create(
        role(
            "Role",
            "reader",
            [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
            "default",
        )
    )
    rbac_api.create(binding("RoleBinding", "Role", "reader", SA_SUBJECT, "default"))
    assert await status_of(core.read_namespaced_config_map("c", "default")) == 200
    assert await status_of(core.list_namespaced_config_map("default")) == 200
    assert await status_of(core.read_namespaced_config_map("c", "other")) == 403
    assert await status_of(core.delete_namespaced_config_map("c", "default")) == 403
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_config_map("c", "default", {"data": {"a": "b"}})
    message = json.loads(info.value.body)["message"]
    assert message == (
        'configmaps "c" is forbidden: User "system:serviceaccount:default:lbc" cannot patch '
        'resource "configmaps" in API group "" in the namespace "default"'
    )


async def test_cluster_role_bindings_grant_everywhere_and_respect_resource_names(
    rbac_api: LabApiServer, as_sa: client.ApiClient
) -> None:
    group = ["coordination.k8s.io"]
    rules = [
        {"apiGroups": group, "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": group, "resources": ["leases"], "verbs": ["get"], "resourceNames": ["lbc"]},
    ]
    rbac_api.create(role("ClusterRole", "lease-holder", rules))
    rbac_api.create(binding("ClusterRoleBinding", "ClusterRole", "lease-holder", SA_SUBJECT))
    leases = client.CoordinationV1Api(as_sa)
    for ns in ("default", "other"):
        assert (
            await status_of(leases.create_namespaced_lease(ns, {"metadata": {"name": "lbc"}}))
            == 200
        )
        assert (
            await status_of(leases.create_namespaced_lease(ns, {"metadata": {"name": "x"}})) == 200
        )
    assert await status_of(leases.read_namespaced_lease("lbc", "other")) == 200
    assert await status_of(leases.read_namespaced_lease("x", "other")) == 403
    assert await status_of(leases.list_namespaced_lease("other")) == 403


async def test_subresources_and_groups_are_matched(
    rbac_api: LabApiServer, as_sa: client.ApiClient
) -> None:
    rbac_api.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": []},
        }
    )
    rbac_api.create(
        role(
            "ClusterRole",
            "status-writer",
            [{"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch"]}],
        )
    )
    group = {
        "kind": "Group",
        "name": "system:serviceaccounts:default",
        "apiGroup": "rbac.authorization.k8s.io",
    }
    rbac_api.create(binding("RoleBinding", "ClusterRole", "status-writer", group, "default"))
    core = client.CoreV1Api(as_sa)
    assert (
        await status_of(
            core.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Running"}})
        )
        == 200
    )
    assert (
        await status_of(
            core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"a": "b"}}})
        )
        == 403
    )


async def test_the_admin_kubeconfig_may_do_everything(rbac_api: LabApiServer) -> None:
    admin = await api_client_for(rbac_api.kubeconfig_path)
    try:
        core = client.CoreV1Api(admin)
        assert await status_of(core.delete_namespaced_config_map("c", "other")) == 200
    finally:
        await admin.close()
