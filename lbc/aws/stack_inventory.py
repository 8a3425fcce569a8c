"""Finding a stack's AWS resources the way LBC does: by tags, in the cluster's VPC, never by name.

Discovery (reference §2.3, ``tagging_manager.go`` with the Resource Groups Tagging API off):

- load balancers: ``DescribeLoadBalancers`` (every page), kept when ``VpcId`` is the cluster's;
- target groups: ``DescribeTargetGroups`` (every page), same VPC filter;
- their tags: ``DescribeTags`` in chunks of at most 20 ARNs (AWS's limit), each ARN's tags cached
  for ``tag_ttl`` (LBC: 20 minutes; a ``cachetools.TTLCache`` on the injected clock, bounded to
  ``TAG_CACHE_SIZE`` ARNs), dropped when lbc itself changes them;
- security groups: ``DescribeSecurityGroups`` filtered by ``vpc-id`` and the cluster tag keys;
- listeners and rules of a found load balancer: ``DescribeListeners`` / ``DescribeRules`` read
  live on every observation (they are the stack's drift), their tags through the same cache.

Why the account listings are shared and cached (``list_ttl``): every stack reconcile needs them,
and a restart with N stacks would otherwise list the account N times. Concurrent reconciles share
one listing in flight. A cached listing may miss a resource someone else just made, so
:meth:`StackInventory.observe` takes ``fresh=True``, and the deployer asks for it before any
create: a create is never decided on a stale listing (that is how a duplicate stack would be born).

Invariant: a resource is in a stack's :class:`~lbc.core.stack.observed.ObservedStack` only when
its tags say this cluster and this stack (:func:`~lbc.core.stack.observed.tags_match`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

import anyio
from cachetools import TTLCache

from lbc.aws.calls import AwsCalls
from lbc.core.errors import LbcError, NotFoundError
from lbc.core.stack.inputs import SubnetFacts
from lbc.core.stack.model import (
    BACKEND_SG_RESOURCE_TAG,
    BACKEND_SG_RESOURCE_VALUE,
    CLUSTER_TAG,
    LEGACY_CLUSTER_TAG,
    tags_of,
)
from lbc.core.stack.observed import (
    ObservedListener,
    ObservedLoadBalancer,
    ObservedRule,
    ObservedSecurityGroup,
    ObservedStack,
    ObservedTargetGroup,
    Permission,
    canonical_actions,
    canonical_conditions,
    tags_match,
)

if TYPE_CHECKING:
    from types_aiobotocore_ec2 import EC2Client
    from types_aiobotocore_elbv2 import ElasticLoadBalancingv2Client

TAGS_PER_CALL: Final = 20
"""DescribeTags accepts at most 20 resource ARNs (AWS)."""
DEFAULT_TAG_TTL: Final = 1200.0
TAG_CACHE_SIZE: Final = 100_000
DEFAULT_LIST_TTL: Final = 30.0
DEFAULT_SUBNET_TTL: Final = 300.0
_LB_PAGE: Final = 400
_PARTS: Final = ("lbs", "tgs", "sgs")


@dataclass(frozen=True, slots=True)
class _Kind:
    """One account listing: the key identifying its items and, for the ELBv2 listings, the
    operation and the key of its items in a page."""

    id_key: str
    operation: str = ""
    items_key: str = ""


# Not a dict of strings: the runbook test reads those as reason tables.
_KINDS: Final = {
    "lbs": _Kind("LoadBalancerArn", "DescribeLoadBalancers", "LoadBalancers"),
    "tgs": _Kind("TargetGroupArn", "DescribeTargetGroups", "TargetGroups"),
    "sgs": _Kind("GroupId"),
}
_EC2_OPERATIONS: Final = ("SecurityGroups", "SecurityGroupRules", "Subnets", "RouteTables")


def _id_of(part: str, raw: Mapping[str, Any]) -> str:
    return str(raw[_KINDS[part].id_key])


def _paging(service: str) -> tuple[str, str]:
    """The API's paging words: the request's marker and the response's next one."""
    return ("NextToken", "NextToken") if service == "ec2" else ("Marker", "NextMarker")


def _service(operation: str) -> str:
    return "ec2" if operation.endswith(_EC2_OPERATIONS) else "elbv2"


