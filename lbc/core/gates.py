"""Pod readiness gates (SPEC §6): the target's ELB health mirrored into a pod condition.

A pod that lists the readiness gate ``target-health.elbv2.k8s.aws/<binding name>`` does not
turn Ready until lbc sets that condition True, which it does once the pod's target is
``healthy`` in the target group. This is what lets a rolling update wait for the load balancer
instead of racing it. A freshly registered target reports ``Elb.RegistrationInProgress``.

Only changes are emitted (status, reason or message differ from what the pod carries), so a
steady state writes nothing. ``pending`` says whether any gated pod is not yet True: the
controller looks again after a short requeue, because target health is not watched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lbc.core.desired import DesiredSet
from lbc.core.objects import FALSE, TRUE, PodCondition, PodView, gate_type
from lbc.core.targets import Target, TargetHealth

REGISTRATION_IN_PROGRESS = PodCondition(
    "", FALSE, "Elb.RegistrationInProgress", "Target registration is in progress"
)
BINDING_DELETED_MESSAGE = "Target Group Binding is deleted"


@dataclass(frozen=True, slots=True)
class PodConditionChange:
    """Set ``condition`` on the pod; ``uid`` is the precondition that it is still the same pod."""

    namespace: str
    name: str
    uid: str
    condition: PodCondition


@dataclass(frozen=True, slots=True)
class GateOutcome:
    changes: tuple[PodConditionChange, ...]
    pending: bool


def _change(pod: PodView, wanted: PodCondition) -> PodConditionChange | None:
    current = pod.condition(wanted.type)
    if current is not None and (current.status, current.reason, current.message) == (
        wanted.status,
        wanted.reason,
        wanted.message,
    ):
        return None
    return PodConditionChange(pod.namespace, pod.name, pod.uid, wanted)


def _rank(cond: PodCondition) -> int:
    return 1 if cond.status == TRUE else 0


def gate_updates(
    binding_name: str,
    desired: DesiredSet,
    health: Mapping[Target, TargetHealth],
    registering: frozenset[Target],
) -> GateOutcome:
    """Conditions for gated pods behind desired targets.

    ``health`` is the observed health of registered, non-draining targets; ``registering`` the
    targets this pass registers. A desired target in neither (a frozen pass that registers
    nothing) leaves its pod untouched: lbc has no news about it.
    """
    ctype = gate_type(binding_name)
    wanted: dict[tuple[str, str], tuple[PodView, PodCondition]] = {}
    for target, dt in desired.targets.items():
        pod = dt.pod
        if pod is None or not pod.has_gate(ctype):
            continue
        if target in registering:
            cond = PodCondition(
                ctype,
                FALSE,
                REGISTRATION_IN_PROGRESS.reason,
                REGISTRATION_IN_PROGRESS.message,
            )
        elif target in health:
            h = health[target]
            cond = PodCondition(ctype, TRUE if h.healthy else FALSE, h.reason, h.description)
        else:
            continue
        key = (pod.namespace, pod.name)
        # A pod behind several targets is only as ready as its least healthy target.
        if key not in wanted or _rank(cond) < _rank(wanted[key][1]):
            wanted[key] = (pod, cond)
    changes = []
    pending = False
    for pod, cond in wanted.values():
        pending = pending or cond.status != TRUE
        change = _change(pod, cond)
        if change is not None:
            changes.append(change)
    changes.sort(key=lambda c: (c.namespace, c.name))
    return GateOutcome(tuple(changes), pending)


def release_gates(binding_name: str, pods: Iterable[PodView]) -> tuple[PodConditionChange, ...]:
    """Set every gated pod True that is not: the binding (or its backend) is gone, and nothing
    else would ever flip the condition, so the pods would never turn Ready."""
    ctype = gate_type(binding_name)
    wanted = PodCondition(ctype, TRUE, "", BINDING_DELETED_MESSAGE)
    changes = []
    for pod in pods:
        current = pod.condition(ctype)
        # Already True: leave it, whatever the message says; this path runs for every gated
        # pod of the namespace and must not write what does not matter.
        if pod.has_gate(ctype) and (current is None or current.status != TRUE):
            changes.append(PodConditionChange(pod.namespace, pod.name, pod.uid, wanted))
    changes.sort(key=lambda c: (c.namespace, c.name))
    return tuple(changes)


def gates_pending(binding_name: str, desired: DesiredSet) -> bool:
    """Whether a desired target's pod carries the gate with a status other than True.

    Used by the checkpoint skip (a pending gate needs target health to progress) and costs only
    cache reads. A gated pod with *no* condition is pending too, unlike LBC (which skips for
    it): its inputs hash the same as at the last success, so a skipped pass would leave the pod
    unready until a forced full pass (LBC: 30-45 minutes after a restart, then every 10 hours).
    Measured in ``tests/e2e/test_gate_skip.py``: lbc writes the condition again within a pass,
    with no extra DescribeTargetHealth (healthy targets come from the cache).
    """
    ctype = gate_type(binding_name)
    for dt in desired.targets.values():
        pod = dt.pod
        if pod is not None and pod.has_gate(ctype):
            cond = pod.condition(ctype)
            if cond is None or cond.status != TRUE:
                return True
    return False
