"""The Ingress group → ALB stack builder (LBC's Ingress model builder, HTTP listeners only).

Input: one :class:`~lbc.core.stack.ingress_groups.IngressGroup` (sorted active members and
inactive ones), the Services of the members' namespaces, the VPC's subnets, the load balancer
found under the stack tags (if any) and the controller config. Output: ``Built`` (the stack and
the group finalizer), ``BuildError`` (LBC's message; the event reason is ``FailedBuildModel``),
or ``HandsOff`` (an annotation, IngressClassParams field or backend-Service annotation lbc does
not implement: nothing may be written, not even a finalizer).

What is built, in LBC's terms: one ALB (scheme and explicit name agreed by all members,
subnets from params / annotation / the existing LB when the scheme is unchanged / discovery),
the managed frontend SG (tcp per listen port and inbound CIDR) plus the shared backend SG, one
listener per listen port with its default action, the rules of ``ingress_rules`` and the target
groups and bindings of ``ingress_backends``. A group without active members builds the empty
stack (everything under its tags is deleted), unless a deleting member asks for deletion
protection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lbc.core.stack import names, subnets
from lbc.core.stack.annotations import (
    ingress_annotations,
    parse_bool,
    unsupported_backend_keys,
    unsupported_ingress_keys,
)
from lbc.core.stack.failures import BuildFailure
from lbc.core.stack.ingress_backends import BackendBuilder, check_external_tags, params_tags
from lbc.core.stack.ingress_groups import ClassifiedIngress, IngressGroup
from lbc.core.stack.ingress_ports import PortConfig, merged_ports
from lbc.core.stack.ingress_rules import default_actions, go_list, member_rules
from lbc.core.stack.inputs import ExistingLoadBalancer, ServiceView, StackConfig, SubnetFacts
from lbc.core.stack.load_balancers import stack_listener, stack_load_balancer
from lbc.core.stack.model import (
    BuildError,
    BuildOutcome,
    Built,
    HandsOff,
    IPAddressType,
    IPPermission,
    Listener,
    LoadBalancerType,
    Rule,
    Scheme,
    SecurityGroup,
    Stack,
    StackId,
    empty_stack,
)
from lbc.core.stack.security_groups import frontend_security_group, frontend_wiring
from lbc.core.stack.tags import merge_first_wins, resource_tags, with_default_tags

DELETION_PROTECTION = "deletion_protection.enabled"


@dataclass(frozen=True, slots=True)
class IngressInputs:
    """Everything one Ingress group build reads.

    ``services`` must hold every Service the members reference that exists (a missing one is a
    fixed-503 rule); ``subnets`` every subnet of the cluster VPC (only read when subnets are
    not inherited from ``existing``).
    """

    group: IngressGroup
    config: StackConfig
    services: tuple[ServiceView, ...] = ()
    subnets: tuple[SubnetFacts, ...] = ()
    existing: ExistingLoadBalancer | None = None


def build_ingress_stack(inputs: IngressInputs) -> BuildOutcome:
    """The desired stack of one Ingress group (see the module docstring)."""
    group = inputs.group
    services = {(s.namespace, s.name): s for s in inputs.services}
    hands_off = _hands_off(group, services)
    if hands_off is not None:
        return hands_off
    try:
        _refuse_protected_deletion(group)
        if not group.members:
            return Built(empty_stack(group.id, inputs.config.cluster_name), group.finalizer)
        stack = _build(inputs, services)
    except BuildFailure as err:
        return BuildError(str(err))
    return Built(stack, group.finalizer)


def _referenced_services(
    member: ClassifiedIngress, services: Mapping[tuple[str, str], ServiceView]
) -> Iterable[ServiceView]:
    ingress = member.ingress
    backends = [p.backend for r in ingress.rules for p in r.paths]
    if ingress.default_backend is not None:
        backends.append(ingress.default_backend)
    for backend in backends:
        service = services.get((ingress.namespace, backend.service_name))
        if service is not None:
            yield service


def _hands_off(
    group: IngressGroup, services: Mapping[tuple[str, str], ServiceView]
) -> HandsOff | None:
    keys: set[str] = set()
    objects: set[str] = set()

    def note(found: Iterable[str], where: str) -> None:
        found = tuple(found)
        if found:
            keys.update(found)
            objects.add(where)

    for ingress in (*(m.ingress for m in group.members), *group.inactive):
        note(unsupported_ingress_keys(dict(ingress.annotations)), f"Ingress {ingress.key}")
    for member in group.members:
        params = member.params
        if params is not None:
            fields = list(params.unsupported)
            if params.ip_address_type not in {"", IPAddressType.IPV4.value}:
                fields.append("ipAddressType")
            note(fields, f"IngressClassParams {params.name}")
        for service in _referenced_services(member, services):
            note(unsupported_backend_keys(dict(service.annotations)), f"Service {service.key}")
    if not keys:
        return None
    return HandsOff(tuple(sorted(keys)), tuple(sorted(objects)))


def _refuse_protected_deletion(group: IngressGroup) -> None:
    for ingress in group.inactive:
        if not ingress.deleting:
            continue
        attributes = ingress_annotations(dict(ingress.annotations)).string_map(
            "load-balancer-attributes"
        )
        raw = (attributes or {}).get(DELETION_PROTECTION)
        if raw is not None and parse_bool(DELETION_PROTECTION, raw):
            raise BuildFailure(
                f"deletion_protection is enabled, cannot delete the ingress: {ingress.name}"
            )


def _go_set(values: Iterable[str]) -> str:
    """Go's ``%v`` of a ``sets.String``: ``map[a:{} b:{}]``."""
    return "map[" + " ".join(f"{v}:{{}}" for v in sorted(values)) + "]"


