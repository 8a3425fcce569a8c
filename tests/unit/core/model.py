"""A model of a target group, a ledger and a dumb executor, to check plans against.

The executor carries out a :class:`~lbc.core.plan.Plan` step by step in the documented order and
can crash after any step or fail inside one (a failed batch may have taken effect for some of its
targets, as a lost AWS response would). While it runs it keeps, per cluster, the targets the
cluster registered and that are still in the group: crash safety demands that set be
inside the persisted ledger after every step, and a batch must be recorded before it is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lbc.aws.elbv2 import BATCH_SIZE
from lbc.core.binding import Binding
from lbc.core.desired import DesiredSet
from lbc.core.ledger import ABSENT, LedgerPresent, LedgerState
from lbc.core.plan import Plan, plan
from lbc.core.targets import HealthState, Target, TargetHealth


class InvariantBroken(AssertionError):  # noqa: N818 - reads as what happened
    pass


@dataclass
class TargetGroup:
    """target → state; deregistration drains, a later tick removes drained targets."""

    targets: dict[Target, HealthState] = field(default_factory=dict)
    # (cluster name, target) for every successful deregistration, to check ownership.
    deregistrations: list[tuple[str, Target]] = field(default_factory=list)

    def observe(self) -> dict[Target, TargetHealth]:
        return {t: TargetHealth(s) for t, s in self.targets.items()}

    def active(self) -> frozenset[Target]:
        return frozenset(t for t, s in self.targets.items() if s is not HealthState.DRAINING)

    def register(self, batch: tuple[Target, ...]) -> None:
        for target in batch:
            self.targets[target] = HealthState.HEALTHY

    def deregister(self, who: str, batch: tuple[Target, ...]) -> None:
        for target in batch:
            if target in self.targets:
                self.targets[target] = HealthState.DRAINING
            self.deregistrations.append((who, target))

    def drain(self) -> None:
        self.targets = {t: s for t, s in self.targets.items() if s is not HealthState.DRAINING}


@dataclass
class Cluster:
    """One cluster's binding, its persisted ledger (``None``: absent) and its bookkeeping."""

    name: str
    binding: Binding
    ledger: frozenset[Target] | None = None
    registered: set[Target] = field(default_factory=set)
    finalizer_removed: bool = False

    def ledger_state(self) -> LedgerState:
        return ABSENT if self.ledger is None else LedgerPresent(self.ledger, "1")

    def plan(self, desired: DesiredSet, group: TargetGroup) -> Plan:
        return plan(self.binding, desired, group.observe(), self.ledger_state())

    def check_crash_safety(self, group: TargetGroup, in_flight: tuple[Target, ...] = ()) -> None:
        """Everything this cluster registered that is still in the group, and everything it is
        about to register, must be in the ledger as persisted right now."""
        if not self.binding.spec.multi_cluster:
            return
        recorded = self.ledger or frozenset()
        ours = (self.registered & group.active()) | set(in_flight)
        missing = ours - recorded
        if missing:
            raise InvariantBroken(f"{self.name}: registered but not in ledger: {sorted(missing)}")


@dataclass(frozen=True)
class Step:
    """One executor step; ``batch`` is empty for ledger, finalizer and checkpoint writes."""

    kind: str
    batch: tuple[Target, ...]
    run: Callable[[tuple[Target, ...]], None]


def _batches(targets: frozenset[Target]) -> list[tuple[Target, ...]]:
    """The calls the AWS adapter makes: sorted, at most ``BATCH_SIZE`` targets each."""
    ordered = sorted(targets)
    return [tuple(ordered[i : i + BATCH_SIZE]) for i in range(0, len(ordered), BATCH_SIZE)]


def steps(p: Plan, cluster: Cluster, group: TargetGroup) -> list[Step]:
    """The plan's side effects on the model, in execution order."""
    out: list[Step] = []

    def set_ledger(value: frozenset[Target] | None) -> Callable[[tuple[Target, ...]], None]:
        return lambda _: setattr(cluster, "ledger", value)

    def dereg(batch: tuple[Target, ...]) -> None:
        group.deregister(cluster.name, batch)
        cluster.registered.difference_update(batch)

    def reg(batch: tuple[Target, ...]) -> None:
        group.register(batch)
        cluster.registered.update(batch)

    if p.ledger_write_ahead is not None:
        out.append(Step("ledger", (), set_ledger(p.ledger_write_ahead)))
    out.extend(Step("deregister", batch, dereg) for batch in _batches(p.deregistered))
    out.extend(Step("register", batch, reg) for batch in _batches(p.registered))
    if p.ledger_settle is not None:
        out.append(Step("ledger", (), set_ledger(p.ledger_settle)))
    if p.delete_ledger:
        out.append(Step("ledger", (), set_ledger(None)))
    if p.remove_finalizer:
        out.append(Step("finalizer", (), lambda _: setattr(cluster, "finalizer_removed", True)))
    checkpoint = p.checkpoint if p.checkpoint is not None else ("" if p.checkpoint_reset else None)
    if checkpoint is not None:
        out.append(
            Step(
                "checkpoint",
                (),
                lambda _: setattr(
                    cluster, "binding", replace(cluster.binding, checkpoint=checkpoint)
                ),
            )
        )
    return out


def run_step(
    step: Step, cluster: Cluster, group: TargetGroup, *, effective: int | None = None
) -> None:
    """Run one step; ``effective`` < len(batch) models a failed call that partly took effect
    (the executor hears of a failure, AWS applied a prefix of the batch)."""
    batch = step.batch if effective is None else step.batch[:effective]
    if step.kind == "register":
        # The call may take effect even if we never hear back: the whole batch must already be
        # recorded before it is made.
        cluster.check_crash_safety(group, step.batch)
    step.run(batch)
    cluster.check_crash_safety(group)


def execute(
    p: Plan,
    cluster: Cluster,
    group: TargetGroup,
    *,
    stop_after: int | None = None,
    partial: int | None = None,
) -> bool:
    """Run the plan's steps: all, or stop after ``stop_after`` (a crash). With ``partial``, the
    last step run fails after that many of its targets took effect. Crash safety is checked
    around every step. Returns whether every step ran in full."""
    todo = steps(p, cluster, group)
    limit = len(todo) if stop_after is None else min(stop_after, len(todo))
    for i, step in enumerate(todo[:limit]):
        failed = partial is not None and i == limit - 1
        run_step(step, cluster, group, effective=partial if failed else None)
    return limit == len(todo) and partial is None


def converge(cluster: Cluster, desired: DesiredSet, group: TargetGroup, rounds: int = 3) -> Plan:
    """Plan and execute until a plan changes nothing; returns that last (empty) plan."""
    for _ in range(rounds):
        p = cluster.plan(desired, group)
        if not p.mutates:
            return p
        execute(p, cluster, group)
    return cluster.plan(desired, group)
