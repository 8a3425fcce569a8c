"""The cluster's shared backend security group, as every stack that needs it refers to it.

One group per cluster (``k8s-traffic-<cluster>-<hash>``), tagged ``elbv2.k8s.aws/cluster`` and
``elbv2.k8s.aws/resource=backend-sg`` and found again by those tags in the VPC, never by name.
It is attached to every load balancer that has the managed frontend group and is the source of
every binding's networking rules; the deployer creates it lazily and deletes it when no stack
of the cluster needs it. An operator-supplied group (``--backend-security-group``) is used as
is and never created, retagged or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbc.core.stack import names
from lbc.core.stack.inputs import StackConfig
from lbc.core.stack.model import (
    BACKEND_SG,
    BACKEND_SG_DESCRIPTION,
    BACKEND_SG_RESOURCE_TAG,
    BACKEND_SG_RESOURCE_VALUE,
    CLUSTER_TAG,
    FRONTEND_SG,
    BackendSecurityGroup,
    SecurityGroupRef,
    tags_of,
)
from lbc.core.stack.tags import merge_first_wins


def backend_security_group(config: StackConfig) -> BackendSecurityGroup:
    """The cluster's shared backend SG as every stack refers to it."""
    tags = merge_first_wins(
        {CLUSTER_TAG: config.cluster_name, BACKEND_SG_RESOURCE_TAG: BACKEND_SG_RESOURCE_VALUE},
        dict(config.default_tags),
    )
    return BackendSecurityGroup(
        name=names.backend_security_group_name(config.cluster_name),
        description=BACKEND_SG_DESCRIPTION,
        tags=tags_of(tags),
        group_id=config.backend_security_group,
    )


@dataclass(frozen=True, slots=True)
class SecurityGroupWiring:
    """Which groups a stack's load balancer carries, which one its bindings grant traffic from,
    and the backend group when the cluster uses one."""

    load_balancer: tuple[SecurityGroupRef, ...]
    source: SecurityGroupRef | None
    backend: BackendSecurityGroup | None


NO_SECURITY_GROUPS = SecurityGroupWiring((), None, None)
"""A load balancer without the managed frontend group (an NLB that keeps none)."""


def frontend_wiring(config: StackConfig) -> SecurityGroupWiring:
    """The wiring of a load balancer with the managed frontend group: the backend group joins
    it and becomes the bindings' source when the cluster enables it, else the frontend is."""
    if config.enable_backend_security_group:
        return SecurityGroupWiring(
            (FRONTEND_SG, BACKEND_SG), BACKEND_SG, backend_security_group(config)
        )
    return SecurityGroupWiring((FRONTEND_SG,), FRONTEND_SG, None)
