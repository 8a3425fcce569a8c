"""ELBv2 target groups as the reconciler sees them: health, register, deregister, describe.

:class:`TargetGroups` is the port the control layer uses; it is the only code that calls ELBv2.
What it guarantees, per target group ARN:

- **Serialised per group, parallel across groups.** Every operation on one ARN holds that ARN's
  lock (two bindings may share a group, and a describe interleaved with another binding's
  registration would hand the reconciler a stale view); different ARNs never wait for each
  other. There is no process-wide lock.
- **Cached health.** :meth:`TargetGroups.describe` lists the whole group when its view is
  missing or older than ``health_ttl``, and otherwise re-describes only targets that are not
  healthy or whose state is unknown (:mod:`lbc.aws.health`). ``fresh=True`` forces a full
  listing (the drift verifier).
- **Batches.** Registration and deregistration go out in batches of at most 200 targets, up to
  ``max_in_flight`` batches at a time, each spending a mutation token of the client-side rate
  limit. The first failure stops new batches from starting; batches already in flight finish,
  then that failure is raised and :func:`batch_progress` tells which targets were done.
  The cache is updated after every successful batch, never before.
- **QUIC server ids.** A target with a ``server_id`` (QUIC and TCP_QUIC groups) is sent
  with ``QuicServerId``; listed targets are read back with theirs, so identities compare equal.
- **Availability zone.** For ip target groups, a target whose address lies outside every CIDR of
  the group's VPC is registered with ``AvailabilityZone="all"`` (:mod:`lbc.aws.vpc`); targets
  inside the VPC and instance targets never carry a zone. A group that refuses ``all`` gets the
  targets' node zones instead (:meth:`TargetGroups.register`).
- **Classified errors.** Every failure is an :class:`~lbc.core.errors.LbcError`
  (:mod:`lbc.aws.errors`); a missing group is
  :class:`~lbc.core.errors.TargetGroupNotFoundError`, and its cached state is forgotten.
- **Per account, per role.** Calls about a group spend the rate limits of the group's account
  (the ARN's), so one account's throttling never slows another's bindings. A binding that names
  a role uses :meth:`TargetGroups.as_role`: the same port, whose calls are signed with that
  role's credentials in the region of the group's ARN, and whose health views and group facts
  are its own (a view obtained with one role's credentials is never served to another role). The
  per-group locks are shared by all roles: one group is one queue whoever calls.
"""

from __future__ import annotations

import copy
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

import anyio
from cachetools import TTLCache

from lbc.aws.arns import account_of, region_of
from lbc.aws.calls import AwsCalls
from lbc.aws.health import HealthCache, parse_description
from lbc.aws.keyedlock import KeyedLock
from lbc.aws.roles import Role
from lbc.aws.session import RoleClients
from lbc.aws.vpc import VpcDirectory
from lbc.core.errors import (
    AccessError,
    LbcError,
    NotFoundError,
    TargetGroupNotFoundError,
    TerminalError,
)
from lbc.core.targets import Target, TargetHealth
from lbc.observe.log import get_logger

if TYPE_CHECKING:
    from types_aiobotocore_elbv2 import ElasticLoadBalancingv2Client

BATCH_SIZE: Final = 200
DEFAULT_HEALTH_TTL: Final = 300.0
DEFAULT_MAX_IN_FLIGHT: Final = 4
ALL_ZONES: Final = "all"
#: What ELBv2's ValidationError says when a group refuses zone ``all`` (LBC matches the same).
ZONE_REQUIRED: Final = "you must specify an availability zone"
#: How long a group that refused ``all`` gets node zones at once (LBC's 60 minutes).
NODE_ZONES_PERIOD: Final = 3600.0
NODE_ZONES_SIZE: Final = 10_000

_log = get_logger("lbc.aws.elbv2")


@dataclass(frozen=True, slots=True)
class TargetGroupInfo:
    """The immutable facts of a target group that lbc needs (webhook checks, AZ decisions)."""

    arn: str
    name: str
    target_type: str
    protocol: str | None
    port: int | None
    vpc_id: str | None
    ip_address_type: str | None

    @classmethod
    def from_api(cls, group: Mapping[str, Any]) -> TargetGroupInfo:
        return cls(
            arn=str(group["TargetGroupArn"]),
            name=str(group.get("TargetGroupName", "")),
            target_type=str(group.get("TargetType", "instance")),
            protocol=group.get("Protocol"),
            port=group.get("Port"),
            vpc_id=group.get("VpcId"),
            ip_address_type=group.get("IpAddressType"),
        )


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """How far a register/deregister got before the failure it is attached to."""

    operation: str
    succeeded: tuple[Target, ...]
    not_done: tuple[Target, ...]


