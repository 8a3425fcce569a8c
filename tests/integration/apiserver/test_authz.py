"""The authorization hook: a plugged-in authorizer decides, bearer tokens name the user."""

from __future__ import annotations

import json

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiServer
from lbc_lab.apiserver.authz import RequestAttributes
from lbc_lab.kube_fixtures import api_client_for


def read_only(attrs: RequestAttributes) -> bool:
    return attrs.user == "lab-admin" or attrs.verb in ("get", "list", "watch")


async def test_a_denied_request_is_403_with_the_real_message() -> None:
    async with LabApiServer.running(authorizer=read_only, tokens={"t-viewer": "viewer"}) as api:
        api.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "default"},
            }
        )
        kubeconfig = api.kubeconfig_path.read_text().replace("lbc-lab-admin", "t-viewer")
        viewer_config = api.kubeconfig_path.with_name("viewer")
        viewer_config.write_text(kubeconfig)
        viewer = await api_client_for(viewer_config)
        try:
            core = client.CoreV1Api(viewer)
            await core.read_namespaced_config_map("c", "default")
            with pytest.raises(ApiException) as info:
                await core.delete_namespaced_config_map("c", "default")
        finally:
            await viewer.close()
    body = json.loads(info.value.body)
    assert (info.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'configmaps "c" is forbidden: User "viewer" cannot delete resource "configmaps" in API '
        'group "" in the namespace "default"'
    )
