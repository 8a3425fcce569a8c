"""The networking manager: every binding's ``spec.networking`` onto the security groups.

The binding reconciler calls :meth:`NetworkingManager.reconcile` once per pass, right after it
has computed the binding's desired targets and before any target-group call (so a missing
target group never stops security-group work: the reference's #4896/#4898). One *pass*, under
one process-wide lock (rules live on groups shared by many bindings, and EC2 has no
compare-and-set):

1. Compute the binding's :class:`~lbc.core.networking.Wishes` from its desired targets: the
   endpoint group of every target's ENI (instance targets: the node's primary ENI; ip targets:
   the pod's branch ENI from ``vpc.amazonaws.com/pod-eni``, else the node ENI holding the
   pod's address or a prefix containing it), cached ENI and group facts, and the expanded
   permissions, named ports resolved per pod from its container ports. A deleting binding,
   or one whose Service is gone, wishes nothing.
2. Fill in every other binding with networking that has no wishes yet, from the informer
   caches alone (its spec, Service, slices, pods and nodes). This is what makes revokes
   possible right after a restart, without waiting for every binding to pass its checkpoint.
   A binding whose computation fails keeps its previous wishes and contributes *guards*: the
   permissions its spec could ask for stay protected on every group, and revokes elsewhere go
   on.
3. Aggregate, then reconcile every group wanted by a binding or tracked (groups seen this
   process, plus, discovered once as soon as some binding wants networking, every group
   holding a rule tagged for this cluster and the groups tagged
   ``kubernetes.io/cluster/<cluster>``): grant,
   adopt, then — on a fresh read — release or revoke (:func:`lbc.core.networking.diff`).
   Grants go in one call per group; when it is refused for a nonexistent source group or a
   malformed id it is split into one call per permission, so valid rules still land and the
   failure is pinned on the bindings that asked for the bad one. A rule-limit refusal is
   retried once after the revokes of the pass, then reported with the group and its count.

The binding's outcome becomes its ``NetworkingReady`` condition (written by the reconciler
with ``Ready``), a Warning ``FailedNetworkReconcile`` event on failure, and a requeue after
``LBC_REQUEUE_PERIOD``. It never raises into the reconciler: target registration goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import anyio
from prometheus_client import Counter

from lbc.aws.securitygroups import GroupRules
from lbc.control.entry import BindingEntry
from lbc.core.binding import Binding, Networking, TargetType
from lbc.core.desired import DesiredSet, Resolution, instance_id
from lbc.core.errors import LbcError, NotFoundError, TransientError
from lbc.core.networking import (
    FAILED,
    LIMIT,
    NOTHING,
    Eni,
    ExistingRule,
    Failure,
    Guard,
    NetworkingError,
    NetworkingState,
    Permission,
    Wishes,
    aggregate,
    check_cluster_name,
    diff,
    endpoint_group,
    eni_for_ip,
    expand,
    guards_of,
    outcome,
    primary_eni,
    resolve_named,
)
from lbc.core.objects import NodeView, PodView
from lbc.kube.client import TARGET_GROUP_BINDINGS
from lbc.kube.events import EventType, ObjectRef
from lbc.kube.informer import Store
from lbc.observe.log import get_logger
from lbc.observe.metrics import REGISTRY

CONDITION: Final = "NetworkingReady"
#: Longest a binding's reconcile waits for its networking pass (lock wait included).
DEFAULT_PASS_TIMEOUT: Final = 30.0
_SPLIT_REASONS: Final = frozenset(
    {"SecurityGroupNotFound", "InvalidSecurityGroupId", "DuplicateRule", "ValidationError"}
)

log = get_logger("lbc.control.networking")

FAILURES: Final = Counter(
    "lbc_networking_failures_total",
    "Bindings whose security-group rules could not be reconciled, by reason.",
    ["reason"],
    registry=REGISTRY,
)


class SecurityGroupPort(Protocol):
    """What the manager needs of :class:`lbc.aws.securitygroups.SecurityGroups`."""

    async def instance_enis(self, instance_ids: Iterable[str]) -> dict[str, tuple[Eni, ...]]: ...

    async def network_interfaces(self, eni_ids: Iterable[str]) -> dict[str, Eni]: ...

    async def group_tags(self, group_ids: Iterable[str]) -> dict[str, Mapping[str, str]]: ...

    async def rules(self, group_id: str, *, fresh: bool = False) -> GroupRules | None: ...

    async def discover(self, cluster: str) -> list[str]: ...

    async def authorize(
        self, group_id: str, permissions: Sequence[Permission], cluster: str
    ) -> None: ...

    async def tag(self, group_id: str, rules: Sequence[ExistingRule], cluster: str) -> None: ...

    async def untag(self, group_id: str, rules: Sequence[ExistingRule], cluster: str) -> None: ...

    async def revoke(self, group_id: str, rules: Sequence[ExistingRule]) -> None: ...


class EventSink(Protocol):
    async def emit(self, ref: ObjectRef, type_: EventType, reason: str, message: str) -> None: ...


class NetworkingManager:
    """Process-wide owner of the security-group rules of every binding (module docstring)."""

    def __init__(
        self,
        *,
        groups: SecurityGroupPort,
        bindings: Store[BindingEntry],
        nodes: Store[NodeView],
        cluster_name: str | None,
        extra_tags: Mapping[str, str],
        events: EventSink,
        requeue: Callable[[str, float], None],
        requeue_period: float,
        pass_timeout: float = DEFAULT_PASS_TIMEOUT,
    ) -> None:
        self._groups = groups
        self._bindings = bindings
        self._nodes = nodes
        self._cluster = cluster_name
        self._extra_tags = dict(extra_tags)
        self._events = events
        self._requeue = requeue
        self._requeue_period = requeue_period
        self._pass_timeout = pass_timeout
        self._desired_of: Callable[[Binding], DesiredSet] | None = None
        self._lock = anyio.Lock()
        self._wishes: dict[str, Wishes] = {}
        self._tracked: set[str] = set()
        self._discovered = False
        self._swept = False
        self._states: dict[str, NetworkingState] = {}
        self._written: dict[str, NetworkingState | None] = {}
        self._since: dict[str, tuple[bool, str]] = {}

    def bind(self, desired_of: Callable[[Binding], DesiredSet]) -> None:
        """How to compute any binding's desired targets from the caches (the reconciler's)."""
        self._desired_of = desired_of

    # -- what the reconciler asks -----------------------------------------------------------------

    async def reconcile(self, entry: BindingEntry, wanted: DesiredSet) -> bool:
        """One pass on behalf of ``entry``; True when its condition must be written."""
        key = entry.key
        if self._idle_for(entry):
            self._states.pop(key, None)
            return not self.status_current(key)
        own: Wishes | None = None
        failures: list[Failure] = []
        # Bounded, lock wait included: a slow or unreachable EC2 must not hold the binding's
        # reconcile (and its target registration) hostage. Cancelling a pass midway is safe:
        # grants come before revokes, and every change drops the group's cached rules.
        with anyio.move_on_after(self._pass_timeout) as scope:
            async with self._lock:
                own = await self._compute(entry, wanted)
                if own is None:
                    self._wishes.pop(key, None)
                else:
                    self._wishes[key] = own
                await self._fill_unknown()
                self._consolidate()
                failures = await self._apply()
        state = None if own is None else outcome(own, failures)
        if scope.cancelled_caught and entry.binding is not None and entry.binding.spec.networking:
            state = NetworkingState(
                False, FAILED, f"security-group work did not finish within {self._pass_timeout:g}s"
            )
        if state is None:
            self._states.pop(key, None)
        else:
            self._states[key] = state
            if not state.ready:
                FAILURES.labels(state.reason).inc()
                log.warning(
                    "networking_failed", binding=key, reason=state.reason, error=state.message
                )
                await self._events.emit(_ref(entry), "Warning", FAILED, state.message)
                self._requeue(key, self._requeue_period)
        return not self.status_current(key)

    def _idle_for(self, entry: BindingEntry) -> bool:
        """Whether a pass on behalf of ``entry`` would change nothing, so none is run.

        A binding without networking, not remembered as having had any, changes no wish; the
        groups are reconciled by the passes of bindings with networking. The first pass of the
        process always runs, whoever asks; when some binding wants networking it discovers the
        groups holding this cluster's rules, which cleans up after bindings that lost their
        networking (or were deleted) while lbc was down. With no binding wanting networking it
        makes no EC2 call (see :meth:`_apply`).
        """
        binding = entry.binding
        return (
            self._swept
            and (binding is None or binding.spec.networking is None)
            and entry.key not in self._wishes
        )

    def condition(self, key: str) -> NetworkingState | None:
        """The binding's current networking outcome (``None``: it has no networking)."""
        return self._states.get(key)

    def status_current(self, key: str) -> bool:
        """Whether the binding's stored status already says what :meth:`condition` says.

        After a restart nothing is known to be written: a ready outcome is assumed written (so a
        restart costs no status write), a failure is written again.
        """
        state = self._states.get(key)
        if key not in self._written:
            return state is None or state.ready
        return self._written[key] == state

    def written(self, key: str) -> None:
        """The reconciler wrote the binding's status with :meth:`status_condition` in it."""
        self._written[key] = self._states.get(key)

    def status_condition(self, key: str, *, now: str, generation: int) -> dict[str, Any] | None:
        """The ``NetworkingReady`` entry of the binding's ``status.conditions``, if any.

        ``lastTransitionTime`` is kept while the status stays the same (as far as this process
        knows: after a restart the first write stamps ``now``).
        """
        state = self._states.get(key)
        if state is None:
            return None
        since = self._since.get(key)
        if since is None or since[0] != state.ready:
            since = (state.ready, now)
            self._since[key] = since
        return condition_body(state, since=since[1], generation=generation)

    def forget(self, key: str) -> None:
        """The binding is gone: drop what is remembered about its status."""
        self._states.pop(key, None)
        self._written.pop(key, None)
        self._since.pop(key, None)

    # -- wishes -----------------------------------------------------------------------------------

    async def _compute(self, entry: BindingEntry, wanted: DesiredSet | None) -> Wishes | None:
        binding = entry.binding
        if binding is None or binding.spec.networking is None:
            return None
        net = binding.spec.networking
        if entry.deleting or (
            wanted is not None and wanted.resolution is Resolution.BACKEND_NOT_FOUND
        ):
            return NOTHING
        previous = self._wishes.get(entry.key)
        try:
            cluster = check_cluster_name(self._cluster)
            if wanted is None:
                if self._desired_of is None:
                    raise TransientError("desired targets not known yet", reason=FAILED)
                wanted = self._desired_of(binding)
                if wanted.resolution is Resolution.BACKEND_NOT_FOUND:
                    return NOTHING
            if wanted.resolution is Resolution.INVALID:
                raise NetworkingError("the binding's targets cannot be resolved")
            return await self._resolve(binding, net, wanted, cluster)
        except LbcError as exc:
            return Wishes(
                per_group=previous.per_group if previous is not None else {},
                complete=False,
                guards=guards_of(net),
                errors=(f"{exc.reason}: {exc}" if exc.reason != FAILED else str(exc),),
            )

    async def _resolve(
        self, binding: Binding, net: Networking, wanted: DesiredSet, cluster: str
    ) -> Wishes:
        pod_targets = binding.spec.target_type is TargetType.IP or any(
            d.pod is not None for d in wanted.targets.values()
        )
        expansion = expand(net, pod_targets=pod_targets)
        errors = list(expansion.errors)
        # Where each target's traffic enters: a pod's branch ENI (security groups for pods),
        # else an ENI of its node; ``address`` None asks for the node's primary ENI.
        by_instance: dict[str, list[tuple[str, str | None]]] = {}
        by_branch: dict[str, list[str]] = {}
        pods: dict[str, PodView | None] = {}
        for target, facts in wanted.targets.items():
            pod = facts.pod
            if expansion.named:
                pods[target.identity] = pod
            if pod is not None and pod.branch_enis:
                by_branch.setdefault(pod.branch_enis[0], []).append(target.identity)
                continue
            node = self._nodes.get(facts.node_name) if facts.node_name else None
            iid = instance_id(node.provider_id) if node is not None else None
            if iid is None:
                errors.append(f"target {target.identity}: node {facts.node_name!r} has no instance")
                continue
            address = None if pod is None else (pod.ip or target.id)
            by_instance.setdefault(iid, []).append((target.identity, address))
        eni_of: dict[str, Eni] = {}
        if by_branch:
            branches = await self._groups.network_interfaces(by_branch)
            for eni_id, identities in sorted(by_branch.items()):
                found = branches.get(eni_id)
                if found is None:
                    # Never the node ENI instead: the pod's traffic does not pass through it.
                    errors.extend(
                        f"target {identity}: branch ENI {eni_id} not found in EC2"
                        for identity in identities
                    )
                    continue
                eni_of.update(dict.fromkeys(identities, found))
        enis = await self._groups.instance_enis(by_instance) if by_instance else {}
        for iid, targets in sorted(by_instance.items()):
            instance = enis.get(iid)
            if instance is None:
                errors.append(f"instance {iid} not found in EC2")
                continue
            for identity, address in targets:
                eni = primary_eni(instance) if address is None else eni_for_ip(instance, address)
                if eni is None:
                    what = "primary ENI" if address is None else f"ENI holding {address}"
                    errors.append(f"target {identity}: no {what} on {iid}")
                    continue
                eni_of[identity] = eni
        chosen = {eni.eni_id: eni for eni in eni_of.values()}
        multi = {g for eni in chosen.values() if len(eni.groups) != 1 for g in eni.groups}
        tags = await self._groups.group_tags(multi) if multi else {}
        group_of: dict[str, str] = {}
        for eni in chosen.values():
            try:
                group_of[eni.eni_id] = endpoint_group(eni, tags, cluster, self._extra_tags)
            except NetworkingError as exc:
                errors.append(str(exc))
        per_group: dict[str, set[Permission]] = {}
        for identity, eni in sorted(eni_of.items()):
            gid = group_of.get(eni.eni_id)
            if gid is None:
                continue
            perms = per_group.setdefault(gid, set(expansion.permissions))
            if not expansion.named:
                continue
            pod = pods.get(identity)
            if pod is None:
                errors.append(f"target {identity}: no pod to resolve named ports from")
                continue
            resolved, missing = resolve_named(expansion.named, pod, identity)
            perms.update(resolved)
            errors.extend(missing)
        complete = not errors and not wanted.uncertain
        return Wishes(
            per_group={gid: frozenset(per_group[gid]) for gid in sorted(per_group)},
            complete=complete,
            guards=frozenset() if complete else guards_of(net),
            errors=tuple(dict.fromkeys(errors)),
        )

    async def _fill_unknown(self) -> None:
        for entry in self._bindings.values():
            binding = entry.binding
            if binding is None or binding.spec.networking is None or entry.key in self._wishes:
                continue
            computed = await self._compute(entry, None)
            if computed is not None:
                self._wishes[entry.key] = computed

    def _consolidate(self) -> None:
        # A binding that turned unparsable keeps its last wishes: lbc cannot read what it
        # wants now, and its targets are left alone too (the reconciler's invalid-binding rule).
        for key in list(self._wishes):
            entry = self._bindings.get(key)
            if entry is None or (
                entry.binding is not None and entry.binding.spec.networking is None
            ):
                del self._wishes[key]

    # -- groups -----------------------------------------------------------------------------------

    async def _apply(self) -> list[Failure]:
        failures: list[Failure] = []
        if not self._cluster:
            # No rule can be this cluster's: nothing to reconcile, bindings with networking
            # report the missing LBC_CLUSTER_NAME.
            self._swept = True
            return failures
        cluster = self._cluster
        agg = aggregate(self._wishes.values())
        # Discovery costs two EC2 describes; a cluster whose bindings use no networking skips
        # it, so a restart makes no AWS call at all. The price: a rule left by a binding that
        # lost its networking while no lbc ran is cleaned once some binding wants networking.
        if not self._discovered and (agg.per_group or agg.guards or self._wishes):
            try:
                self._tracked.update(await self._groups.discover(cluster))
                self._discovered = True
            except LbcError as exc:
                log.warning("security_group_discovery_failed", error=str(exc))
        self._tracked.update(agg.per_group)
        swept = self._discovered or not (agg.per_group or agg.guards or self._wishes)
        for gid in sorted(self._tracked):
            wanted = agg.per_group.get(gid, frozenset())
            try:
                await self._reconcile_group(gid, wanted, agg.guards, cluster, failures)
            except LbcError as exc:
                swept = False
                log.warning("security_group_failed", group=gid, reason=exc.reason, error=str(exc))
                failures.append(Failure(gid, None, exc.reason, f"security group {gid}: {exc}"))
        self._swept = self._swept or swept
        return failures

    async def _reconcile_group(
        self,
        gid: str,
        wanted: frozenset[Permission],
        guards: frozenset[Guard],
        cluster: str,
        failures: list[Failure],
    ) -> None:
        current = await self._groups.rules(gid)
        if current is None:
            self._tracked.discard(gid)
            if wanted:
                failures.append(
                    Failure(gid, None, "SecurityGroupNotFound", f"security group {gid} not found")
                )
            return
        changes = diff(gid, wanted, current.rules, cluster, guards)
        if changes.empty:
            return
        limited: list[Permission] = []
        if changes.grant:
            limited = await self._grant(gid, list(changes.grant), cluster, failures)
        if changes.adopt:
            await self._groups.tag(gid, changes.adopt, cluster)
            log.info("security_group_rules_adopted", group=gid, rules=_names(changes.adopt))
        if changes.letting_go:
            fresh = await self._groups.rules(gid, fresh=True)
            if fresh is None:
                return
            current = fresh
            changes = diff(gid, wanted, fresh.rules, cluster, guards)
            if changes.release:
                await self._groups.untag(gid, changes.release, cluster)
                log.info("security_group_rules_released", group=gid, rules=_names(changes.release))
            if changes.revoke:
                try:
                    await self._groups.revoke(gid, changes.revoke)
                except NotFoundError as exc:
                    if exc.reason != "RuleNotFound":
                        raise
                log.info("security_group_rules_revoked", group=gid, rules=_names(changes.revoke))
        if limited:
            if changes.revoke:
                limited = await self._grant(gid, limited, cluster, None)
            if limited:
                after = await self._groups.rules(gid)
                count = len(after.rules) if after is not None else len(current.rules)
                message = (
                    f"security group {gid} holds {count} inbound rules and refuses more ({LIMIT}); "
                    f"{len(limited)} wanted rule(s) missing: {', '.join(map(str, limited[:5]))}"
                )
                failures.extend(Failure(gid, perm, LIMIT, message) for perm in limited)

    async def _grant(
        self,
        gid: str,
        perms: list[Permission],
        cluster: str,
        failures: list[Failure] | None,
    ) -> list[Permission]:
        """Grant ``perms``; returns those refused for the rule limit (others are recorded)."""
        try:
            await self._groups.authorize(gid, perms, cluster)
        except LbcError as exc:
            if exc.reason == LIMIT:
                return perms
            if exc.reason not in _SPLIT_REASONS or len(perms) == 1:
                if failures is not None:
                    for perm in perms:
                        failures.append(
                            Failure(gid, perm, exc.reason, f"granting {perm} on {gid}: {exc}")
                        )
                    return []
                raise
        else:
            log.info("security_group_rules_granted", group=gid, rules=[str(p) for p in perms])
            return []
        # One bad permission (a source group that does not exist) refused the whole batch:
        # grant one by one so the others land and the failure names its permission.
        limited: list[Permission] = []
        for perm in perms:
            try:
                await self._groups.authorize(gid, [perm], cluster)
            except LbcError as exc:
                if exc.reason == LIMIT:
                    limited.append(perm)
                elif exc.reason == "DuplicateRule":
                    continue  # granted meanwhile: what we wanted
                elif failures is not None:
                    failures.append(
                        Failure(gid, perm, exc.reason, f"granting {perm} on {gid}: {exc}")
                    )
            else:
                log.info("security_group_rules_granted", group=gid, rules=[str(perm)])
        return limited

    # -- outcome ----------------------------------------------------------------------------------


def _names(rules: Sequence[ExistingRule]) -> list[str]:
    return [f"{r.rule_id} {r.permission}" for r in rules]


def _ref(entry: BindingEntry) -> ObjectRef:
    return ObjectRef(
        TARGET_GROUP_BINDINGS.api_version,
        TARGET_GROUP_BINDINGS.kind,
        entry.namespace,
        entry.name,
        entry.uid,
    )


def condition_body(state: NetworkingState, *, since: str, generation: int) -> dict[str, Any]:
    """The ``NetworkingReady`` entry of ``status.conditions``."""
    return {
        "type": CONDITION,
        "status": "True" if state.ready else "False",
        "reason": state.reason,
        "message": state.message,
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }


__all__ = [
    "CONDITION",
    "FAILURES",
    "NetworkingManager",
    "SecurityGroupPort",
    "condition_body",
]
