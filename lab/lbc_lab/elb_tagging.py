"""Tag limits of ELBv2 and the EC2 security-group dependencies, as fidelity rules.

Two mixin-free pieces of the stack fidelity layer (see :mod:`lbc_lab.elb_rules`):

- :class:`TagFidelity`, mixed into the ELBv2 backend: AddTags counts every tag a resource has,
  create-time tags included, against ELBv2's quota of 50 (moto: 10, create-time tags not
  counted); DescribeTags takes at most 20 ARNs and fails for an ARN that names no resource, with
  that resource type's NotFound (moto: any number, empty tag lists for unknown ARNs).
- :func:`security_group_in_use`, asked by the server before moto deletes a security group: the
  reason AWS would answer ``DependencyViolation`` (attached to a load balancer, or the source of
  another group's rule), or None.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.models import ec2_backends
from moto.elbv2.exceptions import ELBClientError
from moto.elbv2.models import elbv2_backends

from lbc_lab.elb_rules import StackRules

TAG_QUOTA = 50
DESCRIBE_TAGS_MAX_ARNS = 20


class TagFidelity:
    """AddTags and DescribeTags with ELBv2's limits (mixed in before moto's backend)."""

    lab: Any
    tagging_service: Any

    def add_tags(self, resource_arns: list[str], tags: list[dict[str, str]]) -> None:
        rules: StackRules = self.lab.settings.stacks
        if not rules.tag_limits:
            super().add_tags(resource_arns, tags)  # type: ignore[misc]
            return
        wanted = {t["Key"] for t in tags}
        for arn in resource_arns:
            self._get_resource_by_arn(arn)  # type: ignore[attr-defined]
            existing = set(self.tagging_service.get_tag_dict_for_resource(arn))
            if len(existing | wanted) > TAG_QUOTA:
                raise ELBClientError(
                    "TooManyTags",
                    f"The quota for the number of tags that can be assigned to '{arn}' has been"
                    " reached",
                )
        for arn in resource_arns:
            self.tagging_service.tag_resource(arn, tags)

    def describe_tags(self, resource_arns: list[str]) -> dict[str, dict[str, str]]:
        rules: StackRules = self.lab.settings.stacks
        if rules.tag_limits:
            if len(resource_arns) > DESCRIBE_TAGS_MAX_ARNS:
                raise ELBClientError(
                    "ValidationError",
                    f"1 validation error detected: Value '{resource_arns}' at 'resourceArns'"
                    " failed to satisfy constraint: Member must have length less than or equal"
                    f" to {DESCRIBE_TAGS_MAX_ARNS}",
                )
            for arn in resource_arns:
                self._get_resource_by_arn(arn)  # type: ignore[attr-defined]
        result: dict[str, dict[str, str]] = super().describe_tags(resource_arns)  # type: ignore[misc]
        return result


def security_group_in_use(account: str, region: str, group_ids: list[str]) -> str | None:
    """Why deleting one of ``group_ids`` is a ``DependencyViolation`` on AWS (None: it is not)."""
    elbv2 = elbv2_backends[account][region]
    lab = getattr(elbv2, "lab", None)
    if lab is None or not lab.settings.stacks.sg_dependencies:
        return None
    for group_id in group_ids:
        for lb in elbv2.load_balancers.values():
            if group_id in (lb.security_groups or ()):
                return f"resource {group_id} has a dependent object"
        ec2 = ec2_backends[account][region]
        for groups in ec2.groups.values():
            for group in groups.values():
                if group.id == group_id:
                    continue
                for rule in [*group.ingress_rules, *group.egress_rules]:
                    if (rule.source_group or {}).get("GroupId") == group_id:
                        return f"resource {group_id} has a dependent object"
    return None
