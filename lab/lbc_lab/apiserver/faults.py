"""Fault injection: make the lab misbehave the ways a real control plane does.

Tests use it in-process (``api.faults``) or, for daemons in another process, over HTTP
(``/_lab/faults/...``, see ``labroutes``). Faults:

- ``close_watches()``: every open watch stream ends at once (a dropped connection or an API
  server restart); clients must re-watch from their last resourceVersion.
- ``expire_history()``: the event history is forgotten, so resuming any watch from an older
  resourceVersion gets 410 Expired and the client must relist.
- ``fail(verb, resource, code, count)``: the next ``count`` matching requests are answered with
  ``code`` and a real Status body (429 and 5xx carry ``Retry-After``).
- ``add_latency(seconds, verb, resource)``: matching requests are delayed.

A verb or resource of ``"*"`` matches all; resources are named by plural, optionally
qualified with the group (``widgets.example.com``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from lbc_lab.apiserver.status import ApiError
from lbc_lab.apiserver.store import Store

VERBS = frozenset(
    {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"}
)


@dataclass(slots=True)
class FailureRule:
    verb: str
    resource: str
    code: int
    remaining: int
    message: str


@dataclass(frozen=True, slots=True)
class LatencyRule:
    verb: str
    resource: str
    seconds: float


def _matches(rule_verb: str, rule_resource: str, verb: str, plural: str, group: str) -> bool:
    if rule_verb not in ("*", verb):
        return False
    qualified = f"{plural}.{group}" if group else plural
    return rule_resource in ("*", plural, qualified)


class Faults:
    """The fault plan of one lab API server, and the count of requests it has served."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._failures: list[FailureRule] = []
        self._latency: list[LatencyRule] = []
        #: Requests served, by (verb, qualified resource); tests assert on API traffic with it.
        self.requests: Counter[tuple[str, str]] = Counter()

    def close_watches(self) -> None:
        self._store.close_watches()

    def expire_history(self) -> None:
        self._store.expire_history()

    def fail(
        self,
        verb: str = "*",
        resource: str = "*",
        *,
        code: int = 500,
        count: int = 1,
        message: str = "",
    ) -> None:
        if verb not in VERBS:
            raise ValueError(f"unknown verb {verb!r}")
        self._failures.append(
            FailureRule(verb, resource, code, count, message or f"injected fault ({code})")
        )

    def add_latency(self, seconds: float, verb: str = "*", resource: str = "*") -> None:
        if verb not in VERBS:
            raise ValueError(f"unknown verb {verb!r}")
        self._latency.append(LatencyRule(verb, resource, seconds))

    def clear(self) -> None:
        self._failures.clear()
        self._latency.clear()

    def on_request(self, verb: str, plural: str, group: str) -> tuple[float, ApiError | None]:
        """Count the request; return the delay to add and the failure to answer with, if any."""
        self.requests[(verb, f"{plural}.{group}" if group else plural)] += 1
        delay = sum(
            r.seconds for r in self._latency if _matches(r.verb, r.resource, verb, plural, group)
        )
        for rule in self._failures:
            if rule.remaining > 0 and _matches(rule.verb, rule.resource, verb, plural, group):
                rule.remaining -= 1
                retry = 1 if rule.code == 429 or rule.code >= 500 else None
                return delay, ApiError(rule.code, rule.message, retry_after=retry)
        self._failures = [r for r in self._failures if r.remaining > 0]
        return delay, None

    def snapshot(self) -> dict[str, object]:
        return {
            "failures": [
                {"verb": r.verb, "resource": r.resource, "code": r.code, "remaining": r.remaining}
                for r in self._failures
            ],
            "latency": [
                {"verb": r.verb, "resource": r.resource, "seconds": r.seconds}
                for r in self._latency
            ],
            "requests": [
                {"verb": verb, "resource": resource, "count": n}
                for (verb, resource), n in sorted(self.requests.items())
            ],
        }
