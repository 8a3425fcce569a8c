"""Desired targets (SPEC §2): which pods or nodes should receive a binding's traffic.

ip bindings read the Service's EndpointSlices; instance bindings read the Nodes. Besides the
targets, the result carries the facts behind each one (its pod or node and creation time: the
checkpoint hashes them, readiness gates need the pod) and diagnostics the controller turns into
events: a node skipped for a bad providerID, endpoints skipped because their pod is not known
yet, fail-open used, backend not found.

Rules, as SPEC §2 states them, with one deliberate improvement over LBC: a node with a bad
``providerID`` is skipped with a Warning instead of failing the whole binding (one broken node
must not freeze every other node's registration).

The resolution is one of three: ``RESOLVED`` (the targets are authoritative, even when empty),
``BACKEND_NOT_FOUND`` (the Service or its port is missing: ``plan()`` cleans up as on
deletion) and ``INVALID`` (the inputs cannot be interpreted, e.g. an instance binding on a
ClusterIP Service: ``plan()`` changes nothing and reports). Endpoints skipped for an unknown pod
are a transient state of the informers; the pod's own event wakes the binding again.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from lbc.core.binding import Binding, IPAddressType, TargetType
from lbc.core.checkpoint import endpoints_hash
from lbc.core.objects import (
    QUIC_SERVER_ID_ENV,
    TRUE,
    UNKNOWN,
    EndpointSliceView,
    NodeView,
    PodView,
    ServicePortView,
    ServiceView,
    Taint,
)
from lbc.core.targets import Target

PodLookup = Callable[[str, str], PodView | None]

#: Nodes carrying any of these labels never receive instance targets (LBC's default selector).
EXCLUDING_NODE_LABELS = (
    "node-role.kubernetes.io/master",
    "node.kubernetes.io/exclude-from-external-load-balancers",
    "alpha.service-controller.kubernetes.io/exclude-balancer",
)
COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"

#: Target-group protocols whose targets carry a QUIC server id.
QUIC_PROTOCOLS = frozenset({"QUIC", "TCP_QUIC"})

_INSTANCE_ID = re.compile(r"^i-[0-9A-Za-z]+$")
_SAMPLE = 10


class Resolution(enum.Enum):
    RESOLVED = "resolved"
    BACKEND_NOT_FOUND = "backend-not-found"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something the operator should hear about; ``subjects`` samples the objects concerned."""

    reason: str
    message: str
    warning: bool
    subjects: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DesiredTarget:
    """A desired target and what stands behind it (the pod for ip, the node for instance)."""

    target: Target
    created_ms: int
    node_name: str = ""
    pod: PodView | None = None


@dataclass(frozen=True, slots=True)
class DesiredSet:
    resolution: Resolution
    targets: Mapping[Target, DesiredTarget] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()
    fail_open: bool = False
    #: Targets named by endpoints whose pod is not known yet: neither desired nor undesired.
    #: ``plan()`` leaves them alone, so a pod cache lagging the slice cache can never cause a
    #: deregistration. Held without a QUIC server id (it comes from the unknown pod):
    #: :meth:`is_uncertain` matches on id and port.
    uncertain: frozenset[Target] = frozenset()
    #: Every desired endpoint as the slices list it, duplicates included, for the checkpoint:
    #: LBC hashes an endpoint once per slice that lists it, so a hash over the de-duplicated
    #: ``targets`` would differ from the checkpoint LBC left and cost a needless full reconcile
    #: after a switch. ``None``: hash ``targets`` (sets built by hand in tests, instance sets).
    occurrences: tuple[DesiredTarget, ...] | None = None

    @property
    def keys(self) -> frozenset[Target]:
        return frozenset(self.targets)

    def is_uncertain(self, target: Target) -> bool:
        """Whether ``target`` (server id or not) sits behind an endpoint of an unknown pod."""
        return Target(target.id, target.port) in self.uncertain

    def endpoints_hash(self) -> str:
        listed = self.targets.values() if self.occurrences is None else self.occurrences
        return endpoints_hash((d.target.identity, d.created_ms) for d in listed)


