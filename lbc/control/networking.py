"""The networking controller: every binding's ``spec.networking`` onto the security groups.

A controller like the binding controller, on the same queue and worker machinery, keyed by
**security-group id**. Rules live on groups shared by many bindings and EC2 has no
compare-and-set, so one group is reconciled by one worker at a time (the work queue never hands
a key to two workers); different groups proceed in parallel. There is no process-wide lock.

Two halves meet in the wishes this controller keeps:

- **Bindings feed wishes.** The binding reconciler calls :meth:`NetworkingController.observe`
  with the binding's desired targets. When the binding's inputs changed (or its wishes are not
  known yet, or its drift verification is due) the :class:`~lbc.control.wishes.WishResolver`
  computes its :class:`~lbc.core.networking.Wishes`, bounded in time; a checkpoint-skipped
  pass with known wishes costs nothing. Changed wishes enqueue the groups they touch (before
  and after), and the first binding that wants networking triggers a one-time discovery of every
  group holding a rule tagged for this cluster and the groups tagged
  ``kubernetes.io/cluster/<cluster>``, so rules of bindings deleted while lbc was down are
  cleaned.
- **Groups are reconciled from all wishes.** :meth:`NetworkingController.reconcile` aggregates
  what every binding wants on the group and applies it: grant, adopt, then — on a fresh read —
  release or revoke (:func:`lbc.core.networking.diff`). A rule is revoked only when lbc knows
  the wishes of every binding with networking: a binding whose wishes are unknown (right after a
  restart) or incomplete contributes *guards*, so what its spec could ask for stays. When the
  guards shrink every tracked group is queued again, so revokes resume as soon as the bindings
  are known. Grants go in one call per group; a call refused for a nonexistent source group or
  a malformed id is split into one call per permission, so valid rules still land and the
  failure is pinned on the bindings that asked for the bad one. A rule-limit refusal is retried
  once after the revokes of the pass, then reported with the group and its count.

A binding's outcome is :func:`~lbc.core.networking.outcome` of its wishes and the failures of
the groups it wants, known once each of those groups passed since the binding's wishes last
changed. A changed outcome wakes the binding (the trigger given at construction), whose
reconcile writes the ``NetworkingReady`` condition with ``Ready``; a failure also gives a
Warning ``FailedNetworkReconcile`` event, and a failed group pass is retried after
``LBC_REQUEUE_PERIOD``. Networking never raises into the binding reconciler: target
registration goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import anyio

from lbc.aws.securitygroups import GroupRules
from lbc.control.entry import BindingEntry
from lbc.control.keyed import KeyedController
from lbc.control.wishes import WishResolver, unfinished
from lbc.control.worker import Result
from lbc.control.workqueue import ItemExponentialBackoff
from lbc.core.desired import DesiredSet
from lbc.core.errors import LbcError, NotFoundError
from lbc.core.networking import (
    FAILED,
    LIMIT,
    Eni,
    ExistingRule,
    Failure,
    Guard,
    NetworkingState,
    Permission,
    Wishes,
    diff,
    guards_of,
    outcome,
)
from lbc.kube.events import EventType, ObjectRef
from lbc.kube.informer import Store
from lbc.observe.log import get_logger
from lbc.observe.metrics import counter

NAME: Final = "securityGroup"
CONDITION: Final = "NetworkingReady"
#: Longest a binding's reconcile waits for its wishes to be computed (EC2 describes).
DEFAULT_PASS_TIMEOUT: Final = 30.0
_SPLIT_REASONS: Final = frozenset(
    {"SecurityGroupNotFound", "InvalidSecurityGroupId", "DuplicateRule", "ValidationError"}
)

log = get_logger("lbc.control.networking")

FAILURES: Final = counter(
    "lbc_networking_failures_total",
    "Bindings whose security-group rules could not be reconciled, by reason.",
    ["reason"],
)


class SecurityGroupPort(Protocol):
    """What networking needs of :class:`lbc.aws.securitygroups.SecurityGroups`."""

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


class NetworkingController(KeyedController[str]):
    """The security groups' controller (``lbc.app.Controller``; module docstring).

    It has no informers of its own (it is fed by the binding controller's caches) and owns no
    key to sweep on winning the lease: groups are queued as bindings report their wishes (the
    binding controller's initial sweep) and by discovery; what a standby queued meanwhile waits
    in the queue.
    """

    def __init__(
        self,
        *,
        groups: SecurityGroupPort,
        bindings: Store[BindingEntry],
        nodes: Store[Any],
        cluster_name: str | None,
        extra_tags: Mapping[str, str],
        events: EventSink,
        wake_binding: Callable[[str], None],
        requeue_period: float,
        concurrency: int,
        backoff_base: float,
        backoff_max: float,
        pass_timeout: float = DEFAULT_PASS_TIMEOUT,
    ) -> None:
        super().__init__(
            NAME, concurrency=concurrency, backoff=ItemExponentialBackoff(backoff_base, backoff_max)
        )
        self._groups = groups
        self._bindings = bindings
        self._cluster = cluster_name
        self._events = events
        self._wake_binding = wake_binding
        self._requeue_period = requeue_period
        self._pass_timeout = pass_timeout
        self._resolver = WishResolver(
            groups=groups, nodes=nodes, cluster_name=cluster_name, extra_tags=extra_tags
        )
        self._wishes: dict[str, Wishes] = {}
        # Which bindings want something on a group (the group's side of ``_wishes``).
        self._wanting: dict[str, set[str]] = {}
        self._tracked: set[str] = set()
        # Groups where guards kept rules that would otherwise go, at their last pass.
        self._held: set[str] = set()
        self._failures: dict[str, list[Failure]] = {}
        # Wishes are versioned; a binding's outcome is known once every group it wants
        # finished a pass that started after the binding's wishes were set.
        self._version = 0
        self._pending: dict[str, dict[str, int]] = {}
        self._discovery = anyio.Lock()
        self._discovered = False
        self._states: dict[str, NetworkingState] = {}
        self._written: dict[str, NetworkingState | None] = {}
        self._since: dict[str, tuple[bool, str]] = {}

    # -- what the binding reconciler asks ---------------------------------------------------------

    async def observe(self, entry: BindingEntry, wanted: DesiredSet, *, changed: bool) -> bool:
        """Take ``entry``'s wishes; True when its ``NetworkingReady`` condition must be written.

        ``changed`` says the binding's inputs (targets, spec) may differ from its last pass; with
        unchanged inputs and known wishes nothing is computed.
        """
        key = entry.key
        binding = entry.binding
        wants = binding is not None and binding.spec.networking is not None
        if not wants and key not in self._wishes:
            self._states.pop(key, None)
            return not self.status_current(key)
        if changed or key not in self._wishes or entry.deleting:
            previous = self._wishes.get(key)
            own: Wishes | None = None
            with anyio.move_on_after(self._pass_timeout) as scope:
                own = await self._resolver.wishes(entry, wanted, previous)
            if scope.cancelled_caught and binding is not None and binding.spec.networking:
                own = unfinished(
                    binding.spec.networking,
                    previous,
                    f"security-group work did not finish within {self._pass_timeout:g}s",
                )
            self._set_wishes(key, own)
            if own is not None:
                with anyio.move_on_after(self._pass_timeout):
                    await self._discover()  # not done yet: the next binding's pass tries again
        # This pass writes the status when it changed; no wake needed.
        await self._report(key, wake=False)
        return not self.status_current(key)

    def retry_after(self, key: str) -> float | None:
        """When the binding's wishes must be computed again (they could not be, fully)."""
        own = self._wishes.get(key)
        return self._requeue_period if own is not None and own.errors else None

    def condition(self, key: str) -> NetworkingState | None:
        """The binding's current networking outcome (``None``: it has none, or not yet)."""
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
        """The binding is gone: its wishes go (its groups are reconciled without them)."""
        self._set_wishes(key, None)
        self._states.pop(key, None)
        self._written.pop(key, None)
        self._since.pop(key, None)

    # -- wishes -----------------------------------------------------------------------------------

    def _set_wishes(self, key: str, own: Wishes | None) -> None:
        before = self._wishes.get(key)
        if own == before and own is not None:
            return
        # Known or forgotten, complete or not: what this binding protects everywhere changed.
        guards_changed = (before is None) != (own is None) or _guarding(before) != _guarding(own)
        if own is None:
            self._wishes.pop(key, None)
            self._pending.pop(key, None)
        else:
            self._wishes[key] = own
        touched = set(before.per_group if before is not None else ()) | set(
            own.per_group if own is not None else ()
        )
        for gid in before.per_group if before is not None else ():
            self._wanting.get(gid, set()).discard(key)
        self._version += 1
        if own is not None:
            for gid in own.per_group:
                self._wanting.setdefault(gid, set()).add(key)
            self._pending[key] = dict.fromkeys(own.per_group, self._version)
        self._tracked.update(touched)
        for gid in touched:
            self.queue.add(gid)
        if guards_changed:
            # What unknown or incomplete wishes protected may be revocable now: the groups where
            # guards kept rules at their last pass look again (new guards only ever keep more,
            # and a group not passed yet is queued already).
            for gid in self._held:
                self.queue.add(gid)

    def _guards(self) -> frozenset[Guard]:
        """What must not be revoked anywhere: incomplete wishes and bindings not yet known."""
        guards: set[Guard] = set()
        for wish in self._wishes.values():
            if not wish.complete:
                guards.update(wish.guards)
        for entry in self._bindings.values():
            binding = entry.binding
            if binding is not None and binding.spec.networking and entry.key not in self._wishes:
                guards.update(guards_of(binding.spec.networking))
        return frozenset(guards)

    async def _discover(self) -> None:
        """Once per process, as soon as some binding wants networking (module docstring)."""
        if self._discovered or not self._cluster:
            return
        async with self._discovery:
            await self._discover_once(self._cluster)

    async def _discover_once(self, cluster: str) -> None:
        if self._discovered:  # another binding's pass discovered while this one waited
            return
        try:
            found = await self._groups.discover(cluster)
        except LbcError as exc:
            log.warning("security_group_discovery_failed", error=str(exc))
            return
        self._discovered = True
        self._tracked.update(found)
        for gid in found:
            self.queue.add(gid)

    # -- groups -----------------------------------------------------------------------------------

    async def reconcile(self, gid: str) -> Result | None:
        """One group: this cluster's rules on it become exactly what the bindings want."""
        if not self._cluster:
            # No rule can be this cluster's; bindings with networking report the missing
            # LBC_CLUSTER_NAME through their wishes.
            return None
        self._drop_vanished(gid)
        started = self._version
        wanted: set[Permission] = set()
        for key in self._wanting.get(gid, ()):
            wanted.update(self._wishes[key].per_group.get(gid, ()))
        failures: list[Failure] = []
        # Bounded: a slow or unreachable EC2 must not hold the group's key forever. Cancelling
        # a pass midway is safe: grants come before revokes, and every change drops the group's
        # cached rules.
        with anyio.move_on_after(self._pass_timeout) as scope:
            try:
                await self._reconcile_group(
                    gid, frozenset(wanted), self._guards(), self._cluster, failures
                )
            except LbcError as exc:
                log.warning("security_group_failed", group=gid, reason=exc.reason, error=str(exc))
                failures.append(Failure(gid, None, exc.reason, f"security group {gid}: {exc}"))
        if scope.cancelled_caught:
            message = f"security-group work did not finish within {self._pass_timeout:g}s"
            failures.append(Failure(gid, None, FAILED, f"security group {gid}: {message}"))
        if failures:
            self._failures[gid] = failures
        else:
            self._failures.pop(gid, None)
        for key in list(self._wanting.get(gid, ())):
            pending = self._pending.get(key)
            if pending is not None and pending.get(gid, 0) <= started:
                pending.pop(gid, None)
            await self._report(key, wake=True)
        if not self._wanting.get(gid):
            self._wanting.pop(gid, None)
        return Result(requeue_after=self._requeue_period) if failures else None

    def _settle_binding(self, key: str) -> None:
        """``key``'s outcome, when every group it wants has passed since its wishes changed."""
        own = self._wishes.get(key)
        if own is None:
            self._states.pop(key, None)
            return
        if self._pending.get(key):
            return
        failures = [f for gid in own.per_group for f in self._failures.get(gid, ())]
        self._states[key] = outcome(own, failures)

    def _drop_vanished(self, gid: str) -> None:
        """Forget wishes of bindings gone from the cache, or that no longer have networking.

        A binding that turned unparsable keeps its last wishes: lbc cannot read what it wants
        now, and its targets are left alone too (the reconciler's invalid-binding rule).
        """
        for key in list(self._wanting.get(gid, ())):
            entry = self._bindings.get(key)
            if entry is None or (
                entry.binding is not None and entry.binding.spec.networking is None
            ):
                self.forget(key)

    async def _report(self, key: str, *, wake: bool) -> None:
        """Settle ``key``'s outcome; a new failure is counted and told, a change wakes the binding.

        A failure that persists is not told again on every retry of its group: the condition
        keeps saying it, and the event budget is kept for news.
        """
        before = self._states.get(key)
        self._settle_binding(key)
        state = self._states.get(key)
        if state is None:
            return
        changed = state != before
        if changed and not state.ready:
            FAILURES.labels(state.reason).inc()
            log.warning("networking_failed", binding=key, reason=state.reason, error=state.message)
            entry = self._bindings.get(key)
            if entry is not None:
                await self._events.emit(entry.ref, "Warning", FAILED, state.message)
        if wake and not self.status_current(key):
            self._wake_binding(key)

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
        if guards and diff(gid, wanted, current.rules, cluster) != changes:
            self._held.add(gid)  # guards keep rules here: look again when they shrink
        else:
            self._held.discard(gid)
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


def _guarding(wishes: Wishes | None) -> frozenset[Guard]:
    return wishes.guards if wishes is not None and not wishes.complete else frozenset()


def _names(rules: Sequence[ExistingRule]) -> list[str]:
    return [f"{r.rule_id} {r.permission}" for r in rules]


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
    "NAME",
    "NetworkingController",
    "SecurityGroupPort",
    "condition_body",
]
