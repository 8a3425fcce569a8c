"""plan(): what one reconcile of a binding does to its target group, its ledger and its pods.

This is where lbc decides what happens to production traffic. ``plan()`` is pure and
deterministic; a dumb executor carries the :class:`Plan` out in this order, stopping at the
first failure (the next pass re-plans from fresh observations and converges):

1. ``checkpoint_reset``: set the checkpoint annotation to ``""`` (before any AWS mutation, so a
   crash mid-way can never let a later pass skip the remaining work);
2. ``ledger_write_ahead``: write the ledger (create it when absent), guarded by its
   resourceVersion;
3. ``deregister``, then ``register`` (the AWS adapter alone cuts them into ELBv2's batches of
   200). Deregistering first keeps a group near its target quota from failing every
   registration forever;
4. ``ledger_settle``: write the ledger once every call succeeded; ``delete_ledger``;
5. ``pod_conditions`` (readiness gates), then ``remove_finalizer``;
6. ``status`` and ``events``; finally ``checkpoint`` when not ``None``.

Ownership (SPEC §3). "Guarded" deregistration (only targets in this binding's ledger) applies
when ``multiClusterTargetGroup`` is true, *or* when a ledger exists for the binding (see the
flag flips below). Unguarded (normal mode), the binding owns the whole group.

- Normal: deregister every non-desired, non-draining target; register desired targets that are
  absent or draining (re-registering cancels a drain).
- Either mode: a target behind an endpoint whose pod is not in the cache yet
  (``DesiredSet.uncertain``) is neither registered nor deregistered, and keeps its ledger entry.
- MultiCluster, ledger L present: deregister non-desired, non-draining targets in L. Before
  registering anything, write L | desired; after every call succeeded, write the desired
  set (the deregistered entries and the entries no longer in the group, or draining, leave).
  So a target leaves the ledger only after its deregistration succeeded (or it is already out of
  the group), and every target that might be registered is in the ledger before RegisterTargets.
  This needs ``observed`` to include the binding's own earlier registrations: the AWS adapter
  must not serve target health older than its own last write.
- MultiCluster, no ledger (a new binding, or MultiCluster just turned on): deregister nothing;
  create the ledger with the desired set before registering. "Turning on adopts the binding's
  current targets": lbc adopts the desired targets (registered or about to be). It does not adopt
  other non-draining targets of the group: it cannot tell a stale target of its own from another
  cluster's, and adopting a foreign target would later deregister it (an outage), while leaving a
  stale one of ours only leaks it. The event ``LedgerCreated`` counts the targets left untouched.
- An existing ledger with an empty set is a ledger (nothing is ours), not "no ledger".
- Unreadable (corrupt) ledger: deregister nothing, register nothing, write nothing (the entries
  lbc cannot read may be exactly the ones it would lose). Readiness gates of already registered
  targets still progress. Warning ``LedgerCorrupt``, ``Ready=False``, terminal failure.
- MultiCluster turned off while a ledger exists: refused. lbc keeps ledger-guarded
  deregistration (and keeps the ledger up to date), reports Warning + ``Ready=False`` reason
  ``MultiClusterDisableRefused`` telling the operator to delete the ledger ConfigMap to hand the
  binding the whole group: deleting it is the explicit consent. (LBC instead wipes every other
  cluster's targets on the next pass.) An LBC-orphaned ledger of a long-disabled binding is
  refused the same way, which is the safe reading of it.

Lifecycle.
- Deleting: deregister the binding's targets (normal: every non-draining target of the group;
  guarded: ledger & group; guarded without a ledger: desired & group, the binding's current
  endpoints, instead of LBC's leak of everything), delete the ledger, release readiness gates,
  remove the finalizer. A target group that no longer exists (``observed is None``) deregisters
  nothing and does not block. A corrupt ledger blocks deletion (nothing is deregistered, the
  finalizer stays) until the operator fixes or deletes the ConfigMap.
- Backend not found (Service or port missing): clean up as on deletion, but keep the binding, its
  finalizer and its (now empty) ledger; reset the checkpoint (LBC bug #4343); release gates.
- Desired set not resolvable (e.g. instance binding on a ClusterIP Service): change nothing.
- Target group not found while live: change nothing, transient failure (backoff).

A ledger name over 253 characters (binding name over 237) can never be written: a guarded live
binding then registers and deregisters nothing (terminal ``LedgerNameTooLong``); on deletion the
ledger cannot exist, so the "no ledger" rule applies.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lbc.core.binding import Binding
from lbc.core.checkpoint import checkpoint_value, may_skip
from lbc.core.desired import DesiredSet, Diagnostic, Resolution
from lbc.core.gates import PodConditionChange, gate_updates, gates_pending, release_gates
from lbc.core.ledger import (
    MAX_NAME,
    PREFIX,
    LedgerAbsent,
    LedgerPresent,
    LedgerState,
    LedgerUnreadable,
    configmap_name,
)
from lbc.core.objects import FALSE, TRUE, PodView
from lbc.core.targets import Target, TargetHealth

NORMAL = "Normal"
WARNING = "Warning"


class Lifecycle(enum.Enum):
    LIVE = "live"
    DELETING = "deleting"
    BACKEND_GONE = "backend-gone"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Status:
    """What the binding's status reports once the plan has been carried out.

    ``registered`` counts the binding's desired targets in the group after the plan;
    ``healthy`` those observed healthy now (new registrations start ``initial``).
    """

    desired: int
    registered: int
    healthy: int
    ready: Condition


@dataclass(frozen=True, slots=True)
class Failure:
    """Why the pass did not reach the spec: ``transient`` retries with backoff, else terminal."""

    reason: str
    message: str
    transient: bool = False


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts for the reconcile's log line."""

    guarded: bool
    desired: int
    observed: int
    draining: int
    untouched: int
    to_register: int
    to_deregister: int


