"""Fault injection and the call log: how the lab misbehaves like AWS, and how it counts calls.

Real AWS throttles (``Throttling`` / "Rate exceeded", HTTP 400), fails with 5xx, and is slow; an
account has per-operation rate limits shared by every client. The lab reproduces each on demand,
per operation, *before* moto sees the request, so an injected failure never changes state:

- a :class:`FaultRule` fails or delays a fraction of the matching calls, or bursts of them
  (``skip`` calls pass, then ``burst`` of every ``period`` fire, at most ``count`` in total);
- a :class:`TokenBucket` per operation emulates an account rate limit (``rate`` calls per second,
  ``burst`` capacity); a call finding it empty is throttled.

The :class:`CallLog` records every AWS call the lab answered, injected failures included, so
tests and benchmarks count calls exactly instead of inferring them from metrics.

Randomness comes from a seeded generator (reseeded on reset), so a fraction-based scenario
replays identically.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

FaultKind = Literal["throttle", "error", "latency"]

# The throttling error each service returns (both are retried by botocore's standard mode).
THROTTLE_ERRORS = {
    "elbv2": (400, "Throttling", "Rate exceeded"),
    "ec2": (503, "RequestLimitExceeded", "Request limit exceeded."),
}


@dataclass(frozen=True, slots=True)
class InjectedError:
    """An error answered by the lab instead of moto."""

    kind: str
    status: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class FaultRule:
    """Which calls a fault hits, and what it does to them.

    ``operation``, ``service`` and ``account`` (of the signing credentials) match exactly,
    ``"*"`` matches any. ``kind`` is ``throttle``
    (the service's throttling error), ``error`` (``status``/``code``/``message``, a 5xx by
    default) or ``latency`` (``latency_ms`` added, the call then proceeds).
    """

    kind: FaultKind
    operation: str = "*"
    service: str = "*"
    account: str = "*"
    fraction: float = 1.0
    skip: int = 0
    count: int | None = None
    period: int | None = None
    burst: int = 1
    status: int = 500
    code: str = "InternalFailure"
    message: str = "An internal error has occurred"
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        if self.period is not None and not 0 < self.burst <= self.period:
            raise ValueError("bursts need 0 < burst <= period")
        if self.kind == "error" and not 400 <= self.status <= 599:
            raise ValueError("an error fault needs an HTTP status in 400..599")

    def matches(self, service: str, operation: str, account: str = "") -> bool:
        return (
            self.operation in ("*", operation)
            and self.service in ("*", service)
            and self.account in ("*", account)
        )

    def fires_at(self, n: int) -> bool:
        """Whether the ``n``-th matching call (0-based) is in the rule's firing pattern."""
        if n < self.skip:
            return False
        return self.period is None or (n - self.skip) % self.period < self.burst


