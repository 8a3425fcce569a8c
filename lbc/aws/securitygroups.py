"""EC2 for ``spec.networking``: ENIs of instances, security groups and their inbound rules.

:class:`SecurityGroups` is the only code that calls EC2's security-group APIs. What it
guarantees:

- **Bounded age and size.** ENIs per instance, branch ENIs by id and rules per group are cached
  for at most ``ttl`` seconds (ENIs and a group's tags change rarely; rules change mostly
  through lbc itself, which drops a group's entry after every change it makes), in
  ``cachetools.TTLCache`` maps timed by the injected clock and bounded to ``CACHE_SIZE`` entries
  each, so expired ENIs of long-gone pods do not pile up. ``fresh=True`` reads past the cache:
  revokes are decided on a fresh read, so a tag another cluster just added is seen.
- **One source per rule.** Rules are read with ``DescribeSecurityGroupRules`` (rule ids and
  tags) joined with ``DescribeSecurityGroups`` (descriptions; some EC2 implementations leave
  group-sourced descriptions out of the rules call). Every rule becomes an
  :class:`~lbc.core.networking.ExistingRule` with a canonical source.
- **Grants are tagged atomically.** ``AuthorizeSecurityGroupIngress`` carries the reference's
  description and this cluster's rule tag in one call (``TagSpecifications``), so there is no
  moment where lbc's rule exists without its mark.
- **Revokes by rule id.** Only rules lbc read and chose are revoked, by ``SecurityGroupRuleIds``.
- **Classified errors** with reasons the manager reports: ``SecurityGroupNotFound``
  (``InvalidGroup.NotFound``: the endpoint group, or a source group named by a binding),
  ``RulesPerSecurityGroupLimitExceeded``, ``InvalidSecurityGroupId``, ``RuleNotFound``,
  ``DuplicateRule``; everything else as :mod:`lbc.aws.errors` decides.
- **Metrics**: ``lbc_security_group_rules_granted_total``, ``..._revoked_total``.
- **lbc's own identity, always.** A binding naming ``spec.iamRoleArnToAssume`` reaches its
  target group through that role, but the ENIs and security groups these calls read and change
  are the cluster's nodes' and pods', which live in the cluster's account: the role of the
  group's account could not see them (the reference controller makes the same choice).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

from botocore.exceptions import ClientError
from cachetools import TTLCache

from lbc.aws.calls import AwsCalls
from lbc.aws.errors import error_code
from lbc.aws.keyedlock import KeyedLock
from lbc.core.errors import LbcError, NotFoundError, TerminalError, TransientError
from lbc.core.networking import (
    GROUP_CLUSTER_TAG_PREFIX,
    RULE_CLUSTER_TAG_VALUE,
    SHARED_DESCRIPTION,
    Eni,
    ExistingRule,
    Permission,
    cluster_tag_key,
    clusters_of,
)
from lbc.observe.metrics import counter

if TYPE_CHECKING:
    from types_aiobotocore_ec2 import EC2Client

DEFAULT_TTL: Final = 300.0
CACHE_SIZE: Final = 100_000
"""Entries per cache: far above any cluster's ENIs or groups, a bound on memory all the same."""
_ID_BATCH: Final = 100
T = TypeVar("T")

GRANTED: Final = counter(
    "lbc_security_group_rules_granted_total",
    "Inbound rules lbc authorized on endpoint security groups.",
)
REVOKED: Final = counter(
    "lbc_security_group_rules_revoked_total",
    "Inbound rules lbc revoked from endpoint security groups.",
)

_REASONS: Final = {
    "InvalidGroup.NotFound": (NotFoundError, "SecurityGroupNotFound"),
    "InvalidGroupId.Malformed": (TerminalError, "InvalidSecurityGroupId"),
    "InvalidGroupId.NotFound": (NotFoundError, "SecurityGroupNotFound"),
    "RulesPerSecurityGroupLimitExceeded": (TerminalError, "RulesPerSecurityGroupLimitExceeded"),
    "InvalidPermission.NotFound": (NotFoundError, "RuleNotFound"),
    "InvalidSecurityGroupRuleId.NotFound": (NotFoundError, "RuleNotFound"),
    "InvalidPermission.Duplicate": (TransientError, "DuplicateRule"),
    "InvalidInstanceID.NotFound": (NotFoundError, "InstanceNotFound"),
    "InvalidNetworkInterfaceID.NotFound": (NotFoundError, "NetworkInterfaceNotFound"),
    "InvalidNetworkInterfaceID.Malformed": (NotFoundError, "NetworkInterfaceNotFound"),
}