def _member_tags(member: ClassifiedIngress, config: StackConfig) -> dict[str, str]:
    """One member's user tags: IngressClassParams tags over its ``tags`` annotation."""
    ingress = member.ingress
    annotated = ingress_annotations(dict(ingress.annotations)).string_map("tags") or {}
    check_external_tags(annotated, config, f"Ingress {ingress.key}")
    return merge_first_wins(params_tags(member, config), annotated)


def _group_tags(members: Sequence[ClassifiedIngress], config: StackConfig) -> dict[str, str]:
    """Union of the members' tags; two members disagreeing on a key is an error."""
    merged: dict[str, str] = {}
    for member in members:
        for key, value in _member_tags(member, config).items():
            if key in merged and merged[key] != value:
                raise BuildFailure(f"conflicting tag {key}: {merged[key]} | {value}")
            merged[key] = value
    return with_default_tags(
        merged, dict(config.default_tags), low_priority=config.default_tags_low_priority
    )


def _explicit(members: Sequence[ClassifiedIngress], field: str, key: str) -> set[str]:
    """The values the members ask for: each member's IngressClassParams ``field`` when set
    (it wins over the member's annotations), else its annotation ``key``."""
    explicit: set[str] = set()
    for member in members:
        value = getattr(member.params, field) if member.params is not None else None
        raw = value or ingress_annotations(dict(member.ingress.annotations)).string(key)
        if raw is not None:
            explicit.add(raw)
    return explicit


def _scheme(members: Sequence[ClassifiedIngress], config: StackConfig) -> Scheme:
    explicit = _explicit(members, "scheme", "scheme")
    if not explicit:
        return config.default_scheme
    if len(explicit) > 1:
        raise BuildFailure(f"conflicting scheme: {_go_set(explicit)}")
    raw = explicit.pop()
    if raw not in {s.value for s in Scheme}:
        raise BuildFailure(f"unknown scheme: {raw}")
    return Scheme(raw)


def _check_ip_address_type(members: Sequence[ClassifiedIngress]) -> None:
    explicit = _explicit(members, "ip_address_type", "ip-address-type")
    if len(explicit) > 1:
        raise BuildFailure(f"conflicting IPAddressType: {go_list(sorted(explicit))}")
    # Dual-stack values are hands-off before the build; anything else but ipv4 is unknown.
    for raw in explicit:
        if raw != IPAddressType.IPV4.value:
            raise BuildFailure(f"unknown IPAddressType: {raw}")


def _lb_name(
    members: Sequence[ClassifiedIngress], cluster: str, group: StackId, scheme: Scheme
) -> str:
    explicit = _explicit(members, "load_balancer_name", "load-balancer-name")
    if len(explicit) > 1:
        raise BuildFailure(f"conflicting load balancer name: {_go_set(explicit)}")
    if explicit:
        name = explicit.pop()
        problem = names.check_explicit_name(name)
        if problem is not None:
            raise BuildFailure(problem)
        return name
    return names.alb_name(cluster, group, scheme.value)


