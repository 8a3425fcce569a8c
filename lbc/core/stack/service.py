"""The Service → NLB stack builder (LBC's Service model builder, TCP and UDP listeners).

Claiming is LBC's: ``spec.loadBalancerClass`` equal to ``--load-balancer-class`` (default
``service.k8s.aws/nlb``); with no class, ``aws-load-balancer-type: nlb-ip``, or ``external``
together with ``aws-load-balancer-nlb-target-type: ip|instance``. Any other class is never
touched. ``external`` without a target type is claimed by nobody (the cloud provider skips it
too); lbc reports that as a warning and changes nothing.

A claimed Service builds: the NLB (scheme from the annotation, the legacy ``internal`` bool, the
existing NLB, then the default; subnets from the annotation, the existing NLB when the scheme is
unchanged, then discovery), the managed frontend SG and shared backend SG unless the
``NLBSecurityGroup`` gate is off, ``disable-nlb-sg`` is set, or the existing NLB has no security
groups (AWS cannot add them to such an NLB: it stays SG-less), one listener per Service port
forwarding to that port's target group, and the bindings. A Service that is no longer claimed
but still holds the finalizer builds the empty stack (everything under its tags is deleted),
unless its load-balancer attributes ask for deletion protection.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from lbc.core.stack import names, subnets
from lbc.core.stack.annotations import (
    parse_bool,
    service_annotations,
    unsupported_service_keys,
)
from lbc.core.stack.failures import BuildFailure
from lbc.core.stack.inputs import ExistingLoadBalancer, ServiceView, StackConfig, SubnetFacts
from lbc.core.stack.load_balancers import stack_listener, stack_load_balancer
from lbc.core.stack.model import (
    BuildError,
    BuildOutcome,
    Built,
    ForwardAction,
    HandsOff,
    IPAddressType,
    IPPermission,
    LoadBalancerType,
    Protocol,
    Scheme,
    SecurityGroup,
    Stack,
    StackId,
    StackKind,
    Unclaimed,
    empty_stack,
)
from lbc.core.stack.security_groups import (
    NO_SECURITY_GROUPS,
    frontend_security_group,
    frontend_wiring,
)
from lbc.core.stack.service_targets import NetworkingFacts, build_target_group
from lbc.core.stack.tags import with_default_tags

SERVICE_FINALIZER = "service.k8s.aws/resources"
DELETION_PROTECTION = "deletion_protection.enabled"
DNS_CLIENT_ROUTING_POLICY = "dns_record.client_routing_policy"
_ROUTING_POLICIES = (
    "availability_zone_affinity",
    "partial_availability_zone_affinity",
    "any_availability_zone",
)
_LISTENER_PROTOCOLS = frozenset({"TCP", "UDP"})


@dataclass(frozen=True, slots=True)
class ServiceInputs:
    """Everything one Service build reads (``subnets``: all subnets of the cluster VPC, with
    ``cidr`` filled, needed for SG-less NLBs)."""

    service: ServiceView
    config: StackConfig
    subnets: tuple[SubnetFacts, ...] = ()
    existing: ExistingLoadBalancer | None = None


def service_stack_id(service: ServiceView) -> StackId:
    return StackId(StackKind.SERVICE, service.namespace, service.name)


def claims(service: ServiceView, config: StackConfig) -> bool:
    """LBC's ``IsServiceSupported``: is this (live) Service an NLB Service lbc manages?"""
    if service.deleting:
        return False
    if config.service_type_load_balancer_only and service.type != "LoadBalancer":
        return False
    if service.load_balancer_class:
        return service.load_balancer_class == config.load_balancer_class
    ann = service_annotations(dict(service.annotations))
    lb_type = ann.string("aws-load-balancer-type") or ""
    if lb_type == "nlb-ip":
        return True
    target = ann.string("aws-load-balancer-nlb-target-type") or ""
    return lb_type == "external" and target in {"ip", "instance"}


def unclaimed_external_warning(service: ServiceView) -> str | None:
    """The warning for ``aws-load-balancer-type: external`` without a target type (nobody
    provisions such a Service: neither LBC nor the cloud provider)."""
    if service.load_balancer_class:
        return None
    ann = service_annotations(dict(service.annotations))
    target = ann.string("aws-load-balancer-nlb-target-type") or ""
    if ann.string("aws-load-balancer-type") == "external" and target not in {"ip", "instance"}:
        return (
            "service.beta.kubernetes.io/aws-load-balancer-type is external but "
            "aws-load-balancer-nlb-target-type is not ip or instance: no load balancer is "
            "provisioned for this Service"
        )
    return None