def reclassify(exc: LbcError) -> LbcError:
    """A sharper kind and reason for the EC2 codes networking acts on; others unchanged."""
    cause = exc.__cause__
    if not isinstance(cause, ClientError):
        return exc
    found = _REASONS.get(error_code(cause))
    if found is None:
        return exc
    kind, reason = found
    sharper = kind(str(exc), reason=reason)
    sharper.__cause__ = cause
    return sharper


@dataclass(frozen=True, slots=True)
class GroupRules:
    """A security group's tags and inbound rules, one source each."""

    group_id: str
    tags: Mapping[str, str]
    rules: tuple[ExistingRule, ...]


@final
class SecurityGroups:
    """EC2 ENI and security-group calls of the networking controller (see the module docstring)."""

    def __init__(
        self,
        ec2: EC2Client,
        calls: AwsCalls,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ec2 = ec2
        self._calls = calls
        self._instances: TTLCache[str, tuple[Eni, ...]] = TTLCache(CACHE_SIZE, ttl, timer=clock)
        self._interfaces: TTLCache[str, Eni] = TTLCache(CACHE_SIZE, ttl, timer=clock)
        self._groups: TTLCache[str, GroupRules | None] = TTLCache(CACHE_SIZE, ttl, timer=clock)
        self._locks: KeyedLock[str] = KeyedLock()

    async def _call(self, operation: str, method: Any, **params: Any) -> Mapping[str, Any]:
        try:
            return await self._calls.call("ec2", operation, method, **params)
        except LbcError as exc:
            raise reclassify(exc) from exc.__cause__

    # -- ENIs ------------------------------------------------------------------------------------

    async def instance_enis(self, instance_ids: Iterable[str]) -> dict[str, tuple[Eni, ...]]:
        """ENIs of each instance; an instance EC2 does not know is absent from the result."""
        return await _cached_by_id(self._instances, instance_ids, self._describe_instances)

    async def network_interfaces(self, eni_ids: Iterable[str]) -> dict[str, Eni]:
        """ENIs by id (pods' branch ENIs); an id EC2 does not know is absent from the result."""
        return await _cached_by_id(self._interfaces, eni_ids, self._describe_interfaces)

    async def _describe_interfaces(self, ids: list[str]) -> dict[str, Eni]:
        out: dict[str, Eni] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {"NetworkInterfaceIds": ids}
            if token:
                params["NextToken"] = token
            page = await self._call(
                "DescribeNetworkInterfaces", self._ec2.describe_network_interfaces, **params
            )
            for raw in page.get("NetworkInterfaces", []):
                eni = _eni(raw)
                out[eni.eni_id] = eni
            token = page.get("NextToken")
            if not token:
                return out

    async def _describe_instances(self, ids: list[str]) -> dict[str, tuple[Eni, ...]]:
        out: dict[str, tuple[Eni, ...]] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {"InstanceIds": ids}
            if token:
                params["NextToken"] = token
            page = await self._call("DescribeInstances", self._ec2.describe_instances, **params)
            for reservation in page.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    out[inst["InstanceId"]] = tuple(
                        _eni(n) for n in inst.get("NetworkInterfaces", [])
                    )
            token = page.get("NextToken")
            if not token:
                return out

    # -- groups ----------------------------------------------------------------------------------

    async def group_tags(self, group_ids: Iterable[str]) -> dict[str, Mapping[str, str]]:
        """Tags of each group (for endpoint-group choice); unknown groups are absent."""
        out: dict[str, Mapping[str, str]] = {}
        for gid in sorted(set(group_ids)):
            found = await self.rules(gid)
            if found is not None:
                out[gid] = found.tags
        return out

    async def rules(self, group_id: str, *, fresh: bool = False) -> GroupRules | None:
        """The group's tags and inbound rules, at most ``ttl`` old; ``None``: no such group."""
        async with self._locks.hold(group_id):
            if not fresh and group_id in self._groups:
                return self._groups[group_id]
            found = await self._read(group_id)
            self._groups[group_id] = found
            return found

    def forget(self, group_id: str) -> None:
        self._groups.pop(group_id, None)

    async def _read(self, group_id: str) -> GroupRules | None:
        try:
            described = await self._call(
                "DescribeSecurityGroups", self._ec2.describe_security_groups, GroupIds=[group_id]
            )
        except NotFoundError:
            return None
        groups = described.get("SecurityGroups", [])
        if not groups:
            return None
        group = groups[0]
        tags = {t["Key"]: t.get("Value", "") for t in group.get("Tags", [])}
        descriptions = _descriptions(group.get("IpPermissions", []))
        rules: list[ExistingRule] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Filters": [{"Name": "group-id", "Values": [group_id]}]}
            if token:
                params["NextToken"] = token
            page = await self._call(
                "DescribeSecurityGroupRules", self._ec2.describe_security_group_rules, **params
            )
            for raw in page.get("SecurityGroupRules", []):
                rule = _rule(raw, descriptions)
                if rule is not None:
                    rules.append(rule)
            token = page.get("NextToken")
            if not token:
                break
        return GroupRules(group_id, tags, tuple(rules))

    async def discover(self, cluster: str) -> list[str]:
        """Groups that may hold this cluster's rules, for clean-up after a restart.

        Every group holding a rule tagged for ``cluster`` (lbc's own mark, so a group no binding
        uses any more is still found: the reference's blind spot for untagged groups), plus the
        groups tagged ``kubernetes.io/cluster/<cluster>``.
        """
        found: set[str] = set()
        for operation, method, key, filters in (
            (
                "DescribeSecurityGroupRules",
                self._ec2.describe_security_group_rules,
                "SecurityGroupRules",
                [{"Name": "tag-key", "Values": [cluster_tag_key(cluster)]}],
            ),
            (
                "DescribeSecurityGroups",
                self._ec2.describe_security_groups,
                "SecurityGroups",
                [{"Name": "tag-key", "Values": [GROUP_CLUSTER_TAG_PREFIX + cluster]}],
            ),
        ):
            token: str | None = None
            while True:
                params: dict[str, Any] = {"Filters": filters}
                if token:
                    params["NextToken"] = token
                page = await self._call(operation, method, **params)
                found.update(item["GroupId"] for item in page.get(key, []))
                token = page.get("NextToken")
                if not token:
                    break
        return sorted(found)

    # -- changes ---------------------------------------------------------------------------------

    async def authorize(
        self, group_id: str, permissions: Sequence[Permission], cluster: str
    ) -> None:
        """Grant ``permissions`` on ``group_id`` in one call, marked for ``cluster``."""
        if not permissions:
            return
        try:
            await self._call(
                "AuthorizeSecurityGroupIngress",
                self._ec2.authorize_security_group_ingress,
                GroupId=group_id,
                IpPermissions=[_ip_permission(p) for p in permissions],
                TagSpecifications=[
                    {
                        "ResourceType": "security-group-rule",
                        "Tags": [
                            {"Key": cluster_tag_key(cluster), "Value": RULE_CLUSTER_TAG_VALUE}
                        ],
                    }
                ],
            )
        finally:
            # Whatever happened, the group's rules may have changed: read them again next time.
            self.forget(group_id)
        GRANTED.inc(len(permissions))

    async def tag(self, group_id: str, rules: Sequence[ExistingRule], cluster: str) -> None:
        """Mark ``rules`` as wanted by ``cluster`` (adoption, or a second cluster's interest)."""
        if not rules:
            return
        try:
            await self._call(
                "CreateTags",
                self._ec2.create_tags,
                Resources=[r.rule_id for r in rules],
                Tags=[{"Key": cluster_tag_key(cluster), "Value": RULE_CLUSTER_TAG_VALUE}],
            )
        finally:
            self.forget(group_id)

    async def untag(self, group_id: str, rules: Sequence[ExistingRule], cluster: str) -> None:
        """Withdraw ``cluster``'s interest in ``rules`` that other clusters still want."""
        if not rules:
            return
        try:
            await self._call(
                "DeleteTags",
                self._ec2.delete_tags,
                Resources=[r.rule_id for r in rules],
                Tags=[{"Key": cluster_tag_key(cluster)}],
            )
        finally:
            self.forget(group_id)

    async def revoke(self, group_id: str, rules: Sequence[ExistingRule]) -> None:
        if not rules:
            return
        try:
            await self._call(
                "RevokeSecurityGroupIngress",
                self._ec2.revoke_security_group_ingress,
                GroupId=group_id,
                SecurityGroupRuleIds=[r.rule_id for r in rules],
            )
        finally:
            self.forget(group_id)
        REVOKED.inc(len(rules))


# -- shapes ----------------------------------------------------------------------------------------


def _eni(raw: Mapping[str, Any]) -> Eni:
    attachment = raw.get("Attachment") or {}
    index = attachment.get("DeviceIndex")
    return Eni(
        eni_id=str(raw.get("NetworkInterfaceId", "")),
        groups=tuple(g["GroupId"] for g in raw.get("Groups", [])),
        private_ips=tuple(
            a["PrivateIpAddress"]
            for a in raw.get("PrivateIpAddresses", [])
            if a.get("PrivateIpAddress")
        )
        + tuple(a["Ipv6Address"] for a in raw.get("Ipv6Addresses", []) if a.get("Ipv6Address")),
        prefixes=tuple(p["Ipv4Prefix"] for p in raw.get("Ipv4Prefixes", []) if p.get("Ipv4Prefix"))
        + tuple(p["Ipv6Prefix"] for p in raw.get("Ipv6Prefixes", []) if p.get("Ipv6Prefix")),
        device_index=index if isinstance(index, int) else None,
    )


def _canonical(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr, strict=False))


