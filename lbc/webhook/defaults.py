"""The mutating TargetGroupBinding webhook: resolve the name, fill what the group decides.

On CREATE only (an update passes through untouched, as in the reference controller):

1. neither ``targetGroupARN`` nor ``targetGroupName``: denied;
2. no ARN: ``DescribeTargetGroups(Names=[name])`` must find exactly one group; its ARN is set;
3. from the group (one cached ``DescribeTargetGroups`` by ARN), each of ``targetType``,
   ``ipAddressType``, ``vpcID`` and ``targetGroupProtocol`` is set when the binding leaves it
   unset. A group whose type is neither ``instance`` nor ``ip`` (``lambda``, ``alb``) cannot be
   bound and is denied here, naming ``spec.targetType``.

Both look-ups are made with the role the binding names (``spec.iamRoleArnToAssume``, with its
external id), as the reconciler's calls will be.

What the user did set is never overwritten: a conflict with the group is the validating
webhook's to reject, with a message, rather than silently "fixed" here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lbc.aws.elbv2 import TargetGroupInfo
from lbc.webhook.caches import GroupLookup
from lbc.webhook.groups import group_by_arn, group_by_name, lookup_for
from lbc.webhook.review import AdmissionRequest, Verdict, allow, deny, pointer

_BINDABLE = ("instance", "ip")


def _unset(spec: Mapping[str, Any], key: str) -> bool:
    return spec.get(key) in (None, "")


def address_type_of(info: TargetGroupInfo) -> str | None:
    """The binding's ``ipAddressType`` for a group (ELBv2 reports none for older ipv4 groups)."""
    if info.ip_address_type in (None, "", "ipv4"):
        return "ipv4"
    if info.ip_address_type == "ipv6":
        return "ipv6"
    return None


async def mutate_binding(request: AdmissionRequest, groups: GroupLookup) -> Verdict:
    if request.operation != "CREATE" or request.obj is None:
        return allow()
    spec = request.obj.get("spec")
    if not isinstance(spec, Mapping):
        return deny("spec: required")
    arn = spec.get("targetGroupARN") or ""
    name = spec.get("targetGroupName") or ""
    if not isinstance(arn, str) or not isinstance(name, str):
        return deny("spec.targetGroupARN: expected a string")
    if not arn and not name:
        return deny("spec.targetGroupARN: one of targetGroupARN or targetGroupName is required")
    groups = lookup_for(groups, spec.get("iamRoleArnToAssume"), spec.get("assumeRoleExternalId"))
    lookup = await (group_by_arn(groups, arn) if arn else group_by_name(groups, name))
    if lookup.info is None:
        assert lookup.denial is not None  # noqa: S101 - a Lookup carries one or the other
        return lookup.denial
    info = lookup.info
    fills: dict[str, str] = {}
    if not arn:
        fills["targetGroupARN"] = info.arn
    if _unset(spec, "targetType"):
        if info.target_type not in _BINDABLE:
            return deny(
                f"spec.targetType: target group {info.arn} has target type "
                f"{info.target_type!r}; a TargetGroupBinding supports instance and ip"
            )
        fills["targetType"] = info.target_type
    if _unset(spec, "ipAddressType"):
        address = address_type_of(info)
        if address is None:
            return deny(
                f"spec.ipAddressType: target group {info.arn} has unsupported IP address type "
                f"{info.ip_address_type!r}"
            )
        fills["ipAddressType"] = address
    if _unset(spec, "vpcID") and info.vpc_id:
        fills["vpcID"] = info.vpc_id
    if _unset(spec, "targetGroupProtocol") and info.protocol:
        fills["targetGroupProtocol"] = info.protocol
    # "add" on an existing member replaces it, which also covers explicit nulls.
    return allow([{"op": "add", "path": pointer("spec", k), "value": v} for k, v in fills.items()])