_PROGRESS: weakref.WeakKeyDictionary[BaseException, BatchProgress] = weakref.WeakKeyDictionary()


def batch_progress(error: BaseException) -> BatchProgress | None:
    """The progress of the batch sequence that ``error`` stopped, if it came from one."""
    return _PROGRESS.get(error)


@dataclass(slots=True)
class _Shared:
    """What every role's view of the port shares: limits, caches, locks (module docstring)."""

    ttl: float
    clock: Callable[[], float]
    roles: RoleClients | None
    health: dict[tuple[str, Role | None], HealthCache]
    infos: dict[tuple[Role | None, str], TargetGroupInfo]
    locks: KeyedLock[str]
    views: dict[Role | None, TargetGroups]
    #: Groups that refused zone ``all`` (cross-zone off): node zones are used at once for
    #: ``NODE_ZONES_PERIOD`` seconds after the refusal.
    node_zones: TTLCache[str, bool]


@final
class TargetGroups:
    """The reconciler's port to ELBv2 target groups (see the module docstring for promises)."""

    def __init__(
        self,
        elbv2: ElasticLoadBalancingv2Client,
        calls: AwsCalls,
        vpcs: VpcDirectory,
        *,
        health_ttl: float = DEFAULT_HEALTH_TTL,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        clock: Callable[[], float] = time.monotonic,
        roles: RoleClients | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        self._elbv2 = elbv2
        self._calls = calls
        self._vpcs = vpcs
        self._max_in_flight = max_in_flight
        self._role: Role | None = None
        node_zones: TTLCache[str, bool] = TTLCache(NODE_ZONES_SIZE, NODE_ZONES_PERIOD, timer=clock)
        self._shared = _Shared(health_ttl, clock, roles, {}, {}, KeyedLock(), {}, node_zones)
        self._shared.views[None] = self
        self._locks = self._shared.locks

    # -- roles and accounts ------------------------------------------------------------------

    def as_role(self, role: Role | None) -> TargetGroups:
        """The port for a binding that names ``role`` (None: lbc's own credentials).

        The same object for the same role, so its clients and views are reused across passes.
        """
        view = self._shared.views.get(role)
        if view is None:
            view = copy.copy(self)
            view._role = role
            self._shared.views[role] = view
        return view

    async def _client(self, arn: str) -> ElasticLoadBalancingv2Client:
        if self._role is None:
            return self._elbv2
        if self._shared.roles is None:
            raise AccessError(
                f"cannot assume {self._role}: this process has no STS client",
                reason="AssumeRoleFailed",
            )
        return await self._shared.roles.elbv2(self._role, region_of(arn))

    def _calls_for(self, arn: str) -> AwsCalls:
        """Calls spending the rate limits of the group's account (the role's, without an ARN)."""
        account = account_of(arn) or (self._role.account if self._role is not None else "")
        return self._calls.for_account(account)

    def _health(self, arn: str) -> HealthCache:
        key = (account_of(arn), self._role)
        cache = self._shared.health.get(key)
        if cache is None:
            cache = self._shared.health[key] = HealthCache(self._shared.ttl, self._shared.clock)
        return cache

    # -- health ------------------------------------------------------------------------------

    async def describe(self, arn: str, *, fresh: bool = False) -> Mapping[Target, TargetHealth]:
        """Every registered target of the group with its health (draining ones included)."""
        async with self._locks.hold(arn):
            if fresh or not self._health(arn).is_fresh(arn):
                await self._list_all(arn)
            else:
                await self._refresh_stale(arn)
            return self._health(arn).snapshot(arn)

    async def _list_all(self, arn: str) -> None:
        elbv2 = await self._client(arn)
        response = await self._call(
            arn, "DescribeTargetHealth", elbv2.describe_target_health, TargetGroupArn=arn
        )
        self._health(arn).replace(arn, map(parse_description, _descriptions(response)))

    async def _refresh_stale(self, arn: str) -> None:
        health = self._health(arn)
        stale = health.stale_targets(arn)
        if not stale:
            return
        if 2 * len(stale) > health.size(arn):
            # Asking about most of the group costs what a full listing costs, and a full
            # listing also shows targets added by others and restarts the expiry.
            await self._list_all(arn)
            return
        try:
            # No AvailabilityZone in the query: ELBv2 then matches the target whatever zone it
            # was registered with (the reference's fix for zone "all" targets).
            elbv2 = await self._client(arn)
            response = await self._call(
                arn,
                "DescribeTargetHealth",
                elbv2.describe_target_health,
                TargetGroupArn=arn,
                Targets=[_description(t, None) for t in stale],
            )
        except TerminalError:
            # One bad id (an instance terminated since) fails the whole query; the full listing
            # has no ids to reject.
            await self._list_all(arn)
            return
        refreshed = [parse_description(d) for d in _descriptions(response)]
        health.update(arn, refreshed)
        health.drop_unanswered(arn, stale, {t for t, _ in refreshed})

    # -- mutations ---------------------------------------------------------------------------

    async def register(
        self,
        arn: str,
        targets: Sequence[Target],
        *,
        zone_hints: Mapping[Target, str] | None = None,
    ) -> None:
        """Register ``targets`` (idempotent in ELBv2), in batches; see :func:`batch_progress`.

        ``zone_hints`` are the zones of the nodes the targets' pods run on. A target outside
        the VPC goes with zone ``all``; when ELBv2 answers that an Availability Zone must be
        given (an ALB group with cross-zone load balancing off), the registration is retried
        once with each such target's node zone (``all`` where none is known), and the group
        uses node zones at once for the next hour (LBC's rule and period). Not for a binding
        whose group is in another account (an assumed role): LBC keeps ``all`` there too.
        """
        if not targets:
            return
        hints = zone_hints or {}
        async with self._locks.hold(arn):
            zones = await self._zones(arn, targets, known_only=False)
            if self._node_zones_due(arn):
                await self._in_batches(arn, "RegisterTargets", targets, _hinted(zones, hints))
                return
            try:
                await self._in_batches(arn, "RegisterTargets", targets, zones)
            except TerminalError as exc:
                if self._role is not None or ZONE_REQUIRED not in str(exc).lower():
                    raise
                self._shared.node_zones[arn] = True
                _log.info("register_retried_with_node_zones", target_group_arn=arn)
                await self._in_batches(arn, "RegisterTargets", targets, _hinted(zones, hints))

    def _node_zones_due(self, arn: str) -> bool:
        return arn in self._shared.node_zones

    async def deregister(self, arn: str, targets: Sequence[Target]) -> None:
        """Deregister ``targets``, in batches; zones as listed, or as registration would set."""
        if not targets:
            return
        async with self._locks.hold(arn):
            zones = await self._zones(arn, targets, known_only=True)
            await self._in_batches(arn, "DeregisterTargets", targets, zones)

    async def _in_batches(
        self,
        arn: str,
        operation: str,
        targets: Sequence[Target],
        zones: Mapping[Target, str],
    ) -> None:
        ordered = list(dict.fromkeys(targets))
        batches = [ordered[i : i + BATCH_SIZE] for i in range(0, len(ordered), BATCH_SIZE)]
        elbv2 = await self._client(arn)
        health = self._health(arn)
        method: Callable[..., Awaitable[Any]] = (
            elbv2.register_targets if operation == "RegisterTargets" else elbv2.deregister_targets
        )
        succeeded: list[Target] = []
        failures: list[LbcError] = []
        slots = anyio.Semaphore(self._max_in_flight)

        async def send(batch: list[Target]) -> None:
            async with slots:
                if failures:
                    return
                descriptions = [_description(t, zones.get(t)) for t in batch]
                # Whatever the answer, and even without one (timeout, cancellation), AWS may
                # have applied the batch: its targets' states are unknown until described.
                try:
                    await self._call(
                        arn, operation, method, TargetGroupArn=arn, Targets=descriptions
                    )
                except LbcError as exc:
                    failures.append(exc)
                    return
                finally:
                    health.mark_unknown(arn, batch)
                succeeded.extend(batch)
                _log.debug(
                    "targets_registered"
                    if operation == "RegisterTargets"
                    else "targets_deregistered",
                    target_group_arn=arn,
                    targets=[t.identity for t in batch],
                )

        async with anyio.create_task_group() as group:
            for batch in batches:
                group.start_soon(send, batch)
        if failures:
            first = failures[0]
            done = set(succeeded)
            _PROGRESS[first] = BatchProgress(
                operation,
                tuple(t for t in ordered if t in done),
                tuple(t for t in ordered if t not in done),
            )
            raise first

    # -- availability zones ------------------------------------------------------------------

    async def _zones(
        self, arn: str, targets: Sequence[Target], *, known_only: bool
    ) -> dict[Target, str]:
        """``AvailabilityZone`` to send per target (absent: send none).

        For deregistration the zone the group listed is reused; only targets never listed fall
        back to the VPC rule, which keeps the common path free of extra calls.
        """
        zones: dict[Target, str] = {}
        unknown: list[Target] = []
        for target in targets:
            listed = self._health(arn).availability_zone(arn, target) if known_only else None
            if listed is not None:
                zones[target] = listed
            else:
                unknown.append(target)
        if not unknown:
            return zones
        info = await self._info(arn)
        if info.target_type != "ip":
            return zones
        if info.vpc_id is None:
            raise TerminalError(f"target group {arn} of type ip has no VPC", reason="NoVpc")
        ranges = await self._vpcs.ranges(info.vpc_id, role=self._role, region=region_of(arn))
        for target in unknown:
            try:
                inside = ranges.contains(target.id)
            except ValueError:
                raise TerminalError(
                    f"{target.identity} is not an IP address, but {arn} takes ip targets",
                    reason="InvalidTarget",
                ) from None
            if not inside:
                zones[target] = ALL_ZONES
        return zones

    # -- target group facts ------------------------------------------------------------------

    async def describe_target_group(self, arn: str) -> TargetGroupInfo:
        """The group's facts (cached: type, protocol, VPC and address type never change)."""
        async with self._locks.hold(arn):
            return await self._info(arn)

    async def describe_target_group_by_name(self, name: str) -> TargetGroupInfo:
        """Resolve a ``targetGroupName`` (not cached: a name can be deleted and reused)."""
        elbv2 = await self._client("")
        try:
            response = await self._calls_for("").call(
                "elbv2", "DescribeTargetGroups", elbv2.describe_target_groups, Names=[name]
            )
        except NotFoundError:
            raise TargetGroupNotFoundError(f"no target group named {name!r}") from None
        groups = list(response.get("TargetGroups", []))
        if len(groups) != 1:
            raise TargetGroupNotFoundError(
                f"expected one target group named {name!r}, found {len(groups)}"
            )
        info = TargetGroupInfo.from_api(groups[0])
        self._shared.infos[(self._role, info.arn)] = info
        return info

    async def _info(self, arn: str) -> TargetGroupInfo:
        info = self._shared.infos.get((self._role, arn))
        if info is not None:
            return info
        elbv2 = await self._client(arn)
        response = await self._call(
            arn, "DescribeTargetGroups", elbv2.describe_target_groups, TargetGroupArns=[arn]
        )
        groups = list(response.get("TargetGroups", []))
        if len(groups) != 1:
            raise TargetGroupNotFoundError(f"DescribeTargetGroups: no target group {arn}")
        info = TargetGroupInfo.from_api(groups[0])
        self._shared.infos[(self._role, arn)] = info
        return info

    def forget(self, arn: str) -> None:
        """Drop what is cached about ``arn``, for every role (its binding is gone)."""
        for cache in self._shared.health.values():
            cache.forget(arn)
        for key in [k for k in self._shared.infos if k[1] == arn]:
            del self._shared.infos[key]

    # -- plumbing ----------------------------------------------------------------------------

    async def _call(
        self, arn: str, operation: str, method: Callable[..., Awaitable[Any]], **params: Any
    ) -> Mapping[str, Any]:
        """One ELBv2 call about ``arn``; a missing group's cached state is dropped."""
        try:
            return await self._calls_for(arn).call("elbv2", operation, method, **params)
        except TargetGroupNotFoundError:
            self.forget(arn)
            raise


def _hinted(zones: Mapping[Target, str], hints: Mapping[Target, str]) -> dict[Target, str]:
    """``zones`` with each ``all`` replaced by the target's node zone, where one is known."""
    return {t: hints.get(t, z) if z == ALL_ZONES else z for t, z in zones.items()}


def _descriptions(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(response.get("TargetHealthDescriptions", []))


def _description(target: Target, zone: str | None) -> dict[str, Any]:
    """A ``TargetDescription``; a QUIC target carries its server id (ELBv2 requires it)."""
    description: dict[str, Any] = {"Id": target.id, "Port": target.port}
    if zone is not None:
        description["AvailabilityZone"] = zone
    if target.server_id:
        description["QuicServerId"] = target.server_id
    return description
