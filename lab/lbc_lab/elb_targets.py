"""Per-target-group target tables keyed by ``(id, port)``, and the lab's health overrides.

moto keys a group's targets by id alone, so one IP on two ports collapses into one target and a
deregistration with any port removes it. Real ELBv2 keys by ``(id, port)``; so does this table.
Records stay in the table while draining and are purged lazily once their delay has passed.

Health overrides are the control plane's way of saying "health checks on this target fail": a
rule matches a target id, optionally a port and a target group. A rule applies to targets already
registered (their verdict changes now, and takes effect after the health-check threshold) and to
targets registered later (their verdict is set from the start).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lbc_lab.elb_health import PASSING, HealthTiming, TargetRecord, Verdict, gone


@dataclass(frozen=True, slots=True)
class HealthOverride:
    """Targets matching ``target_id`` (and ``port``, ``target_group_arn`` if set) get a verdict."""

    target_id: str
    verdict: Verdict
    port: int | None = None
    target_group_arn: str | None = None

    def matches(self, target_group_arn: str, target_id: str, port: int) -> bool:
        return (
            self.target_id == target_id
            and (self.port is None or self.port == port)
            and (self.target_group_arn is None or self.target_group_arn == target_group_arn)
        )


class HealthOverrides:
    """The control plane's health rules; the latest matching rule wins."""

    def __init__(self) -> None:
        self._rules: list[HealthOverride] = []

    def add(self, rule: HealthOverride) -> None:
        self._rules = [
            r
            for r in self._rules
            if (r.target_id, r.port, r.target_group_arn)
            != (rule.target_id, rule.port, rule.target_group_arn)
        ]
        self._rules.append(rule)

    def clear(self) -> None:
        self._rules = []

    def __iter__(self) -> Iterator[HealthOverride]:
        return iter(list(self._rules))

    def verdict_for(self, target_group_arn: str, target_id: str, port: int) -> Verdict:
        for rule in reversed(self._rules):
            if rule.matches(target_group_arn, target_id, port):
                return rule.verdict
        return PASSING


class TargetTable:
    """The targets of one target group, in registration order, keyed by ``(id, port)``."""

    def __init__(self, target_group_arn: str) -> None:
        self.target_group_arn = target_group_arn
        self._records: dict[tuple[str, int], TargetRecord] = {}

    def purge(self, now: float, drain_seconds: float) -> None:
        """Forget records whose draining finished (lazily, on each access)."""
        done = [k for k, r in self._records.items() if gone(r, now, drain_seconds)]
        for key in done:
            del self._records[key]

    def records(self) -> list[TargetRecord]:
        return list(self._records.values())

    def get(self, key: tuple[str, int]) -> TargetRecord | None:
        return self._records.get(key)

    def with_id(self, target_id: str) -> list[TargetRecord]:
        return [r for r in self._records.values() if r.target_id == target_id]

    def active_count(self) -> int:
        """Registered targets that are not draining (what the per-group quota counts)."""
        return sum(1 for r in self._records.values() if r.deregistered_at is None)

    def register(
        self,
        targets: Iterable[tuple[str, int, str | None, str]],
        now: float,
        overrides: HealthOverrides,
    ) -> None:
        """Register ``(id, port, availability_zone, quic_server_id)`` entries.

        Registering a target that is already registered changes nothing (the API is
        idempotent); registering one that is draining starts it over as a new registration.
        """
        for target_id, port, zone, server_id in targets:
            key = (target_id, port)
            current = self._records.get(key)
            if current is not None and current.deregistered_at is None:
                continue
            verdict = overrides.verdict_for(self.target_group_arn, target_id, port)
            self._records.pop(key, None)
            self._records[key] = TargetRecord.registered(
                target_id, port, zone, now, verdict, server_id=server_id
            )

    def deregister(self, keys: Iterable[tuple[str, int]], now: float) -> None:
        """Start draining each registered key; unknown or already draining keys are no-ops."""
        for key in keys:
            current = self._records.get(key)
            if current is not None and current.deregistered_at is None:
                self._records[key] = current.deregistered(now)

    def apply(self, rule: HealthOverride, now: float, timing: HealthTiming) -> int:
        """Give matching registered targets the rule's verdict from ``now``; returns the count."""
        changed = 0
        for key, record in self._records.items():
            if record.deregistered_at is None and rule.matches(
                self.target_group_arn, record.target_id, record.port
            ):
                self._records[key] = record.with_verdict(rule.verdict, now, timing)
                changed += 1
        return changed
