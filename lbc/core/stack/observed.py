"""What AWS holds for a stack, as values: the deployer's "actual" side.

The AWS adapter (``lbc.aws.stacks``) reads these from DescribeLoadBalancers / TargetGroups /
Listeners / Rules / Tags and DescribeSecurityGroups; :mod:`lbc.core.stack.changes` compares them
with the desired stack. Nothing here is ever looked up by name: a resource belongs to a stack
because its tags say so (:func:`tags_match`), and pairs with a desired resource through its
``<prefix>/resource`` tag.

Actions and conditions are kept in a canonical form (:func:`canonical_action`,
:func:`canonical_condition`) so that "unchanged" means unchanged on AWS and on the lab alike:
AWS answers DescribeRules with a richer shape than the request (the top-level
``TargetGroupArn``, ``Order``, both ``Values`` and the typed config), moto echoes the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbc.core.stack.inputs import ExistingLoadBalancer
from lbc.core.stack.model import CLUSTER_TAG, LEGACY_CLUSTER_TAG, Scheme


def tags_match(tags: Mapping[str, str], cluster: str, prefix: str, stack_id: str) -> bool:
    """Whether ``tags`` put a resource in this cluster's stack ``stack_id``.

    Two filters, ORed as LBC does: the current pair (``elbv2.k8s.aws/cluster`` + stack) and the
    legacy pair (``ingress.k8s.aws/cluster`` + stack, used for Services too).
    """
    if tags.get(f"{prefix}/stack") != stack_id:
        return False
    return tags.get(CLUSTER_TAG) == cluster or tags.get(LEGACY_CLUSTER_TAG) == cluster


def owned(tags: Mapping[str, str], cluster: str, prefix: str, stack_id: str) -> bool:
    """The deletion guard: this cluster's tag AND this stack's tag, whatever else it carries."""
    return tags_match(tags, cluster, prefix, stack_id)


def canonical_action(action: Mapping[str, Any]) -> tuple[Any, ...]:
    """An action as a comparable value, ignoring what AWS adds or the request may omit.

    As LBC's comparison: ``Order`` and the top-level ``TargetGroupArn`` are ignored (a single
    forward is normalised to its ``ForwardConfig``), forward tuples are sorted by ARN, a lone
    tuple's weight is ignored, stickiness counts only when enabled; empty equals absent.
    """
    kind = str(action.get("Type", ""))
    if kind == "forward":
        config = action.get("ForwardConfig") or {}
        groups = list(config.get("TargetGroups") or [])
        if not groups and action.get("TargetGroupArn"):
            groups = [{"TargetGroupArn": action["TargetGroupArn"]}]
        tuples = sorted(
            (str(g.get("TargetGroupArn", "")), None if len(groups) == 1 else g.get("Weight", 1))
            for g in groups
        )
        sticky = (config.get("TargetGroupStickinessConfig") or {}).get("Enabled") is True
        duration = (
            (config.get("TargetGroupStickinessConfig") or {}).get("DurationSeconds")
            if sticky
            else None
        )
        return ("forward", tuple(tuples), sticky, duration)
    if kind == "fixed-response":
        config = action.get("FixedResponseConfig") or {}
        return (
            "fixed-response",
            str(config.get("StatusCode", "")),
            config.get("ContentType") or None,
            config.get("MessageBody") or None,
        )
    if kind == "redirect":
        config = action.get("RedirectConfig") or {}
        return (
            "redirect",
            config.get("Protocol") or "#{protocol}",
            config.get("Port") or "#{port}",
            config.get("Host") or "#{host}",
            config.get("Path") or "/#{path}",
            config.get("Query") or "#{query}",
            str(config.get("StatusCode", "")),
        )
    return (kind, tuple(sorted((k, repr(v)) for k, v in action.items() if k != "Order")))


# Pairs, not a dict: the runbook test reads CamelCase dict values as event reasons.
_TYPED_CONFIG: tuple[tuple[str, str], ...] = (
    ("path-pattern", "PathPatternConfig"),
    ("host-header", "HostHeaderConfig"),
    ("http-request-method", "HttpRequestMethodConfig"),
    ("source-ip", "SourceIpConfig"),
)


def canonical_condition(condition: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A condition as ``(field, sorted values)``, from the typed config or the legacy ``Values``.

    LBC compares the typed ``*Config`` blocks only; moto echoes whichever form was written.
    Reading the typed block first and the legacy list as a fallback gives the same value for
    both shapes of the same condition.
    """
    name = str(condition.get("Field", ""))
    typed_key = next((key for field, key in _TYPED_CONFIG if field == name), None)
    values: Iterable[Any] = ()
    if typed_key is not None and condition.get(typed_key):
        values = condition[typed_key].get("Values") or []
    else:
        values = condition.get("Values") or []
    return (name, tuple(sorted(str(v) for v in values)))


