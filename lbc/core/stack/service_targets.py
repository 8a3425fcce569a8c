"""Target groups and TargetGroupBindings of a Service's NLB, one per Service port.

Health-check defaults are LBC's and are hash inputs of the name: TCP on the traffic port,
10 s / 10 s / 3 / 3 (path ``/`` and matcher ``200-399`` only for HTTP(S) checks); for instance
targets of a ``type: LoadBalancer`` Service with ``externalTrafficPolicy: Local``, HTTP on
``spec.healthCheckNodePort`` ``/healthz``, 10 s / 6 s / 2 / 2, so nodes without a local endpoint
fail the check. ``proxy_protocol_v2.enabled=false`` is always set.

Binding networking: with security groups on the NLB, one rule from the backend SG (TCP traffic
port; UDP traffic port plus TCP when the check uses it; an extra TCP rule for a distinct numeric
health-check port). An NLB without security groups gets LBC's legacy CIDR rules: from the LB's
subnet CIDRs, or (UDP, or client-IP preservation) from the source ranges, else ``0.0.0.0/0``
(internet-facing) or the VPC CIDRs (internal); plus a health-check rule from the subnets when the
check cannot ride on the traffic rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lbc.core.stack import names
from lbc.core.stack.annotations import (
    Annotations,
    parse_bool,
    parse_intstr,
    service_annotations,
)
from lbc.core.stack.failures import BuildFailure
from lbc.core.stack.ingress_backends import (
    health_check_port,
    ipv4_target_group,
    node_selector_of,
    target_group_binding,
    target_group_port,
)
from lbc.core.stack.inputs import ServicePortView, ServiceView, StackConfig
from lbc.core.stack.model import (
    TRAFFIC_PORT,
    BindingPeer,
    BindingPort,
    BindingRule,
    HealthCheck,
    Matcher,
    Protocol,
    Scheme,
    SecurityGroupRef,
    StackId,
    TargetGroup,
    TargetGroupBinding,
    TargetType,
)

PROXY_PROTOCOL_V2 = "proxy_protocol_v2.enabled"
PRESERVE_CLIENT_IP = "preserve_client_ip.enabled"
_ANY_V4 = "0.0.0.0/0"


@dataclass(frozen=True, slots=True)
class NetworkingFacts:
    """What binding networking depends on beyond the port: the SG source (``None`` for an
    NLB without security groups), the scheme, the LB subnets' CIDRs and the source ranges."""

    source: SecurityGroupRef | None
    scheme: Scheme
    subnet_cidrs: tuple[str, ...]
    source_ranges: tuple[str, ...]


def target_type(service: ServiceView, config: StackConfig) -> TargetType:
    ann = service_annotations(dict(service.annotations))
    lb_type = ann.string("aws-load-balancer-type") or ""
    raw = ann.string("aws-load-balancer-nlb-target-type")
    raw = config.default_target_type.value if raw is None else raw
    if lb_type == "nlb-ip" or raw == TargetType.IP.value:
        return TargetType.IP
    if service.type == "ClusterIP":
        raise BuildFailure(
            f'unsupported service type "{service.type}" for load balancer target type "{raw}"'
        )
    return TargetType.INSTANCE


