"""The load balancer and listeners both stack builders make, once the builder has decided their
settings.

The Ingress builder (an ALB) and the Service builder (an NLB) decide the name, scheme, subnets,
security groups, attributes, listen ports, default actions and user tags by their own rules;
what is left is the same for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lbc.core.stack import names
from lbc.core.stack.model import (
    LOAD_BALANCER_ID,
    Action,
    Attribute,
    IPAddressType,
    Listener,
    LoadBalancer,
    LoadBalancerType,
    Protocol,
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


def stack_listener(
    stack_id: StackId,
    cluster_name: str,
    port: int,
    *,
    protocol: Protocol,
    default_actions: tuple[Action, ...],
    tags: Mapping[str, str],
) -> Listener:
    """The stack's listener on ``port``: its resource id is the port, and the stack's tracking
    tags with that id come ahead of ``tags``."""
    listener_id = names.listener_id(port)
    return Listener(
        port=port,
        protocol=protocol,
        default_actions=default_actions,
        tags=resource_tags(stack_id, cluster_name, listener_id, tags),
        resource_id=listener_id,
    )
