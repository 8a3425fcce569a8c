"""What lbc last saw of each target group's targets, and which of it must be asked again.

DescribeTargetHealth is the reconciler's most frequent AWS call. Most targets of a settled group
are healthy and stay so; re-listing them on every reconcile spends describe quota for nothing.
So, like the reference controller, each target group's view is kept for ``ttl`` seconds from its
last *full* listing, and in between only the targets whose state can still move towards what
the reconciler waits for (anything not healthy, and targets just registered or deregistered,
whose state is unknown) are described again.

What that trades away, and who covers it: a healthy target removed out of band, or a target
added by someone else, is seen only at the next full listing (``ttl``); the drift verifier asks
for a full listing explicitly (``fresh=True``).

This module holds data only; the calls are made by :mod:`lbc.aws.elbv2`. Not thread-safe: the
owner serialises access per target group.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, final

from lbc.core.targets import HealthState, Target, TargetHealth

NOT_REGISTERED = "Target.NotRegistered"


def parse_description(description: Mapping[str, Any]) -> tuple[Target, TargetHealth]:
    """One ``TargetHealthDescription`` of a DescribeTargetHealth answer, as values."""
    target = description["Target"]
    health = description.get("TargetHealth", {})
    raw_state = str(health.get("State", HealthState.UNAVAILABLE))
    state = _STATES.get(raw_state, HealthState.UNAVAILABLE)
    server_id = str(target.get("QuicServerId") or "")
    return Target(str(target["Id"]), int(target["Port"]), server_id), _health(
        state,
        str(health.get("Reason", "")),
        str(health.get("Description", "")),
        target.get("AvailabilityZone"),
    )


@lru_cache(maxsize=1024)
def _health(state: HealthState, reason: str, description: str, zone: str | None) -> TargetHealth:
    """One shared value per distinct health: a group's targets mostly read alike, and 200,000
    cached targets each with its own value and strings held ~50 MB of copies."""
    return TargetHealth(state=state, reason=reason, description=description, availability_zone=zone)


# ``unhealthy.draining``: still answering while deregistration drains it; the diff must treat
# it as draining (leave it alone on both sides). Unknown future states count as not healthy,
# which keeps them under refresh.
_STATES: Mapping[str, HealthState] = {s.value: s for s in HealthState} | {
    "unhealthy.draining": HealthState.DRAINING
}


def is_not_registered(health: TargetHealth) -> bool:
    # ELBv2 answers ``unused``; some emulators answer ``unavailable``: the reason is what counts.
    return health.reason == NOT_REGISTERED


@dataclass(slots=True)
class _GroupView:
    listed_at: float
    # None: just registered or deregistered by us; its state is unknown until described.
    targets: dict[Target, TargetHealth | None] = field(default_factory=dict)


@final
class HealthCache:
    """Per-ARN views with an expiry counted from the last full listing (reads never extend it).

    More than a map whose values expire (so not a ``cachetools.TTLCache``): a view is merged from
    partial listings, marked unknown after lbc's own writes and read again within one describe
    even if its listing expired meanwhile (a TTL map would drop it between two reads of one
    pass); only a full listing restarts its age. Expired views are dropped on the next listing.
    """

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        # In listing order (a new listing moves its group to the end), so expired views are at
        # the front: dropping them never scans the live ones (10,000 groups made that
        # quadratic over a sweep).
        self._views: OrderedDict[str, _GroupView] = OrderedDict()

    def is_fresh(self, arn: str) -> bool:
        view = self._views.get(arn)
        return view is not None and self._clock() - view.listed_at < self._ttl

    def replace(self, arn: str, listing: Iterable[tuple[Target, TargetHealth]]) -> None:
        """Store a full listing; targets reported not registered are left out.

        Expired views of other groups are dropped here: the next describe of such a group lists
        it in full anyway, and groups whose bindings are gone must not stay in memory forever.
        """
        now = self._clock()
        while self._views and now - next(iter(self._views.values())).listed_at >= self._ttl:
            self._views.popitem(last=False)
        view = _GroupView(listed_at=now)
        for target, health in listing:
            if not is_not_registered(health):
                view.targets[target] = health
        self._views[arn] = view
        self._views.move_to_end(arn)

    def stale_targets(self, arn: str) -> list[Target]:
        """Targets whose state must be asked again: unknown or not healthy."""
        view = self._views.get(arn)
        if view is None:
            return []
        return [t for t, h in view.targets.items() if h is None or not h.healthy]

    def size(self, arn: str) -> int:
        view = self._views.get(arn)
        return 0 if view is None else len(view.targets)

    def update(self, arn: str, refreshed: Iterable[tuple[Target, TargetHealth]]) -> None:
        """Merge a partial listing; targets now reported not registered leave the view."""
        view = self._views.get(arn)
        if view is None:
            return
        for target, health in refreshed:
            if is_not_registered(health):
                view.targets.pop(target, None)
            else:
                view.targets[target] = health

    def mark_unknown(self, arn: str, targets: Iterable[Target]) -> None:
        """After our own register/deregister: these targets' states must be asked next time."""
        view = self._views.get(arn)
        if view is None:
            return
        for target in targets:
            view.targets[target] = None

    def drop_unanswered(self, arn: str, asked: Iterable[Target], answered: set[Target]) -> None:
        """Targets we asked about and AWS did not mention are not in the group any more."""
        view = self._views.get(arn)
        if view is None:
            return
        for target in asked:
            if target not in answered:
                view.targets.pop(target, None)

    def snapshot(self, arn: str) -> dict[Target, TargetHealth]:
        """The known states (targets of unknown state are omitted)."""
        view = self._views.get(arn)
        if view is None:
            return {}
        return {t: h for t, h in view.targets.items() if h is not None}

    def availability_zone(self, arn: str, target: Target) -> str | None:
        view = self._views.get(arn)
        health = None if view is None else view.targets.get(target)
        return None if health is None else health.availability_zone

    def forget(self, arn: str) -> None:
        self._views.pop(arn, None)