def _port(value: Any, default: int) -> int:
    return value if isinstance(value, int) and value >= 0 else default


def _descriptions(permissions: Iterable[Mapping[str, Any]]) -> dict[Permission, str]:
    out: dict[Permission, str] = {}
    for perm in permissions:
        proto = str(perm.get("IpProtocol", ""))
        lo, hi = _port(perm.get("FromPort"), 0), _port(perm.get("ToPort"), 65535)
        for pair in perm.get("UserIdGroupPairs", []):
            if pair.get("GroupId"):
                out[Permission(proto, lo, hi, pair["GroupId"])] = pair.get("Description", "")
        for block in perm.get("IpRanges", []):
            out[Permission(proto, lo, hi, _canonical(block["CidrIp"]))] = block.get(
                "Description", ""
            )
        for block in perm.get("Ipv6Ranges", []):
            out[Permission(proto, lo, hi, _canonical(block["CidrIpv6"]))] = block.get(
                "Description", ""
            )
    return out


def _rule(raw: Mapping[str, Any], descriptions: Mapping[Permission, str]) -> ExistingRule | None:
    if raw.get("IsEgress"):
        return None
    proto = str(raw.get("IpProtocol", ""))
    lo, hi = _port(raw.get("FromPort"), 0), _port(raw.get("ToPort"), 65535)
    if raw.get("CidrIpv4"):
        source = _canonical(raw["CidrIpv4"])
    elif raw.get("CidrIpv6"):
        source = _canonical(raw["CidrIpv6"])
    elif (raw.get("ReferencedGroupInfo") or {}).get("GroupId"):
        source = raw["ReferencedGroupInfo"]["GroupId"]
    else:
        return None  # prefix lists: never lbc's
    perm = Permission(proto, lo, hi, source)
    tags = {t["Key"]: t.get("Value", "") for t in raw.get("Tags", [])}
    description = raw.get("Description") or descriptions.get(perm, "")
    return ExistingRule(str(raw["SecurityGroupRuleId"]), perm, description, clusters_of(tags))