def is_deletion_taint(taint: Taint) -> bool:
    """A taint that announces the node's removal (cluster autoscaler, Karpenter)."""
    if taint.key == "ToBeDeletedByClusterAutoscaler":
        return True
    return taint.key == "karpenter.sh/disrupted" and taint.effect == "NoSchedule"


def matches_default_selector(labels: Mapping[str, str]) -> bool:
    if any(k in labels for k in EXCLUDING_NODE_LABELS):
        return False
    return labels.get(COMPUTE_TYPE_LABEL) != "fargate"


def instance_id(provider_id: str) -> str | None:
    """The EC2 instance id from ``spec.providerID`` (``aws:///<az>/i-…``), or ``None``."""
    last = provider_id.rpartition("/")[2]
    return last if _INSTANCE_ID.match(last) else None


def _sample(subjects: list[str]) -> tuple[str, ...]:
    return tuple(sorted(subjects)[:_SAMPLE])


def _listing(subjects: list[str]) -> str:
    shown = ", ".join(_sample(subjects))
    more = len(subjects) - _SAMPLE
    return f"{shown} and {more} more" if more > 0 else shown


def _backend_not_found(binding: Binding, what: str) -> DesiredSet:
    return DesiredSet(
        Resolution.BACKEND_NOT_FOUND,
        diagnostics=(
            Diagnostic(
                "BackendNotFound",
                f"{what} (binding {binding.key})",
                True,
                (binding.spec.service_name,),
            ),
        ),
    )


def _invalid(reason: str, message: str) -> DesiredSet:
    return DesiredSet(Resolution.INVALID, diagnostics=(Diagnostic(reason, message, True),))


def _service_port(
    binding: Binding, service: ServiceView | None
) -> tuple[ServiceView, ServicePortView] | DesiredSet:
    """The binding's Service and the port it names, or the not-found set both target types give."""
    spec = binding.spec
    if service is None:
        return _backend_not_found(
            binding, f"service {binding.namespace}/{spec.service_name} not found"
        )
    port = service.find_port(spec.service_port)
    if port is None:
        kind = "named" if isinstance(spec.service_port, str) else "numbered"
        return _backend_not_found(
            binding,
            f"service {service.namespace}/{service.name} has no port {kind} {spec.service_port!r}",
        )
    return service, port


