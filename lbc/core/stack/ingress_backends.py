"""Target groups and TargetGroupBindings of an Ingress group, one per (Ingress, Service, port).

Target-group settings are read from the Ingress *and* its backend Service (the Service's
annotation wins on a clash); IngressClassParams ``targetType`` beats both. The health-check
defaults (HTTP ``/`` ``200``, gRPC ``/AWS.ALB/healthcheck`` ``12``, 15 s / 5 s / 2 / 2) and the
hash inputs of the name are LBC's, so a stack built by either controller has the same target
groups.

The binding is written as LBC writes it: namespace and name from the Service and the target
group, labels = the stack labels, ``serviceRef.port`` = the backend port exactly as written in
the Ingress, networking from the backend security group to the traffic port (NodePort for
instance targets, the Service's ``targetPort`` as written for ip targets) plus the health-check
port when it is not the traffic port, one rule per port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from lbc.core.stack import names
from lbc.core.stack.annotations import Annotations, ingress_annotations, parse_intstr
from lbc.core.stack.failures import BuildFailure
from lbc.core.stack.ingress_groups import ClassifiedIngress
from lbc.core.stack.inputs import ServicePortView, ServiceView, StackConfig
from lbc.core.stack.model import (
    TRAFFIC_PORT,
    Attribute,
    BindingPeer,
    BindingPort,
    BindingRule,
    HealthCheck,
    IPAddressType,
    Matcher,
    Protocol,
    ProtocolVersion,
    SecurityGroupRef,
    StackId,
    Tags,
    TargetGroup,
    TargetGroupBinding,
    TargetType,
    tags_of,
)
from lbc.core.stack.tags import resource_tags, with_default_tags

_HTTP_PATH = "/"
_GRPC_PATH = "/AWS.ALB/healthcheck"
_HTTP_CODE = "200"
_GRPC_CODE = "12"
_INTERVAL, _TIMEOUT, _HEALTHY, _UNHEALTHY = 15, 5, 2, 2


def find_port(service: ServiceView, port: int | str) -> ServicePortView:
    """LBC's ``LookupServicePort``: by name for a string, by port number for an int."""
    for candidate in service.ports:
        if (isinstance(port, str) and candidate.name == port) or (
            isinstance(port, int) and candidate.port == port
        ):
            return candidate
    raise BuildFailure(f"unable to find port {port} on service {service.key}")


def check_target_port(port: int, target_type: TargetType) -> None:
    """LBC's refusal of a target group without a port (an instance target without a NodePort)."""
    if port != 0:
        return
    if target_type is TargetType.IP:
        raise BuildFailure("TargetGroup port is empty. Are you using the correct service type?")
    raise BuildFailure(
        "TargetGroup port is empty. When using Instance targets, your service be must of "
        "type 'NodePort' or 'LoadBalancer'"
    )


def ipv4_target_group(
    service: ServiceView,
    stack_id: StackId,
    cluster_name: str,
    *,
    name: str,
    target_type: TargetType,
    port: int,
    protocol: Protocol,
    protocol_version: ProtocolVersion | None,
    health_check: HealthCheck,
    attributes: Mapping[str, str],
    tags: Mapping[str, str],
    resource_id: str,
) -> TargetGroup:
    """The one target group shape both builders make: IPv4 targets (LBC refuses a dual-stack
    Service, the load balancer is not dual-stack), a port LBC accepts, attributes by key, and
    the stack's tracking tags with ``resource_id`` ahead of ``tags``."""
    if "IPv6" in service.ip_families:
        raise BuildFailure("unsupported IPv6 configuration, lb not dual-stack")
    check_target_port(port, target_type)
    return TargetGroup(
        name=name,
        target_type=target_type,
        port=port,
        protocol=protocol,
        protocol_version=protocol_version,
        ip_address_type=IPAddressType.IPV4,
        health_check=health_check,
        attributes=tuple(Attribute(k, v) for k, v in sorted(attributes.items())),
        tags=resource_tags(stack_id, cluster_name, resource_id, tags),
        resource_id=resource_id,
    )


def node_selector_of(ann: Annotations, key: str, target_type: TargetType) -> Tags:
    """The binding's ``matchLabels`` from the annotation ``key``; only instance targets have one."""
    if target_type is not TargetType.INSTANCE:
        return ()
    return tags_of(ann.string_map(key) or {})


