"""Readiness gates and the checkpoint skip that depends on them (SPEC §5, §6)."""

from __future__ import annotations

from dataclasses import replace

from lbc.core.desired import DesiredSet, DesiredTarget, Resolution
from lbc.core.gates import gate_updates, gates_pending
from lbc.core.objects import FALSE, TRUE, PodCondition, gate_type
from lbc.core.plan import can_skip, checkpoint_for
from lbc.core.targets import HealthState, Target, TargetHealth

from .factories import binding, desired_of, gated_pod, pod

GATE = gate_type("web")


def test_pod_behind_two_targets_is_only_as_ready_as_the_least_healthy() -> None:
    p = gated_pod("p1", "10.0.0.1")
    a, b = Target("10.0.0.1", 80), Target("10.0.0.1", 81)
    desired = DesiredSet(
        Resolution.RESOLVED, {a: DesiredTarget(a, 1, "n", p), b: DesiredTarget(b, 1, "n", p)}
    )
    health = {
        a: TargetHealth(HealthState.HEALTHY),
        b: TargetHealth(HealthState.UNHEALTHY, "Target.Timeout", "t"),
    }
    outcome = gate_updates("web", desired, health, frozenset())
    assert [c.condition for c in outcome.changes] == [
        PodCondition(GATE, FALSE, "Target.Timeout", "t")
    ]
    assert outcome.pending


def test_gate_pending_when_a_desired_gated_pod_is_not_true() -> None:
    waiting = gated_pod("p1", "10.0.0.1")
    done = gated_pod("p2", "10.0.0.2", conditions=[PodCondition(GATE, TRUE)])
    assert gates_pending("web", desired_of("10.0.0.1:80", pods={"10.0.0.1:80": waiting}))
    assert not gates_pending("web", desired_of("10.0.0.2:80", pods={"10.0.0.2:80": done}))
    assert not gates_pending(
        "web", desired_of("10.0.0.3:80", pods={"10.0.0.3:80": pod("p3", "10.0.0.3")})
    )
    # Another binding's gate does not hold this binding back.
    assert not gates_pending("api", desired_of("10.0.0.1:80", pods={"10.0.0.1:80": waiting}))


def test_unchanged_inputs_skip_aws() -> None:
    d = desired_of("10.0.0.1:80")
    b = binding(checkpoint=checkpoint_for(binding(), d))
    assert can_skip(b, d)


def test_changed_endpoints_or_spec_do_not_skip() -> None:
    d = desired_of("10.0.0.1:80")
    stored = checkpoint_for(binding(), d)
    assert not can_skip(binding(checkpoint=stored), desired_of("10.0.0.1:80", "10.0.0.2:80"))
    assert not can_skip(binding(checkpoint=stored, port=81), d)
    assert not can_skip(binding(checkpoint=""), d)


def test_pending_gate_prevents_the_skip() -> None:
    d = desired_of("10.0.0.1:80", pods={"10.0.0.1:80": gated_pod("p1", "10.0.0.1")})
    assert not can_skip(binding(checkpoint=checkpoint_for(binding(), d)), d)


def test_deleting_or_unresolved_bindings_never_skip() -> None:
    d = desired_of("10.0.0.1:80")
    stored = checkpoint_for(binding(), d)
    assert not can_skip(binding(checkpoint=stored, deleting=True), d)
    assert not can_skip(
        binding(checkpoint=stored), replace(d, resolution=Resolution.BACKEND_NOT_FOUND)
    )


def test_gated_pod_without_a_condition_blocks_the_skip_unlike_lbc() -> None:
    # LBC (needReadinessGateFlip) blocks the skip only for a condition that exists and is not
    # True; a gated pod with no condition lets the pass be skipped, so nothing writes its
    # condition until a forced pass. Deliberate difference, measured in
    # tests/e2e/test_gate_skip.py: lbc restores such a pod on the next pass.
    no_condition = gated_pod("p1", "10.0.0.1")
    false = gated_pod("p2", "10.0.0.2", conditions=[PodCondition(GATE, FALSE)])
    for waiting in (no_condition, false):
        d = desired_of("10.0.0.1:80", pods={"10.0.0.1:80": waiting})
        assert not can_skip(binding(checkpoint=checkpoint_for(binding(), d)), d)