class _RuleRun:
    """A rule with its counters (how many calls matched, how many it hit)."""

    def __init__(self, rule: FaultRule) -> None:
        self.rule = rule
        self.matched = 0
        self.fired = 0

    def view(self) -> dict[str, Any]:
        return {**asdict(self.rule), "matched": self.matched, "fired": self.fired}


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; a call takes one or is throttled.

    ``account`` ``"*"`` is one bucket shared by every account; an account id limits that
    account's calls only (AWS's quotas are per account).
    """

    def __init__(
        self, operation: str, rate: float, burst: int, service: str = "*", account: str = "*"
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.operation = operation
        self.service = service
        self.account = account
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def take(self, now: float) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def view(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "service": self.service,
            "account": self.account,
            "rate": self.rate,
            "burst": self.burst,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """What the injector decided for one call: a delay, then maybe an error."""

    latency_s: float = 0.0
    error: InjectedError | None = None


class FaultInjector:
    """Evaluates rules and buckets for each call (thread-safe)."""

    def __init__(self, *, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._seed = seed
        self._random = random.Random(seed)
        self._rules: list[_RuleRun] = []
        self._buckets: list[TokenBucket] = []

    def reset(self, seed: int | None = None) -> None:
        with self._lock:
            self._seed = self._seed if seed is None else seed
            self._random = random.Random(self._seed)
            self._rules = []
            self._buckets = []

    def add_rule(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(_RuleRun(rule))

    def clear_rules(self) -> None:
        with self._lock:
            self._rules = []

    def add_bucket(self, bucket: TokenBucket) -> None:
        with self._lock:
            self._buckets = [
                b
                for b in self._buckets
                if (b.operation, b.service, b.account)
                != (bucket.operation, bucket.service, bucket.account)
            ]
            self._buckets.append(bucket)

    def clear_buckets(self) -> None:
        with self._lock:
            self._buckets = []

    def view(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self._seed,
                "rules": [r.view() for r in self._rules],
                "buckets": [b.view() for b in self._buckets],
            }

    def decide(self, service: str, operation: str, account: str = "") -> Decision:
        with self._lock:
            latency = 0.0
            error: InjectedError | None = None
            for run in self._rules:
                rule = run.rule
                if not rule.matches(service, operation, account):
                    continue
                n = run.matched
                run.matched += 1
                if rule.count is not None and run.fired >= rule.count:
                    continue
                if not rule.fires_at(n):
                    continue
                if rule.fraction < 1.0 and self._random.random() >= rule.fraction:
                    continue
                if rule.kind == "latency":
                    run.fired += 1
                    latency += rule.latency_ms / 1000.0
                elif error is None:
                    run.fired += 1
                    error = _error_for(rule, service)
            if error is None:
                now = self._clock()
                for bucket in self._buckets:
                    hit = (
                        bucket.operation in ("*", operation)
                        and bucket.service in ("*", service)
                        and bucket.account in ("*", account)
                    )
                    if hit and not bucket.take(now):
                        status, code, message = _throttle(service)
                        error = InjectedError("bucket", status, code, message)
                        break
            return Decision(latency, error)


def _throttle(service: str) -> tuple[int, str, str]:
    return THROTTLE_ERRORS.get(service, THROTTLE_ERRORS["elbv2"])


def _error_for(rule: FaultRule, service: str) -> InjectedError:
    if rule.kind == "throttle":
        status, code, message = _throttle(service)
        return InjectedError("throttle", status, code, message)
    return InjectedError("error", rule.status, rule.code, rule.message)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One AWS call answered by the lab.

    ``outcome`` is ``ok`` or the error code returned; ``injected`` names the fault that produced
    it (``throttle``, ``error``, ``bucket``) or is None when moto answered. ``target_count`` is
    the number of targets in the request; ``result_count`` the number of target descriptions in
    a DescribeTargetHealth answer; ``account`` the account of the signing credentials.
    """

    seq: int
    time: float
    service: str
    operation: str
    target_group_arn: str | None
    target_count: int
    outcome: str
    status: int
    injected: str | None
    duration_ms: float
    result_count: int | None = None
    account: str = ""


class CallLog:
    """Append-only record of calls; ``seq`` numbers never repeat within a lab process.

    Bounded (the demo runs for hours): past ``capacity`` records the oldest are dropped, so a
    reader that needs exact counts reads with ``since`` at least every ``capacity`` calls.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []
        self._next_seq = 1
        self._capacity = capacity

    def append(self, **fields: Any) -> CallRecord:
        with self._lock:
            record = CallRecord(seq=self._next_seq, **fields)
            self._next_seq += 1
            self._records.append(record)
            if len(self._records) > self._capacity + self._capacity // 2:
                del self._records[: len(self._records) - self._capacity]
            return record

    def since(self, seq: int = 0) -> list[CallRecord]:
        with self._lock:
            start = bisect.bisect_right(self._records, seq, key=lambda r: r.seq)
            return self._records[start:]

    def clear(self) -> None:
        with self._lock:
            self._records = []