@dataclass(frozen=True, slots=True)
class _Listing:
    load_balancers: tuple[Mapping[str, Any], ...]
    target_groups: tuple[Mapping[str, Any], ...]
    security_groups: tuple[Mapping[str, Any], ...]


@dataclass(slots=True)
class _Part:
    """One cached account listing (load balancers, target groups or security groups) by id.

    ``stamp`` is when the listing began; lbc's own creates and deletes are applied in place, so
    its writes never force a relist (a relist per create would make building N stacks cost N
    listings of N resources).
    """

    stamp: float
    items: dict[str, Mapping[str, Any]]


@final
class StackInventory:
    """The account's load balancers, target groups and security groups in one VPC, by tags."""

    def __init__(
        self,
        elbv2: ElasticLoadBalancingv2Client,
        ec2: EC2Client,
        calls: AwsCalls,
        *,
        vpc_id: str,
        list_ttl: float = DEFAULT_LIST_TTL,
        tag_ttl: float = DEFAULT_TAG_TTL,
        subnet_ttl: float = DEFAULT_SUBNET_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._elbv2 = elbv2
        self._ec2 = ec2
        self._calls = calls
        self.vpc_id = vpc_id
        self._list_ttl = list_ttl
        self._clock = clock
        self._parts: dict[str, _Part | None] = dict.fromkeys(_PARTS)
        self._listing_lock = anyio.Lock()
        self._tags: TTLCache[str, dict[str, str]] = TTLCache(TAG_CACHE_SIZE, tag_ttl, timer=clock)
        # One entry (this VPC's subnets): the same expiring map as the tags, for one mechanism.
        self._subnets: TTLCache[str, tuple[SubnetFacts, ...]] = TTLCache(1, subnet_ttl, timer=clock)
        self._subnet_lock = anyio.Lock()

    # -- cache control (called by the writer after lbc's own changes) -----------------------------

    def invalidate(self, *parts: str) -> None:
        """Forget listings (``lbs``, ``tgs``, ``sgs``; all when none is named): the next
        observation lists them again."""
        for part in parts or _PARTS:
            self._parts[part] = None

    def put(self, part: str, raw: Mapping[str, Any]) -> None:
        """A resource lbc just created or modified, as AWS answered: now in the listing."""
        cached = self._parts[part]
        if cached is not None:
            cached.items[_id_of(part, raw)] = raw

    def drop(self, part: str, key: str) -> None:
        """A resource lbc just deleted: out of the listing."""
        cached = self._parts[part]
        if cached is not None:
            cached.items.pop(key, None)

    def forget_tags(self, arns: Iterable[str]) -> None:
        for arn in arns:
            self._tags.pop(arn, None)

    def remember_tags(self, arn: str, tags: Mapping[str, str]) -> None:
        """Tags lbc just wrote (a create carries them): no DescribeTags needed to know them."""
        self._tags[arn] = dict(tags)

    # -- listings --------------------------------------------------------------------------------

    async def _list(self, *, fresh: bool) -> _Listing:
        asked = self._clock()
        async with self._listing_lock:
            for part in _PARTS:
                cached = self._parts[part]
                if cached is not None:
                    # Fresh means "begun after the caller asked": concurrent callers share one.
                    if fresh and cached.stamp >= asked:
                        continue
                    if not fresh and self._clock() - cached.stamp < self._list_ttl:
                        continue
                started = self._clock()
                found = await self._list_part(part)
                self._parts[part] = _Part(started, {_id_of(part, raw): raw for raw in found})
            return _Listing(*(tuple(self._items(part)) for part in _PARTS))

    def _items(self, part: str) -> list[Mapping[str, Any]]:
        cached = self._parts[part]
        return [] if cached is None else list(cached.items.values())

    async def _list_part(self, part: str) -> list[Mapping[str, Any]]:
        if part == "sgs":
            return await self._pages(
                "DescribeSecurityGroups",
                self._ec2.describe_security_groups,
                "SecurityGroups",
                Filters=[
                    {"Name": "vpc-id", "Values": [self.vpc_id]},
                    {"Name": "tag-key", "Values": [CLUSTER_TAG, LEGACY_CLUSTER_TAG]},
                ],
            )
        kind = _KINDS[part]
        method = (
            self._elbv2.describe_load_balancers
            if part == "lbs"
            else self._elbv2.describe_target_groups
        )
        found = await self._pages(kind.operation, method, kind.items_key, PageSize=_LB_PAGE)
        return [raw for raw in found if raw.get("VpcId") == self.vpc_id]

    async def _pages(
        self, operation: str, method: Any, key: str, **params: Any
    ) -> list[Mapping[str, Any]]:
        service = _service(operation)
        marker, next_key = _paging(service)
        found: list[Mapping[str, Any]] = []
        token: str | None = None
        while True:
            request = dict(params)
            if token:
                request[marker] = token
            page = await self._calls.call(service, operation, method, **request)
            found.extend(page.get(key, []))
            token = page.get(next_key)
            if not token:
                return found

    async def tags_of(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        """Tags of ELBv2 resources, cached per ARN; an ARN AWS no longer knows maps to ``{}``."""
        # Collected here, not re-read from the cache: an entry may expire during the calls.
        found: dict[str, dict[str, str]] = {}
        wanted: list[str] = []
        for arn in dict.fromkeys(arns):
            if (hit := self._tags.get(arn)) is None:
                wanted.append(arn)
            else:
                found[arn] = hit
        for start in range(0, len(wanted), TAGS_PER_CALL):
            chunk = wanted[start : start + TAGS_PER_CALL]
            for arn, tags in (await self._describe_tags(chunk)).items():
                self._tags[arn] = tags
                found[arn] = tags
        return {arn: dict(found.get(arn, {})) for arn in arns}

    async def _describe_tags(self, chunk: list[str]) -> dict[str, dict[str, str]]:
        try:
            response = await self._calls.call(
                "elbv2", "DescribeTags", self._elbv2.describe_tags, ResourceArns=chunk
            )
        except NotFoundError:
            # One ARN of the chunk vanished since the listing (AWS fails the whole call):
            # ask one by one, so the others still get their tags.
            if len(chunk) == 1:
                return {chunk[0]: {}}
            found: dict[str, dict[str, str]] = {}
            for arn in chunk:
                found.update(await self._describe_tags([arn]))
            return found
        out: dict[str, dict[str, str]] = {arn: {} for arn in chunk}
        for item in response.get("TagDescriptions", []):
            out[str(item["ResourceArn"])] = {
                str(t["Key"]): str(t.get("Value", "")) for t in item.get("Tags", [])
            }
        return out

    # -- one stack -------------------------------------------------------------------------------

    async def observe(
        self, cluster: str, prefix: str, stack_id: str, *, fresh: bool = False
    ) -> ObservedStack:
        """Everything tagged for ``cluster`` and stack ``stack_id`` (see the module docstring)."""
        listing = await self._list(fresh=fresh)
        lb_arns = [_id_of("lbs", lb) for lb in listing.load_balancers]
        tg_arns = [_id_of("tgs", tg) for tg in listing.target_groups]
        tags = await self.tags_of(lb_arns + tg_arns)

        def matching(part: str, raws: Iterable[Mapping[str, Any]]) -> Iterator[Any]:
            for raw in raws:
                found = tags[_id_of(part, raw)]
                if tags_match(found, cluster, prefix, stack_id):
                    yield raw, found

        lbs = [_load_balancer(*hit) for hit in matching("lbs", listing.load_balancers)]
        tgs = [_target_group(*hit) for hit in matching("tgs", listing.target_groups)]
        sgs = [
            sg
            for raw in listing.security_groups
            if tags_match((sg := _security_group(raw)).tags, cluster, prefix, stack_id)
        ]
        mine = {lb.arn for lb in lbs} | {tg.arn for tg in tgs}
        listeners: dict[str, tuple[ObservedListener, ...]] = {}
        for lb in lbs:
            listeners[lb.arn] = await self.listeners(lb.arn)
        return ObservedStack(
            load_balancers=tuple(lbs),
            target_groups=tuple(tgs),
            security_groups=tuple(sgs),
            listeners=listeners,
            other_arns=frozenset(lb_arns + tg_arns) - mine,
        )

    async def backend_security_group(self, cluster: str) -> ObservedSecurityGroup | None:
        """The cluster's shared backend group (tags cluster + ``elbv2.k8s.aws/resource``)."""
        listing = await self._list(fresh=False)
        for raw in listing.security_groups:
            group = _security_group(raw)
            if (
                group.tags.get(CLUSTER_TAG) == cluster
                and group.tags.get(BACKEND_SG_RESOURCE_TAG) == BACKEND_SG_RESOURCE_VALUE
            ):
                return group
        return None

    async def listeners(self, lb_arn: str) -> tuple[ObservedListener, ...]:
        """The load balancer's listeners with their rules (default rule left out) and tags."""
        raw_listeners = await self._pages(
            "DescribeListeners",
            self._elbv2.describe_listeners,
            "Listeners",
            LoadBalancerArn=lb_arn,
        )
        raw_rules: dict[str, list[Mapping[str, Any]]] = {}
        for listener in raw_listeners:
            arn = str(listener["ListenerArn"])
            if listener.get("Protocol") not in ("HTTP", "HTTPS"):
                raw_rules[arn] = []
                continue
            page = await self._pages(
                "DescribeRules",
                self._elbv2.describe_rules,
                "Rules",
                ListenerArn=arn,
            )
            raw_rules[arn] = [r for r in page if not r.get("IsDefault")]
        arns = [str(li["ListenerArn"]) for li in raw_listeners] + [
            str(r["RuleArn"]) for found in raw_rules.values() for r in found
        ]
        tags = await self.tags_of(arns)
        out = []
        for listener in raw_listeners:
            arn = str(listener["ListenerArn"])
            rules = tuple(
                ObservedRule(
                    arn=str(r["RuleArn"]),
                    priority=int(r["Priority"]),
                    conditions=canonical_conditions(r.get("Conditions") or []),
                    actions=canonical_actions(r.get("Actions") or []),
                    tags=tags[str(r["RuleArn"])],
                )
                for r in raw_rules[arn]
            )
            out.append(
                ObservedListener(
                    arn=arn,
                    port=int(listener["Port"]),
                    protocol=str(listener.get("Protocol", "")),
                    default_actions=canonical_actions(listener.get("DefaultActions") or []),
                    tags=tags[arn],
                    rules=tuple(sorted(rules, key=lambda r: r.priority)),
                )
            )
        return tuple(sorted(out, key=lambda li: li.port))

    async def subnets(self) -> tuple[SubnetFacts, ...]:
        """Every subnet of the VPC with its reachability (public: a route to an ``igw-``),
        cached for ``subnet_ttl``; the builders choose among them as LBC does."""
        async with self._subnet_lock:
            cached = self._subnets.get(self.vpc_id)
            if cached is not None:
                return cached
            facts = await self._describe_subnets()
            self._subnets[self.vpc_id] = facts
            return facts

    async def _describe_subnets(self) -> tuple[SubnetFacts, ...]:
        vpc_filter = [{"Name": "vpc-id", "Values": [self.vpc_id]}]
        raw = await self._pages(
            "DescribeSubnets",
            self._ec2.describe_subnets,
            "Subnets",
            Filters=vpc_filter,
        )
        tables = await self._pages(
            "DescribeRouteTables",
            self._ec2.describe_route_tables,
            "RouteTables",
            Filters=vpc_filter,
        )
        public_of: dict[str, bool] = {}
        main_public = False
        for table in tables:
            public = any(
                str(r.get("GatewayId", "")).startswith("igw") for r in table.get("Routes", [])
            )
            for assoc in table.get("Associations", []):
                if assoc.get("Main"):
                    main_public = public
                elif assoc.get("SubnetId"):
                    public_of[str(assoc["SubnetId"])] = public
        return tuple(
            SubnetFacts(
                subnet_id=str(sub["SubnetId"]),
                availability_zone=str(sub.get("AvailabilityZone", "")),
                available_ips=int(sub.get("AvailableIpAddressCount", 0)),
                tags=tags_of({str(t["Key"]): str(t.get("Value", "")) for t in sub.get("Tags", [])}),
                vpc_id=str(sub.get("VpcId", "")),
                cidr=str(sub.get("CidrBlock", "")),
                outpost_arn=str(sub.get("OutpostArn", "") or ""),
                public=public_of.get(str(sub["SubnetId"]), main_public),
            )
            for sub in sorted(raw, key=lambda s: str(s["SubnetId"]))
        )

    async def load_balancer_attributes(self, arn: str) -> dict[str, str]:
        return await self._attributes(
            "DescribeLoadBalancerAttributes",
            self._elbv2.describe_load_balancer_attributes,
            LoadBalancerArn=arn,
        )

    async def target_group_attributes(self, arn: str) -> dict[str, str]:
        return await self._attributes(
            "DescribeTargetGroupAttributes",
            self._elbv2.describe_target_group_attributes,
            TargetGroupArn=arn,
        )

    async def _attributes(self, operation: str, method: Any, **arn: str) -> dict[str, str]:
        response = await self._calls.call("elbv2", operation, method, **arn)
        return {str(a["Key"]): str(a.get("Value", "")) for a in response.get("Attributes", [])}

    async def target_ids(self, arn: str) -> frozenset[tuple[str, int]]:
        """The (id, port) of every target registered in the group, whatever its state."""
        try:
            response = await self._calls.call(
                "elbv2",
                "DescribeTargetHealth",
                self._elbv2.describe_target_health,
                TargetGroupArn=arn,
            )
        except LbcError as exc:
            if isinstance(exc, NotFoundError):
                return frozenset()
            raise
        return frozenset(
            (str(d["Target"]["Id"]), int(d["Target"].get("Port", 0)))
            for d in response.get("TargetHealthDescriptions", [])
        )


def _load_balancer(raw: Mapping[str, Any], tags: Mapping[str, str]) -> ObservedLoadBalancer:
    return ObservedLoadBalancer(
        arn=str(raw["LoadBalancerArn"]),
        name=str(raw.get("LoadBalancerName", "")),
        type=str(raw.get("Type", "")),
        scheme=str(raw.get("Scheme", "")),
        dns_name=str(raw.get("DNSName", "")),
        vpc_id=str(raw.get("VpcId", "")),
        ip_address_type=str(raw.get("IpAddressType", "ipv4")),
        subnets=frozenset(
            str(z["SubnetId"]) for z in raw.get("AvailabilityZones", []) if z.get("SubnetId")
        ),
        security_groups=frozenset(str(g) for g in raw.get("SecurityGroups", [])),
        tags=dict(tags),
    )


_HEALTH_KEYS: Final = (
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckPath",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
)


def _target_group(raw: Mapping[str, Any], tags: Mapping[str, str]) -> ObservedTargetGroup:
    health: dict[str, Any] = {k: raw[k] for k in _HEALTH_KEYS if k in raw}
    matcher = raw.get("Matcher") or {}
    if matcher.get("HttpCode"):
        health["Matcher"] = {"HttpCode": str(matcher["HttpCode"])}
    elif matcher.get("GrpcCode"):
        health["Matcher"] = {"GrpcCode": str(matcher["GrpcCode"])}
    return ObservedTargetGroup(
        arn=str(raw["TargetGroupArn"]),
        name=str(raw.get("TargetGroupName", "")),
        target_type=str(raw.get("TargetType", "")),
        protocol=str(raw.get("Protocol", "")),
        protocol_version=raw.get("ProtocolVersion"),
        port=int(raw.get("Port", 0)),
        vpc_id=str(raw.get("VpcId", "")),
        ip_address_type=str(raw.get("IpAddressType", "ipv4")),
        health_check=health,
        tags=dict(tags),
        load_balancer_arns=tuple(str(a) for a in raw.get("LoadBalancerArns", [])),
    )


def _security_group(raw: Mapping[str, Any]) -> ObservedSecurityGroup:
    inbound: set[Permission] = set()
    for perm in raw.get("IpPermissions", []):
        protocol = str(perm.get("IpProtocol", ""))
        low = int(perm.get("FromPort", -1))
        high = int(perm.get("ToPort", -1))
        for r in perm.get("IpRanges", []):
            inbound.add(Permission(protocol, low, high, cidr=str(r["CidrIp"])))
        for r in perm.get("Ipv6Ranges", []):
            inbound.add(Permission(protocol, low, high, cidr=str(r["CidrIpv6"])))
        for r in perm.get("UserIdGroupPairs", []):
            inbound.add(Permission(protocol, low, high, source_group=str(r["GroupId"])))
    return ObservedSecurityGroup(
        group_id=str(raw["GroupId"]),
        name=str(raw.get("GroupName", "")),
        tags={str(t["Key"]): str(t.get("Value", "")) for t in raw.get("Tags", [])},
        inbound=frozenset(inbound),
    )
