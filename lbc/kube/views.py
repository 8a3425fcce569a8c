"""Slim projections of raw Kubernetes JSON (as orjson parses it) into the core's frozen views.

The informers call these for every watch event of every pod and node of the cluster, and keep
only their result, so they are written for speed and size: one pass over the fields lbc reads,
no validation beyond what keeps the views well-typed, and ``sys.intern`` on strings that repeat
across thousands of objects (namespaces, node names, gate types, label keys and values).
Nothing here does I/O.

The TargetGroupBinding and ledger projections delegate to the core's parsers
(:func:`lbc.core.binding.parse_binding`, :func:`lbc.core.ledger.ledger_state`) so validation
and the LBC-compatible formats live in one place.
"""

from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import orjson

from lbc.core.binding import Binding, parse_binding
from lbc.core.desired import is_deletion_taint
from lbc.core.ledger import LedgerState, ledger_state
from lbc.core.objects import (
    GATE_PREFIX,
    QUIC_ENABLED_ANNOTATION,
    QUIC_SERVER_ID_ENV,
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
)

_intern = sys.intern
_EMPTY: Mapping[str, Any] = {}

# Readiness-gate lists and gate conditions repeat across the pods of a workload (same gates,
# same ELB reason and message), so equal tuples are shared. Bounded: cleared when it grows past
# what a cluster's distinct combinations could need, so odd messages cannot grow it forever.
_SHARED_MAX = 4096
_T = TypeVar("_T")
_shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _share(value: tuple[_T, ...]) -> tuple[_T, ...]:
    if not value:
        return ()
    found = _shared.get(value)
    if found is not None:
        return found
    if len(_shared) >= _SHARED_MAX:
        _shared.clear()
    _shared[value] = value
    return value


def timestamp_ms(value: str | None) -> int:
    """RFC 3339 timestamp (``2024-05-01T10:00:00Z``) to Unix milliseconds; ``0`` when absent.

    Kubernetes writes whole seconds, so this equals Go's ``CreationTimestamp.UnixMilli()``.
    """
    if not value:
        return 0
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        return 0


# JSON objects arrive as dicts (orjson); checking ``dict`` rather than the ``Mapping`` ABC keeps
# the per-event cost down (an ABC isinstance check costs more than the rest of a field read).
def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else _EMPTY


def _spec(obj: Mapping[str, Any], key: str = "spec") -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else _EMPTY


#: The VPC resource controller's annotation naming a pod's branch ENIs (security groups for pods).
POD_ENI_ANNOTATION = "vpc.amazonaws.com/pod-eni"


def branch_enis(annotations: Mapping[str, Any]) -> tuple[str, ...]:
    """ENI ids of the ``vpc.amazonaws.com/pod-eni`` annotation; ``()`` when absent or malformed.

    The value is a JSON list of objects with an ``eniId``. Anything else means no branch ENI:
    a projection must never raise (it would stop the informer), and the pod then falls back
    to the node ENI, which the networking pass reports if it holds no matching address.
    """
    raw = annotations.get(POD_ENI_ANNOTATION)
    if not raw or not isinstance(raw, str):
        return ()
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ()
    if not isinstance(parsed, list):
        return ()
    ids = []
    for item in parsed:
        eni_id = item.get("eniId") if isinstance(item, dict) else None
        if not isinstance(eni_id, str) or not eni_id:
            return ()
        ids.append(eni_id)
    # Not shared: a branch ENI belongs to one pod, so sharing would only churn the table.
    return tuple(ids)


def named_ports(containers: Any) -> tuple[tuple[str, int, str], ...]:
    """The named container ports of a pod spec as ``(name, port, protocol)``; others skipped.

    Malformed entries are skipped rather than raised on (projections never raise). Only named
    ports are kept: they are all ``spec.networking`` can refer to, and most pods have none.
    """
    if not isinstance(containers, list):
        return ()
    found: list[tuple[str, int, str]] = []
    for container in containers:
        ports = container.get("ports") if isinstance(container, dict) else None
        if not isinstance(ports, list):
            continue
        for port in ports:
            if not isinstance(port, dict):
                continue
            name, number = port.get("name"), port.get("containerPort")
            if not name or not isinstance(name, str) or type(number) is not int:
                continue
            protocol = port.get("protocol") or "TCP"
            if not isinstance(protocol, str):
                continue
            found.append((_intern(name), number, _intern(protocol)))
    return _share(tuple(found))