def target_group_binding(
    stack_id: StackId,
    target_group: TargetGroup,
    service: ServiceView,
    service_port: int | str,
    *,
    networking: tuple[BindingRule, ...] | None,
    node_selector: Tags,
    vpc_id: str,
    multi_cluster: bool,
) -> TargetGroupBinding:
    """The TargetGroupBinding of ``target_group``: named after it, in the Service's namespace,
    labelled with the stack labels, and carrying its type, address type and protocol."""
    return TargetGroupBinding(
        name=target_group.name,
        namespace=service.namespace,
        labels=stack_id.binding_labels(),
        target_group_id=target_group.resource_id,
        target_type=target_group.target_type,
        service_name=service.name,
        service_port=service_port,
        networking=networking,
        node_selector=node_selector,
        ip_address_type=target_group.ip_address_type,
        vpc_id=vpc_id,
        multi_cluster=multi_cluster,
        target_group_protocol=target_group.protocol,
    )


def health_check_port(service: ServiceView, raw: str | None, target_type: TargetType) -> str:
    """LBC's health-check port of a Service's target group: the traffic port (unset or
    ``traffic-port``), a number, or a named Service port as the target type reaches it."""
    if raw is None or raw == TRAFFIC_PORT:
        return TRAFFIC_PORT
    parsed = parse_intstr(raw)
    if isinstance(parsed, int):
        return str(parsed)
    try:
        named = find_port(service, parsed)
    except BuildFailure as err:
        raise BuildFailure(f"failed to resolve healthCheckPort: {err}") from err
    if target_type is TargetType.INSTANCE:
        return str(named.node_port)
    if isinstance(named.target_port, int):
        return str(named.target_port)
    raise BuildFailure(
        "cannot use named healthCheckPort for IP TargetType when service's targetPort is a "
        "named port"
    )


def check_external_tags(tags: Mapping[str, str], config: StackConfig, where: str) -> None:
    for key in tags:
        if key in config.external_managed_tags:
            raise BuildFailure(
                f"failed build tags for {where}: external managed tag key {key} cannot be specified"
            )


def params_tags(member: ClassifiedIngress, config: StackConfig) -> dict[str, str]:
    if member.params is None or not member.params.tags:
        return {}
    tags = dict(member.params.tags)
    check_external_tags(tags, config, f"IngressClassParams {member.params.name}")
    return tags


