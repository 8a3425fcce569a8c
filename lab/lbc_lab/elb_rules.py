"""Switchable fidelity rules for load-balancer stacks: what they are, how they are turned.

moto accepts things ELBv2 and EC2 refuse, and refuses things they accept (measured against moto
5.2; the list is in the lab's README section). Each difference that would hide a bug in a stack
deployer is closed by one rule here, on by default. A test may turn a rule off to show moto's
own behaviour next to AWS's, or to reproduce an old lab; production-like runs keep them all on.

Rules and what AWS does when they are on:

- ``lb_name_unique``: CreateLoadBalancer with an existing name and the same settings (type,
  scheme, IP address type, subnets, security groups) returns the existing load balancer;
  different settings fail ``DuplicateLoadBalancerName``. Tags of a repeated create are not
  applied (AWS does not document it, so nothing may rely on it).
- ``tg_idempotent_create``: CreateTargetGroup with an existing name and the same settings
  returns the existing group; different settings fail ``DuplicateTargetGroupName``.
- ``listener_port_unique``: a second listener on a port fails ``DuplicateListener``.
- ``tg_single_load_balancer``: forwarding to a group that another load balancer forwards to
  fails ``TargetGroupAssociationLimit``.
- ``deletion_protection``: DeleteLoadBalancer with ``deletion_protection.enabled=true`` fails
  ``OperationNotPermitted``.
- ``sg_dependencies``: DeleteSecurityGroup of a group attached to a load balancer, or named as
  the source of another group's rule, fails ``DependencyViolation``.
- ``tg_in_use_window``: for ``tg_in_use_seconds`` lab seconds after a load balancer's deletion,
  DeleteTargetGroup of a group it forwarded to fails ``ResourceInUse`` (AWS releases the
  association asynchronously; deployers retry).
- ``tg_load_balancers_live``: a group's ``LoadBalancerArns`` lists the load balancers whose
  listeners or rules forward to it now (moto only ever appends), so a group left without one
  turns its targets ``unused`` / ``Target.NotInUse``.
- ``rule_priority_swaps``: SetRulePriorities accepts any final order without conflicts
  (moto refuses a priority held by a rule that the same call moves away).
- ``nlb_rules``: SetSubnets on a network load balancer accepts one zone; SetSecurityGroups on a
  network load balancer created without security groups fails ``InvalidConfigurationRequest``;
  ModifyListener accepts UDP, TCP_UDP and TLS.
- ``create_validation``: load balancer names of at most 32 alphanumerics and hyphens, not
  starting with ``internal-``; an application load balancer needs subnets in two zones, one per
  zone; security groups must exist.
- ``tag_limits``: at most 50 tags per resource, create-time tags counted (``TooManyTags``);
  DescribeTags takes at most 20 ARNs and fails for an unknown one (the resource's NotFound).
- ``dns_names``: DNS names as AWS shapes them: ``[internal-]<name>-<digits>.<region>.elb.
  amazonaws.com`` for application load balancers, ``<name>-<id>.elb.<region>.amazonaws.com`` for
  network ones.
- ``provisioning``: a new load balancer is ``provisioning`` for ``provisioning_seconds`` lab
  seconds, then ``active`` (moto flips it on the first describe).
- ``tg_attributes``: ModifyTargetGroupAttributes takes only the keys of the group's protocol
  family and deregistration delays of 0-3600 seconds (see :mod:`lbc_lab.elb_attributes`).
- ``protocol_match`` and ``not_found``: forwards only between compatible listener and group
  protocols (``IncompatibleProtocols``), ``RuleNotFound`` / ``ListenerNotFound`` for unknown
  ARNs (see :mod:`lbc_lab.elb_checks`).
- ``rule_shapes`` and ``empty_describes``: ELBv2's response shapes where moto echoes the request
  (see :mod:`lbc_lab.elb_shapes`).
- ``json_faults``: an injected fault on a JSON-protocol service (Resource Groups Tagging) is
  rendered as a JSON error, which botocore parses (otherwise as query XML, which it cannot).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class StackRules:
    """The rules in force (all on by default) and their two time windows, in lab seconds."""

    lb_name_unique: bool = True
    tg_idempotent_create: bool = True
    listener_port_unique: bool = True
    tg_single_load_balancer: bool = True
    deletion_protection: bool = True
    sg_dependencies: bool = True
    tg_in_use_window: bool = True
    tg_load_balancers_live: bool = True
    rule_priority_swaps: bool = True
    nlb_rules: bool = True
    create_validation: bool = True
    tag_limits: bool = True
    dns_names: bool = True
    provisioning: bool = True
    json_faults: bool = True
    rule_shapes: bool = True
    empty_describes: bool = True
    tg_attributes: bool = True
    protocol_match: bool = True
    not_found: bool = True
    tg_in_use_seconds: float = 5.0
    provisioning_seconds: float = 10.0

    def update(self, changes: dict[str, Any]) -> None:
        """Set the named rules; unknown names and wrong types are a ``ValueError``."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            spec = known.get(name)
            if spec is None:
                raise ValueError(f"unknown fidelity rule {name!r}; known: {sorted(known)}")
            if spec.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise ValueError(f"fidelity rule {name!r} takes true or false")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name!r} takes a number of lab seconds >= 0")
            setattr(self, name, value if isinstance(value, bool) else float(value))
