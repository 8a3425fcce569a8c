"""Pod watch lines decoded straight into ``PodView``s: the pod informer's hot path.

Every pod event of the cluster goes through here. ``orjson`` builds a dict of the whole pod
(managed fields, container statuses, volumes...) that ``pod_view`` then reads a dozen fields
of; ``msgspec`` decodes the line into the structs below, which hold only those fields, so the
rest of the line is skipped unread and the view is built from attributes instead of dict
lookups.

The result is exactly ``pod_view(orjson.loads(line)["object"])`` (the property test holds
them together). The structs' types are the well-formed shapes; anything else (a ``null``, a
wrong type, a missing name, an ``ERROR`` event, a line that is not JSON, the rare QUIC
annotation) fails or is refused here and takes the general path, ``_watch_event`` and then the
informer's ``pod_view``, so odd input gives the same view or the same error as before.

One difference, on purpose: msgspec skips the fields it does not read without checking them
for invalid UTF-8 or out-of-range numbers (``1e999``), which orjson refuses; such a line now
yields its view instead of breaking the watch.

The key is ``meta_key``'s: an informer given :func:`pod_watch_event` must use the default key.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from lbc.core.objects import GATE_PREFIX, QUIC_ENABLED_ANNOTATION, TRUE, PodCondition, PodView
from lbc.kube.client import DecodedEvent, WatchEvent, _watch_event
from lbc.kube.views import POD_ENI_ANNOTATION, _created_ms, _share, branch_enis

_intern = sys.intern
_new_tuple = tuple.__new__
_UNSET: Any = msgspec.UNSET


# ``gc=False``: these live for one event and hold no cycles, so the collector need not track
# them. Fields without ``None`` in their type refuse a ``null`` (the general path takes it).
class _Annotations(msgspec.Struct, gc=False):
    pod_eni: Any = msgspec.field(default=msgspec.UNSET, name=POD_ENI_ANNOTATION)
    quic: Any = msgspec.field(default=msgspec.UNSET, name=QUIC_ENABLED_ANNOTATION)


class _Meta(msgspec.Struct, gc=False):
    name: str | None = None
    namespace: str = ""
    uid: str = ""
    resourceVersion: str = ""  # noqa: N815 - the JSON field's name
    creationTimestamp: str = ""  # noqa: N815
    deletionTimestamp: Any = None  # noqa: N815
    annotations: _Annotations | None = None


class _Gate(msgspec.Struct, gc=False):
    conditionType: str = ""  # noqa: N815


class _Port(msgspec.Struct, gc=False):
    name: str = ""
    containerPort: int | None = None  # noqa: N815
    protocol: str = ""


class _Container(msgspec.Struct, gc=False):
    ports: list[_Port] = []


class _Spec(msgspec.Struct, gc=False):
    nodeName: str = ""  # noqa: N815
    readinessGates: list[_Gate] = []  # noqa: N815
    containers: list[_Container] = []


class _PodIP(msgspec.Struct, gc=False):
    ip: str = ""


class _Condition(msgspec.Struct, gc=False):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""


class _Status(msgspec.Struct, gc=False):
    podIP: str = ""  # noqa: N815
    podIPs: list[_PodIP] = []  # noqa: N815
    conditions: list[_Condition] = []


class _Pod(msgspec.Struct, gc=False):
    metadata: _Meta | None = None
    spec: _Spec | None = None
    status: _Status | None = None


class _Event(msgspec.Struct, gc=False):
    type: str
    object: _Pod


_decode = msgspec.json.Decoder(_Event).decode
_NO_SPEC = _Spec()
_NO_STATUS = _Status()
_OBJECT_EVENTS = frozenset({"ADDED", "MODIFIED", "DELETED"})


# A pod's gate conditions as their strings, to the shared conditions: the conditions repeat
# across the updates of a pod and the pods of a workload, and a tuple of strings is hashed and
# compared in C where building and sharing ``PodCondition``s (a dataclass) costs a microsecond
# per event. Bounded like ``lbc.kube.views._shared``.
_GATE_CONDITIONS_MAX = 4096
_gate_conditions: dict[tuple[str, ...], tuple[PodCondition, ...]] = {}


def _gate_conditions_of(fields: tuple[str, ...]) -> tuple[PodCondition, ...]:
    if len(_gate_conditions) >= _GATE_CONDITIONS_MAX:
        _gate_conditions.clear()
    found = _gate_conditions[fields] = _share(
        tuple(PodCondition(*map(_intern, fields[i : i + 4])) for i in range(0, len(fields), 4))
    )
    return found


def pod_watch_event(line: bytes, what: str) -> DecodedEvent[PodView] | WatchEvent:
    """One pod watch line as its key and view; the general ``WatchEvent`` for odd lines."""
    try:
        event = _decode(line)
    except msgspec.MsgspecError:
        return _watch_event(line, what)
    kind = event.type
    meta = event.object.metadata
    if kind not in _OBJECT_EVENTS:
        if kind == "ERROR":
            return _watch_event(line, what)
        return _new_tuple(DecodedEvent, (kind, "", None, meta.resourceVersion if meta else ""))
    if meta is None or meta.name is None:
        return _watch_event(line, what)
    annotations = meta.annotations
    enis: tuple[str, ...] = ()
    if annotations is not None:
        if annotations.quic is not _UNSET:
            return _watch_event(line, what)  # QUIC server ids read the containers' env
        if annotations.pod_eni is not _UNSET:
            enis = branch_enis({POD_ENI_ANNOTATION: annotations.pod_eni})
    pod = event.object
    spec = pod.spec or _NO_SPEC
    status = pod.status or _NO_STATUS
    pod_ips = status.podIPs
    if not pod_ips:
        ip = status.podIP or ""
    elif len(pod_ips) == 1:
        ip = pod_ips[0].ip or ""
    else:
        ip = next((p.ip for p in pod_ips if p.ip), "")
    gates = spec.readinessGates
    readiness_gates: tuple[str, ...] = ()
    if len(gates) == 1:  # the usual pod with gates: one, of its one target group
        gate = gates[0].conditionType
        readiness_gates = _share((_intern(gate),)) if gate else ()
    elif gates:
        readiness_gates = _share(tuple(_intern(g.conditionType) for g in gates if g.conditionType))
    containers_ready = False
    gate_fields: list[str] | None = None
    for cond in status.conditions:
        ctype = cond.type
        if ctype == "ContainersReady":
            containers_ready = cond.status == TRUE
        elif ctype.startswith(GATE_PREFIX):
            if gate_fields is None:
                gate_fields = [ctype, cond.status, cond.reason, cond.message]
            else:
                gate_fields += (ctype, cond.status, cond.reason, cond.message)
    gate_conditions: tuple[PodCondition, ...] = ()
    if gate_fields is not None:
        fields = tuple(gate_fields)
        found = _gate_conditions.get(fields)
        gate_conditions = _gate_conditions_of(fields) if found is None else found
    named: list[tuple[str, int, str]] | None = None
    for container in spec.containers:
        for port in container.ports:
            if port.name and port.containerPort is not None:
                if named is None:
                    named = []
                named.append(
                    (_intern(port.name), port.containerPort, _intern(port.protocol or "TCP"))
                )
    namespace = meta.namespace
    name = meta.name
    view = _new_tuple(
        PodView,
        (  # in the order of PodView's fields (lbc.kube.views checks pod_view's at import)
            _intern(namespace),
            name,
            meta.uid if readiness_gates else "",
            ip,
            _intern(spec.nodeName),
            _created_ms(meta.creationTimestamp),
            readiness_gates,
            containers_ready,
            gate_conditions,
            meta.deletionTimestamp is not None,
            enis,
            _share(tuple(named)) if named else (),
            (),
        ),
    )
    key = f"{namespace}/{name}" if namespace else name
    return _new_tuple(DecodedEvent, (kind, key, view, meta.resourceVersion))
