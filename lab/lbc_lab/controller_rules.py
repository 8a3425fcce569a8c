"""What a cluster's own controllers would write, as pure functions of the objects they read.

:mod:`lbc_lab.controllers` watches a lab API server and calls these to decide its writes; they
take and return plain JSON objects and do no I/O, so each rule is testable alone. The rules
follow the real controllers closely enough for lbc (which reads Nodes, Pods, Services and
EndpointSlices) and for kubectl's ``rollout status`` / ``wait``:

- Deployment (the ReplicaSet layer folded in): pods are named
  ``<deployment>-<template hash>-<5 chars>``, carry the template's labels plus
  ``pod-template-hash`` and an ownerReference to the Deployment; a pod of an older template is
  replaced (recreate, not a surge); the status counts replicas, updated, ready and available
  pods with the conditions ``Available`` and ``Progressing``.
- Kubelet: a scheduled pod is ``Running`` with an IP from the cluster's pod CIDR; ``Ready`` is
  containers ready AND every readiness gate's condition ``True`` (lbc patches those).
- EndpointSlice controller: label ``kubernetes.io/service-name``, managed-by
  ``endpointslice-controller.k8s.io``, endpoints grouped by their resolved ports (a named
  targetPort resolves per pod), at most 100 endpoints per slice, conditions ready / serving /
  terminating, ``targetRef`` and ``nodeName``.

Approximation: pods are owned by the Deployment itself, not by a ReplicaSet (nothing in lbc
reads ReplicaSets, and the lab API server does not serve them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from lbc.core.binding import InvalidBindingError, LabelSelector, parse_selector

Obj = dict[str, Any]

SLICE_CAPACITY = 100
MANAGED_BY = "endpointslice-controller.k8s.io"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
TEMPLATE_HASH_LABEL = "pod-template-hash"
# Condition types the lab's kubelet owns; every other condition (readiness gates) is left alone.
KUBELET_CONDITIONS = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(_meta(obj).get("labels") or {})


def template_hash(template: Mapping[str, Any]) -> str:
    """A stable short hash of a pod template (what ``pod-template-hash`` stands for)."""
    digest = hashlib.sha256(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return digest[:10]


def deployment_selector(deployment: Mapping[str, Any]) -> LabelSelector | None:
    """The Deployment's selector, or None when it is missing or malformed (it then makes no pod)."""
    raw = (deployment.get("spec") or {}).get("selector")
    if not isinstance(raw, Mapping) or not raw:
        return None
    try:
        return parse_selector(raw, "spec.selector")
    except InvalidBindingError:
        return None


def wanted_replicas(deployment: Mapping[str, Any]) -> int:
    raw = (deployment.get("spec") or {}).get("replicas", 1)
    return raw if isinstance(raw, int) and raw >= 0 else 1


