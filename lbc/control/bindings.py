"""The TargetGroupBinding reconciler: gather inputs, ask ``core.plan``, carry the plan out.

One reconcile of one binding key:

0. **Hold** while a rollout is in flight: a binding whose endpoints (or Service, or nodes)
   changed twice within ``SETTLE_WINDOW`` is put off, with no call and no write, until they
   have been quiet that long (at most ``SETTLE_LIMIT`` in a row), so the steps of a rolling
   update join one RegisterTargets and one DeregisterTargets (:class:`Rollouts`). A lone
   change is served at once, unless the fleet is busy (at least as many bindings changed
   within the window as the mutating rate limit serves in it): then it waits out one window,
   so that a rollout's first step joins its next. Deletion is never held.
1. **Gather** from the informer caches: the binding, its Service, EndpointSlices, pods and
   nodes; resolve the desired targets (``core.desired``).
2. **Skip** when the checkpoint says the inputs did not change since the last full success and
   no readiness gate is pending, unless the binding's drift verification is due or its
   status was written for an older generation of its spec. A skipped reconcile makes no AWS
   call and writes nothing.
3. **Observe** the target group (cached health; a full ``DescribeTargetHealth`` when the drift
   verification is due) and read the ledger fresh from the API server.
4. **Plan** (``core.plan``: pure) and **execute** in the plan's order: checkpoint reset →
   ledger write-ahead → deregister → register → ledger settle / delete → pod conditions →
   finalizer → status and events → checkpoint. The first failure stops the sequence; status
   and a Warning event say why, and the worker retries (the next pass re-plans from fresh
   observations, which is what makes partial success converge).

Drift verification: every binding is verified about every ``LBC_DRIFT_VERIFY_PERIOD`` (jittered
so a fleet of bindings spreads its describes), costing one ``DescribeTargetHealth``; a target
removed out of band is registered again by that pass. After a restart the first verification
is drawn from the second half of the period, so a restart costs no AWS call at all; a binding
whose first pass must reach AWS anyway (its checkpoint does not match) lists its group then,
and that pass is its verification.

Call budget (invariant): every pass that completes, whatever its outcome, leaves the binding's
next look at least ``MIN_REQUEUE`` seconds ahead (:mod:`lbc.control.schedule`), and a pass
that looked at AWS with a fresh describe, or that has nothing to verify (its binding not
live), moves the verification one period ahead. So a binding stuck on a terminal outcome
(Service missing, corrupt ledger, MultiCluster disable refused) costs at most one pass per
drift period until an input changes, and only backoff (transient failures) or progress
(settling targets, readiness gates) makes it come back sooner. A held pass (step 0) is not
a completed one: it may ask to come back sooner, but only for changes that keep arriving, and
its hold ends by ``SETTLE_LIMIT`` at the latest. The reconciler never writes
to the work queue: it says when to come back through ``Result.requeue_after`` or
``TerminalError.requeue_after``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from lbc.clock import Clock, MonotonicClock
from lbc.control.entry import BindingEntry, ReadyCondition, TargetCounts
from lbc.control.schedule import (
    FLEET_BUSY,
    SETTLE_LIMIT,
    SETTLE_WINDOW,
    LedgerSightings,
    Rollouts,
    VerifySchedule,
)
from lbc.control.worker import Result
from lbc.control.writes import BindingWrites, NetworkingStatus
from lbc.core.binding import FINALIZER, Binding, target_group_arn_problem
from lbc.core.checkpoint import may_skip
from lbc.core.desired import DesiredSet, desired
from lbc.core.errors import (
    AccessError,
    ConflictError,
    LbcError,
    NotFoundError,
    TargetGroupNotFoundError,
    TerminalError,
    TransientError,
)
from lbc.core.gates import gates_pending
from lbc.core.ledger import LedgerAbsent, LedgerState, encode
from lbc.core.objects import EndpointSliceView, NodeView, PodView, ServiceView
from lbc.core.plan import Lifecycle, Plan, checkpoint_for, lifecycle_of, plan
from lbc.core.targets import HealthState, Target, TargetHealth
from lbc.kube.client import KubeClient
from lbc.kube.events import EventType, ObjectRef
from lbc.kube.informer import Store
from lbc.kube.ledger import Ledgers
from lbc.observe.log import get_logger
from lbc.observe.metrics import counter, gauge

SLICE_SERVICE_INDEX: Final = "service"
ZONE_LABEL: Final = "topology.kubernetes.io/zone"
POD_GATE_INDEX: Final = "gate"

log = get_logger("lbc.control.bindings")

SKIPS = counter(
    "lbc_reconcile_skips_total", "Reconciles that skipped AWS because the checkpoint matched."
)
DRIFT_REPAIRS = counter(
    "lbc_drift_repairs_total",
    "Targets registered again by a drift verification after they vanished out of band.",
)
HOLDS = counter(
    "lbc_reconcile_holds_total",
    "Reconciles put off because the binding's inputs were still changing (a rollout in flight).",
)
DRIFT_VERIFICATIONS = counter("lbc_drift_verifications_total", "Drift verifications run.")
TARGETS = gauge(
    "lbc_targets",
    "Targets of the bound target groups as last observed, by health state (desired targets "
    "of this cluster's bindings only).",
    ["state"],
)


TARGET_STATES: Final = (*(state.value for state in HealthState), "unregistered")


class EventSink(Protocol):
    """What the reconciler needs of :class:`lbc.kube.events.EventRecorder`."""

    async def emit(self, ref: ObjectRef, type_: EventType, reason: str, message: str) -> None: ...


class TargetGroupPort(Protocol):
    """What the reconciler needs of :class:`lbc.aws.elbv2.TargetGroups`."""

    async def describe(self, arn: str, *, fresh: bool = False) -> Mapping[Target, TargetHealth]: ...

    async def register(
        self,
        arn: str,
        targets: Sequence[Target],
        *,
        zone_hints: Mapping[Target, str] | None = None,
    ) -> None: ...

    async def deregister(self, arn: str, targets: Sequence[Target]) -> None: ...

    async def describe_target_group_by_name(self, name: str) -> TargetGroupNamed: ...

    def forget(self, arn: str) -> None:
        """Drop what is cached about ``arn`` (no binding of this process uses it any more)."""
        ...


class TargetGroupNamed(Protocol):
    @property
    def arn(self) -> str: ...


class NetworkingPort(NetworkingStatus, Protocol):
    """What the reconciler needs of the networking controller (:mod:`lbc.control.networking`).

    The reconciler hands over the binding's wishes each pass and learns whether its
    ``NetworkingReady`` condition is stale and when to look again; the groups themselves are the
    networking controller's keys, never touched here.
    """

    async def observe(self, entry: BindingEntry, wanted: DesiredSet, *, changed: bool) -> bool: ...

    def retry_after(self, key: str) -> float | None: ...

    def forget(self, key: str) -> None: ...


class BindingReconciler:
    """Reconciles one binding key at a time; safe to run on many keys concurrently."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        target_groups: TargetGroupPort,
        ledgers: Ledgers,
        events: EventSink,
        bindings: Store[BindingEntry],
        services: Store[ServiceView],
        slices: Store[EndpointSliceView],
        pods: Store[PodView],
        nodes: Store[NodeView],
        requeue_period: float,
        drift_verify_period: float,
        clock: Clock | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        networking: NetworkingPort | None = None,
        fail_open: bool = True,
        max_targets: int = 0,
        port_for: Callable[[Binding], TargetGroupPort] | None = None,
        ledger_versions: Store[str | None] | None = None,
        settle_window: float = SETTLE_WINDOW,
        settle_limit: float = SETTLE_LIMIT,
        settle_busy: int = FLEET_BUSY,
    ) -> None:
        self._kube = kube
        self._fail_open = fail_open
        self._max_targets = max_targets
        self._tgs = target_groups
        # The port a binding's AWS calls go through (lbc.aws: its assumed role's, if it names
        # one); without it every binding uses ``target_groups``.
        self._port_for = port_for
        self._ledgers = ledgers
        self._events = events
        self._bindings = bindings
        self._services = services
        self._slices = slices
        self._pods = pods
        self._nodes = nodes
        self._requeue_period = requeue_period
        clock = clock if clock is not None else MonotonicClock()
        self._schedule = VerifySchedule(drift_verify_period, clock, rng or random.Random())
        self._rollouts = Rollouts(clock, window=settle_window, limit=settle_limit, busy=settle_busy)
        self._writes = BindingWrites(kube, pods, wall=wall, networking=networking)
        self._settling: set[str] = set()
        self._states: dict[str, dict[str, int]] = {}
        self._totals: dict[str, int] = {}
        self._node_map = _StoreMap(nodes)
        self._networking = networking
        self._ledger_sightings = LedgerSightings(ledger_versions, ledgers.written_version)
        # Which group each binding last used, so its cached health is dropped with it.
        self._groups: dict[str, tuple[str, TargetGroupPort]] = {}

    # -- what the triggers ask --------------------------------------------------------------------

    def own_checkpoint(self, key: str) -> str | None:
        """The checkpoint value this process last wrote on binding ``key``."""
        return self._writes.own_checkpoint(key)

    def input_changed(self, key: str) -> None:
        """An endpoint, Service or node change reached binding ``key`` (paces rollouts)."""
        self._rollouts.changed(key)

    def _forget(self, key: str) -> None:
        self._schedule.forget(key)
        self._rollouts.forget(key)
        self._writes.forget(key)
        self._settling.discard(key)
        self._ledger_sightings.forget(key)
        self._set_states(key, None)
        if self._networking is not None:
            self._networking.forget(key)
        used = self._groups.pop(key, None)
        if used is not None:
            arn, port = used
            if all(other != arn for other, _port in self._groups.values()):
                port.forget(arn)

    def _used(self, key: str, arn: str, port: TargetGroupPort) -> None:
        if arn:
            self._groups[key] = (arn, port)

    # -- the reconcile ----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        result = await self._reconcile(key)
        retry = None if self._networking is None else self._networking.retry_after(key)
        if retry is None or (result is not None and result.deferred):
            return result  # a held pass comes back by itself, with the networking retry due
        # The binding's security-group wishes could not be computed fully: look again then.
        sooner = result is not None and (
            (result.requeue and result.requeue_after is None)
            or (result.requeue_after is not None and result.requeue_after <= retry)
        )
        return result if sooner else Result(requeue_after=retry)

    async def _reconcile(self, key: str) -> Result | None:
        entry = self._bindings.get(key)
        if entry is None:
            self._forget(key)
            return None
        if entry.binding is None:
            return await self._invalid(entry)
        binding = entry.binding
        if entry.deleting and not entry.has_finalizer:
            self._forget(key)
            return None
        held = 0.0 if entry.deleting else self._rollouts.hold(key)
        if held > 0:
            # A rollout in flight: the steps still coming join the pass that serves them all,
            # which comes back by itself once the inputs pause (or by the next change's wake).
            HOLDS.inc()
            log.debug("reconcile_held", hold_seconds=held)
            return Result(requeue_after=held, deferred=True)
        if not entry.deleting and not entry.has_finalizer:
            await self._writes.set_finalizers(entry, (*entry.finalizers, FINALIZER))

        wanted = self._desired(binding)
        life = lifecycle_of(binding, wanted)
        verify = life is Lifecycle.LIVE and self._schedule.is_due(key)
        unchanged = life is Lifecycle.LIVE and may_skip(
            binding.checkpoint,
            checkpoint_for(binding, wanted),
            gates_pending=gates_pending(binding.name, wanted),
        )
        # Security-group rules (SPEC §9, lbc.control.networking): the binding's wishes go to the
        # networking controller before any target-group call, so a missing group never stops
        # them; its groups are reconciled there and never block the targets. True means the
        # NetworkingReady condition must be written.
        networking_stale = False
        if self._networking is not None:
            networking_stale = await self._networking.observe(
                entry, wanted, changed=verify or not unchanged
            )
        if (
            life is Lifecycle.LIVE
            and not verify
            and not networking_stale
            and key not in self._settling
            and not _status_behind(entry)
            and unchanged
            and not self._ledger_sightings.moved(binding)
        ):
            SKIPS.inc()
            return Result(requeue_after=self._schedule.next_look(key), converged=True)
        # The first pass that reaches AWS in this process lists the group in full anyway (no
        # health is cached yet), so it is the binding's drift verification: otherwise a full
        # sweep after a restart describes every group a second time as the first deadlines,
        # drawn from the second half of the period, come due during the sweep.
        verify = verify or (life is Lifecycle.LIVE and key not in self._groups)

        # Cleanup must see the group as it is: a cached view could hide targets to deregister.
        fresh = verify or life in (Lifecycle.DELETING, Lifecycle.BACKEND_GONE)
        malformed = _malformed_arn(binding)
        if life is Lifecycle.UNRESOLVED:
            # Nothing to plan against the group: no AWS call at all.
            arn, observed = binding.spec.target_group_arn, None
        elif malformed is not None:
            if life is Lifecycle.LIVE:
                # Bad input, reported as such before any AWS call; an edit brings it back.
                await self._refused(entry, malformed)
                raise malformed
            # Nothing in AWS can be this binding's: cleanup proceeds without a call.
            arn, observed = "", None
        else:
            try:
                arn = await self._arn(binding, life)
                self._used(key, arn, self._port(binding))
                observed = await self._observe(
                    arn, fresh=fresh, lifecycle=life, port=self._port(binding)
                )
            except AccessError as exc:
                # A role that cannot be assumed, or lacks a permission: bad input, reported,
                # and nothing changed in AWS (the worker retries with backoff).
                await self._refused(entry, exc)
                raise
            except TerminalError as exc:
                # AWS refused the request as such (a live binding only; see _observe): say
                # what AWS said, and look again with the next verification, not in a loop.
                await self._refused(entry, exc)
                if verify:
                    self._schedule.verified(key)
                raise TerminalError(
                    exc.message, reason=exc.reason, requeue_after=self._schedule.next_look(key)
                ) from exc
        ledger, stored = await self._ledgers.read(binding)
        self._ledger_sightings.saw(
            key, None if isinstance(ledger, LedgerAbsent) else ledger.resource_version
        )
        decided = plan(
            binding,
            wanted,
            observed,
            ledger,
            gated_pods=self._gated_pods(binding) if life is not Lifecycle.LIVE else (),
            gate_requeue_after=self._requeue_period,
            max_targets=self._max_targets,
        )
        if verify:
            DRIFT_VERIFICATIONS.inc()
            DRIFT_REPAIRS.inc(len(decided.registered & _previously_desired(entry, wanted)))
        self._count_targets(key, wanted, observed)
        self._track_settling(key, life, wanted, decided, observed)
        log.info(
            "reconcile_planned",
            lifecycle=life.value,
            target_group_arn=arn,
            verify=verify,
            **_summary(decided),
        )
        log.debug(
            "reconcile_targets",
            register=[t.identity for t in sorted(decided.registered)],
            deregister=[t.identity for t in sorted(decided.deregistered)],
        )
        return await self._execute(
            entry=entry,
            binding=binding,
            arn=arn,
            decided=decided,
            ledger=ledger,
            stored=stored,
            verify=verify or life is not Lifecycle.LIVE,
            zone_hints=self._zone_hints(wanted, decided.registered),
        )

    def _zone_hints(self, wanted: DesiredSet, targets: Iterable[Target]) -> dict[Target, str]:
        """The zone of the node behind each target (``topology.kubernetes.io/zone``), if known:
        what registration uses for a target outside the VPC when its group refuses ``all``."""
        hints: dict[Target, str] = {}
        for target in targets:
            found = wanted.targets.get(target)
            node = self._nodes.get(found.node_name) if found and found.node_name else None
            zone = node.labels.get(ZONE_LABEL) if node is not None else None
            if zone:
                hints[target] = zone
        return hints

    # -- inputs -----------------------------------------------------------------------------------

    def _desired(self, binding: Binding) -> DesiredSet:
        ns = binding.namespace
        service = self._services.get(f"{ns}/{binding.spec.service_name}")
        slices = self._slices.by_index(SLICE_SERVICE_INDEX, f"{ns}/{binding.spec.service_name}")
        pods = self._pods

        def pod(namespace: str, name: str) -> PodView | None:
            return pods.get(f"{namespace}/{name}")

        return desired(binding, service, slices, pod, self._node_map, fail_open=self._fail_open)

    def _port(self, binding: Binding) -> TargetGroupPort:
        return self._tgs if self._port_for is None else self._port_for(binding)

    async def _refused(self, entry: BindingEntry, exc: LbcError) -> None:
        """Report bad input found before the plan: Warning and ``Ready=False``, AWS untouched."""
        message = f"{exc.reason}: {exc}"
        await self._events.emit(self._writes.ref(entry), "Warning", exc.reason, message)
        await self._writes.write_status(entry, ("False", exc.reason, message), None)

    def _gated_pods(self, binding: Binding) -> list[PodView]:
        return self._pods.by_index(POD_GATE_INDEX, binding.key)

    async def _arn(self, binding: Binding, life: Lifecycle) -> str:
        """The target group ARN, resolving ``targetGroupName`` when no ARN is set.

        The admission webhook normally fills the ARN in; without it, the name is resolved here
        on each pass that reaches AWS (one DescribeTargetGroups). An unresolvable name is
        reported as a missing group, which never blocks deletion.
        """
        spec = binding.spec
        if spec.target_group_arn or not spec.target_group_name:
            return spec.target_group_arn
        try:
            info = await self._port(binding).describe_target_group_by_name(spec.target_group_name)
        except NotFoundError:
            return ""
        except TerminalError:
            if life is Lifecycle.LIVE:
                raise
            return ""
        return info.arn

    async def _observe(
        self, arn: str, *, fresh: bool, lifecycle: Lifecycle, port: TargetGroupPort
    ) -> Mapping[Target, TargetHealth] | None:
        if not arn:
            return None
        try:
            observed: Mapping[Target, TargetHealth] = await port.describe(arn, fresh=fresh)
        except TargetGroupNotFoundError as exc:
            if lifecycle is Lifecycle.LIVE and exc.reason == "InvalidTargetGroupArn":
                # ELBv2 says the ARN is no ARN at all: no group will ever appear under it.
                raise TerminalError(exc.message, reason=exc.reason) from exc
            return None
        except NotFoundError:
            return None
        except TerminalError:
            # A malformed ARN: there is nothing in AWS this binding could own. Deletion and
            # backend-not-found cleanup must not be blocked by it; a live binding reports it.
            if lifecycle is Lifecycle.LIVE:
                raise
            return None
        return observed

    def _track_settling(
        self,
        key: str,
        life: Lifecycle,
        wanted: DesiredSet,
        decided: Plan,
        observed: Mapping[Target, TargetHealth] | None,
    ) -> None:
        """Remember bindings whose targets are still registering, to look again soon.

        Without readiness gates nothing else would wake the binding when its new targets turn
        healthy, and its status would report them unhealthy until the next drift verification.
        Only ``initial`` (registration in progress) counts: a target failing its health checks
        may stay so for hours, and is left to the drift verification.
        """
        if life is not Lifecycle.LIVE or observed is None:
            self._settling.discard(key)
            return
        registering = decided.registered or any(
            (h := observed.get(t)) is None or h.state is HealthState.INITIAL for t in wanted.keys
        )
        if registering:
            self._settling.add(key)
        else:
            self._settling.discard(key)

    def _count_targets(
        self, key: str, wanted: DesiredSet, observed: Mapping[Target, TargetHealth] | None
    ) -> None:
        if observed is None:
            return
        states: dict[str, int] = {}
        for target in wanted.keys:
            health = observed.get(target)
            state = health.state.value if health is not None else "unregistered"
            states[state] = states.get(state, 0) + 1
        self._set_states(key, states)

    def _set_states(self, key: str, states: dict[str, int] | None) -> None:
        """Replace one binding's target counts in the totals (no pass over the other bindings:
        with 10,000 of them that made every reconcile of a sweep cost milliseconds)."""
        before = self._states.pop(key, {})
        if states is not None:
            self._states[key] = states
        for state in {*TARGET_STATES, *before, *(states or {})}:
            total = self._totals.get(state, 0) - before.get(state, 0) + (states or {}).get(state, 0)
            self._totals[state] = total
            TARGETS.labels(state).set(total)

    # -- execution --------------------------------------------------------------------------------

    async def _execute(
        self,
        *,
        entry: BindingEntry,
        binding: Binding,
        arn: str,
        decided: Plan,
        ledger: LedgerState,
        stored: str | None,
        verify: bool,
        zone_hints: Mapping[Target, str] | None = None,
    ) -> Result | None:
        """Carry ``decided`` out; ``verify`` means a completed pass counts as a verification."""
        step = "checkpoint"
        failure: LbcError | None = None
        tgs = self._port(binding)
        version = None if isinstance(ledger, LedgerAbsent) else ledger.resource_version
        try:
            if decided.checkpoint_reset:
                await self._writes.set_checkpoint(binding, "")
            step = "ledger"
            if decided.ledger_write_ahead is not None:
                version = await self._ledgers.write(
                    binding,
                    decided.ledger_write_ahead,
                    resource_version=version,
                    current_value=stored,
                )
                stored = encode(decided.ledger_write_ahead)
            if decided.deregistered:
                step = "deregister"
                await tgs.deregister(arn, sorted(decided.deregistered))
            if decided.registered:
                step = "register"
                await tgs.register(arn, sorted(decided.registered), zone_hints=zone_hints)
            step = "ledger"
            if decided.ledger_settle is not None:
                version = await self._ledgers.write(
                    binding, decided.ledger_settle, resource_version=version, current_value=stored
                )
            if decided.delete_ledger:
                await self._ledgers.delete(binding, resource_version=version)
            step = "pods"
            for change in decided.pod_conditions:
                await self._writes.set_pod_condition(change)
            if decided.remove_finalizer:
                step = "finalizer"
                await self._writes.set_finalizers(
                    entry, tuple(f for f in entry.finalizers if f != FINALIZER)
                )
        except ConflictError:
            raise  # someone else wrote first: re-read everything at once, no Warning
        except LbcError as exc:
            failure = exc
        if failure is None:
            self._ledger_sightings.saw(binding.key, None if decided.delete_ledger else version)
        if verify and failure is None:
            self._schedule.verified(binding.key)
        if decided.remove_finalizer and failure is None:
            self._forget(binding.key)
            await self._emit(decided, entry)
            return None
        await self._report(entry, binding, decided, failure, step)
        if failure is not None:
            raise failure
        if decided.failure is not None:
            if decided.failure.transient:
                raise TransientError(decided.failure.message, reason=decided.failure.reason)
            raise TerminalError(
                decided.failure.message,
                reason=decided.failure.reason,
                requeue_after=self._schedule.next_look(binding.key),
            )
        if decided.checkpoint is not None:
            await self._writes.set_checkpoint(binding, decided.checkpoint)
        delay = self._schedule.next_look(binding.key)
        if decided.requeue_after is not None:
            delay = min(delay, decided.requeue_after)
        if binding.key in self._settling:
            delay = min(delay, self._requeue_period)
        return Result(requeue_after=delay, converged=True)

    async def _report(
        self,
        entry: BindingEntry,
        binding: Binding,
        decided: Plan,
        failure: LbcError | None,
        step: str,
    ) -> None:
        """Status and events of the pass (a failed step overrides the plan's Ready)."""
        await self._emit(decided, entry, skip_success=failure is not None)
        if failure is not None:
            reason = {
                "deregister": "FailedDeregister",
                "register": "FailedRegister",
                "ledger": "FailedLedgerWrite",
                "pods": "FailedPodCondition",
                "finalizer": "FailedCleanup",
                "checkpoint": "FailedCheckpoint",
            }[step]
            if isinstance(failure, TargetGroupNotFoundError | AccessError):
                reason = failure.reason
            message = f"{failure.reason}: {failure}"
            await self._events.emit(self._writes.ref(entry), "Warning", reason, message)
            counts = None
            if decided.status is not None:
                counts = TargetCounts(decided.status.desired, 0, 0)
            await self._writes.write_status(entry, ("False", reason, message), counts)
            return
        if decided.status is None:
            return
        st = decided.status
        await self._writes.write_status(
            entry,
            (st.ready.status, st.ready.reason, st.ready.message),
            TargetCounts(st.desired, st.registered, st.healthy),
        )

    async def _emit(
        self, decided: Plan, entry: BindingEntry, *, skip_success: bool = False
    ) -> None:
        for event in decided.events:
            if skip_success and event.reason in ("TargetsRegistered", "TargetsDeregistered"):
                continue
            kind: EventType = "Warning" if event.type == "Warning" else "Normal"
            await self._events.emit(self._writes.ref(entry), kind, event.reason, event.message)

    async def _invalid(self, entry: BindingEntry) -> Result | None:
        """A binding lbc cannot parse: say so, touch nothing in AWS, never block its deletion."""
        message = entry.error or "invalid binding"
        if entry.deleting:
            if entry.has_finalizer:
                await self._events.emit(
                    self._writes.ref(entry),
                    "Warning",
                    "CleanupSkipped",
                    f"binding is invalid ({message}); its targets were left registered",
                )
                await self._writes.set_finalizers(
                    entry, tuple(f for f in entry.finalizers if f != FINALIZER)
                )
            return None
        await self._events.emit(self._writes.ref(entry), "Warning", "InvalidBinding", message)
        await self._writes.write_status(entry, ("False", "InvalidBinding", message), None)
        raise TerminalError(message, reason="InvalidBinding")


