"""What the stack builders read: slim views of the Kubernetes objects and AWS facts, plus config.

The shell projects API JSON and AWS answers into these values (``core.stack.views`` parses raw
Kubernetes JSON; AWS facts come from the deployer's describe calls) and hands them to a builder.
Builders read nothing else: no settings module, no clock, no client. So a build is a function of
these values, and two builds of equal inputs yield equal stacks.

Conventions (as ``core.objects``):
- Absent optional facts are ``""``, ``None``, ``0`` or ``()``, never a missing attribute.
- Annotations, labels and tags are :data:`~lbc.core.stack.model.Tags` tuples sorted by key; use
  ``dict(view.annotations)`` to look keys up.
- Nothing here is validated: validation, with LBC's error messages, is the builders' job.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbc.core.binding import LabelSelector
from lbc.core.stack.model import Scheme, Tags, TargetType


@dataclass(frozen=True, slots=True)
class ServicePortView:
    """One ``spec.ports[]`` entry. ``target_port`` is an int or a port name as written (the
    API defaults it to ``port``); ``node_port`` is ``0`` when none is allocated."""

    name: str
    protocol: str  # "TCP" | "UDP" | "SCTP"
    port: int
    target_port: int | str
    node_port: int = 0


@dataclass(frozen=True, slots=True)
class ServiceView:
    """A Service as the Ingress builder (as a backend) and the NLB builder read it.

    ``load_balancer_class`` is ``""`` when unset; ``external_traffic_policy`` keeps the API's
    spelling (``"Cluster"`` / ``"Local"``, ``""`` when unset); ``health_check_node_port`` is ``0``
    when not allocated. ``source_ranges`` is ``spec.loadBalancerSourceRanges``.
    """

    namespace: str
    name: str
    uid: str
    type: str  # "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    annotations: Tags = ()
    ports: tuple[ServicePortView, ...] = ()
    load_balancer_class: str = ""
    external_traffic_policy: str = ""
    health_check_node_port: int = 0
    source_ranges: tuple[str, ...] = ()
    ip_families: tuple[str, ...] = ()
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    #: ``spec.allocateLoadBalancerNodePorts`` (``None`` when unset, which allocates them).
    allocate_node_ports: bool | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class IngressBackendView:
    """``backend.service`` of a path or ``spec.defaultBackend``.

    ``service_port`` is the port number, or the port *name* as written; ``None`` when neither is
    set. ``resource`` is true for a ``backend.resource`` backend (LBC refuses those).
    """

    service_name: str
    service_port: int | str | None
    resource: bool = False


@dataclass(frozen=True, slots=True)
class IngressPathView:
    path: str
    path_type: str  # "Exact" | "Prefix" | "ImplementationSpecific"
    backend: IngressBackendView


@dataclass(frozen=True, slots=True)
class IngressRuleView:
    """One ``spec.rules[]`` entry; ``host`` is ``""`` when absent, ``paths`` in written order."""

    host: str
    paths: tuple[IngressPathView, ...]


@dataclass(frozen=True, slots=True)
class IngressView:
    """An Ingress (``networking.k8s.io/v1``).

    ``class_name`` is ``spec.ingressClassName`` (``None`` when unset, which differs from the
    legacy annotation, read from ``annotations``). ``deleting`` means a deletion timestamp is set.
    """

    namespace: str
    name: str
    annotations: Tags = ()
    class_name: str | None = None
    default_backend: IngressBackendView | None = None
    rules: tuple[IngressRuleView, ...] = ()
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    uid: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ParamsRefView:
    """``spec.parameters`` of an IngressClass (``api_group`` ``""`` when unset)."""

    api_group: str
    kind: str
    name: str
    scope: str = ""
    namespace: str = ""


@dataclass(frozen=True, slots=True)
class IngressClassView:
    """An IngressClass; ``is_default`` is its ``ingressclass.kubernetes.io/is-default-class``
    annotation equal to ``"true"``."""

    name: str
    controller: str
    parameters: ParamsRefView | None = None
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class SubnetSelectorView:
    """IngressClassParams ``subnets``: ``ids`` or ``tags`` (key → accepted values), not both."""

    ids: tuple[str, ...] = ()
    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class IngressClassParamsView:
    """An IngressClassParams (``elbv2.k8s.aws/v1beta1``, cluster-scoped): the supported fields.

    Every unset field is ``""`` / ``None`` / ``()``. ``unsupported`` lists the spec fields that are
    set but outside lbc's allow-list (dotted paths, sorted): a non-empty value means hands-off.
    """

    name: str
    scheme: str = ""
    group_name: str = ""
    tags: Tags = ()
    load_balancer_name: str = ""
    target_type: str = ""
    ip_address_type: str = ""
    subnets: SubnetSelectorView | None = None
    inbound_cidrs: tuple[str, ...] = ()
    namespace_selector: LabelSelector | None = None
    unsupported: tuple[str, ...] = ()
    #: ``spec.group`` is present, even with an empty name (LBC then refuses the group name).
    group_set: bool = False


@dataclass(frozen=True, slots=True)
class NamespaceView:
    """A namespace's labels, for IngressClassParams ``namespaceSelector``."""

    name: str
    labels: Tags = ()