@dataclass(frozen=True, slots=True)
class Plan:
    lifecycle: Lifecycle
    checkpoint_reset: bool
    ledger_write_ahead: frozenset[Target] | None
    #: What to deregister, then register (the AWS adapter cuts them into ELBv2's batches).
    deregistered: frozenset[Target]
    registered: frozenset[Target]
    ledger_settle: frozenset[Target] | None
    delete_ledger: bool
    pod_conditions: tuple[PodConditionChange, ...]
    remove_finalizer: bool
    status: Status | None
    events: tuple[Event, ...]
    checkpoint: str | None
    requeue_after: float | None
    failure: Failure | None
    summary: Summary
    ledger_name: str | None = None

    @property
    def mutates(self) -> bool:
        """Whether executing the plan changes anything outside the binding's status."""
        return bool(
            self.checkpoint_reset
            or self.ledger_write_ahead is not None
            or self.deregistered
            or self.registered
            or self.ledger_settle is not None
            or self.delete_ledger
            or self.pod_conditions
            or self.remove_finalizer
            or self.checkpoint is not None
        )


def lifecycle_of(binding: Binding, desired: DesiredSet) -> Lifecycle:
    if binding.deleting:
        return Lifecycle.DELETING
    if desired.resolution is Resolution.BACKEND_NOT_FOUND:
        return Lifecycle.BACKEND_GONE
    if desired.resolution is Resolution.INVALID:
        return Lifecycle.UNRESOLVED
    return Lifecycle.LIVE


def checkpoint_for(binding: Binding, desired: DesiredSet) -> str:
    """The checkpoint value of the current inputs (what a successful pass writes)."""
    return checkpoint_value(desired.endpoints_hash(), binding.spec_hash)


def _diag_events(diagnostics: Iterable[Diagnostic]) -> list[Event]:
    return [Event(WARNING if d.warning else NORMAL, d.reason, d.message) for d in diagnostics]


