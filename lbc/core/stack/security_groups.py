"""The security groups LBC manages for a stack, and how a stack wires them.

The managed frontend group belongs to one load balancer: named by the builder, described as
LBC describes it, tagged with the stack's tracking tags and its ``<prefix>/resource`` id.

The cluster's shared backend group: one per cluster (``k8s-traffic-<cluster>-<hash>``), tagged
``elbv2.k8s.aws/cluster`` and ``elbv2.k8s.aws/resource=backend-sg`` and found again by those
tags in the VPC, never by name. It is attached to every load balancer that has the managed
frontend group and is the source of every binding's networking rules; the deployer creates it
lazily and deletes it when no stack of the cluster needs it. An operator-supplied group
(``--backend-security-group``) is used as is and never created, retagged or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    FRONTEND_SG_DESCRIPTION,
    FRONTEND_SG_ID,
    BackendSecurityGroup,
    IPPermission,
    SecurityGroup,
    SecurityGroupRef,
    StackId,
    tags_of,
)
from lbc.core.stack.tags import merge_first_wins, resource_tags


def frontend_security_group(
    name: str,
    stack_id: StackId,
    config: StackConfig,
    ingress: tuple[IPPermission, ...],
    tags: Mapping[str, str],
) -> SecurityGroup:
    """The managed frontend group of the stack's load balancer, letting ``ingress`` in."""
    return SecurityGroup(
        name=name,
        description=FRONTEND_SG_DESCRIPTION,
        ingress=ingress,
        tags=resource_tags(stack_id, config.cluster_name, FRONTEND_SG_ID, tags),
    )


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