@dataclass(slots=True)
class BackendBuilder:
    """Builds each target group once (by resource id) and its binding, in first-use order.

    ``source`` is the security group TGB networking grants from (the backend SG, or the
    frontend SG when the backend SG is disabled); ``None`` leaves ``networking`` unset.
    """

    stack_id: StackId
    config: StackConfig
    source: SecurityGroupRef | None
    target_groups: dict[str, TargetGroup] = field(default_factory=dict)
    bindings: list[TargetGroupBinding] = field(default_factory=list)

    def target_group(
        self, member: ClassifiedIngress, service: ServiceView, port: int | str
    ) -> TargetGroup:
        ingress = member.ingress
        resource_id = names.ingress_target_group_id(
            ingress.namespace, ingress.name, service.name, port
        )
        existing = self.target_groups.get(resource_id)
        if existing is not None:
            return existing
        service_port = find_port(service, port)
        merged = {**dict(ingress.annotations), **dict(service.annotations)}
        ann = ingress_annotations(merged)
        target_type = self._target_type(member, ann.string("target-type"))
        protocol = _choice(
            _or(ann.string("backend-protocol"), "HTTP"),
            (Protocol.HTTP, Protocol.HTTPS),
            "backend protocol must be within [HTTP, HTTPS]: {}",
        )
        version = _choice(
            _or(ann.string("backend-protocol-version"), "HTTP1"),
            tuple(ProtocolVersion),
            "backend protocol version must be within [HTTP1, HTTP2, GRPC]: {}",
        )
        health_check = self._health_check(service, ann, target_type, protocol, version)
        attributes = ann.string_map("target-group-attributes") or {}
        tg_port = target_group_port(target_type, service_port)
        name = names.ingress_target_group_name(
            self.config.cluster_name,
            self.stack_id,
            ingress_namespace=ingress.namespace,
            ingress_name=ingress.name,
            service_namespace=service.namespace,
            service_name=service.name,
            service_uid=service.uid,
            backend_port=port,
            target_group_port=tg_port,
            target_type=target_type.value,
            protocol=protocol.value,
            protocol_version=version.value,
        )
        target_group = ipv4_target_group(
            service,
            self.stack_id,
            self.config.cluster_name,
            name=name,
            target_type=target_type,
            port=tg_port,
            protocol=protocol,
            protocol_version=version,
            health_check=health_check,
            attributes=attributes,
            tags=self._tags(member, service),
            resource_id=resource_id,
        )
        node_selector = node_selector_of(ann, "target-node-labels", target_type)
        self.target_groups[resource_id] = target_group
        self.bindings.append(
            self._binding(member, service, port, service_port, target_group, node_selector)
        )
        return target_group

    def _target_type(self, member: ClassifiedIngress, annotated: str | None) -> TargetType:
        raw = annotated if annotated is not None else self.config.default_target_type.value
        if member.params is not None and member.params.target_type:
            raw = member.params.target_type
        return _choice(raw, tuple(TargetType), "unknown targetType: {}")

    def _health_check(
        self,
        service: ServiceView,
        a: Annotations,
        target_type: TargetType,
        protocol: Protocol,
        version: ProtocolVersion,
    ) -> HealthCheck:
        port = health_check_port(service, a.string("healthcheck-port"), target_type)
        hc_protocol = _choice(
            _or(a.string("healthcheck-protocol"), protocol.value),
            (Protocol.HTTP, Protocol.HTTPS),
            "healthCheckProtocol must be within [HTTP, HTTPS]",
        )
        grpc = version is ProtocolVersion.GRPC
        path = a.string("healthcheck-path")
        codes = a.string("success-codes")
        path = path if path is not None else (_GRPC_PATH if grpc else _HTTP_PATH)
        codes = codes if codes is not None else (_GRPC_CODE if grpc else _HTTP_CODE)
        return HealthCheck(
            port=port,
            protocol=hc_protocol,
            path=path,
            matcher=Matcher(grpc_code=codes) if grpc else Matcher(http_code=codes),
            interval_seconds=_int_or(a.int32("healthcheck-interval-seconds"), _INTERVAL),
            timeout_seconds=_int_or(a.int32("healthcheck-timeout-seconds"), _TIMEOUT),
            healthy_threshold=_int_or(a.int32("healthy-threshold-count"), _HEALTHY),
            unhealthy_threshold=_int_or(a.int32("unhealthy-threshold-count"), _UNHEALTHY),
        )

    def _tags(self, member: ClassifiedIngress, service: ServiceView) -> dict[str, str]:
        ingress = member.ingress
        svc_tags = ingress_annotations(dict(service.annotations)).string_map("tags") or {}
        ing_tags = ingress_annotations(dict(ingress.annotations)).string_map("tags") or {}
        merged = {**ing_tags, **svc_tags}
        check_external_tags(merged, self.config, f"Ingress {ingress.key} and Service {service.key}")
        user = {**merged, **params_tags(member, self.config)}
        return with_default_tags(
            user, dict(self.config.default_tags), low_priority=self.config.default_tags_low_priority
        )

    def _binding(  # noqa: PLR0917 - one private call site, every argument distinct
        self,
        member: ClassifiedIngress,
        service: ServiceView,
        port: int | str,
        service_port: ServicePortView,
        target_group: TargetGroup,
        node_selector: tuple[tuple[str, str], ...],
    ) -> TargetGroupBinding:
        traffic: int | str = (
            service_port.node_port
            if target_group.target_type is TargetType.INSTANCE
            else service_port.target_port
        )
        networking: tuple[BindingRule, ...] | None = None
        if self.source is not None and self.config.disable_restricted_sg_rules:
            peer = (BindingPeer(security_group=self.source),)
            networking = (BindingRule(peer, (BindingPort("TCP", None),)),)
        elif self.source is not None:
            ports: list[int | str] = [traffic]
            if target_group.health_check.port != TRAFFIC_PORT:
                ports.append(int(target_group.health_check.port))
            peer = (BindingPeer(security_group=self.source),)
            networking = tuple(BindingRule(peer, (BindingPort("TCP", p),)) for p in ports)
        return target_group_binding(
            self.stack_id,
            target_group,
            service,
            port,
            networking=networking,
            node_selector=node_selector,
            vpc_id=self.config.vpc_id,
            multi_cluster=_multi_cluster(member, service),
        )


def _multi_cluster(member: ClassifiedIngress, service: ServiceView) -> bool:
    """The Ingress annotation; only when absent or false, the backend Service's."""
    on_ingress = ingress_annotations(dict(member.ingress.annotations)).boolean(
        "multi-cluster-target-group"
    )
    if on_ingress:
        return True
    on_service = ingress_annotations(dict(service.annotations)).boolean(
        "multi-cluster-target-group"
    )
    return bool(on_service)


def target_group_port(target_type: TargetType, port: ServicePortView) -> int:
    """LBC's target group port: the NodePort of instance targets, else the numeric target
    port, or 1 when the target port is a name."""
    if target_type is TargetType.INSTANCE:
        return port.node_port
    return port.target_port if isinstance(port.target_port, int) else 1


def _int_or(value: int | None, default: int) -> int:
    return default if value is None else value


def _or(value: str | None, default: str) -> str:
    """An annotation's value when present (even empty, as LBC), else ``default``."""
    return default if value is None else value


_E = TypeVar("_E", Protocol, ProtocolVersion, TargetType)


def _choice(raw: str, allowed: tuple[_E, ...], message: str) -> _E:
    for option in allowed:
        if option.value == raw:
            return option
    raise BuildFailure(message.format(raw))
