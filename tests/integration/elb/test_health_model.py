"""The pure pieces of the lab: clock, health computation, fault patterns (no server)."""

from __future__ import annotations

import pytest
from lbc.core.targets import HealthState

from lbc_lab.elb_clock import LabClock
from lbc_lab.elb_faults import CallLog, FaultInjector, FaultRule, TokenBucket
from lbc_lab.elb_health import HealthTiming, TargetRecord, Verdict, health_at
from lbc_lab.elb_targets import HealthOverrides, TargetTable

TIMING = HealthTiming(
    registration_seconds=10, interval=30, healthy_threshold=5, unhealthy_threshold=2
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lab_clock_scales_real_time_by_the_factor() -> None:
    real = FakeTime()
    clock = LabClock(0.01, source=real)
    real.now += 3
    assert clock.now() == pytest.approx(300)


def test_lab_clock_never_goes_back_across_factor_changes_and_pauses() -> None:
    real = FakeTime()
    clock = LabClock(1.0, source=real)
    real.now += 5
    clock.configure(time_factor=0.1)
    assert clock.now() == pytest.approx(5)
    real.now += 1
    assert clock.now() == pytest.approx(15)
    clock.configure(paused=True, advance=100)
    real.now += 50
    assert clock.now() == pytest.approx(115)
    clock.configure(paused=False)
    real.now += 1
    assert clock.now() == pytest.approx(125)
    with pytest.raises(ValueError, match="forward"):
        clock.configure(advance=-1)


def test_health_follows_registration_checks_and_verdict() -> None:
    record = TargetRecord.registered("10.0.0.1", 80, None, 0.0)

    def at(t: float) -> tuple[str, str]:
        health = health_at(record, t, TIMING, drain_seconds=300, in_use=True)
        assert health is not None
        return health.state.value, health.reason

    assert at(9.9) == ("initial", "Elb.RegistrationInProgress")
    assert at(10) == ("initial", "Elb.InitialHealthChecking")
    assert at(159.9) == ("initial", "Elb.InitialHealthChecking")
    assert at(160) == ("healthy", "")


def test_unused_verdict_applies_at_once_but_unhealthy_waits_for_the_threshold() -> None:
    record = TargetRecord.registered("10.0.0.1", 80, None, 0.0)
    settled = 200.0
    unused = record.with_verdict(Verdict.of("unused"), settled, TIMING)
    unhealthy = record.with_verdict(Verdict.of("unhealthy"), settled, TIMING)
    assert health_at(unused, settled, TIMING, drain_seconds=0, in_use=True) == (
        Verdict.of("unused").health
    )
    before = health_at(unhealthy, settled + 59, TIMING, drain_seconds=0, in_use=True)
    after = health_at(unhealthy, settled + 60, TIMING, drain_seconds=0, in_use=True)
    assert before is not None
    assert before.state is HealthState.HEALTHY
    assert after is not None
    assert after.state is HealthState.UNHEALTHY


def test_verdict_refuses_a_reason_of_another_state() -> None:
    with pytest.raises(ValueError, match="does not go with"):
        Verdict.of("healthy", "Target.Timeout")
    with pytest.raises(ValueError, match="cannot be"):
        Verdict.of("draining")


def test_table_keys_by_id_and_port_and_purges_after_draining() -> None:
    table = TargetTable("arn")
    overrides = HealthOverrides()
    table.register([("10.0.0.1", 80, None, ""), ("10.0.0.1", 81, None, "")], 0.0, overrides)
    table.deregister([("10.0.0.1", 81)], 5.0)
    assert table.active_count() == 1
    table.purge(304.9, 300)
    assert len(table.records()) == 2
    table.purge(305, 300)
    assert [r.key for r in table.records()] == [("10.0.0.1", 80)]


def test_fault_rule_bursts_skip_period_and_count() -> None:
    rule = FaultRule(kind="throttle", skip=2, period=5, burst=2)
    assert [rule.fires_at(n) for n in range(9)] == [
        False, False, True, True, False, False, False, True, True,
    ]  # fmt: skip
    injector = FaultInjector()
    injector.add_rule(FaultRule(kind="throttle", operation="RegisterTargets", count=2))
    decisions = [injector.decide("elbv2", "RegisterTargets").error for _ in range(4)]
    assert [d.code if d else None for d in decisions] == ["Throttling", "Throttling", None, None]
    assert injector.decide("elbv2", "DeregisterTargets").error is None


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket("DescribeTargetHealth", rate=2, burst=2)
    assert [bucket.take(0.0), bucket.take(0.0), bucket.take(0.0)] == [True, True, False]
    assert bucket.take(0.5) is True
    assert bucket.take(0.5) is False


def test_call_log_is_bounded_and_reads_since_a_mark() -> None:
    log = CallLog(capacity=10)
    fields = {
        "time": 0.0,
        "service": "elbv2",
        "operation": "DescribeTargetHealth",
        "target_group_arn": None,
        "target_count": 0,
        "outcome": "ok",
        "status": 200,
        "injected": None,
        "duration_ms": 1.0,
    }
    for _ in range(15):
        log.append(**fields)
    assert [r.seq for r in log.since(12)] == [13, 14, 15]
    assert len(log.since()) == 15
    log.append(**fields)  # the 16th crosses 1.5 x capacity: trimmed to the last 10
    assert [r.seq for r in log.since()] == list(range(7, 17))
