"""The desired stack: every AWS resource and TargetGroupBinding one Ingress group or Service wants.

A builder (``core.stack.ingress``, ``core.stack.service``) turns the input views of
``core.stack.inputs`` into one :class:`Stack`; the deployer in the shell finds what already exists
by the stack tags, pairs it with these values by their ``resource_id`` and creates, modifies,
replaces or deletes to match. The model is the whole contract between the two, so it is explicit:

- Every resource carries its ``resource_id`` (the value of the ``<prefix>/resource`` tag, the only
  key resources are paired by) and its **complete** tag set, tracking tags included, already merged
  with the precedence of ``core.stack.tags``. The deployer writes ``tags`` as they are.
- Values known only at deploy time (ARNs, security-group ids) are never in the model; resources
  refer to each other symbolically: a listener's forward action names a target group by resource
  id, a load balancer names its security groups by :class:`SecurityGroupRef`, a binding names its
  target group by resource id and its networking peer by :class:`SecurityGroupRef`.
- The fields the deployer compares to decide a *replacement* rather than a modification are plain
  fields, never derived: ``LoadBalancer.type`` and ``.scheme``; ``TargetGroup.target_type``,
  ``.protocol`` and ``.protocol_version``.
- Collections are tuples in a deterministic order (the order LBC builds them in where it has
  one, sorted otherwise), so two builds of the same inputs are equal values.

An *empty* stack (``load_balancer is None`` and no other resources) means "delete everything
found under this stack's tags".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from lbc.core import binding

#: Cluster tag on every AWS resource of every stack (and the only key LBC's IAM policy locks).
CLUSTER_TAG = "elbv2.k8s.aws/cluster"
#: Legacy cluster key still accepted by discovery and never removed by tag reconciliation.
LEGACY_CLUSTER_TAG = "ingress.k8s.aws/cluster"

INGRESS_PREFIX = "ingress.k8s.aws"
SERVICE_PREFIX = "service.k8s.aws"

#: Resource ids that are constants (listeners, rules and target groups derive theirs).
LOAD_BALANCER_ID = "LoadBalancer"
FRONTEND_SG_ID = "ManagedLBSecurityGroup"

BACKEND_SG_RESOURCE_TAG = "elbv2.k8s.aws/resource"
BACKEND_SG_RESOURCE_VALUE = "backend-sg"
BACKEND_SG_DESCRIPTION = "[k8s] Shared Backend SecurityGroup for LoadBalancer"
FRONTEND_SG_DESCRIPTION = "[k8s] Managed SecurityGroup for LoadBalancer"

#: A tag set, sorted by key. Tuples (not dicts) keep the model hashable and comparable.
Tags = tuple[tuple[str, str], ...]


def tags_of(mapping: Mapping[str, str]) -> Tags:
    """``mapping`` as a sorted :data:`Tags` tuple."""
    return tuple(sorted(mapping.items()))


class StackKind(enum.StrEnum):
    """Which controller owns the stack; the value is its tag prefix."""

    INGRESS = INGRESS_PREFIX
    SERVICE = SERVICE_PREFIX


@dataclass(frozen=True, slots=True)
class StackId:
    """The identity of a stack, the value of its ``<prefix>/stack`` tag.

    An implicit Ingress group and a Service have ``namespace`` and ``name`` (``"ns/name"``); an
    explicit Ingress group has only ``name`` (its ``group.name``) and ``namespace == ""``.
    """

    kind: StackKind
    namespace: str
    name: str

    @property
    def explicit(self) -> bool:
        return self.namespace == ""

    @property
    def value(self) -> str:
        """The stack id string: tag value and a hash input of names."""
        return self.name if self.explicit else f"{self.namespace}/{self.name}"

    @property
    def prefix(self) -> str:
        return self.kind.value

    @property
    def stack_tag(self) -> str:
        return f"{self.prefix}/stack"

    @property
    def resource_tag(self) -> str:
        return f"{self.prefix}/resource"

    def stack_tags(self, cluster_name: str) -> Tags:
        """The two tracking tags every AWS resource of this stack carries (discovery filter)."""
        return tags_of({CLUSTER_TAG: cluster_name, self.stack_tag: self.value})

    def legacy_stack_tags(self, cluster_name: str) -> Tags:
        """The legacy discovery filter LBC ORs with :meth:`stack_tags` (both kinds use it)."""
        return tags_of({LEGACY_CLUSTER_TAG: cluster_name, self.stack_tag: self.value})

    def binding_labels(self) -> Tags:
        """Labels of every TargetGroupBinding of the stack; bindings are listed by them."""
        if self.explicit:
            return ((self.stack_tag, self.name),)
        return tags_of(
            {
                f"{self.prefix}/stack-namespace": self.namespace,
                f"{self.prefix}/stack-name": self.name,
            }
        )

    def __str__(self) -> str:
        return self.value


class LoadBalancerType(enum.StrEnum):
    APPLICATION = "application"
    NETWORK = "network"


class Scheme(enum.StrEnum):
    INTERNAL = "internal"
    INTERNET_FACING = "internet-facing"


class IPAddressType(enum.StrEnum):
    """IP address type of a load balancer or target group; lbc supports ``ipv4`` only."""

    IPV4 = "ipv4"


TargetType = binding.TargetType
"""One target type for bindings and stacks: a stack's binding is a binding like any other."""