def health_check(service: ServiceView, kind: TargetType, config: StackConfig) -> HealthCheck:
    ann = service_annotations(dict(service.annotations))
    local = (
        kind is TargetType.INSTANCE
        and service.external_traffic_policy == "Local"
        and service.type == "LoadBalancer"
    )
    if local:
        protocol, port, path = "HTTP", str(service.health_check_node_port), "/healthz"
        interval, timeout, healthy, unhealthy = 10, 6, 2, 2
    else:
        protocol, port, path = "TCP", TRAFFIC_PORT, "/"
        interval, timeout, healthy, unhealthy = 10, 10, 3, 3
    raw_protocol = ann.string("aws-load-balancer-healthcheck-protocol")
    raw_protocol = protocol if raw_protocol is None else raw_protocol
    if raw_protocol.upper() not in {"TCP", "HTTP", "HTTPS"}:
        raise BuildFailure(f"unsupported health check protocol {raw_protocol}")
    hc_protocol = Protocol(raw_protocol.upper())
    tcp = hc_protocol is Protocol.TCP
    matcher = None
    if not tcp and config.nlb_health_check_advanced_config:
        codes = ann.string("aws-load-balancer-healthcheck-success-codes")
        matcher = Matcher(http_code="200-399" if codes is None else codes)
    raw_port = ann.string("aws-load-balancer-healthcheck-port")
    raw_path = ann.string("aws-load-balancer-healthcheck-path")
    raw_timeout = (
        ann.int32("aws-load-balancer-healthcheck-timeout")
        if config.nlb_health_check_advanced_config
        else None
    )
    return HealthCheck(
        port=health_check_port(service, port if raw_port is None else raw_port, kind),
        protocol=hc_protocol,
        path="" if tcp else (path if raw_path is None else raw_path),
        matcher=matcher,
        interval_seconds=_or(ann.int32("aws-load-balancer-healthcheck-interval"), interval),
        timeout_seconds=_or(raw_timeout, timeout),
        healthy_threshold=_or(
            ann.int32("aws-load-balancer-healthcheck-healthy-threshold"), healthy
        ),
        unhealthy_threshold=_or(
            ann.int32("aws-load-balancer-healthcheck-unhealthy-threshold"), unhealthy
        ),
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _attributes(ann: Annotations, port: ServicePortView) -> dict[str, str]:
    merged = {PROXY_PROTOCOL_V2: "false"}
    base = ann.string_map("aws-load-balancer-target-group-attributes") or {}
    per_port = ann.string_map(f"aws-load-balancer-target-group-attributes.{port.port}") or {}
    for attrs in (base, per_port):
        raw = attrs.get(PRESERVE_CLIENT_IP)
        if raw is not None:
            try:
                parse_bool(PRESERVE_CLIENT_IP, raw)
            except BuildFailure as err:
                raise BuildFailure(
                    f"failed to parse attribute {PRESERVE_CLIENT_IP}={raw}: "
                    f'strconv.ParseBool: parsing "{raw}": invalid syntax'
                ) from err
    merged.update(base)
    merged.update({k: v for k, v in per_port.items() if v != ""})
    if merged.get(PROXY_PROTOCOL_V2) == "":
        del merged[PROXY_PROTOCOL_V2]
    return merged


def _preserve_client_ip(kind: TargetType, attributes: dict[str, str]) -> bool:
    raw = attributes.get(PRESERVE_CLIENT_IP)
    if raw is not None:
        return parse_bool(PRESERVE_CLIENT_IP, raw)
    return kind is TargetType.INSTANCE


def _port_number(value: int | str) -> int:
    """Go's ``IntOrString.IntValue``: a named or non-numeric port counts as 0."""
    if isinstance(value, int):
        return value
    parsed = parse_intstr(value)
    return parsed if isinstance(parsed, int) else 0


def sg_networking(
    source: SecurityGroupRef,
    traffic: int | str,
    hc_port: str,
    protocol: Protocol,
    *,
    unrestricted: bool = False,
) -> tuple[BindingRule, ...]:
    ports: list[BindingPort] = []
    if unrestricted:
        ports.append(BindingPort("TCP", None))
        if protocol is Protocol.UDP:
            ports.append(BindingPort("UDP", None))
        return (BindingRule((BindingPeer(security_group=source),), tuple(ports)),)
    hc_is_traffic = hc_port == TRAFFIC_PORT or _port_number(hc_port) == _port_number(traffic)
    if protocol is Protocol.UDP:
        ports.append(BindingPort("UDP", traffic))
        if hc_is_traffic:
            ports.append(BindingPort("TCP", traffic))
    else:
        ports.append(BindingPort("TCP", traffic))
    if hc_port != TRAFFIC_PORT and _port_number(hc_port) != _port_number(traffic):
        ports.append(BindingPort("TCP", int(hc_port)))
    return (BindingRule((BindingPeer(security_group=source),), tuple(ports)),)


def legacy_networking(  # noqa: PLR0917 - mirrors LBC's inputs one for one
    facts: NetworkingFacts,
    config: StackConfig,
    traffic: int | str,
    hc_port: str,
    protocol: Protocol,
    preserve_client_ip: bool,
) -> tuple[BindingRule, ...]:
    sources: Sequence[str] = facts.subnet_cidrs
    default_used = False
    if protocol is Protocol.UDP or preserve_client_ip:
        sources = facts.source_ranges
        if not sources:
            sources = (_ANY_V4,)
            if facts.scheme is Scheme.INTERNAL:
                sources = config.vpc_cidrs
            default_used = True
    traffic_protocol = "UDP" if protocol is Protocol.UDP else "TCP"
    rules = [
        BindingRule(
            tuple(BindingPeer(cidr=c) for c in sources), (BindingPort(traffic_protocol, traffic),)
        )
    ]
    hc_sources: Sequence[str] = facts.subnet_cidrs
    hc_is_traffic = hc_port == TRAFFIC_PORT or _port_number(hc_port) == _port_number(traffic)
    if (
        protocol is not Protocol.UDP
        and hc_is_traffic
        and (not preserve_client_ip or default_used or any(s in {_ANY_V4, "::/0"} for s in sources))
    ):
        hc_sources = ()
    if hc_sources:
        port: int | str = traffic if hc_port == TRAFFIC_PORT else int(hc_port)
        rules.append(
            BindingRule(tuple(BindingPeer(cidr=c) for c in hc_sources), (BindingPort("TCP", port),))
        )
    return tuple(rules)


def build_target_group(  # noqa: PLR0917 - one call site, every argument distinct
    stack_id: StackId,
    service: ServiceView,
    port: ServicePortView,
    config: StackConfig,
    user_tags: dict[str, str],
    facts: NetworkingFacts,
) -> tuple[TargetGroup, TargetGroupBinding]:
    """The target group of one Service port and its binding."""
    ann = service_annotations(dict(service.annotations))
    resource_id = names.service_target_group_id(service.namespace, service.name, port.port)
    kind = target_type(service, config)
    hc = health_check(service, kind, config)
    attributes = _attributes(ann, port)
    preserve = _preserve_client_ip(kind, attributes)
    protocol = Protocol(port.protocol)
    if kind is TargetType.INSTANCE and port.node_port == 0 and service.allocate_node_ports is False:
        raise BuildFailure("unable to support instance target type with an unallocated NodePort")
    tg_port = target_group_port(kind, port)
    name = names.service_target_group_name(
        config.cluster_name,
        service.namespace,
        service.name,
        service.uid,
        target_group_port=tg_port,
        service_port=port.port,
        target_type=kind.value,
        protocol=protocol.value,
        health_check_protocol=hc.protocol.value,
        health_check_interval=hc.interval_seconds,
    )
    target_group = ipv4_target_group(
        service,
        stack_id,
        config.cluster_name,
        name=name,
        target_type=kind,
        port=tg_port,
        protocol=protocol,
        protocol_version=None,
        health_check=hc,
        attributes=attributes,
        tags=user_tags,
        resource_id=resource_id,
    )
    traffic: int | str = port.node_port if kind is TargetType.INSTANCE else port.target_port
    if facts.source is not None:
        networking = sg_networking(
            facts.source,
            traffic,
            hc.port,
            protocol,
            unrestricted=config.disable_restricted_sg_rules,
        )
    else:
        networking = legacy_networking(facts, config, traffic, hc.port, protocol, preserve)
    binding = target_group_binding(
        stack_id,
        target_group,
        service,
        port.port,
        networking=networking,
        node_selector=node_selector_of(ann, "aws-load-balancer-target-node-labels", kind),
        vpc_id=config.vpc_id,
        multi_cluster=bool(ann.boolean("aws-load-balancer-multi-cluster-target-group")),
    )
    return target_group, binding