def desired_ip(
    binding: Binding,
    service: ServiceView | None,
    slices: Iterable[EndpointSliceView],
    pods: PodLookup,
    nodes: Mapping[str, NodeView],
    *,
    fail_open: bool = True,
) -> DesiredSet:
    """Desired ip targets: pod IP x the slice port that carries the Service port (SPEC §2).

    Which endpoints count, as LBC decides it:

    - a ready endpoint (``ready`` true or unset) counts, whatever its pod's node says;
    - a not-ready one counts only when its pod's containers are ready, and then by its node:
      Ready ``True`` and not terminating counts (a readiness-gated pod must be registered
      before it can turn Ready); Ready ``Unknown`` makes it a *fail-open candidate*, terminating
      or not; anything else does not count;
    - when nothing counts and ``fail_open`` is on, the candidates are used.

    Why candidates include terminating endpoints: when a partition cuts nodes off, their
    ``Ready`` turns Unknown, the node controller marks their pods not ready and, minutes later,
    evicts them, which marks their endpoints terminating. The pods usually still serve (the
    partition is between the control plane and the nodes, not the load balancer), and their
    deletion cannot complete until the kubelet is back. Dropping terminating endpoints first
    would deregister every target of the binding at eviction time, with nothing to replace
    them. The candidates go away when the nodes return (Ready True: terminating endpoints stop
    counting) or when the pods are really gone from the slices.
    """
    spec = binding.spec
    found = _service_port(binding, service)
    if isinstance(found, DesiredSet):
        return found
    service, svc_port = found
    family = "IPv6" if spec.ip_address_type is IPAddressType.IPV6 else "IPv4"
    quic = spec.protocol in QUIC_PROTOCOLS
    ready: list[DesiredTarget] = []
    unknown_node: list[DesiredTarget] = []
    unknown_pods: list[str] = []
    uncertain: set[Target] = set()
    for eps in slices:
        if eps.address_type != family or eps.service_name != service.name:
            continue
        ports = [p.port for p in eps.ports if p.port is not None and p.name == svc_port.name]
        if not ports:
            continue
        for ep in eps.endpoints:
            if ep.pod is None or not ep.addresses:
                continue
            pod = pods(*ep.pod)
            if pod is None:
                unknown_pods.append(f"{ep.pod[0]}/{ep.pod[1]}")
                uncertain.update(Target(ep.addresses[0], port) for port in ports)
                continue
            node_name = ep.node_name or pod.node_name
            if ep.ready is None or ep.ready:
                bucket = ready
            else:
                if not pod.containers_ready:
                    continue
                node = nodes.get(node_name)
                if node is None:
                    continue
                if node.ready == TRUE:
                    # Terminating pods stay in slices since Kubernetes 1.22; on a healthy node
                    # they are on their way out.
                    if ep.terminating:
                        continue
                    bucket = ready
                elif node.ready == UNKNOWN:
                    bucket = unknown_node
                else:
                    continue
            for port in ports:
                server_id = pod.quic_server_id(port) if quic else ""
                target = Target(ep.addresses[0], port, server_id)
                bucket.append(DesiredTarget(target, pod.created_ms, node_name, pod))
    diagnostics: list[Diagnostic] = []
    if unknown_pods:
        diagnostics.append(
            Diagnostic(
                "EndpointPodUnknown",
                f"{len(unknown_pods)} endpoint(s) skipped until their pod is known: "
                + _listing(unknown_pods),
                False,
                _sample(unknown_pods),
            )
        )
    used_fail_open = fail_open and not ready and bool(unknown_node)
    candidates = _first_of_each(unknown_node)
    diagnostics += _fail_open(
        used_fail_open,
        not ready and bool(unknown_node),
        [t.identity for t in candidates],
        "no endpoint qualifies",
        "endpoint(s) on nodes whose Ready condition is Unknown",
    )
    listed = unknown_node if used_fail_open else ready
    chosen = candidates if used_fail_open else _first_of_each(ready)
    if quic:
        # LBC hashes and records such an endpoint but drops it from every RegisterTargets: a
        # QUIC group refuses a target without a server id. It is not desired here, so it never
        # reaches AWS, and the Warning says why its pod gets no target.
        missing = [t for t in chosen if not t.server_id]
        for target in missing:
            del chosen[target]
        if missing:
            diagnostics.append(
                Diagnostic(
                    "QuicServerIdMissing",
                    f"{len(missing)} endpoint(s) of a {spec.protocol} target group have no QUIC "
                    f"server id (env {QUIC_SERVER_ID_ENV}) and are not registered: "
                    + _listing([t.identity for t in missing]),
                    True,
                    _sample([t.identity for t in missing]),
                )
            )
    chosen_keys = {(t.id, t.port) for t in chosen}
    return DesiredSet(
        Resolution.RESOLVED,
        chosen,
        tuple(diagnostics),
        used_fail_open,
        frozenset(u for u in uncertain if (u.id, u.port) not in chosen_keys),
        tuple(listed),
    )


def _first_of_each(listed: Iterable[DesiredTarget]) -> dict[Target, DesiredTarget]:
    """One entry per target, the first listing winning (the pod behind it is the same)."""
    out: dict[Target, DesiredTarget] = {}
    for dt in listed:
        out.setdefault(dt.target, dt)
    return out