@dataclass(frozen=True, slots=True)
class SubnetFacts:
    """One subnet of the cluster VPC as ``DescribeSubnets`` (and route tables) show it.

    ``zone_type`` is the zone's ``ZoneType`` (``"availability-zone"``, ``"local-zone"``,
    ``"wavelength-zone"``), ``outpost_arn`` ``""`` unless on an Outpost. ``public`` is the
    reachability classification (a route to an ``igw-`` gateway in its route table or the VPC's
    main table); ``None`` when the deployer did not look it up.
    """

    subnet_id: str
    availability_zone: str
    available_ips: int
    tags: Tags = ()
    vpc_id: str = ""
    cidr: str = ""
    zone_type: str = "availability-zone"
    outpost_arn: str = ""
    public: bool | None = None


@dataclass(frozen=True, slots=True)
class ExistingLoadBalancer:
    """The load balancer found under the stack's tags, before this build.

    The builders use it for LBC's "keep what is there" defaults: a Service's scheme, the
    subnets when the scheme is unchanged, and an NLB created without security groups.
    """

    type: str
    scheme: Scheme
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    dns_name: str = ""

    @property
    def has_security_groups(self) -> bool:
        return bool(self.security_groups)


@dataclass(frozen=True, slots=True)
class StackConfig:
    """Controller settings and feature gates the builders depend on (defaults are LBC's).

    The control layer maps ``lbc.settings`` into this; the core never imports settings.
    ``backend_security_group`` is an operator-supplied SG id (``""``: lbc's shared one).
    """

    cluster_name: str
    vpc_id: str
    ingress_class: str = "alb"
    load_balancer_class: str = "service.k8s.aws/nlb"
    default_scheme: Scheme = Scheme.INTERNAL
    default_target_type: TargetType = TargetType.INSTANCE
    default_tags: Tags = ()
    external_managed_tags: tuple[str, ...] = ()
    enable_backend_security_group: bool = True
    backend_security_group: str = ""
    nlb_security_group: bool = True
    subnets_cluster_tag_check: bool = True
    subnet_discovery_by_reachability: bool = True
    alb_single_subnet: bool = False
    listener_rules_tagging: bool = True
    default_tags_low_priority: bool = False
    tolerate_missing_backend_service: bool = True
    tolerate_missing_backend_action: bool = True
    service_type_load_balancer_only: bool = False
    nlb_health_check_advanced_config: bool = True
    #: LBC's ``--disable-restricted-sg-rules``: binding rules open all ports (TCP, plus UDP
    #: for UDP target groups) from the source group instead of the traffic and check ports.
    disable_restricted_sg_rules: bool = False
    #: The cluster VPC's IPv4 CIDRs: default sources of an SG-less internal NLB's rules.
    vpc_cidrs: tuple[str, ...] = ()
