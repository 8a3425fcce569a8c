"""Slim, frozen views of the Kubernetes objects the core decides from.

These are the only shape in which Pods, Nodes, Services and EndpointSlices are kept in memory
(``lbc.kube.views`` projects raw API JSON into them). They hold exactly what
``core.desired``, ``core.plan`` and the readiness-gate logic read, nothing more, because the
informers keep one per pod and per node of the cluster: at 50,000 pods every byte of a
``PodView`` is paid 50,000 times. Hence ``slots``, tuples instead of lists, and strings that
repeat across objects (namespaces, node names, gate types) interned by the projection.
``PodView`` alone is a named tuple rather than a frozen dataclass: one is built and compared for
every pod event of the cluster, and a tuple is built and compared in C (``lbc.kube.views``).

Invariants:
- Values are immutable; a changed API object yields a new view.
- Absent optional facts are ``""``, ``None`` or an empty tuple, never a missing attribute.
- Condition statuses keep the API's spelling: ``"True"``, ``"False"``, ``"Unknown"``;
  ``""`` means the condition is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

#: Prefix of the pod readiness-gate condition type owned by a binding (SPEC §6).
GATE_PREFIX = "target-health.elbv2.k8s.aws/"


#: Annotation that enables QUIC server ids on a pod (LBC's injector writes it; its presence is
#: what LBC checks before it reads the ids).
QUIC_ENABLED_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-quic-enabled-containers"
#: Environment variable carrying a container's QUIC server id, base64 (LBC's default name).
QUIC_SERVER_ID_ENV = "AWS_LBC_QUIC_SERVER_ID"


def gate_type(binding_name: str) -> str:
    """The readiness-gate condition type of the binding named ``binding_name``."""
    return GATE_PREFIX + binding_name


@dataclass(frozen=True, slots=True)
class PodCondition:
    """One pod condition, as far as lbc reads or writes it."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


class PodView(NamedTuple):
    """A pod: where it runs, when it was created, and the conditions that gate its targets.

    ``gate_conditions`` holds only the ``target-health.elbv2.k8s.aws/*`` conditions (the ones
    lbc writes); ``containers_ready`` is the ``ContainersReady`` condition reduced to a bool.
    ``created_ms`` is the creation timestamp in Unix milliseconds (it feeds the checkpoint
    hash exactly as LBC computes it).

    ``branch_enis`` are the ids of the pod's branch ENIs (security groups for pods, from the
    ``vpc.amazonaws.com/pod-eni`` annotation): when present, the pod's traffic enters through
    the first of them, not through the node's ENI. ``named_ports`` are the pod's *named*
    container ports as ``(name, port, protocol)``, for ``spec.networking`` named ports. Both
    are ``()`` for most pods and shared between pods of a workload, so they cost a slot each.

    ``quic_server_ids`` are ``(container port, server id)`` pairs for pods whose containers
    carry QUIC server ids (LBC's injector puts them there); ``()`` for all other pods.

    ``ip`` is the pod's primary address (the first of ``status.podIPs``, else ``status.podIP``),
    the one its target is registered with. ``uid`` is kept only for pods with readiness gates:
    they are the only pods lbc writes to (their gate conditions, with the uid as the write's
    precondition), and a uid costs about 90 bytes of the cache per pod; it is ``""`` for every
    other pod.
    """

    namespace: str
    name: str
    uid: str
    ip: str
    node_name: str
    created_ms: int
    readiness_gates: tuple[str, ...]
    containers_ready: bool
    gate_conditions: tuple[PodCondition, ...] = ()
    deleting: bool = False
    branch_enis: tuple[str, ...] = ()
    named_ports: tuple[tuple[str, int, str], ...] = ()
    quic_server_ids: tuple[tuple[int, str], ...] = ()

    def has_gate(self, condition_type: str) -> bool:
        return condition_type in self.readiness_gates

    def container_port(self, name: str) -> int | None:
        """The number of the container port named ``name`` (names are unique in a pod)."""
        for port_name, number, _protocol in self.named_ports:
            if port_name == name:
                return number
        return None

    def quic_server_id(self, port: int) -> str:
        """The QUIC server id for container port ``port``, LBC's rule: the id of the container
        declaring the port, else the pod's first id; ``""`` when the pod has none."""
        for number, server_id in self.quic_server_ids:
            if number == port:
                return server_id
        return self.quic_server_ids[0][1] if self.quic_server_ids else ""

    def condition(self, condition_type: str) -> PodCondition | None:
        for cond in self.gate_conditions:
            if cond.type == condition_type:
                return cond
        return None


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    effect: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class NodeView:
    """A node: identity at EC2, readiness, labels for selectors, and deletion taints.

    ``ready`` is the status of the ``Ready`` condition (``""`` when absent). ``taints`` keeps
    only the taints that mark a node as going away (see ``core.desired``); the projection
    drops the others to save memory.
    """

    name: str
    labels: Mapping[str, str]
    provider_id: str
    ready: str
    created_ms: int
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True, slots=True)
class ServicePortView:
    name: str
    port: int
    target_port: int | str
    node_port: int | None
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class ServiceView:
    namespace: str
    name: str
    type: str
    ports: tuple[ServicePortView, ...]
    selector: Mapping[str, str]

    def find_port(self, ref: int | str) -> ServicePortView | None:
        """The Service port named (str) or numbered (int) by a binding's ``serviceRef.port``."""
        for port in self.ports:
            if (isinstance(ref, int) and port.port == ref) or (
                isinstance(ref, str) and port.name == ref
            ):
                return port
        return None


@dataclass(frozen=True, slots=True)
class EndpointView:
    """One EndpointSlice endpoint. ``ready``/``serving``/``terminating`` are ``None`` when unset.

    ``pod`` is ``(namespace, name)`` when the endpoint's ``targetRef`` is a Pod, else ``None``.
    """

    addresses: tuple[str, ...]
    ready: bool | None
    serving: bool | None
    terminating: bool | None
    pod: tuple[str, str] | None
    node_name: str


@dataclass(frozen=True, slots=True)
class SlicePort:
    name: str
    port: int | None
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class EndpointSliceView:
    namespace: str
    name: str
    service_name: str
    address_type: str
    ports: tuple[SlicePort, ...]
    endpoints: tuple[EndpointView, ...]