def can_skip(binding: Binding, desired: DesiredSet) -> bool:
    """Whether this reconcile may skip AWS entirely (SPEC §5), from cache reads only.

    True when the stored checkpoint equals the current inputs' one and no readiness gate of a
    desired pod is pending. Never for a deleting binding or an unresolved desired set: those
    passes always run. The controller may still run a full pass (its drift-verify period).
    """
    if binding.deleting or desired.resolution is not Resolution.RESOLVED:
        return False
    return may_skip(
        binding.checkpoint,
        checkpoint_for(binding, desired),
        gates_pending=gates_pending(binding.name, desired),
    )


def _headline(desired: DesiredSet, reason: str, message: str) -> Diagnostic:
    """The diagnostic that explains an unresolved desired set (a default if it carries none)."""
    for diag in desired.diagnostics:
        if diag.warning:
            return diag
    return Diagnostic(reason, message, True)


def _ready(status: bool, reason: str, message: str) -> Condition:
    return Condition("Ready", TRUE if status else FALSE, reason, message)


@dataclass(slots=True)
class _Draft:
    """Mutable accumulator; frozen into a Plan at the end."""

    lifecycle: Lifecycle
    guarded: bool
    observed_count: int = 0
    draining: int = 0
    untouched: int = 0
    checkpoint_reset: bool = False
    write_ahead: frozenset[Target] | None = None
    deregister: frozenset[Target] = frozenset()
    register: frozenset[Target] = frozenset()
    settle: frozenset[Target] | None = None
    delete_ledger: bool = False
    pods: tuple[PodConditionChange, ...] = ()
    remove_finalizer: bool = False
    status: Status | None = None
    checkpoint: str | None = None
    requeue_after: float | None = None
    failure: Failure | None = None
    ledger_name: str | None = None
    events: list[Event] = field(default_factory=list)

    def fail(self, reason: str, message: str, *, transient: bool = False) -> None:
        self.failure = Failure(reason, message, transient)
        self.events.append(Event(WARNING, reason, message))

    def freeze(self, desired_count: int) -> Plan:
        if self.deregister:
            self.events.append(
                Event(
                    NORMAL, "TargetsDeregistered", f"deregistering {len(self.deregister)} target(s)"
                )
            )
        if self.register:
            self.events.append(
                Event(NORMAL, "TargetsRegistered", f"registering {len(self.register)} target(s)")
            )
        return Plan(
            lifecycle=self.lifecycle,
            checkpoint_reset=self.checkpoint_reset,
            ledger_write_ahead=self.write_ahead,
            deregistered=frozenset(self.deregister),
            registered=frozenset(self.register),
            ledger_settle=self.settle,
            delete_ledger=self.delete_ledger,
            pod_conditions=self.pods,
            remove_finalizer=self.remove_finalizer,
            status=self.status,
            events=tuple(self.events),
            checkpoint=self.checkpoint,
            requeue_after=self.requeue_after,
            failure=self.failure,
            summary=Summary(
                guarded=self.guarded,
                desired=desired_count,
                observed=self.observed_count,
                draining=self.draining,
                untouched=self.untouched,
                to_register=len(self.register),
                to_deregister=len(self.deregister),
            ),
            ledger_name=self.ledger_name,
        )


