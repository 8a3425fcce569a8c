"""Fixtures for the kube adapters against the lab API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lbc.kube.client import KubeClient, Resource

CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CRD", namespaced=False)
TGB_CRD = Path(__file__).resolve().parents[3] / "manifests" / "crds" / "targetgroupbindings.yaml"


@pytest.fixture
def kube(kube_api_client: Any) -> KubeClient:
    return KubeClient(kube_api_client, timeout=5.0)


@pytest.fixture
async def tgb_crd(kube: KubeClient) -> dict[str, Any]:
    """The repository's TargetGroupBinding CRD, installed on the lab server."""
    return await kube.create(CRDS, yaml.safe_load(TGB_CRD.read_text()))


def configmap(name: str, ns: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": dict(data),
    }


def pod(name: str, ip: str, node: str = "n1", ns: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "web:1"}]},
        "status": {"podIP": ip, "podIPs": [{"ip": ip}]},
    }
