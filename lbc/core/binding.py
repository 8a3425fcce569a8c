"""The TargetGroupBinding as a value, parsed and validated from the API's raw JSON.

The API server validates bindings against the CRD schema, but lbc must survive whatever it is
handed anyway: bindings stored before a schema change, served as ``v1alpha1``, or edited with
validation off. A malformed binding is a ``TerminalError`` (:class:`InvalidBindingError`, reason
``InvalidBinding``) whose message names the offending field; it never crashes the worker and
never reaches ``plan()``, so it can never cause a deregistration.

``v1alpha1`` has the same shape as ``v1beta1`` minus a few optional fields, so one parser
serves both. The spec hash of the checkpoint is computed here, from the raw spec, because only
the raw JSON still knows the distinctions Go's encoder makes (absent versus empty, see
``core.checkpoint``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lbc.core.checkpoint import CHECKPOINT_ANNOTATION, spec_hash
from lbc.core.errors import TerminalError

FINALIZER = "elbv2.k8s.aws/resources"

_TARGET_GROUP_ARN = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-fA-F]{16}"
)


def target_group_arn_problem(arn: str) -> str | None:
    """Why ``arn`` cannot be a target group's ARN, or ``None`` when its shape is right.

    ``arn:<partition>:elasticloadbalancing:<region>:<12-digit account>:targetgroup/<name>/<16
    hex digits>``, the name 1-32 letters, digits or hyphens. The CRD accepts any string (as
    LBC's does); checked before any AWS call, so a typo is reported as what it is
    (``InvalidTargetGroupArn``) instead of as a missing group, and costs no call.
    """
    if _TARGET_GROUP_ARN.fullmatch(arn):
        return None
    return (
        f"{arn!r} is not a target group ARN (expected arn:aws:elasticloadbalancing:<region>:"
        "<account>:targetgroup/<name>/<id>)"
    )


_E = TypeVar("_E", bound=enum.StrEnum)

_VPC_ID = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17}|[0-9a-f]{32})$")
_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "QUIC", "TCP_QUIC"})


class InvalidBindingError(TerminalError):
    """A binding whose spec cannot be acted on; ``field`` is the JSON path of the culprit."""

    reason = "InvalidBinding"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"spec is invalid at {field}: {problem}")
        self.field = field


class TargetType(enum.StrEnum):
    INSTANCE = "instance"
    IP = "ip"


class IPAddressType(enum.StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"


class Operator(enum.StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator is Operator.EXISTS:
            return self.key in labels
        if self.operator is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        if self.operator is Operator.IN:
            return self.key in labels and labels[self.key] in self.values
        # NotIn matches a missing key, as Kubernetes label selectors do.
        return self.key not in labels or labels[self.key] not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """metav1.LabelSelector: all of ``match_labels`` AND all ``match_expressions``."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.match_expressions
        )