class Protocol(enum.StrEnum):
    """Listener, target-group and health-check protocols lbc builds."""

    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    UDP = "UDP"


class ProtocolVersion(enum.StrEnum):
    HTTP1 = "HTTP1"
    HTTP2 = "HTTP2"
    GRPC = "GRPC"


class SecurityGroupRefKind(enum.StrEnum):
    FRONTEND = "frontend"  # the stack's managed SG (resource id ManagedLBSecurityGroup)
    BACKEND = "backend"  # the cluster's shared backend SG (or --backend-security-group)
    ID = "id"  # a literal sg-… id


@dataclass(frozen=True, slots=True)
class SecurityGroupRef:
    """A security group by reference: its id exists only once the deployer has resolved it."""

    kind: SecurityGroupRefKind
    group_id: str = ""  # set only for kind ID


FRONTEND_SG = SecurityGroupRef(SecurityGroupRefKind.FRONTEND)
BACKEND_SG = SecurityGroupRef(SecurityGroupRefKind.BACKEND)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One load-balancer or target-group attribute, as the API takes it (strings)."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    """The stack's ALB or NLB.

    ``subnets`` are subnet ids sorted by id. ``security_groups`` is ``()`` for an NLB without
    security groups (an existing SG-less NLB stays SG-less; AWS cannot add them later).
    ``attributes`` are only those the user asked for, sorted by key: LBC leaves the others at
    whatever AWS holds.
    """

    name: str
    type: LoadBalancerType
    scheme: Scheme
    ip_address_type: IPAddressType
    subnets: tuple[str, ...]
    security_groups: tuple[SecurityGroupRef, ...]
    attributes: tuple[Attribute, ...]
    tags: Tags
    resource_id: str = LOAD_BALANCER_ID


@dataclass(frozen=True, slots=True)
class IPPermission:
    """One inbound rule of the managed frontend SG: one protocol, one port range, one source.

    Exactly one of ``cidr_ipv4``, ``cidr_ipv6`` and ``prefix_list_id`` is set (LBC builds one
    permission per source).
    """

    protocol: str  # "tcp" | "udp"
    from_port: int
    to_port: int
    cidr_ipv4: str = ""
    cidr_ipv6: str = ""
    prefix_list_id: str = ""


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    """The stack's managed frontend SG; owned completely (every other inbound rule is revoked)."""

    name: str
    description: str
    ingress: tuple[IPPermission, ...]
    tags: Tags
    resource_id: str = FRONTEND_SG_ID


@dataclass(frozen=True, slots=True)
class BackendSecurityGroup:
    """The cluster-wide shared backend SG this stack needs (found by ``tags`` + VPC, not name).

    ``group_id`` is set when the operator named one (``--backend-security-group``): then lbc
    neither creates nor deletes it.
    """

    name: str
    description: str
    tags: Tags
    group_id: str = ""


@dataclass(frozen=True, slots=True)
class FixedResponseAction:
    status_code: str
    content_type: str = "text/plain"
    message_body: str = ""


@dataclass(frozen=True, slots=True)
class ForwardAction:
    """Forward to one target group of this stack, named by its resource id."""

    target_group_id: str


Action = FixedResponseAction | ForwardAction


class ConditionField(enum.StrEnum):
    HOST_HEADER = "host-header"
    PATH_PATTERN = "path-pattern"