def build_service_stack(inputs: ServiceInputs) -> BuildOutcome:
    """The desired stack of one Service (see the module docstring)."""
    service, config = inputs.service, inputs.config
    stack_id = service_stack_id(service)
    claimed = claims(service, config)
    finalized = SERVICE_FINALIZER in service.finalizers
    if not claimed and not finalized:
        warning = unclaimed_external_warning(service)
        return Unclaimed((warning,) if warning and not service.deleting else ())
    hands_off = _hands_off(service)
    if hands_off is not None:
        return hands_off
    try:
        if not claimed:
            _refuse_protected_deletion(service)
            return Built(empty_stack(stack_id, config.cluster_name), SERVICE_FINALIZER)
        stack = _build(inputs, stack_id)
    except BuildFailure as err:
        return BuildError(str(err))
    return Built(stack, SERVICE_FINALIZER)


def _hands_off(service: ServiceView) -> HandsOff | None:
    keys = list(unsupported_service_keys(dict(service.annotations)))
    shared = [p for p, n in Counter(p.port for p in service.ports).items() if n > 1]
    keys += [f"spec.ports[port={p}] (TCP and UDP on one port)" for p in sorted(shared)]
    if not keys:
        return None
    return HandsOff(tuple(sorted(keys)), (f"Service {service.key}",))


def _lb_attributes(service: ServiceView) -> dict[str, str]:
    ann = service_annotations(dict(service.annotations))
    attributes = ann.string_map("aws-load-balancer-attributes") or {}
    policy = attributes.get(DNS_CLIENT_ROUTING_POLICY)
    if policy is not None and policy not in _ROUTING_POLICIES:
        raise BuildFailure(
            f"invalid {DNS_CLIENT_ROUTING_POLICY} set in annotation aws-load-balancer-attributes: "
            f"got '{policy}' expected one of ['any_availability_zone', "
            "'partial_availability_zone_affinity', 'availability_zone_affinity']"
        )
    return attributes


def _refuse_protected_deletion(service: ServiceView) -> None:
    ann = service_annotations(dict(service.annotations))
    raw = (ann.string_map("aws-load-balancer-attributes") or {}).get(DELETION_PROTECTION)
    if raw is not None and parse_bool(DELETION_PROTECTION, raw):
        raise BuildFailure(
            f"deletion_protection is enabled, cannot delete the service: {service.name}"
        )


def _scheme(
    service: ServiceView, existing: ExistingLoadBalancer | None, config: StackConfig
) -> Scheme:
    ann = service_annotations(dict(service.annotations))
    raw = ann.string("aws-load-balancer-scheme")
    if raw is not None:
        if raw not in {s.value for s in Scheme}:
            raise BuildFailure(f"unknown scheme: {raw}")
        return Scheme(raw)
    internal = ann.boolean("aws-load-balancer-internal")
    if internal is not None:
        return Scheme.INTERNAL if internal else Scheme.INTERNET_FACING
    if existing is not None:
        return existing.scheme
    return config.default_scheme


def _user_tags(service: ServiceView, config: StackConfig) -> dict[str, str]:
    ann = service_annotations(dict(service.annotations))
    tags = ann.string_map("aws-load-balancer-additional-resource-tags") or {}
    for key in tags:
        if key in config.external_managed_tags:
            raise BuildFailure(f"external managed tag key {key} cannot be specified on Service")
    return with_default_tags(
        tags, dict(config.default_tags), low_priority=config.default_tags_low_priority
    )


def _security_groups(
    service: ServiceView, existing: ExistingLoadBalancer | None, config: StackConfig
) -> bool:
    """Whether the NLB gets the managed frontend SG (LBC's SG decision, incl. SG-less stays)."""
    disabled = service_annotations(dict(service.annotations)).boolean(
        "aws-load-balancer-disable-nlb-sg"
    )
    if existing is not None and not existing.has_security_groups:
        return False
    if not config.nlb_security_group or disabled:
        if existing is not None and existing.has_security_groups:
            raise BuildFailure("conflicting security groups configuration")
        return False
    return True


def _source_ranges(service: ServiceView) -> tuple[str, ...]:
    if service.source_ranges:
        return service.source_ranges
    ann = service_annotations(dict(service.annotations))
    return ann.string_list("load-balancer-source-ranges") or ()


