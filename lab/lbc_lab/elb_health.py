"""Target records and the health that real ELBv2 would report for them, computed lazily.

moto reports every target healthy at once and forgets deregistered targets at once. Real ELBv2
walks a target through states, and lbc's behaviour depends on them (readiness gates wait for
``healthy``; the diff ignores ``draining``). No background thread moves targets along: each record
keeps the lab instants at which things happened, and :func:`health_at` derives the state for any
lab instant. That keeps the emulation deterministic under a paused, jumped or scaled clock.

The life of one target (times in lab seconds, from the target group's health-check settings):

- ``initial`` / ``Elb.RegistrationInProgress`` for ``registration_seconds`` after registration;
- ``initial`` / ``Elb.InitialHealthChecking`` until ``interval * threshold`` more have passed
  (the healthy threshold when checks pass, the unhealthy one when they fail);
- then the *verdict*: ``healthy`` by default, or what the control plane set for this target
  (``unhealthy``/``Target.FailedHealthChecks``, ``Target.Timeout``, ``unused``, ...). A verdict
  changed later takes effect after ``interval * threshold`` too (``unused`` and ``unavailable``
  at once: they are not health-check outcomes);
- after deregistration, ``draining`` / ``Target.DeregistrationInProgress`` for the group's
  ``deregistration_delay.timeout_seconds``, then gone.

A group that no load balancer forwards to reports ``unused`` / ``Target.NotInUse`` for every
registered target that is not draining.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lbc.core.targets import HealthState, TargetHealth

DESCRIPTIONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Elb.InternalError": "Health checks failed due to an internal error",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.Timeout": "Request timed out",
    "Target.ResponseCodeMismatch": "Health checks failed with these codes: [503]",
    "Target.NotRegistered": "Target is not registered to the target group",
    "Target.NotInUse": "Target group is not configured to receive traffic from the load balancer",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
    "Target.InvalidState": "Target is in the stopped state",
    "Target.IpUnusable": "The IP address is not usable by the load balancer",
    "Target.HealthCheckDisabled": "Health checks are disabled",
}

# The reasons a verdict may carry, per state; the first one is the default.
VERDICT_REASONS: dict[HealthState, tuple[str, ...]] = {
    HealthState.HEALTHY: ("",),
    HealthState.UNHEALTHY: (
        "Target.FailedHealthChecks",
        "Target.Timeout",
        "Target.ResponseCodeMismatch",
    ),
    HealthState.UNUSED: ("Target.InvalidState", "Target.NotInUse", "Target.IpUnusable"),
    HealthState.UNAVAILABLE: ("Elb.InternalError", "Target.HealthCheckDisabled"),
}


def observed(state: HealthState, reason: str = "", description: str | None = None) -> TargetHealth:
    """A ``TargetHealth`` with the description real ELBv2 gives for ``reason``."""
    text = DESCRIPTIONS.get(reason, "") if description is None else description
    return TargetHealth(state, reason, text)


INITIAL = observed(HealthState.INITIAL, "Elb.RegistrationInProgress")
CHECKING = observed(HealthState.INITIAL, "Elb.InitialHealthChecking")
HEALTHY = observed(HealthState.HEALTHY)
NOT_IN_USE = observed(HealthState.UNUSED, "Target.NotInUse")
NOT_REGISTERED = observed(HealthState.UNUSED, "Target.NotRegistered")
DRAINING = observed(HealthState.DRAINING, "Target.DeregistrationInProgress")
HEALTH_CHECK_DISABLED = observed(HealthState.UNAVAILABLE, "Target.HealthCheckDisabled")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What health checks conclude about a target once they have run long enough."""

    state: HealthState
    reason: str = ""

    def __post_init__(self) -> None:
        allowed = VERDICT_REASONS.get(self.state)
        if allowed is None:
            raise ValueError(f"a verdict cannot be {self.state.value!r}")
        if self.reason not in allowed:
            raise ValueError(
                f"reason {self.reason!r} does not go with state {self.state.value!r};"
                f" expected one of {list(allowed)}"
            )

    @classmethod
    def of(cls, state: str, reason: str | None = None) -> Verdict:
        health = HealthState(state)
        allowed = VERDICT_REASONS.get(health, ("",))
        return cls(health, allowed[0] if reason is None else reason)

    @property
    def health(self) -> TargetHealth:
        return observed(self.state, self.reason)

    @property
    def from_checks(self) -> bool:
        """Whether the verdict arrives through health checks (so after a threshold of them)."""
        return self.state in (HealthState.HEALTHY, HealthState.UNHEALTHY)