def plan(
    binding: Binding,
    desired: DesiredSet,
    observed: Mapping[Target, TargetHealth] | None,
    ledger: LedgerState,
    *,
    gated_pods: Iterable[PodView] = (),
    gate_requeue_after: float = 15.0,
    max_targets: int = 0,
) -> Plan:
    """Decide one reconcile pass; see the module docstring for the rules.

    ``observed`` is the target group's current targets with health (``None``: the group does
    not exist). ``ledger`` must be read for every binding, MultiCluster or not: a ledger's
    presence is what keeps a binding whose flag was turned off from wiping other clusters.
    ``gated_pods`` are the pods of the binding's namespace that carry its readiness gate (only
    read when the binding or its backend goes away).

    ``max_targets`` (0: no limit) is LBC's ``--max-targets-per-target-group``: when the group's
    listed targets (draining and foreign ones included) plus the registrations would exceed it,
    only the first registrations by identity that fit are made (none when the group is already
    at or over it; LBC panics there). Such a pass reports ``Ready=False``
    ``MaxTargetsReached`` and writes no checkpoint, so the rest is registered once room frees.
    """
    life = lifecycle_of(binding, desired)
    name_fits = len(PREFIX) + len(binding.name) <= MAX_NAME
    guarded = binding.spec.multi_cluster or not isinstance(ledger, LedgerAbsent)
    draft = _Draft(life, guarded)
    if guarded and name_fits:
        draft.ledger_name = configmap_name(binding.name)
    want = desired.keys
    group = observed or {}
    active = frozenset(t for t, h in group.items() if not h.draining)
    draft.observed_count = len(group)
    draft.draining = len(group) - len(active)
    if life is not Lifecycle.DELETING:
        draft.events.extend(Event(WARNING, n.reason, n.message) for n in binding.spec.notes)
        draft.events.extend(_diag_events(desired.diagnostics))

    if life in (Lifecycle.DELETING, Lifecycle.BACKEND_GONE):
        _plan_cleanup(
            draft,
            binding=binding,
            want=want,
            active=active,
            ledger=ledger,
            name_fits=name_fits,
            group_gone=observed is None,
        )
        draft.pods = release_gates(binding.name, gated_pods)
        if life is Lifecycle.BACKEND_GONE:
            draft.checkpoint_reset = bool(binding.checkpoint)
            diag = _headline(desired, "BackendNotFound", "the binding's Service or port is missing")
            draft.status = Status(len(want), 0, 0, _ready(False, diag.reason, diag.message))
            if draft.failure is None:
                draft.failure = Failure(diag.reason, diag.message)
        return draft.freeze(len(want))

    if life is Lifecycle.UNRESOLVED:
        diag = _headline(desired, "DesiredTargetsUnresolved", "desired targets cannot be resolved")
        draft.failure = Failure(diag.reason, diag.message)
        draft.status = Status(0, 0, 0, _ready(False, diag.reason, diag.message))
        return draft.freeze(0)

    if observed is None:
        message = "target group not found: " + (
            binding.spec.target_group_arn or binding.spec.target_group_name
        )
        draft.fail("TargetGroupNotFound", message, transient=True)
        draft.status = Status(len(want), 0, 0, _ready(False, "TargetGroupNotFound", message))
        return draft.freeze(len(want))

    to_register = want - active
    # Targets behind endpoints whose pod is not in the cache yet are left alone: whether they
    # are wanted is unknown until the pod's event arrives.
    undesired = frozenset(t for t in active - want if not desired.is_uncertain(t))
    health = {t: group[t] for t in active}
    frozen = False
    if not guarded:
        draft.deregister = undesired
        draft.register = to_register
    elif not name_fits:
        frozen = True
        draft.fail(
            "LedgerNameTooLong", f"binding name is too long for a ledger: {PREFIX}{binding.name}"
        )
    elif isinstance(ledger, LedgerUnreadable):
        frozen = True
        draft.fail(
            "LedgerCorrupt",
            f"ledger ConfigMap {draft.ledger_name} is unreadable ({ledger.message}); nothing is "
            "registered or deregistered until it is fixed or deleted",
        )
    elif isinstance(ledger, LedgerAbsent):
        draft.register = to_register
        draft.write_ahead = want
        draft.untouched = len(undesired)
        draft.events.append(
            Event(
                NORMAL,
                "LedgerCreated",
                f"ledger {draft.ledger_name} created with {len(want)} desired target(s); "
                f"{len(undesired)} other target(s) in the group were left untouched",
            )
        )
    else:
        owned = ledger.targets
        draft.deregister = undesired & owned
        draft.register = to_register
        draft.untouched = len(undesired - owned)
        current = owned
        if to_register - owned:
            draft.write_ahead = owned | want
            current = draft.write_ahead
        keep = want | frozenset(t for t in owned & active if desired.is_uncertain(t))
        if current != keep:
            draft.settle = keep
    if guarded and not binding.spec.multi_cluster and not frozen:
        draft.fail(
            "MultiClusterDisableRefused",
            f"multiClusterTargetGroup is false but ledger ConfigMap {draft.ledger_name} exists; "
            "lbc keeps deregistering only the targets it recorded. Delete the ConfigMap to hand "
            "this binding the whole target group",
        )

    trimmed = 0
    if max_targets and len(draft.register) + len(group) > max_targets:
        room = max(0, max_targets - len(group))
        ordered = sorted(draft.register, key=lambda t: t.identity)
        trimmed = len(ordered) - room
        draft.register = frozenset(ordered[:room])
        draft.fail(
            "MaxTargetsReached",
            f"the target group lists {len(group)} target(s); registering {room} of "
            f"{len(ordered)} keeps it within LBC_MAX_TARGETS_PER_TARGET_GROUP={max_targets}",
        )

    gates = gate_updates(binding.name, desired, health, frozenset(draft.register))
    draft.pods = gates.changes
    draft.requeue_after = gate_requeue_after if gates.pending else None
    mutating = bool(draft.deregister or draft.register)
    draft.checkpoint_reset = mutating and bool(binding.checkpoint)
    stored_after = "" if draft.checkpoint_reset else (binding.checkpoint or "")
    new_checkpoint = checkpoint_for(binding, desired)
    if draft.failure is None and not gates.pending and new_checkpoint != stored_after:
        draft.checkpoint = new_checkpoint

    registered = len(want) - trimmed if not frozen else len(want & active)
    healthy = sum(1 for t in want if t in health and health[t].healthy)
    if draft.failure is not None:
        ready = _ready(False, draft.failure.reason, draft.failure.message)
    else:
        ready = _ready(
            True,
            "TargetsSynced",
            f"{len(want)} desired, {registered} registered, {healthy} healthy",
        )
    draft.status = Status(len(want), registered, healthy, ready)
    return draft.freeze(len(want))


