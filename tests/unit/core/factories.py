"""Builders of core values for the core's tests: small, explicit, defaults a cluster would have."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lbc.core.binding import Binding, parse_binding
from lbc.core.desired import DesiredSet, DesiredTarget, Resolution
from lbc.core.objects import (
    TRUE,
    EndpointSliceView,
    EndpointView,
    NodeView,
    PodCondition,
    PodView,
    ServicePortView,
    ServiceView,
    SlicePort,
    Taint,
    gate_type,
)
from lbc.core.targets import HealthState, Target, TargetHealth

NS = "shop"
ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"


def binding_obj(
    name: str = "web",
    *,
    target_type: str | None = "ip",
    multi_cluster: bool = False,
    port: int | str = 80,
    deleting: bool = False,
    finalizers: Iterable[str] = ("elbv2.k8s.aws/resources",),
    checkpoint: str | None = None,
    **spec_extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"targetGroupARN": ARN, "serviceRef": {"name": "web", "port": port}}
    if target_type is not None:
        spec["targetType"] = target_type
    if multi_cluster:
        spec["multiClusterTargetGroup"] = True
    spec.update(spec_extra)
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NS,
        "uid": "uid-" + name,
        "generation": 1,
        "resourceVersion": "7",
        "finalizers": list(finalizers),
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-24T10:00:00Z"
    if checkpoint is not None:
        meta["annotations"] = {"elbv2.k8s.aws/checkpoint": checkpoint}
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": meta,
        "spec": spec,
    }


def binding(name: str = "web", **kwargs: Any) -> Binding:
    return parse_binding(binding_obj(name, **kwargs))


def pod(
    name: str,
    ip: str,
    *,
    node: str = "node-a",
    created_ms: int = 1_700_000_000_000,
    gates: Iterable[str] = (),
    containers_ready: bool = True,
    conditions: Iterable[PodCondition] = (),
) -> PodView:
    return PodView(
        namespace=NS,
        name=name,
        uid="uid-" + name,
        ip=ip,
        node_name=node,
        created_ms=created_ms,
        readiness_gates=tuple(gates),
        containers_ready=containers_ready,
        gate_conditions=tuple(conditions),
    )


def gated_pod(name: str, ip: str, binding_name: str = "web", **kwargs: Any) -> PodView:
    return pod(name, ip, gates=(gate_type(binding_name),), **kwargs)


def node(
    name: str,
    instance: str | None = None,
    *,
    ready: str = TRUE,
    labels: Mapping[str, str] | None = None,
    provider_id: str | None = None,
    taints: Iterable[Taint] = (),
    created_ms: int = 1_600_000_000_000,
) -> NodeView:
    pid = (
        provider_id if provider_id is not None else f"aws:///eu-west-1a/{instance or 'i-0' + name}"
    )
    return NodeView(
        name=name,
        labels=dict(labels or {}),
        provider_id=pid,
        ready=ready,
        created_ms=created_ms,
        taints=tuple(taints),
    )


def service(
    *,
    type: str = "ClusterIP",
    name: str = "web",
    port: int = 80,
    port_name: str = "http",
    target_port: int | str = 8080,
    node_port: int | None = None,
) -> ServiceView:
    return ServiceView(
        namespace=NS,
        name=name,
        type=type,
        ports=(ServicePortView(port_name, port, target_port, node_port),),
        selector={"app": name},
    )


def endpoint(
    pod_view: PodView | None,
    ip: str | None = None,
    *,
    ready: bool | None = True,
    terminating: bool | None = False,
    node: str | None = None,
) -> EndpointView:
    return EndpointView(
        addresses=(ip or (pod_view.ip if pod_view else "10.9.9.9"),),
        ready=ready,
        serving=ready,
        terminating=terminating,
        pod=(pod_view.namespace, pod_view.name) if pod_view else None,
        node_name=node if node is not None else (pod_view.node_name if pod_view else ""),
    )


def endpoint_slice(
    endpoints: Iterable[EndpointView],
    *,
    name: str = "web-abc",
    service_name: str = "web",
    address_type: str = "IPv4",
    port_name: str = "http",
    port: int | None = 8080,
) -> EndpointSliceView:
    return EndpointSliceView(
        namespace=NS,
        name=name,
        service_name=service_name,
        address_type=address_type,
        ports=(SlicePort(port_name, port),),
        endpoints=tuple(endpoints),
    )


def lookup(pods: Iterable[PodView]) -> Any:
    table = {(p.namespace, p.name): p for p in pods}
    return lambda ns, name: table.get((ns, name))


def health(state: HealthState = HealthState.HEALTHY, reason: str = "") -> TargetHealth:
    return TargetHealth(state, reason, "")


def t(identity: str) -> Target:
    return Target.parse(identity)


def targets(*identities: str) -> frozenset[Target]:
    return frozenset(Target.parse(i) for i in identities)


def desired_of(*identities: str, pods: Mapping[str, PodView] | None = None) -> DesiredSet:
    """A resolved desired set; ``pods`` maps identities to the pod behind them."""
    table = {}
    for identity in identities:
        target = Target.parse(identity)
        backing = (pods or {}).get(identity)
        table[target] = DesiredTarget(target, 1_700_000_000_000, "node-a", backing)
    return DesiredSet(Resolution.RESOLVED, table)


def observed(
    healthy: Iterable[str] = (), draining: Iterable[str] = ()
) -> dict[Target, TargetHealth]:
    out = {Target.parse(i): health() for i in healthy}
    out.update({Target.parse(i): health(HealthState.DRAINING) for i in draining})
    return out
