"""Builders for inspector tests: clusters as a daemon would leave them, one kubeconfig for all.

Objects are written straight into in-process lab API servers (``LabApiServer.create``), so a
test or benchmark can lay out thousands of pods quickly; the inspector then reads them over
HTTP like any client. The ledger is encoded with the core's codec, as the daemon writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from lbc.core.ledger import DATA_KEY, configmap_name, encode
from lbc.core.targets import Target

from lbc_lab.apiserver.server import LabApiServer
from tests.objects import service

NS = "echoserver"
APP = "echoserver"
POD_PORT = 8080
ROOT = Path(__file__).resolve().parents[3]
CRD_PATH = ROOT / "manifests" / "crds" / "targetgroupbindings.yaml"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def merged_kubeconfig(path: Path, clusters: Mapping[str, Path]) -> Path:
    """One kubeconfig with a context per cluster (``name -> that cluster's kubeconfig``)."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": next(iter(clusters)),
    }
    for name, source in clusters.items():
        one = yaml.safe_load(source.read_text())
        doc["clusters"].append({"name": name, "cluster": one["clusters"][0]["cluster"]})
        doc["users"].append({"name": name, "user": one["users"][0]["user"]})
        doc["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def kubeconfig_to(path: Path, url: str) -> Path:
    """A kubeconfig for a server that is not there (an unreachable cluster)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": url}}],
        "users": [{"name": "gone", "user": {"token": "x"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}],
        "current-context": "gone",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def pod_object(name: str, ip: str, node: str = "node-0") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"app": APP},
            "creationTimestamp": "2026-11-24T10:00:00Z",
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "echoserver:1", "ports": []}],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"},
            ],
        },
    }


def node_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"providerID": "aws:///us-east-1a/i-0123456789abcdef0"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def service_object() -> dict[str, Any]:
    return service(APP, namespace=NS, target_port=POD_PORT)


def slice_object(pods: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{APP}-abcde",
            "namespace": NS,
            "labels": {"kubernetes.io/service-name": APP},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": "node-0",
                "targetRef": {"kind": "Pod", "namespace": NS, "name": name},
            }
            for name, ip in sorted(pods.items())
        ],
    }


def binding_object(arn: str, *, name: str = "web", multi_cluster: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": NS, "finalizers": ["elbv2.k8s.aws/resources"]},
        "spec": {
            "targetGroupARN": arn,
            "targetType": "ip",
            "multiClusterTargetGroup": multi_cluster,
            "serviceRef": {"name": APP, "port": 80},
        },
    }


def ledger_object(binding: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": configmap_name(binding), "namespace": NS},
        "data": {DATA_KEY: value},
    }


def ledger_value(ips: Iterable[str]) -> str:
    return encode(Target(ip, POD_PORT) for ip in ips)


def lay_out(
    api: LabApiServer,
    arn: str,
    pods: Mapping[str, str],
    *,
    ledger: str | None = None,
    with_crd: bool = True,
) -> None:
    """A cluster whose daemon converged: echoserver pods, their slice, a binding, its ledger.

    ``ledger`` overrides the ledger's value (``None``: the pods' targets, as the daemon
    leaves it).
    """
    if with_crd:
        api.create(yaml.safe_load(CRD_PATH.read_text()))
    with api.bulk():
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        api.create(node_object("node-0"))
        for name, ip in pods.items():
            api.create(pod_object(name, ip))
        api.create(service_object())
        api.create(slice_object(pods))
        api.create(binding_object(arn))
        api.create(ledger_object("web", ledger_value(pods.values()) if ledger is None else ledger))


def writes(api: LabApiServer) -> dict[str, int]:
    """The write requests the server answered, by ``"<verb> <resource>"``."""
    return {
        f"{verb} {resource}": n
        for (verb, resource), n in sorted(api.faults.requests.items())
        if verb in WRITE_VERBS and n
    }


def reads(api: LabApiServer) -> dict[str, int]:
    return {
        f"{verb} {resource}": n
        for (verb, resource), n in sorted(api.faults.requests.items())
        if verb not in WRITE_VERBS and n
    }
