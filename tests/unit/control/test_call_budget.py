"""Every outcome of a reconcile costs a bounded number of passes and AWS calls per hour.

A binding stuck on an outcome it cannot leave by itself (its Service missing, a corrupt
ledger, a throttled account) must not spend the ELBv2 budget every cluster of the account
shares. Each case below runs the binding controller's real reconciler, triggers, queue and
workers on memory I/O for an hour of virtual time and counts what it did.

The bounds, with the daemon's defaults (drift verification every 300 s jittered to 0.9-1.1,
the first one 0.5-1.0 after start; backoff 5 ms doubling to 300 s; requeue period 15 s):

- terminal and settled outcomes: one pass per drift period, plus the first two;
- transient outcomes: the backoff's doublings up to its cap, then one pass per cap;
- progress outcomes (targets still registering, readiness gates waiting): one pass per
  requeue period, plus the few that the binding's own pod-condition writes wake;
- every pass costs at most three AWS calls (name lookup, describe, one mutation).

A hot loop shows up as thousands of passes; a binding that stops being looked at as fewer than
one per drift period.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from lbc.core.errors import TerminalError, ThrottledError, TransientError
from lbc.kube.client import CONFIG_MAPS, SERVICES, TARGET_GROUP_BINDINGS
from lbc.observe.metrics import REGISTRY

from tests.unit.control.memcluster import (
    NS,
    MemoryGroup,
    MemoryKube,
    binding_object,
    controller,
    service,
    workload,
)

HOUR = 3600.0
DRIFT = 300.0
REQUEUE = 15.0
BACKOFF_BASE = 0.005
BACKOFF_MAX = 300.0
KEY = f"{NS}/web"

PERIODIC = math.floor(HOUR / (0.9 * DRIFT)) + 2
BACKOFF = math.ceil(math.log2(BACKOFF_MAX / BACKOFF_BASE)) + 1 + math.ceil(HOUR / BACKOFF_MAX)
PROGRESS = math.ceil(HOUR / REQUEUE) + 10


@dataclass(frozen=True)
class Case:
    name: str
    reason: str | None  # the Ready condition's reason at the end (None: not written)
    max_passes: int
    prepare: Callable[[MemoryKube], None]
    group: Callable[[], MemoryGroup] = MemoryGroup
    min_passes: int = 0


def _ledger(kube: MemoryKube, value: str) -> None:
    kube.put(
        CONFIG_MAPS,
        {
            "metadata": {"name": "aws-lbc-targets-web", "namespace": NS},
            "data": {"targets": value},
        },
    )


def _with(*steps: Callable[[MemoryKube], None]) -> Callable[[MemoryKube], None]:
    def prepare(kube: MemoryKube) -> None:
        for step in steps:
            step(kube)

    return prepare


def _binding(**spec: object) -> Callable[[MemoryKube], None]:
    return lambda kube: kube.put(TARGET_GROUP_BINDINGS, binding_object(**spec))


def _failing(op: str, error: Exception, *, settles: bool = True) -> Callable[[], MemoryGroup]:
    def make() -> MemoryGroup:
        group = MemoryGroup(settles=settles)
        group.fail[op] = error  # type: ignore[assignment]
        return group

    return make


def _deleting(kube: MemoryKube) -> None:
    obj = binding_object()
    obj["metadata"]["finalizers"] = ["elbv2.k8s.aws/resources"]
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    kube.put(TARGET_GROUP_BINDINGS, obj)


def _kube_fails(verb: str, error: Exception) -> Callable[[MemoryKube], None]:
    def prepare(kube: MemoryKube) -> None:
        kube.fail[(verb, CONFIG_MAPS.plural)] = error  # type: ignore[assignment]

    return prepare


# A periodic outcome is looked at every drift period: at least this many passes in the hour.
LOOKED_AT = math.floor(HOUR / (1.1 * DRIFT))

CASES = [
    # Success.
    Case("converged", "TargetsSynced", PERIODIC, _with(workload, _binding()), min_passes=LOOKED_AT),
    Case(
        "targets never leave initial",
        "TargetsSynced",
        PROGRESS,
        _with(workload, _binding()),
        group=lambda: MemoryGroup(settles=False),
    ),
    Case(
        "readiness gates waiting on targets that never turn healthy",
        "TargetsSynced",
        PROGRESS,
        _with(lambda kube: workload(kube, gates=("target-health.elbv2.k8s.aws/web",)), _binding()),
        group=lambda: MemoryGroup(settles=False),
    ),
    Case(
        "target group named, resolved each pass",
        "TargetsSynced",
        PERIODIC,
        _with(workload, _binding(targetGroupARN=None, targetGroupName="web")),
    ),
    # Terminal outcomes.
    Case(
        "service missing",
        "BackendNotFound",
        PERIODIC,
        _binding(),
        min_passes=LOOKED_AT,
    ),
    Case(
        "service port missing",
        "BackendNotFound",
        PERIODIC,
        _with(workload, lambda kube: kube.put(SERVICES, service(port=81)), _binding()),
        min_passes=LOOKED_AT,
    ),
    Case(
        "instance binding on a ClusterIP service",
        "UnsupportedServiceType",
        PERIODIC,
        _with(workload, _binding(targetType="instance")),
    ),
    Case(
        "corrupt ledger",
        "LedgerCorrupt",
        PERIODIC,
        _with(workload, lambda kube: _ledger(kube, "not a target"), _binding()),
        min_passes=LOOKED_AT,
    ),
    Case(
        "multicluster turned off while a ledger exists",
        "MultiClusterDisableRefused",
        PERIODIC,
        _with(workload, lambda kube: _ledger(kube, ""), _binding(multiClusterTargetGroup=False)),
        min_passes=LOOKED_AT,
    ),
    Case(
        "binding name too long for a ledger",
        "LedgerNameTooLong",
        PERIODIC,
        _with(
            workload,
            lambda kube: kube.put(TARGET_GROUP_BINDINGS, binding_object(name="w" * 240)),
        ),
    ),
    Case(
        "unparseable binding",
        "InvalidBinding",
        PERIODIC,
        _with(workload, _binding(targetType="bogus")),
    ),
    Case(
        "deletion blocked by a corrupt ledger",
        None,
        PERIODIC,
        _with(workload, lambda kube: _ledger(kube, "not a target"), _deleting),
    ),
    Case(
        "malformed target group ARN",
        "InvalidTargetGroupArn",
        PERIODIC,
        _with(workload, _binding(targetGroupARN="arn:aws:elasticloadbalancing:typo")),
    ),
    Case(
        "AWS rejects the target group ARN",
        "ValidationError",
        PERIODIC,
        _with(workload, _binding()),
        group=_failing("describe", TerminalError("malformed", reason="ValidationError")),
    ),
    # Transient outcomes.
    Case(
        "target group not found",
        "TargetGroupNotFound",
        BACKOFF,
        _with(workload, _binding(targetGroupARN=None, targetGroupName="gone")),
    ),
    Case(
        "registration throttled",
        "FailedRegister",
        BACKOFF,
        _with(workload, _binding()),
        group=_failing("register", ThrottledError("Rate exceeded")),
    ),
    Case(
        "describe throttled",
        None,
        BACKOFF,
        _with(workload, _binding()),
        group=_failing("describe", ThrottledError("Rate exceeded")),
    ),
    Case(
        "ledger write refused by the API server",
        "FailedLedgerWrite",
        BACKOFF,
        _with(workload, _kube_fails("create", TransientError("etcd timeout")), _binding()),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_an_hour_of_any_outcome_costs_bounded_passes_and_aws_calls(case: Case) -> None:
    async with controller(
        group=case.group(),
        drift_verify_period=DRIFT,
        requeue_period=REQUEUE,
        backoff_base=BACKOFF_BASE,
        backoff_max=BACKOFF_MAX,
        prepare=case.prepare,
    ) as c:
        await c.run_for(HOUR, step=HOUR)
        key = next(iter(c.passes), KEY)
        passes = c.passes.get(key, 0)
        calls = len(c.group.calls)
        ready = c.ready(key.split("/")[1]) if case.reason else None
        successes = REGISTRY.get_sample_value(
            "controller_runtime_reconcile_total",
            {"controller": c.workers.controller, "result": "success"},
        )
    if case.reason == "TargetsSynced":
        assert successes == passes, "a converged pass was not counted as success"
    assert passes <= case.max_passes, f"{passes} passes in an hour (bound {case.max_passes})"
    assert passes >= max(1, case.min_passes), f"only {passes} passes in an hour"
    assert calls <= 3 * passes, f"{calls} AWS calls in {passes} passes"
    if case.reason is not None:
        assert ready is not None
        assert ready["reason"] == case.reason


class _Earliest(random.Random):
    """Every jittered deadline at the earliest end of its range."""

    def uniform(self, a: float, b: float) -> float:
        return a


async def test_the_first_full_pass_after_a_start_is_the_drift_verification_of_its_period() -> None:
    # Deadlines at their earliest: the first one 150 s after the start, the next 270 s after
    # a verification. The first pass lists the group (nothing cached): it must count as one.
    async with controller(
        drift_verify_period=DRIFT,
        requeue_period=REQUEUE,
        prepare=_with(workload, _binding()),
        rng=_Earliest(),
    ) as c:
        await c.run_for(100)
        describes = c.group.calls.count("describe")
        assert describes >= 1
        await c.run_for(160)
        assert c.group.calls.count("describe") == describes, "described again before 270 s"
        await c.run_for(20)
        assert c.group.calls.count("describe") == describes + 1
