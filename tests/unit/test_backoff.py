"""The one backoff: client-go's reflector and per-item parameters on the same arithmetic."""

from __future__ import annotations

import random

import pytest
from lbc.backoff import Backoff, BackoffPolicy
from lbc.kube.informer import REFLECTOR_BACKOFF, REFLECTOR_RESET


def test_reflector_backoff_doubles_to_the_cap_and_resets_after_two_quiet_minutes() -> None:
    backoff = Backoff(REFLECTOR_BACKOFF, reset_after=REFLECTOR_RESET, rng=random.Random(1))
    waits = [backoff.delay(float(t)) for t in range(8)]
    nominal = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    for wait, d in zip(waits, nominal, strict=True):
        assert d <= wait <= 2 * d
    assert len(set(waits)) == len(waits), "the waits were not jittered"
    assert 0.8 <= backoff.delay(7.0 + 120.0) <= 1.6


def test_backoff_without_jitter_is_exact_and_resets_only_after_the_quiet_period() -> None:
    backoff = Backoff(BackoffPolicy(0.8, 30.0), reset_after=120.0)
    assert [backoff.delay(0.0) for _ in range(3)] == [0.8, 1.6, 3.2]
    assert backoff.delay(119.0) == 6.4
    assert backoff.failures == 4


def test_backoff_without_reset_after_keeps_counting_until_reset() -> None:
    backoff = Backoff(BackoffPolicy(1.0, 8.0))
    assert [backoff.delay(t * 1e6) for t in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.delay(0.0) == 1.0


def test_policy_survives_a_huge_failure_count() -> None:
    assert BackoffPolicy(0.005, 300.0).nominal(5000) == 300.0


def test_constant_policy_never_grows() -> None:
    assert {BackoffPolicy(2.0, 2.0, factor=1.0).nominal(n) for n in range(50)} == {2.0}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0.0, "cap": 1.0},
        {"initial": 2.0, "cap": 1.0},
        {"initial": 1.0, "cap": 2.0, "factor": 0.5},
        {"initial": 1.0, "cap": 2.0, "jitter": -0.1},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"need|must"):
        BackoffPolicy(**kwargs)
