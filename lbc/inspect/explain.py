"""What the daemon would do to one binding now, and why: ``lbc inspect binding``.

Pure. The plan is ``core.plan()`` itself, called with the inputs the reconciler would gather
(read fresh by :mod:`lbc.inspect.gather`), so what is shown is what would be executed, not a
re-telling of the rules. Only the explanation is written here: which ownership rule applies
(normal mode, MultiCluster with or without a ledger, a refused disable, an unreadable ledger),
whether the checkpoint lets a regular pass skip AWS, and the desired set's diagnostics.

The plan shown is the one a full pass makes. When the checkpoint matches, a regular pass skips
AWS entirely and does nothing; the next drift verification (``LBC_DRIFT_VERIFY_PERIOD``) or any
change of the inputs makes this full pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lbc.aws.elbv2 import TargetGroupInfo
from lbc.core.binding import Binding
from lbc.core.desired import DesiredSet
from lbc.core.gates import gates_pending
from lbc.core.ledger import LedgerAbsent, LedgerPresent, LedgerState, LedgerUnreadable
from lbc.core.objects import PodView
from lbc.core.plan import Lifecycle, Plan, can_skip, checkpoint_for, lifecycle_of, plan
from lbc.core.targets import Target, TargetHealth
from lbc.inspect.ownership import Mode, mode_of


@dataclass(frozen=True, slots=True)
class BindingInputs:
    """Everything one reconcile of the binding decides from, read fresh.

    ``observed`` is ``None`` when the group does not exist (or no ARN could be resolved), as
    ``core.plan`` expects; ``group`` is the group's description when it could be read.
    """

    cluster: str
    binding: Binding
    desired: DesiredSet
    ledger: LedgerState
    ledger_name: str | None
    arn: str
    group: TargetGroupInfo | None
    observed: Mapping[Target, TargetHealth] | None
    gated_pods: tuple[PodView, ...]


@dataclass(frozen=True, slots=True)
class CheckpointFacts:
    stored: str | None
    current: str
    gates_pending: bool
    #: A regular (non-verifying) pass would skip AWS and change nothing.
    skips: bool


@dataclass(frozen=True, slots=True)
class BindingReport:
    inputs: BindingInputs
    plan: Plan
    mode: Mode
    checkpoint: CheckpointFacts
    reasons: tuple[str, ...]

    @property
    def converged(self) -> bool:
        """Nothing to register, deregister or record, and no failure to report."""
        p = self.plan
        return not (
            p.registered
            or p.deregistered
            or p.ledger_write_ahead is not None
            or p.ledger_settle is not None
            or p.delete_ledger
            or p.failure is not None
        )


_LIFECYCLE = {
    Lifecycle.DELETING: (
        "the binding is being deleted: its targets leave the group, then its ledger and its "
        "finalizer are removed"
    ),
    Lifecycle.BACKEND_GONE: (
        "its Service or Service port is missing: its targets are cleaned up as on deletion, "
        "while the binding (and an empty ledger) stay"
    ),
    Lifecycle.UNRESOLVED: "its desired targets cannot be resolved: nothing changes",
}


def _ownership_reason(inputs: BindingInputs, mode: Mode, decided: Plan) -> str:
    ledger, name = inputs.ledger, inputs.ledger_name or "(name too long for a ledger)"
    untouched = decided.summary.untouched
    if isinstance(ledger, LedgerUnreadable):
        return (
            f"ledger {name} is unreadable ({ledger.message}): nothing is registered or "
            "deregistered until it is fixed or deleted"
        )
    if mode is Mode.NORMAL:
        return (
            "normal mode: the binding owns the whole target group, so every target it does "
            "not desire is deregistered"
        )
    if isinstance(ledger, LedgerAbsent):
        return (
            f"MultiCluster without a ledger yet: this pass deregisters nothing and creates "
            f"{name} with the {len(inputs.desired.targets)} desired target(s)"
            + (f"; {untouched} other target(s) are left alone" if untouched else "")
        )
    assert isinstance(ledger, LedgerPresent)  # noqa: S101 - the three states are exhaustive
    held = f"only targets in ledger {name} ({len(ledger.targets)}) are ever deregistered"
    others = f"; {untouched} other target(s) in the group are left alone" if untouched else ""
    if mode is Mode.LEDGER_GUARDED:
        return (
            f"multiClusterTargetGroup is false but ledger {name} exists: {held}{others} "
            "(delete the ConfigMap to hand this binding the whole group)"
        )
    return f"MultiCluster: {held}{others}"


def _checkpoint_reason(facts: CheckpointFacts, life: Lifecycle) -> str:
    if life in (Lifecycle.DELETING, Lifecycle.BACKEND_GONE, Lifecycle.UNRESOLVED):
        return "this lifecycle always runs a full pass (the checkpoint does not apply)"
    if facts.skips:
        return (
            "the checkpoint matches the current inputs and no readiness gate is pending: a "
            "regular pass skips AWS and does nothing; the next drift verification runs this plan"
        )
    if facts.gates_pending:
        return "readiness gates are pending: every pass reaches AWS until they turn True"
    if not facts.stored:
        return "no checkpoint: the next pass runs in full"
    stored_ep, _, stored_spec = facts.stored.partition("/")
    current_ep, _, current_spec = facts.current.partition("/")
    changed = [
        what
        for what, old, new in (
            ("the endpoints", stored_ep, current_ep),
            ("the spec", stored_spec, current_spec),
        )
        if old != new
    ]
    what = " and ".join(changed) or "the format"
    return f"the checkpoint differs ({what} changed): the next pass runs in full"


def explain(inputs: BindingInputs) -> BindingReport:
    """The plan ``core.plan()`` makes from ``inputs`` and the reasons behind it."""
    binding, wanted = inputs.binding, inputs.desired
    life = lifecycle_of(binding, wanted)
    decided = plan(
        binding,
        wanted,
        inputs.observed,
        inputs.ledger,
        gated_pods=inputs.gated_pods if life is not Lifecycle.LIVE else (),
    )
    mode = mode_of(binding, inputs.ledger)
    facts = CheckpointFacts(
        stored=binding.checkpoint,
        current=checkpoint_for(binding, wanted),
        gates_pending=gates_pending(binding.name, wanted),
        skips=can_skip(binding, wanted),
    )
    reasons: list[str] = []
    if life in _LIFECYCLE:
        reasons.append(_LIFECYCLE[life])
    if inputs.observed is None and life is Lifecycle.LIVE:
        reasons.append(f"target group {inputs.arn or '(unresolved)'} not found: nothing changes")
    role = binding.spec.iam_role_arn_to_assume
    if role:
        reasons.append(
            f"the daemon reaches this group as {role}; the inspector read it with its own "
            "credentials (give it that account's, e.g. AWS_PROFILE, if the group was not found)"
        )
    reasons.append(_ownership_reason(inputs, mode, decided))
    reasons.append(_checkpoint_reason(facts, life))
    reasons.extend(f"{d.reason}: {d.message}" for d in wanted.diagnostics)
    if decided.failure is not None:
        reasons.append(f"the pass fails with {decided.failure.reason}: {decided.failure.message}")
    return BindingReport(inputs, decided, mode, facts, tuple(reasons))
