"""Kubernetes objects the tests write by hand, spelled once: a TargetGroupBinding."""

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
