"""The load balancer both stack builders make, once the builder has decided its settings.

The Ingress builder (an ALB) and the Service builder (an NLB) decide the name, scheme, subnets,
security groups, attributes and user tags by their own rules; what is left is the same for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lbc.core.stack.model import (
    LOAD_BALANCER_ID,
    Attribute,
    IPAddressType,
    LoadBalancer,
    LoadBalancerType,
    Scheme,
    StackId,
)
from lbc.core.stack.security_groups import SecurityGroupWiring
from lbc.core.stack.tags import resource_tags


def stack_load_balancer(
    stack_id: StackId,
    cluster_name: str,
    lb_type: LoadBalancerType,
    *,
    name: str,
    scheme: Scheme,
    subnets: Iterable[str],
    wiring: SecurityGroupWiring,
    attributes: Mapping[str, str],
    tags: Mapping[str, str],
) -> LoadBalancer:
    """The stack's ``lb_type`` load balancer: IPv4 (lbc builds no dual-stack load balancer),
    ``subnets`` sorted by id, ``attributes`` (only those the user asked for) sorted by key, and
    the stack's tracking tags with the resource id ``LoadBalancer`` ahead of ``tags``."""
    return LoadBalancer(
        name=name,
        type=lb_type,
        scheme=scheme,
        ip_address_type=IPAddressType.IPV4,
        subnets=tuple(sorted(subnets)),
        security_groups=wiring.load_balancer,
        attributes=tuple(Attribute(k, v) for k, v in sorted(attributes.items())),
        tags=resource_tags(stack_id, cluster_name, LOAD_BALANCER_ID, tags),
    )
