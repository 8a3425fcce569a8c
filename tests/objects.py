"""Kubernetes objects the tests write by hand, spelled once: a TargetGroupBinding, a Service."""

from __future__ import annotations

from typing import Any


def target_group_binding(
    name: str,
    arn: str,
    *,
    namespace: str,
    service: str,
    port: int | str = 80,
    target_type: str = "ip",
    multi_cluster: bool | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """``multi_cluster=None`` leaves the field out, as a user who never heard of it would."""
    body: dict[str, Any] = {"targetGroupARN": arn, "targetType": target_type}
    if multi_cluster is not None:
        body["multiClusterTargetGroup"] = multi_cluster
    body["serviceRef"] = {"name": service, "port": port}
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {**body, **spec},
    }


def service(
    name: str,
    *,
    namespace: str,
    target_port: int = 8080,
    node_port: int | None = None,
    headless: bool = False,
) -> dict[str, Any]:
    """A Service selecting ``app=<name>`` with one TCP port ``http`` 80.

    ``node_port`` makes it a NodePort Service on that port; ``headless`` a ClusterIP one with
    no cluster IP (the daemon never reads one, and the lab allocates one by scanning every
    Service, which thousands of benchmark Services would make quadratic).
    """
    port: dict[str, Any] = {
        "name": "http",
        "port": 80,
        "targetPort": target_port,
        "protocol": "TCP",
    }
    spec: dict[str, Any] = {"type": "ClusterIP", "selector": {"app": name}, "ports": [port]}
    if node_port is not None:
        spec["type"] = "NodePort"
        port["nodePort"] = node_port
    if headless:
        spec["clusterIP"] = "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