def quic_server_id(encoded: str) -> str | None:
    """ELBv2's form of a server id (``0x`` + lowercase hex) from its base64 env value."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return "0x" + raw.hex() if raw else None


def quic_server_ids(spec: Mapping[str, Any]) -> tuple[tuple[int, str], ...]:
    """``(container port, server id)`` for each port of each container that carries a server id.

    As LBC reads them: containers and sidecars (init containers with ``restartPolicy:
    Always``), the id from the ``AWS_LBC_QUIC_SERVER_ID`` variable's value. A container with an
    id but no ports contributes ``(0, id)`` so that it can still be the pod's default id.
    """
    containers = list(spec.get("containers") or ())
    containers += [
        c
        for c in spec.get("initContainers") or ()
        if isinstance(c, dict) and c.get("restartPolicy") == "Always"
    ]
    found: list[tuple[int, str]] = []
    for container in containers:
        if not isinstance(container, dict):
            continue
        value = next(
            (
                e.get("value")
                for e in container.get("env") or ()
                if isinstance(e, dict) and e.get("name") == QUIC_SERVER_ID_ENV
            ),
            None,
        )
        server_id = quic_server_id(value) if isinstance(value, str) else None
        if server_id is None:
            continue
        ports = [
            p["containerPort"]
            for p in container.get("ports") or ()
            if isinstance(p, dict) and type(p.get("containerPort")) is int
        ]
        found.extend((port, server_id) for port in ports or [0])
    return tuple(found)


# ``PodView`` is a named tuple: ``pod_view`` builds it with one C call from a tuple in field
# order, where a frozen dataclass's ``__init__`` stored its 13 fields one ``object.__setattr__``
# at a time (about as costly as the rest of the projection), and the informer's comparison of an
# update with the cached view is a C tuple comparison instead of a generated ``__eq__`` building
# two tuples. The import-time check keeps the order below in step with ``PodView``: a field
# added there and not here stops the import instead of shifting every field after it.
_new_view = tuple.__new__
_POD_FIELDS = (
    "namespace",
    "name",
    "uid",
    "ip",
    "node_name",
    "created_ms",
    "readiness_gates",
    "containers_ready",
    "gate_conditions",
    "deleting",
    "branch_enis",
    "named_ports",
    "quic_server_ids",
)
if PodView._fields != _POD_FIELDS:  # pragma: no cover - import guard
    raise ImportError("lbc.kube.views.pod_view does not fill every PodView field in order")

# Creation timestamps never change for a pod and repeat across its updates, and pods of a
# rollout share them: parsing each distinct string once saves a datetime per event. Bounded
# small (cleared when full, like ``_shared``): a cache as large as the cluster's pods would
# cost more memory per pod than the views themselves, for a saving of a fraction of a
# microsecond per event.
_TIMESTAMPS_MAX = 4096
_timestamps: dict[str, int] = {}


def _created_ms(value: str | None) -> int:
    if not value:
        return 0
    found = _timestamps.get(value)
    if found is None:
        if len(_timestamps) >= _TIMESTAMPS_MAX:
            _timestamps.clear()
        found = _timestamps[value] = timestamp_ms(value)
    return found


def _named_ports_of(containers: Any) -> tuple[tuple[str, int, str], ...]:
    """``named_ports`` with a fast answer for the usual pod: no container port has a name."""
    if type(containers) is list:
        for container in containers:
            ports = container.get("ports") if type(container) is dict else None
            if ports:
                for port in ports:
                    if type(port) is not dict or port.get("name"):
                        return named_ports(containers)
        return ()
    return named_ports(containers)


def pod_view(obj: Mapping[str, Any]) -> PodView:
    """The pod's slim view: one pass over the fields lbc reads (see ``PodView``).

    The hottest function of the daemon (every pod event of the cluster), so the field reads
    are inlined and the common shapes (one pod IP, no gates, no annotations lbc reads, no
    named ports) take the shortest path; the result is exactly what the general path gives.
    """
    meta = obj.get("metadata")
    if type(meta) is not dict:
        meta = _EMPTY
    spec = obj.get("spec")
    if type(spec) is not dict:
        spec = _EMPTY
    status = obj.get("status")
    if type(status) is not dict:
        status = _EMPTY
    # The pod's primary IP (the first of ``podIPs``, else ``podIP``): the one its target has.
    ip: Any
    pod_ips = status.get("podIPs")
    if pod_ips:
        if len(pod_ips) == 1 and type(first := pod_ips[0]) is dict:
            ip = first.get("ip") or ""
        else:
            ip = next((p["ip"] for p in pod_ips if isinstance(p, dict) and p.get("ip")), "")
    else:
        ip = status.get("podIP") or ""
    gates = spec.get("readinessGates")
    readiness_gates = (
        _share(tuple(_intern(g["conditionType"]) for g in gates if g.get("conditionType")))
        if gates
        else ()
    )
    containers_ready = False
    gate_conditions: list[PodCondition] | None = None
    for cond in status.get("conditions") or ():
        ctype = cond.get("type", "")
        if ctype == "ContainersReady":
            containers_ready = cond.get("status") == TRUE
        elif ctype.startswith(GATE_PREFIX):
            if gate_conditions is None:
                gate_conditions = []
            gate_conditions.append(
                PodCondition(
                    _intern(ctype),
                    _intern(cond.get("status", "")),
                    _intern(cond.get("reason") or ""),
                    _intern(cond.get("message") or ""),
                )
            )
    annotations = meta.get("annotations")
    enis: tuple[str, ...] = ()
    quic: tuple[tuple[int, str], ...] = ()
    if annotations and type(annotations) is dict:
        if POD_ENI_ANNOTATION in annotations:
            enis = branch_enis(annotations)
        if QUIC_ENABLED_ANNOTATION in annotations:
            quic = quic_server_ids(spec)
    return _new_view(
        PodView,
        (  # in the order of _POD_FIELDS
            _intern(meta.get("namespace", "")),
            meta.get("name", ""),
            meta.get("uid", "") if readiness_gates else "",
            ip,
            _intern(spec.get("nodeName") or ""),
            _created_ms(meta.get("creationTimestamp")),
            readiness_gates,
            containers_ready,
            _share(tuple(gate_conditions)) if gate_conditions else (),
            meta.get("deletionTimestamp") is not None,
            enis,
            _named_ports_of(spec.get("containers")),
            quic,
        ),
    )


def node_view(obj: Mapping[str, Any]) -> NodeView:
    meta = _meta(obj)
    spec = _spec(obj)
    status = _spec(obj, "status")
    ready = ""
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            ready = _intern(cond.get("status", ""))
            break
    taints = tuple(
        t
        for t in (
            Taint(_intern(raw.get("key", "")), _intern(raw.get("effect", "")), raw.get("value", ""))
            for raw in spec.get("taints") or ()
        )
        if is_deletion_taint(t)
    )
    labels = meta.get("labels") or {}
    return NodeView(
        name=_intern(meta.get("name", "")),
        labels={_intern(k): _intern(v) for k, v in labels.items()},
        provider_id=spec.get("providerID") or "",
        ready=ready,
        created_ms=timestamp_ms(meta.get("creationTimestamp")),
        taints=taints,
    )


def service_view(obj: Mapping[str, Any]) -> ServiceView:
    meta = _meta(obj)
    spec = _spec(obj)
    ports = tuple(
        ServicePortView(
            name=p.get("name") or "",
            port=int(p.get("port", 0)),
            target_port=p.get("targetPort", p.get("port", 0)),
            node_port=p.get("nodePort"),
            protocol=p.get("protocol") or "TCP",
        )
        for p in spec.get("ports") or ()
    )
    return ServiceView(
        namespace=_intern(meta.get("namespace", "")),
        name=meta.get("name", ""),
        type=spec.get("type") or "ClusterIP",
        ports=ports,
        selector=dict(spec.get("selector") or {}),
    )


def _endpoint(raw: Mapping[str, Any]) -> EndpointView:
    conditions = raw.get("conditions") or _EMPTY
    ref = raw.get("targetRef")
    pod: tuple[str, str] | None = None
    if ref and ref.get("kind") == "Pod":
        pod = (_intern(ref.get("namespace", "")), ref.get("name", ""))
    return EndpointView(
        addresses=tuple(raw.get("addresses") or ()),
        ready=conditions.get("ready"),
        serving=conditions.get("serving"),
        terminating=conditions.get("terminating"),
        pod=pod,
        node_name=_intern(raw.get("nodeName") or ""),
    )


def endpoint_slice_view(obj: Mapping[str, Any]) -> EndpointSliceView:
    meta = _meta(obj)
    labels = meta.get("labels") or _EMPTY
    namespace = _intern(meta.get("namespace", ""))
    endpoints = []
    for raw in obj.get("endpoints") or ():
        ep = _endpoint(raw)
        if ep.pod is not None and not ep.pod[0]:
            # targetRef without a namespace refers to the slice's own namespace.
            ep = EndpointView(
                ep.addresses,
                ep.ready,
                ep.serving,
                ep.terminating,
                (namespace, ep.pod[1]),
                ep.node_name,
            )
        endpoints.append(ep)
    return EndpointSliceView(
        namespace=namespace,
        name=meta.get("name", ""),
        service_name=labels.get("kubernetes.io/service-name", ""),
        address_type=obj.get("addressType", ""),
        ports=tuple(
            SlicePort(p.get("name") or "", p.get("port"), p.get("protocol") or "TCP")
            for p in obj.get("ports") or ()
        ),
        endpoints=tuple(endpoints),
    )


def binding_view(obj: Mapping[str, Any]) -> Binding:
    """A TargetGroupBinding; raises ``InvalidBindingError`` naming the malformed field."""
    return parse_binding(obj)


def ledger_view(obj: Mapping[str, Any] | None) -> LedgerState:
    """The ledger state from the ``aws-lbc-targets-<binding>`` ConfigMap (``None``: absent)."""
    if obj is None:
        return ledger_state(None)
    data = obj.get("data")
    return ledger_state(
        data if isinstance(data, Mapping) else {}, str(_meta(obj).get("resourceVersion", ""))
    )