def _ip_permission(perm: Permission) -> dict[str, Any]:
    body: dict[str, Any] = {
        "IpProtocol": perm.protocol,
        "FromPort": perm.from_port,
        "ToPort": perm.to_port,
    }
    if perm.from_group:
        body["UserIdGroupPairs"] = [{"GroupId": perm.source, "Description": SHARED_DESCRIPTION}]
    elif perm.ipv6:
        body["Ipv6Ranges"] = [{"CidrIpv6": perm.source, "Description": SHARED_DESCRIPTION}]
    else:
        body["IpRanges"] = [{"CidrIp": perm.source, "Description": SHARED_DESCRIPTION}]
    return body


async def _cached_by_id(
    cache: TTLCache[str, T],
    ids: Iterable[str],
    describe: Callable[[list[str]], Awaitable[dict[str, T]]],
) -> dict[str, T]:
    """Each id's value from ``cache`` or, for the rest, ``describe`` in batches of ``_ID_BATCH``.

    One unknown id fails a whole EC2 describe call (an instance or a pod's branch ENI just
    deleted), so a batch that fails with "not found" is asked again one id at a time to keep the
    others; an id EC2 does not know is absent from the result and not cached.
    """
    found: dict[str, T] = {}
    missing: list[str] = []
    for key in sorted(set(ids)):
        if key in cache:
            found[key] = cache[key]
        else:
            missing.append(key)
    for start in range(0, len(missing), _ID_BATCH):
        batch = missing[start : start + _ID_BATCH]
        try:
            described = await describe(batch)
        except NotFoundError:
            described = {}
            for key in batch:
                try:
                    described.update(await describe([key]))
                except NotFoundError:
                    continue
        for key, value in described.items():
            cache[key] = value
            found[key] = value
    return found


__all__ = [
    "CACHE_SIZE",
    "DEFAULT_TTL",
    "GRANTED",
    "REVOKED",
    "GroupRules",
    "SecurityGroups",
    "reclassify",
]