class _StoreMap(Mapping[str, NodeView]):
    """A read-only mapping over the node store (keyed by node name), built once.

    ip bindings only look nodes up by name; copying the whole store into a dict on every
    reconcile would cost O(nodes) per pass.
    """

    __slots__ = ("_store",)

    def __init__(self, store: Store[NodeView]) -> None:
        self._store = store

    def __getitem__(self, name: str) -> NodeView:
        view = self._store.get(name)
        if view is None:
            raise KeyError(name)
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.keys())

    def __len__(self) -> int:
        return len(self._store)


def _malformed_arn(binding: Binding) -> TerminalError | None:
    arn = binding.spec.target_group_arn
    problem = target_group_arn_problem(arn) if arn else None
    if problem is None:
        return None
    return TerminalError(problem, reason="InvalidTargetGroupArn")


def _status_behind(entry: BindingEntry) -> bool:
    """Whether the status describes an older spec than the binding's current generation.

    Such a pass must never be skipped, even when the checkpoint matches: a spec restored to
    the last converged one (MultiCluster turned back on after ``MultiClusterDisableRefused``)
    matches the old checkpoint while the status still reports the refused spec. A binding
    that has no ``status.observedGeneration`` at all (never reconciled by lbc, or migrated
    without one) is left to the checkpoint alone, so a restart still costs no AWS call.
    """
    return entry.observed_generation is not None and entry.generation > entry.observed_generation


def _previously_desired(entry: BindingEntry, wanted: DesiredSet) -> frozenset[Target]:
    """Targets a drift pass found missing although the binding had converged on them."""
    if entry.ready is None or entry.ready.status != "True":
        return frozenset()
    return wanted.keys


def _summary(decided: Plan) -> dict[str, Any]:
    s = decided.summary
    return {
        "guarded": s.guarded,
        "desired": s.desired,
        "observed": s.observed,
        "draining": s.draining,
        "untouched": s.untouched,
        "to_register": s.to_register,
        "to_deregister": s.to_deregister,
        "failure": decided.failure.reason if decided.failure is not None else None,
    }


__all__ = ["BindingReconciler", "ReadyCondition"]
