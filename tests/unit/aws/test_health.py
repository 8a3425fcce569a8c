"""The health cache: expiry from the last full listing, and which targets must be asked again."""

from __future__ import annotations

from lbc.aws.health import HealthCache, parse_description
from lbc.core.targets import HealthState, Target, TargetHealth

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


def described(ip: str, port: int, state: str, reason: str = "", zone: str | None = None) -> dict:
    target: dict = {"Id": ip, "Port": port}
    if zone is not None:
        target["AvailabilityZone"] = zone
    return {"Target": target, "TargetHealth": {"State": state, "Reason": reason}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_descriptions_parse_to_values_and_unhealthy_draining_counts_as_draining() -> None:
    target, health = parse_description(described("10.0.0.1", 80, "healthy", zone="all"))
    assert target == Target("10.0.0.1", 80)
    assert health == TargetHealth(HealthState.HEALTHY, availability_zone="all")
    _, draining = parse_description(described("10.0.0.2", 80, "unhealthy.draining"))
    assert draining.draining
    _, odd = parse_description(described("10.0.0.3", 80, "some-new-state"))
    assert odd.state is HealthState.UNAVAILABLE


def test_view_expires_ttl_after_the_full_listing_and_reads_do_not_extend_it() -> None:
    clock = Clock()
    cache = HealthCache(ttl=300, clock=clock)
    assert not cache.is_fresh(ARN)
    cache.replace(ARN, [parse_description(described("10.0.0.1", 80, "healthy"))])
    clock.now = 299.0
    assert cache.is_fresh(ARN)
    cache.snapshot(ARN)
    cache.update(ARN, [parse_description(described("10.0.0.1", 80, "healthy"))])
    clock.now = 300.0
    assert not cache.is_fresh(ARN)


def test_only_unknown_and_not_healthy_targets_are_stale() -> None:
    cache = HealthCache(ttl=300, clock=Clock())
    cache.replace(
        ARN,
        [
            parse_description(described("10.0.0.1", 80, "healthy")),
            parse_description(described("10.0.0.2", 80, "initial")),
            parse_description(described("10.0.0.3", 80, "draining")),
        ],
    )
    cache.mark_unknown(ARN, [Target("10.0.0.4", 80)])
    assert set(cache.stale_targets(ARN)) == {
        Target("10.0.0.2", 80),
        Target("10.0.0.3", 80),
        Target("10.0.0.4", 80),
    }
    # A target of unknown state is not reported as if its state were known.
    assert Target("10.0.0.4", 80) not in cache.snapshot(ARN)


def test_not_registered_targets_leave_the_view() -> None:
    cache = HealthCache(ttl=300, clock=Clock())
    cache.replace(
        ARN,
        [
            parse_description(described("10.0.0.1", 80, "initial")),
            parse_description(described("10.0.0.9", 80, "unused", "Target.NotRegistered")),
        ],
    )
    assert set(cache.snapshot(ARN)) == {Target("10.0.0.1", 80)}
    cache.update(
        ARN, [parse_description(described("10.0.0.1", 80, "unused", "Target.NotRegistered"))]
    )
    assert cache.snapshot(ARN) == {}


def test_asked_but_unanswered_targets_are_dropped() -> None:
    cache = HealthCache(ttl=300, clock=Clock())
    cache.replace(ARN, [parse_description(described("10.0.0.1", 80, "initial"))])
    cache.drop_unanswered(ARN, [Target("10.0.0.1", 80)], answered=set())
    assert cache.snapshot(ARN) == {}


def test_expired_views_of_other_groups_are_dropped_on_the_next_listing() -> None:
    clock = Clock()
    cache = HealthCache(ttl=300, clock=clock)
    other = ARN.replace("web", "old")
    cache.replace(other, [parse_description(described("10.0.0.1", 80, "healthy"))])
    clock.now = 300.0
    cache.replace(ARN, [parse_description(described("10.0.0.2", 80, "healthy"))])
    assert cache.size(other) == 0
    assert cache.size(ARN) == 1


def test_a_group_listed_again_expires_after_groups_listed_since_its_first_listing() -> None:
    clock = Clock()
    cache = HealthCache(ttl=300, clock=clock)
    a, b, c = (ARN.replace("web", name) for name in ("a", "b", "c"))
    cache.replace(a, [parse_description(described("10.0.0.1", 80, "healthy"))])
    clock.now = 100.0
    cache.replace(b, [parse_description(described("10.0.0.2", 80, "healthy"))])
    clock.now = 250.0
    cache.replace(a, [parse_description(described("10.0.0.1", 80, "healthy"))])
    clock.now = 400.0  # b is 300 s old, a only 150 s
    cache.replace(c, [parse_description(described("10.0.0.3", 80, "healthy"))])
    assert (cache.size(a), cache.size(b), cache.size(c)) == (1, 0, 1)