@dataclass(frozen=True, slots=True)
class SpecNote:
    """Something in a spec lbc accepts, as LBC does, but the operator should hear about."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class NetworkingPeer:
    """A source of ``spec.networking``: a CIDR or a security group, as LBC reads it.

    LBC's CRD does not enforce "exactly one of" ``ipBlock`` and ``securityGroup``. With both,
    LBC uses the security group (``source``); with neither, the peer grants nothing and LBC's
    networking computation for the binding fails, while its targets are still reconciled.
    ``at`` is the peer's JSON path, for messages.
    """

    cidr: str | None = None
    security_group: str | None = None
    at: str = field(default="", compare=False)

    @property
    def empty(self) -> bool:
        return self.cidr is None and not self.security_group


@dataclass(frozen=True, slots=True)
class NetworkingPort:
    protocol: str = "TCP"
    port: int | str | None = None


@dataclass(frozen=True, slots=True)
class IngressRule:
    peers: tuple[NetworkingPeer, ...]
    ports: tuple[NetworkingPort, ...]


@dataclass(frozen=True, slots=True)
class Networking:
    """``spec.networking``, kept as a value for the security-group reconciler (SPEC §9)."""

    ingress: tuple[IngressRule, ...] = ()


@dataclass(frozen=True, slots=True)
class BindingSpec:
    service_name: str
    service_port: int | str
    target_group_arn: str = ""
    target_group_name: str = ""
    multi_cluster: bool = False
    target_type: TargetType | None = None
    protocol: str | None = None
    networking: Networking | None = None
    node_selector: LabelSelector | None = None
    ip_address_type: IPAddressType | None = None
    vpc_id: str = ""
    iam_role_arn_to_assume: str = ""
    assume_role_external_id: str = ""
    #: What was accepted as LBC accepts it but deserves a Warning (see :class:`SpecNote`).
    notes: tuple[SpecNote, ...] = ()


@dataclass(frozen=True, slots=True)
class BindingIdentity:
    """A TargetGroupBinding's identity and lifecycle facts (:func:`identity_fields`), shared by
    the parsed :class:`Binding` and the controller's cache entry (which keeps them for bindings
    that fail to parse)."""

    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    finalizers: tuple[str, ...]
    deleting: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Binding(BindingIdentity):
    """A TargetGroupBinding: identity, lifecycle facts and the validated spec.

    ``checkpoint`` is the ``elbv2.k8s.aws/checkpoint`` annotation (``None`` when absent);
    ``spec_hash`` the second half of the checkpoint computed from this spec.
    """

    checkpoint: str | None
    spec: BindingSpec
    spec_hash: str
    observed_generation: int | None = None

    @property
    def has_finalizer(self) -> bool:
        return FINALIZER in self.finalizers


def _str(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidBindingError(f"{path}.{key}", "required")
        return ""
    if not isinstance(value, str):
        raise InvalidBindingError(f"{path}.{key}", f"expected a string, got {value!r}")
    if required and not value:
        raise InvalidBindingError(f"{path}.{key}", "must not be empty")
    return value


def _map(obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidBindingError(f"{path}.{key}", f"expected an object, got {value!r}")
    return value


def _list(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidBindingError(f"{path}.{key}", f"expected a list, got {value!r}")
    return value


def _int_or_str(value: Any, path: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidBindingError(path, f"expected a port number or name, got {value!r}")
    if isinstance(value, int) and not 0 < value <= 65535:
        raise InvalidBindingError(path, f"port {value} out of range 1-65535")
    if isinstance(value, str) and not value:
        raise InvalidBindingError(path, "port name must not be empty")
    return value


def _enum(kind: type[_E], obj: Mapping[str, Any], key: str, path: str) -> _E | None:
    raw = _str(obj, key, path) if obj.get(key) is not None else None
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidBindingError(f"{path}.{key}", f"{raw!r} is not one of {allowed}") from None


def parse_selector(raw: Mapping[str, Any], path: str) -> LabelSelector:
    """A metav1.LabelSelector from JSON; operators and value counts are checked."""
    labels_raw = _map(raw, "matchLabels", path) or {}
    labels: list[tuple[str, str]] = []
    for k, v in labels_raw.items():
        if not isinstance(v, str):
            raise InvalidBindingError(f"{path}.matchLabels.{k}", f"expected a string, got {v!r}")
        labels.append((k, v))
    exprs: list[Requirement] = []
    for i, item in enumerate(_list(raw, "matchExpressions", path)):
        here = f"{path}.matchExpressions[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidBindingError(here, "expected an object")
        key = _str(item, "key", here, required=True)
        op = _enum(Operator, item, "operator", here)
        if op is None:
            raise InvalidBindingError(f"{here}.operator", "required")
        values = _list(item, "values", here)
        if not all(isinstance(v, str) for v in values):
            raise InvalidBindingError(f"{here}.values", "expected strings")
        if op in (Operator.IN, Operator.NOT_IN) and not values:
            raise InvalidBindingError(f"{here}.values", f"{op.value} needs at least one value")
        if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
            raise InvalidBindingError(f"{here}.values", f"{op.value} takes no values")
        exprs.append(Requirement(key, op, tuple(values)))
    return LabelSelector(tuple(sorted(labels)), tuple(exprs))


def _peer(peer: Mapping[str, Any], at: str, notes: list[SpecNote]) -> NetworkingPeer:
    """One ``from[]`` entry, read as LBC reads it (see :class:`NetworkingPeer`)."""
    block = _map(peer, "ipBlock", at)
    group = _map(peer, "securityGroup", at)
    cidr = None if block is None else _str(block, "cidr", f"{at}.ipBlock", required=True)
    gid = None if group is None else _str(group, "groupID", f"{at}.securityGroup", required=True)
    if gid is not None and cidr is not None:
        notes.append(
            SpecNote(
                "NetworkingPeerAmbiguous",
                f"{at} has both ipBlock ({cidr}) and securityGroup ({gid}); the securityGroup "
                "is used and the ipBlock ignored, as LBC does",
            )
        )
        return NetworkingPeer(security_group=gid, at=at)
    if gid is None and cidr is None:
        notes.append(
            SpecNote(
                "NetworkingPeerEmpty",
                f"{at} has neither ipBlock nor securityGroup; it grants nothing and the "
                "binding's security-group rules are not reconciled until it is fixed (as in LBC)",
            )
        )
    return NetworkingPeer(cidr=cidr, security_group=gid, at=at)


def _parse_networking(raw: Mapping[str, Any], path: str, notes: list[SpecNote]) -> Networking:
    rules: list[IngressRule] = []
    for i, rule in enumerate(_list(raw, "ingress", path)):
        here = f"{path}.ingress[{i}]"
        if not isinstance(rule, Mapping):
            raise InvalidBindingError(here, "expected an object")
        peers: list[NetworkingPeer] = []
        for j, peer in enumerate(_list(rule, "from", here)):
            at = f"{here}.from[{j}]"
            if not isinstance(peer, Mapping):
                raise InvalidBindingError(at, "expected an object")
            peers.append(_peer(peer, at, notes))
        ports: list[NetworkingPort] = []
        for j, port in enumerate(_list(rule, "ports", here)):
            at = f"{here}.ports[{j}]"
            if not isinstance(port, Mapping):
                raise InvalidBindingError(at, "expected an object")
            proto = _str(port, "protocol", at) or "TCP"
            if proto not in ("TCP", "UDP"):
                raise InvalidBindingError(f"{at}.protocol", f"{proto!r} is not one of TCP, UDP")
            number = port.get("port")
            ports.append(
                NetworkingPort(proto, None if number is None else _int_or_str(number, f"{at}.port"))
            )
        rules.append(IngressRule(tuple(peers), tuple(ports)))
    return Networking(tuple(rules))


def parse_spec(spec: Mapping[str, Any]) -> BindingSpec:
    """Validate and convert a raw ``spec``; raises :class:`InvalidBindingError` naming the field."""
    path = "spec"
    ref = _map(spec, "serviceRef", path)
    if ref is None:
        raise InvalidBindingError("spec.serviceRef", "required")
    service_name = _str(ref, "name", "spec.serviceRef", required=True)
    if ref.get("port") is None:
        raise InvalidBindingError("spec.serviceRef.port", "required")
    service_port = _int_or_str(ref["port"], "spec.serviceRef.port")
    arn = _str(spec, "targetGroupARN", path)
    tg_name = _str(spec, "targetGroupName", path)
    if not arn and not tg_name:
        raise InvalidBindingError(
            "spec.targetGroupARN", "one of targetGroupARN or targetGroupName is required"
        )
    multi = spec.get("multiClusterTargetGroup", False)
    if not isinstance(multi, bool):
        raise InvalidBindingError(
            "spec.multiClusterTargetGroup", f"expected a boolean, got {multi!r}"
        )
    protocol = _str(spec, "targetGroupProtocol", path) or None
    if protocol is not None and protocol not in _PROTOCOLS:
        raise InvalidBindingError(
            "spec.targetGroupProtocol", f"{protocol!r} is not a known protocol"
        )
    vpc_id = _str(spec, "vpcID", path)
    if vpc_id and not _VPC_ID.match(vpc_id):
        raise InvalidBindingError(
            "spec.vpcID", f"{vpc_id!r} is not vpc- followed by 8, 17 or 32 hex"
        )
    net = _map(spec, "networking", path)
    sel = _map(spec, "nodeSelector", path)
    notes: list[SpecNote] = []
    networking = None if net is None else _parse_networking(net, "spec.networking", notes)
    return BindingSpec(
        service_name=service_name,
        service_port=service_port,
        target_group_arn=arn,
        target_group_name=tg_name,
        multi_cluster=multi,
        target_type=_enum(TargetType, spec, "targetType", path),
        protocol=protocol,
        networking=networking,
        node_selector=None if sel is None else parse_selector(sel, "spec.nodeSelector"),
        ip_address_type=_enum(IPAddressType, spec, "ipAddressType", path),
        vpc_id=vpc_id,
        iam_role_arn_to_assume=_str(spec, "iamRoleArnToAssume", path),
        assume_role_external_id=_str(spec, "assumeRoleExternalId", path),
        notes=tuple(notes),
    )


def identity_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The identity and lifecycle facts of an object's metadata, as :class:`Binding` holds them.

    Shared with the controller's cache entry, which keeps them for bindings that fail to parse.
    """
    return {
        "namespace": str(meta.get("namespace", "")),
        "name": str(meta.get("name", "")),
        "uid": str(meta.get("uid", "")),
        "generation": int(meta.get("generation") or 0),
        "resource_version": str(meta.get("resourceVersion", "")),
        "finalizers": tuple(str(f) for f in meta.get("finalizers") or ()),
        "deleting": meta.get("deletionTimestamp") is not None,
    }


def parse_binding(obj: Mapping[str, Any]) -> Binding:
    """A :class:`Binding` from a raw TargetGroupBinding (``v1beta1`` or ``v1alpha1``)."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        raise InvalidBindingError("metadata", "required")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InvalidBindingError("spec", "required")
    annotations = meta.get("annotations") or {}
    status = obj.get("status") or {}
    observed = status.get("observedGeneration") if isinstance(status, Mapping) else None
    checkpoint = (
        annotations.get(CHECKPOINT_ANNOTATION) if isinstance(annotations, Mapping) else None
    )
    return Binding(
        **identity_fields(meta),
        checkpoint=checkpoint if isinstance(checkpoint, str) else None,
        spec=parse_spec(spec),
        spec_hash=spec_hash(spec),
        observed_generation=observed if isinstance(observed, int) else None,
    )
