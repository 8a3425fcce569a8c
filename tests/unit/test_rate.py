"""lbc's one token bucket: reservations, takes, refill and the burst cap (pure: time passed in)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st
from lbc.rate import TokenBucket


def test_a_full_bucket_grants_its_burst_then_reservations_wait_one_interval_each() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(0.0) == pytest.approx(0.5)
    assert bucket.reserve(0.0) == pytest.approx(1.0)


def test_take_spends_only_a_token_that_is_there() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=0.0)
    assert bucket.take(0.0)
    assert not bucket.take(0.5)
    assert not bucket.take(0.5)  # a refused take spends nothing
    assert bucket.take(1.0)


def test_idle_time_refills_up_to_the_burst_only() -> None:
    bucket = TokenBucket(rate=1.0, burst=2, now=0.0)
    assert bucket.take(0.0)
    assert bucket.take(0.0)
    assert [bucket.take(1000.0) for _ in range(3)] == [True, True, False]


def test_a_clock_read_out_of_order_never_adds_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_a_bucket_that_could_never_grant_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate=rate, burst=burst, now=0.0)


@given(
    rate=st.floats(0.1, 100.0),
    burst=st.integers(1, 50),
    steps=st.lists(st.tuples(st.floats(0.0, 5.0), st.booleans()), max_size=200),
)
def test_grants_never_exceed_burst_plus_rate_times_elapsed(
    rate: float, burst: int, steps: list[tuple[float, bool]]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst, now=0.0)
    now, granted = 0.0, []
    for gap, reserve in steps:
        now += gap
        if reserve:
            granted.append(now + bucket.reserve(now))
        elif bucket.take(now):
            granted.append(now)
    granted.sort()
    for i, t in enumerate(granted):
        assert i + 1 <= burst + rate * t + 1e-6