def _lb_attributes(members: Sequence[ClassifiedIngress]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for member in members:
        ann = ingress_annotations(dict(member.ingress.annotations))
        for key, value in (ann.string_map("load-balancer-attributes") or {}).items():
            if key in merged and merged[key] != value:
                raise BuildFailure(
                    f"conflicting load balancer attributes {key}: {merged[key]} | {value}"
                )
            merged[key] = value
    return merged


def _subnets(
    inputs: IngressInputs, members: Sequence[ClassifiedIngress], scheme: Scheme
) -> tuple[str, ...]:
    config = inputs.config
    rules = subnets.SubnetRules.of(config)
    alb = LoadBalancerType.APPLICATION
    selectors = [m.params.subnets for m in members if m.params and m.params.subnets]
    annotated: list[tuple[str, ...]] = []
    for member in members:
        if member.params is not None and member.params.subnets is not None:
            continue
        listed = ingress_annotations(dict(member.ingress.annotations)).string_list("subnets")
        if listed is not None:
            annotated.append(listed)
    if selectors:
        if annotated:
            raise BuildFailure(
                "conflicting subnet specifications: IngressClassParams versus annotation"
            )
        if any(s != selectors[0] for s in selectors[1:]):
            raise BuildFailure("conflicting IngressClassParams subnet specifications")
        chosen = subnets.resolve_selector(inputs.subnets, selectors[0], alb, rules)
    elif annotated:
        for other in annotated[1:]:
            if sorted(other) != sorted(annotated[0]):
                raise BuildFailure(
                    f"conflicting subnets: {go_list(annotated[0])} | {go_list(other)}"
                )
        chosen = subnets.resolve_names_or_ids(inputs.subnets, annotated[0], alb, rules)
    elif inputs.existing is not None and inputs.existing.scheme is scheme:
        chosen = inputs.existing.subnets
    else:
        chosen = subnets.discover(inputs.subnets, scheme, alb, rules)
    return chosen


def _frontend_sg(
    group: StackId, config: StackConfig, ports: Mapping[int, PortConfig], tags: dict[str, str]
) -> SecurityGroup:
    permissions = tuple(
        IPPermission("tcp", port, port, cidr_ipv4=cidr)
        for port, cfg in ports.items()
        for cidr in cfg.cidrs_v4
    )
    return frontend_security_group(
        names.alb_security_group_name(config.cluster_name, group), group, config, permissions, tags
    )


def _build(inputs: IngressInputs, services: Mapping[tuple[str, str], ServiceView]) -> Stack:
    group, config = inputs.group, inputs.config
    members = group.members
    cluster = config.cluster_name
    ports = merged_ports(members)
    scheme = _scheme(members, config)
    _check_ip_address_type(members)
    lb_subnets = _subnets(inputs, members, scheme)
    group_tags = _group_tags(members, config)
    security_group = _frontend_sg(group.id, config, ports, group_tags)
    wiring = frontend_wiring(config)
    load_balancer = stack_load_balancer(
        group.id,
        cluster,
        LoadBalancerType.APPLICATION,
        name=_lb_name(members, cluster, group.id, scheme),
        scheme=scheme,
        subnets=lb_subnets,
        wiring=wiring,
        attributes=_lb_attributes(members),
        tags=group_tags,
    )
    backends = BackendBuilder(group.id, config, wiring.source)
    listeners: list[Listener] = []
    rules: list[Rule] = []
    for port, cfg in ports.items():
        listeners.append(
            stack_listener(
                group.id,
                cluster,
                port,
                protocol=cfg.protocol,
                default_actions=default_actions(cfg.members, services, backends),
                tags=_group_tags(cfg.members, config),
            )
        )
        priority = 0
        for member in cfg.members:
            member_tags = with_default_tags(
                _member_tags(member, config),
                dict(config.default_tags),
                low_priority=config.default_tags_low_priority,
            )
            for rule_conditions, actions in member_rules(member, services, backends):
                priority += 1
                rule_id = names.rule_id(port, priority)
                rules.append(
                    Rule(
                        listener_port=port,
                        priority=priority,
                        conditions=rule_conditions,
                        actions=actions,
                        tags=resource_tags(group.id, cluster, rule_id, member_tags),
                        resource_id=rule_id,
                    )
                )
    return Stack(
        id=group.id,
        cluster_name=cluster,
        tags=group.id.stack_tags(cluster),
        load_balancer=load_balancer,
        security_group=security_group,
        backend_security_group=wiring.backend,
        listeners=tuple(listeners),
        rules=tuple(rules),
        target_groups=tuple(backends.target_groups.values()),
        bindings=tuple(backends.bindings),
    )