PASSING = Verdict(HealthState.HEALTHY)


@dataclass(frozen=True, slots=True)
class HealthTiming:
    """A target group's health-check settings, in lab seconds."""

    registration_seconds: float
    interval: float
    healthy_threshold: int
    unhealthy_threshold: int
    enabled: bool = True

    def settle_seconds(self, verdict: Verdict) -> float:
        if not verdict.from_checks:
            return 0.0
        threshold = (
            self.healthy_threshold
            if verdict.state is HealthState.HEALTHY
            else self.unhealthy_threshold
        )
        return self.interval * threshold


@dataclass(frozen=True, slots=True)
class TargetRecord:
    """One registration of ``(target_id, port)`` in one target group.

    ``before`` is what the target showed when ``verdict`` was set; it stays visible until the
    verdict takes effect. ``deregistered_at`` is set once, by deregistration.
    """

    target_id: str
    port: int
    availability_zone: str | None
    registered_at: float
    verdict: Verdict
    verdict_since: float
    before: TargetHealth
    deregistered_at: float | None = None
    #: QUIC server id (QUIC and TCP_QUIC groups only; "" otherwise).
    server_id: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.target_id, self.port)

    @classmethod
    def registered(
        cls,
        target_id: str,
        port: int,
        availability_zone: str | None,
        now: float,
        verdict: Verdict = PASSING,
        *,
        server_id: str = "",
    ) -> TargetRecord:
        return cls(
            target_id, port, availability_zone, now, verdict, now, INITIAL, server_id=server_id
        )

    def deregistered(self, now: float) -> TargetRecord:
        return replace(self, deregistered_at=now)

    def with_verdict(self, verdict: Verdict, now: float, timing: HealthTiming) -> TargetRecord:
        return replace(
            self, verdict=verdict, verdict_since=now, before=checked_health(self, now, timing)
        )


def checked_health(record: TargetRecord, now: float, timing: HealthTiming) -> TargetHealth:
    """What health checks alone say about ``record`` at ``now`` (no draining, no NotInUse)."""
    if not timing.enabled:
        return HEALTH_CHECK_DISABLED
    checks_start = record.registered_at + timing.registration_seconds
    if now < checks_start:
        return INITIAL
    effective = max(record.verdict_since, checks_start) + timing.settle_seconds(record.verdict)
    if record.verdict.from_checks and now < effective:
        return CHECKING if record.before.state is HealthState.INITIAL else record.before
    return record.verdict.health


def health_at(
    record: TargetRecord,
    now: float,
    timing: HealthTiming,
    *,
    drain_seconds: float,
    in_use: bool,
) -> TargetHealth | None:
    """The health ELBv2 reports for ``record`` at lab instant ``now``; None once it is gone."""
    if record.deregistered_at is not None:
        if now < record.deregistered_at + drain_seconds:
            return DRAINING
        return None
    if not in_use:
        return NOT_IN_USE
    return checked_health(record, now, timing)


def gone(record: TargetRecord, now: float, drain_seconds: float) -> bool:
    """Whether ``record`` has finished draining (and so no longer exists for ELBv2)."""
    return record.deregistered_at is not None and now >= record.deregistered_at + drain_seconds