def canonical_conditions(conditions: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
    return tuple(sorted(canonical_condition(c) for c in conditions))


def canonical_actions(actions: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
    ordered = sorted(actions, key=lambda a: int(a.get("Order", 0) or 0))
    return tuple(canonical_action(a) for a in ordered)


@dataclass(frozen=True, slots=True)
class Permission:
    """One inbound rule of a managed security group: protocol, port range and one source."""

    protocol: str
    from_port: int
    to_port: int
    cidr: str | None = None
    source_group: str | None = None


@dataclass(frozen=True, slots=True)
class ObservedSecurityGroup:
    group_id: str
    name: str
    tags: Mapping[str, str]
    inbound: frozenset[Permission] = frozenset()


@dataclass(frozen=True, slots=True)
class ObservedTargetGroup:
    arn: str
    name: str
    target_type: str
    protocol: str
    protocol_version: str | None
    port: int
    vpc_id: str
    ip_address_type: str
    health_check: Mapping[str, Any]
    tags: Mapping[str, str]
    load_balancer_arns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ObservedLoadBalancer:
    arn: str
    name: str
    type: str
    scheme: str
    dns_name: str
    vpc_id: str
    ip_address_type: str
    subnets: frozenset[str]
    security_groups: frozenset[str]
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ObservedRule:
    arn: str
    priority: int
    conditions: tuple[Any, ...]
    actions: tuple[Any, ...]
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ObservedListener:
    arn: str
    port: int
    protocol: str
    default_actions: tuple[Any, ...]
    tags: Mapping[str, str]
    rules: tuple[ObservedRule, ...] = ()


@dataclass(frozen=True, slots=True)
class ObservedStack:
    """Every AWS resource carrying this cluster's and this stack's tags.

    ``listeners`` belong to the load balancers of ``load_balancers`` (keyed by LB ARN); rules
    are inside their listener. ``other_arns`` holds every LB and TG ARN in the VPC that is *not*
    this stack's: a create that returns one of them was answered with someone else's resource.
    """

    load_balancers: tuple[ObservedLoadBalancer, ...] = ()
    target_groups: tuple[ObservedTargetGroup, ...] = ()
    security_groups: tuple[ObservedSecurityGroup, ...] = ()
    listeners: Mapping[str, tuple[ObservedListener, ...]] = field(default_factory=dict)
    other_arns: frozenset[str] = frozenset()


def existing_load_balancer(observed: ObservedStack) -> ExistingLoadBalancer | None:
    """The builders' view of the load balancer found under the stack's tags (the first one with
    a known scheme), for LBC's "keep what is there" defaults."""
    for lb in observed.load_balancers:
        try:
            scheme = Scheme(lb.scheme)
        except ValueError:
            continue
        return ExistingLoadBalancer(
            type=lb.type,
            scheme=scheme,
            subnets=tuple(sorted(lb.subnets)),
            security_groups=tuple(sorted(lb.security_groups)),
            dns_name=lb.dns_name,
        )
    return None