@dataclass(frozen=True, slots=True)
class RuleCondition:
    """A rule condition, written in its typed form (HostHeaderConfig, PathPatternConfig)."""

    field: ConditionField
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Listener:
    """One listener, paired with AWS by ``port``; ``resource_id`` is the port in decimal.

    ``tags`` (like a rule's) are written only while the ``ListenerRulesTagging`` gate is on;
    with it off LBC neither sets nor reconciles listener and rule tags.
    """

    port: int
    protocol: Protocol
    default_actions: tuple[Action, ...]
    tags: Tags
    resource_id: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One listener rule; ``resource_id`` is ``"<listener port>:<priority>"``."""

    listener_port: int
    priority: int
    conditions: tuple[RuleCondition, ...]
    actions: tuple[Action, ...]
    tags: Tags
    resource_id: str


@dataclass(frozen=True, slots=True)
class Matcher:
    """Health-check success codes: HTTP codes (``"200"``, ``"200-399"``) or gRPC codes."""

    http_code: str = ""
    grpc_code: str = ""


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """Target-group health check. ``port`` is ``"traffic-port"`` or a port number in decimal.

    ``path`` and ``matcher`` are ``""`` / ``None`` for TCP checks (AWS rejects them there).
    """

    port: str
    protocol: Protocol
    path: str
    matcher: Matcher | None
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


TRAFFIC_PORT = "traffic-port"


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """One target group. ``protocol_version`` is ``None`` for NLB target groups.

    ``attributes`` are those LBC sets (defaults plus the annotation), sorted by key.
    """

    name: str
    target_type: TargetType
    port: int
    protocol: Protocol
    protocol_version: ProtocolVersion | None
    ip_address_type: IPAddressType
    health_check: HealthCheck
    attributes: tuple[Attribute, ...]
    tags: Tags
    resource_id: str


@dataclass(frozen=True, slots=True)
class BindingPort:
    """One ``spec.networking.ingress[].ports[]`` entry; ``port`` may be a named port."""

    protocol: str  # "TCP" | "UDP"
    port: int | str | None


@dataclass(frozen=True, slots=True)
class BindingPeer:
    """A networking peer: a security group by reference, or a CIDR (SG-less NLB)."""

    security_group: SecurityGroupRef | None = None
    cidr: str = ""


@dataclass(frozen=True, slots=True)
class BindingRule:
    peers: tuple[BindingPeer, ...]
    ports: tuple[BindingPort, ...]


@dataclass(frozen=True, slots=True)
class TargetGroupBinding:
    """A generated TargetGroupBinding (namespace = the Service's, name = the TG's name).

    ``target_group_id`` is the resource id of its target group in this stack; the deployer puts
    that group's ARN into ``spec.targetGroupARN``. ``labels`` are exactly the stack labels.
    ``networking`` is ``None`` when there is nothing to grant (no backend SG source).
    ``node_selector`` is ``matchLabels`` only (``target-node-labels``), ``()`` when unset.
    """

    name: str
    namespace: str
    labels: Tags
    target_group_id: str
    target_type: TargetType
    service_name: str
    service_port: int | str
    networking: tuple[BindingRule, ...] | None
    node_selector: Tags
    ip_address_type: IPAddressType
    vpc_id: str
    multi_cluster: bool
    target_group_protocol: Protocol


@dataclass(frozen=True, slots=True)
class Stack:
    """Everything one Ingress group or Service wants to exist.

    ``tags`` are the stack tags (the discovery filter). ``backend_security_group`` is ``None``
    when the stack does not need the shared backend SG (SG-less NLB, backend SG disabled, empty
    stack): the deployer then releases this stack's claim on it.
    """

    id: StackId
    cluster_name: str
    tags: Tags
    load_balancer: LoadBalancer | None = None
    security_group: SecurityGroup | None = None
    backend_security_group: BackendSecurityGroup | None = None
    listeners: tuple[Listener, ...] = ()
    rules: tuple[Rule, ...] = ()
    target_groups: tuple[TargetGroup, ...] = ()
    bindings: tuple[TargetGroupBinding, ...] = ()

    @property
    def empty(self) -> bool:
        return self.load_balancer is None and not (
            self.security_group or self.listeners or self.rules or self.target_groups
        )

    def target_group(self, resource_id: str) -> TargetGroup:
        """The target group with ``resource_id`` (KeyError when the stack has none)."""
        for tg in self.target_groups:
            if tg.resource_id == resource_id:
                return tg
        raise KeyError(resource_id)


def empty_stack(stack_id: StackId, cluster_name: str) -> Stack:
    """The stack that deletes everything found under ``stack_id``'s tags."""
    return Stack(id=stack_id, cluster_name=cluster_name, tags=stack_id.stack_tags(cluster_name))


@dataclass(frozen=True, slots=True)
class BuildError:
    """A stack that cannot be built from its inputs; nothing is written until an input changes.

    ``reason`` is the event reason (LBC's ``FailedBuildModel``); ``message`` follows LBC's
    wording where it is known.
    """

    message: str
    reason: str = "FailedBuildModel"


@dataclass(frozen=True, slots=True)
class HandsOff:
    """The stack uses something lbc does not implement: no write at all, one Warning event.

    ``keys`` are the unsupported annotation keys or IngressClassParams fields, sorted;
    ``objects`` names where they were found (``"Ingress ns/name"``, ``"IngressClassParams p"``).
    """

    keys: tuple[str, ...]
    objects: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        where = f" on {', '.join(self.objects)}" if self.objects else ""
        return (
            f"unsupported settings{where}: {', '.join(self.keys)}; lbc leaves this stack untouched"
        )


@dataclass(frozen=True, slots=True)
class Built:
    """A successful build: the stack, and the finalizer its Kubernetes objects must carry.

    ``warnings`` are messages for Warning events that do not stop the deploy.
    """

    stack: Stack
    finalizer: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unclaimed:
    """The object is not lbc's and holds no lbc finalizer: do nothing at all (not even deploy
    an empty stack). ``warnings`` are messages for Warning events (e.g. a Service annotated
    ``aws-load-balancer-type: external`` without a target type, which nobody provisions)."""

    warnings: tuple[str, ...] = ()


#: What a builder returns: deploy ``Built.stack``; report ``BuildError``; touch nothing on
#: ``HandsOff`` or ``Unclaimed``.
BuildOutcome = Built | BuildError | HandsOff | Unclaimed