def _plan_cleanup(
    draft: _Draft,
    *,
    binding: Binding,
    want: frozenset[Target],
    active: frozenset[Target],
    ledger: LedgerState,
    name_fits: bool,
    group_gone: bool,
) -> None:
    """Deletion and backend-not-found: take the binding's targets out of the group."""
    deleting = draft.lifecycle is Lifecycle.DELETING
    if not draft.guarded:
        draft.deregister = active
    elif isinstance(ledger, LedgerUnreadable) and name_fits:
        draft.fail(
            "LedgerCorrupt",
            f"ledger ConfigMap {draft.ledger_name} is unreadable ({ledger.message}); nothing is "
            "deregistered and the finalizer stays until the ConfigMap is fixed or deleted",
        )
        return
    elif isinstance(ledger, LedgerPresent):
        draft.deregister = active & ledger.targets
        draft.untouched = len(active - ledger.targets)
        if deleting:
            draft.delete_ledger = True
        elif ledger.targets:
            # Keep an empty ledger rather than none: "no ledger" would mean first population
            # when the backend returns, and first population deregisters nothing.
            draft.settle = frozenset()
    else:
        # Guarded without a ledger: only the binding's current endpoints are known to be ours.
        draft.deregister = active & want
        draft.untouched = len(active - want)
    if deleting:
        draft.remove_finalizer = binding.has_finalizer
    if group_gone and deleting:
        draft.events.append(
            Event(NORMAL, "TargetGroupGone", "target group not found; nothing to deregister")
        )