def _frontend_sg(
    service: ServiceView, stack_id: StackId, config: StackConfig, tags: dict[str, str]
) -> SecurityGroup:
    cidrs = _source_ranges(service)
    for cidr in cidrs:
        if ":" in cidr:
            raise BuildFailure(f"unsupported v6 cidr {cidr} when lb is not dualstack")
    cidrs = cidrs or ("0.0.0.0/0",)
    permissions = tuple(
        IPPermission(port.protocol.lower(), port.port, port.port, cidr_ipv4=cidr)
        for port in service.ports
        for cidr in cidrs
    )
    name = names.nlb_security_group_name(
        config.cluster_name, service.namespace, service.name, service.uid
    )
    return frontend_security_group(name, stack_id, config, permissions, tags)


def _lb_name(service: ServiceView, cluster: str, scheme: Scheme) -> str:
    """The ``aws-load-balancer-name`` annotation when it is a valid name, else LBC's hashed one."""
    explicit = service_annotations(dict(service.annotations)).string("aws-load-balancer-name")
    if explicit is None:
        return names.nlb_name(cluster, service.namespace, service.name, service.uid, scheme.value)
    problem = names.check_explicit_name(explicit)
    if problem is not None:
        raise BuildFailure(problem)
    return explicit


def _subnets(inputs: ServiceInputs, scheme: Scheme) -> tuple[str, ...]:
    config, service = inputs.config, inputs.service
    rules = subnets.SubnetRules.of(config)
    nlb = LoadBalancerType.NETWORK
    listed = service_annotations(dict(service.annotations)).string_list("aws-load-balancer-subnets")
    if listed is not None:
        return subnets.resolve_names_or_ids(inputs.subnets, listed, nlb, rules)
    existing = inputs.existing
    if existing is not None and existing.scheme is scheme:
        return subnets.resolve_names_or_ids(inputs.subnets, existing.subnets, nlb, rules)
    return subnets.discover(inputs.subnets, scheme, nlb, rules)


def _build(inputs: ServiceInputs, stack_id: StackId) -> Stack:
    service, config, existing = inputs.service, inputs.config, inputs.existing
    cluster = config.cluster_name
    ann = service_annotations(dict(service.annotations))
    scheme = _scheme(service, existing, config)
    ip_type = ann.string("aws-load-balancer-ip-address-type")
    if ip_type is not None and ip_type != IPAddressType.IPV4.value:
        raise BuildFailure(f"unknown IPAddressType: {ip_type}")
    chosen = _subnets(inputs, scheme)
    attributes = _lb_attributes(service)
    tags = _user_tags(service, config)
    security_group: SecurityGroup | None = None
    wiring = NO_SECURITY_GROUPS
    if _security_groups(service, existing, config):
        security_group = _frontend_sg(service, stack_id, config, tags)
        wiring = frontend_wiring(config)
    load_balancer = stack_load_balancer(
        stack_id,
        cluster,
        LoadBalancerType.NETWORK,
        name=_lb_name(service, cluster, scheme),
        scheme=scheme,
        subnets=chosen,
        wiring=wiring,
        attributes=attributes,
        tags=tags,
    )
    by_id = {s.subnet_id: s for s in inputs.subnets}
    facts = NetworkingFacts(
        source=wiring.source,
        scheme=scheme,
        subnet_cidrs=tuple(by_id[s].cidr for s in chosen if s in by_id and by_id[s].cidr),
        source_ranges=_source_ranges(service),
    )
    listeners, target_groups, bindings = [], [], []
    for port in service.ports:
        if port.protocol not in _LISTENER_PROTOCOLS:
            raise BuildFailure(f"unsupported listener protocol {port.protocol} on port {port.port}")
        target_group, binding = build_target_group(stack_id, service, port, config, tags, facts)
        listeners.append(
            stack_listener(
                stack_id,
                cluster,
                port.port,
                protocol=Protocol(port.protocol),
                default_actions=(ForwardAction(target_group.resource_id),),
                tags=tags,
            )
        )
        target_groups.append(target_group)
        bindings.append(binding)
    return Stack(
        id=stack_id,
        cluster_name=cluster,
        tags=stack_id.stack_tags(cluster),
        load_balancer=load_balancer,
        security_group=security_group,
        backend_security_group=wiring.backend,
        listeners=tuple(listeners),
        target_groups=tuple(target_groups),
        bindings=tuple(bindings),
    )