def owned_by(pod: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = _meta(owner).get("uid")
    return any(ref.get("uid") == uid for ref in _meta(pod).get("ownerReferences") or ())


def owner_uids(pod: Mapping[str, Any], kind: str) -> list[str]:
    return [
        ref.get("uid", "")
        for ref in _meta(pod).get("ownerReferences") or ()
        if ref.get("kind") == kind and ref.get("controller")
    ]


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def pod_from_template(deployment: Mapping[str, Any], name: str, node: str) -> Obj:
    """A pod of the Deployment's current template, bound to ``node`` (the scheduler's choice)."""
    meta = _meta(deployment)
    template = (deployment.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    spec = dict(template.get("spec") or {})
    spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace", "default"),
            "labels": {**(tmeta.get("labels") or {}), TEMPLATE_HASH_LABEL: template_hash(template)},
            "annotations": dict(tmeta.get("annotations") or {}),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta.get("name", ""),
                    "uid": meta.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def _condition(conds: Iterable[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in conds if c.get("type") == kind), None)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    ready = _condition(status.get("conditions") or (), "Ready")
    return ready is not None and ready.get("status") == "True"


def gates_true(pod: Mapping[str, Any]) -> bool:
    """Every readiness gate of the pod has its condition ``True`` (the kubelet's rule)."""
    conds = (pod.get("status") or {}).get("conditions") or ()
    for gate in (pod.get("spec") or {}).get("readinessGates") or ():
        cond = _condition(conds, gate.get("conditionType", ""))
        if cond is None or cond.get("status") != "True":
            return False
    return True


def kubelet_status(pod: Mapping[str, Any], pod_ip: str, host_ip: str, now: str) -> Obj | None:
    """The status patch the kubelet would write, or None when the pod already shows it.

    Only the kubelet's own fields and conditions are in the patch (a strategic merge by
    condition type keeps lbc's readiness-gate conditions); ``lastTransitionTime`` moves only
    when a condition's status changes.
    """
    status = pod.get("status") or {}
    ready = "True" if gates_true(pod) else "False"
    wanted = {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True"}
    wanted["Ready"] = ready
    conds = status.get("conditions") or ()
    current = {c.get("type"): c.get("status") for c in conds}
    same = (
        status.get("phase") == "Running"
        and status.get("podIP") == pod_ip
        and status.get("hostIP") == host_ip
        and all(current.get(k) == v for k, v in wanted.items())
    )
    if same:
        return None
    patch_conds = []
    for kind, value in wanted.items():
        old = _condition(conds, kind)
        moved = old is None or old.get("status") != value
        since = now if moved or old is None else old.get("lastTransitionTime", now)
        patch_conds.append({"type": kind, "status": value, "lastTransitionTime": since})
    containers = (pod.get("spec") or {}).get("containers") or ()
    return {
        "phase": "Running",
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "hostIP": host_ip,
        "startTime": status.get("startTime", now),
        "conditions": patch_conds,
        "containerStatuses": [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": status.get("startTime", now)}},
            }
            for c in containers
        ],
    }


def deployment_status(deployment: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Obj:
    """The status a Deployment would show for its (non-terminating) ``pods``."""
    spec = deployment.get("spec") or {}
    current = template_hash(spec.get("template") or {})
    want = wanted_replicas(deployment)
    updated = [p for p in pods if labels_of(p).get(TEMPLATE_HASH_LABEL) == current]
    ready = [p for p in pods if pod_ready(p)]
    available = [p for p in updated if pod_ready(p)]
    complete = len(updated) == want and len(pods) == want and len(available) == want
    return {
        "observedGeneration": _meta(deployment).get("generation", 1),
        "replicas": len(pods),
        "updatedReplicas": len(updated),
        "readyReplicas": len(ready),
        "availableReplicas": len(available),
        "conditions": [
            {
                "type": "Available",
                "status": "True" if len(available) >= want else "False",
                "reason": "MinimumReplicasAvailable"
                if len(available) >= want
                else "MinimumReplicasUnavailable",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
            },
        ],
    }


def status_differs(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Compare Deployment statuses on what they say, ignoring condition timestamps."""

    def key(status: Mapping[str, Any]) -> tuple[Any, ...]:
        conds = sorted(
            (c.get("type"), c.get("status"), c.get("reason"))
            for c in status.get("conditions") or ()
        )
        counts = tuple(
            status.get(k, 0)
            for k in (
                "observedGeneration",
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
            )
        )
        return (counts, conds)

    return key(current) != key(wanted)


def _container_port(pod: Mapping[str, Any], name: str) -> tuple[int, str] | None:
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") == name and isinstance(port.get("containerPort"), int):
                return port["containerPort"], port.get("protocol", "TCP")
    return None


def _pod_ports(
    service: Mapping[str, Any], pod: Mapping[str, Any]
) -> tuple[tuple[str, int, str], ...]:
    """``(port name, number, protocol)`` of each Service port this pod serves."""
    out: list[tuple[str, int, str]] = []
    for sp in (service.get("spec") or {}).get("ports") or ():
        target = sp.get("targetPort", sp.get("port"))
        protocol = sp.get("protocol", "TCP")
        if isinstance(target, str):
            found = _container_port(pod, target)
            if found is None:
                continue  # the pod has no such named port: this Service port skips it
            target = found[0]
        if isinstance(target, int):
            out.append((sp.get("name", ""), target, protocol))
    return tuple(out)


def selects(service: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """A Service selects a pod of its namespace when every selector label matches."""
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector or _meta(pod).get("namespace") != _meta(service).get("namespace"):
        return False
    labels = labels_of(pod)
    return all(labels.get(k) == v for k, v in selector.items())


def endpoint_slices(service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Obj]:
    """The Service's EndpointSlices for the pods that have an IP; names are deterministic."""
    meta = _meta(service)
    name, namespace = meta.get("name", ""), meta.get("namespace", "default")
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], list[Mapping[str, Any]]] = {}
    for pod in sorted(pods, key=lambda p: _meta(p).get("name", "")):
        if not selects(service, pod) or not (pod.get("status") or {}).get("podIP"):
            continue
        groups.setdefault(_pod_ports(service, pod), []).append(pod)
    if not (service.get("spec") or {}).get("selector"):
        return []
    if not groups:
        groups[()] = []  # no endpoints: one placeholder slice, as the real controller keeps
    slices = []
    for ports, members in sorted(groups.items()):
        tag = hashlib.sha256(repr(ports).encode()).hexdigest()[:5]
        for start in range(0, max(len(members), 1), SLICE_CAPACITY):
            chunk = members[start : start + SLICE_CAPACITY]
            slices.append(
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": f"{name}-{tag}{start // SLICE_CAPACITY}",
                        "namespace": namespace,
                        "labels": {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY},
                        "ownerReferences": [
                            {
                                "apiVersion": "v1",
                                "kind": "Service",
                                "name": name,
                                "uid": meta.get("uid", ""),
                                "controller": True,
                                "blockOwnerDeletion": True,
                            }
                        ],
                    },
                    "addressType": "IPv4",
                    "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports],
                    "endpoints": [_endpoint(p, publish) for p in chunk],
                }
            )
    return slices


def _endpoint(pod: Mapping[str, Any], publish_not_ready: bool) -> Obj:
    meta = _meta(pod)
    terminating = is_terminating(pod)
    ready = pod_ready(pod)
    endpoint: Obj = {
        "addresses": [pod["status"]["podIP"]],
        "conditions": {
            "ready": (ready or publish_not_ready) and not terminating,
            "serving": ready,
            "terminating": terminating,
        },
        "targetRef": {
            "kind": "Pod",
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
        },
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
    return endpoint


def slice_differs(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Compare slices on ports, endpoints and labels (not on server-filled metadata)."""
    return (
        current.get("ports") != wanted.get("ports")
        or current.get("endpoints") != wanted.get("endpoints")
        or labels_of(current) != labels_of(wanted)
    )