def desired_instance(
    binding: Binding,
    service: ServiceView | None,
    nodes: Iterable[NodeView],
    *,
    fail_open: bool = True,
) -> DesiredSet:
    """Desired instance targets: suitable Ready nodes x the Service port's nodePort.

    With ``fail_open`` (LBC's ``EndpointsFailOpen``), suitable nodes whose Ready is Unknown are
    used when no suitable node is Ready.
    """
    spec = binding.spec
    found = _service_port(binding, service)
    if isinstance(found, DesiredSet):
        return found
    service, svc_port = found
    if service.type not in ("NodePort", "LoadBalancer"):
        return _invalid(
            "UnsupportedServiceType",
            f"instance targets need a NodePort or LoadBalancer service; "
            f"{service.namespace}/{service.name} is {service.type or 'ClusterIP'}",
        )
    if svc_port.node_port is None:
        return _invalid(
            "NodePortMissing",
            f"service {service.namespace}/{service.name} port {spec.service_port!r} "
            "has no nodePort",
        )
    ready: list[NodeView] = []
    unknown: list[NodeView] = []
    selector = spec.node_selector
    for node in nodes:
        if not matches_default_selector(node.labels):
            continue
        if selector is not None and not selector.matches(node.labels):
            continue
        if any(is_deletion_taint(t) for t in node.taints):
            continue
        if node.ready == TRUE:
            ready.append(node)
        elif node.ready == UNKNOWN:
            unknown.append(node)
    used_fail_open = fail_open and not ready and bool(unknown)
    listed: list[DesiredTarget] = []
    bad: list[str] = []
    for node in unknown if used_fail_open else ready:
        iid = instance_id(node.provider_id)
        if iid is None:
            bad.append(node.name)
            continue
        target = Target(iid, svc_port.node_port)
        listed.append(DesiredTarget(target, node.created_ms, node.name))
    diagnostics: list[Diagnostic] = []
    if bad:
        diagnostics.append(
            Diagnostic(
                "InvalidProviderID",
                f"{len(bad)} node(s) skipped: providerID does not end in an instance id: "
                + _listing(bad),
                True,
                _sample(bad),
            )
        )
    diagnostics += _fail_open(
        used_fail_open,
        not ready and bool(unknown),
        [n.name for n in unknown],
        "no suitable node is Ready",
        "node(s) whose Ready is Unknown",
    )
    return DesiredSet(
        Resolution.RESOLVED,
        _first_of_each(listed),
        tuple(diagnostics),
        used_fail_open,
        occurrences=tuple(listed),
    )


def _fail_open(
    used: bool, refused: bool, names: list[str], nothing: str, things: str
) -> list[Diagnostic]:
    """The Warning when only targets of Unknown readiness are left: used (fail-open) or not."""
    if used:
        message = f"{nothing}; using {len(names)} {things}"
        return [Diagnostic("FailOpen", message, True, _sample(names))]
    if refused:
        message = f"{nothing} and fail-open is off; {len(names)} {things} are not used"
        return [Diagnostic("FailOpenDisabled", message, True, _sample(names))]
    return []


def desired(
    binding: Binding,
    service: ServiceView | None,
    slices: Iterable[EndpointSliceView],
    pods: PodLookup,
    nodes: Mapping[str, NodeView],
    *,
    fail_open: bool = True,
) -> DesiredSet:
    """Dispatch on the binding's target type; an unset target type cannot be resolved."""
    if binding.spec.target_type is TargetType.IP:
        return desired_ip(binding, service, slices, pods, nodes, fail_open=fail_open)
    if binding.spec.target_type is TargetType.INSTANCE:
        return desired_instance(binding, service, nodes.values(), fail_open=fail_open)
    return _invalid(
        "TargetTypeUnknown",
        "spec.targetType is not set; it must be ip or instance (the admission webhook infers it "
        "from the target group)",
    )
