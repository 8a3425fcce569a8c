"""Client of the lab's ``/_lab/...`` control plane, for tests, the demo and benchmarks.

The lab usually runs in another process (pytest fixture, ``python -m lbc lab elb``, the demo),
so everything a scenario needs to steer is reachable over HTTP; this class is the one place that
knows the routes. It is synchronous on purpose (urllib, a deadline per call): control calls are
local and take milliseconds, and a sync client works the same from a test, a benchmark or a
script. Async code that must not block its loop at all can call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from lbc_lab.elb_clock import ClockState
from lbc_lab.elb_faults import CallRecord


class LabControlError(RuntimeError):
    """The control plane refused a request (bad input or an unknown route)."""


class LabElbControl:
    """Steers one lab ELBv2/EC2 server at ``endpoint_url``."""

    def __init__(self, endpoint_url: str, *, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    # -- lifecycle ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "status")
        return result

    def reset(self, *, seed: int | None = None) -> None:
        """Forget all AWS resources, faults, overrides and calls; restore default settings."""
        self._call("POST", "reset", {"seed": seed})

    # -- time ---------------------------------------------------------------------------------

    def set_clock(
        self,
        *,
        time_factor: float | None = None,
        paused: bool | None = None,
        advance: float = 0.0,
    ) -> ClockState:
        """Scale lab delays (0.01 = 100x faster), pause the clock, or jump it forward."""
        body = {"time_factor": time_factor, "paused": paused, "advance": advance}
        return ClockState(**self._call("POST", "clock", _present(body)))

    def advance(self, seconds: float) -> ClockState:
        """Jump the lab clock ``seconds`` lab seconds forward (health and draining follow)."""
        return self.set_clock(advance=seconds)

    def configure(
        self, *, target_quota: int | None = None, registration_seconds: float | None = None
    ) -> dict[str, Any]:
        """Per-group target quota (default 1,000) and registration phase length (lab seconds)."""
        body = {"target_quota": target_quota, "registration_seconds": registration_seconds}
        result: dict[str, Any] = self._call("POST", "settings", _present(body))
        return result

    def set_fidelity(self, **rules: bool | float) -> dict[str, Any]:
        """Turn stack fidelity rules on or off (``lb_name_unique=False``) or set their windows
        (``tg_in_use_seconds=0``); see :mod:`lbc_lab.elb_rules`. Returns the rules in force."""
        result: dict[str, Any] = self._call("POST", "fidelity", rules)
        return result

    def fidelity(self) -> dict[str, Any]:
        """The stack fidelity rules in force."""
        result: dict[str, Any] = self._call("GET", "fidelity")
        return result

    # -- health -------------------------------------------------------------------------------

    def set_health(
        self,
        target_id: str,
        state: str,
        *,
        reason: str | None = None,
        port: int | None = None,
        target_group_arn: str | None = None,
    ) -> int:
        """Make health checks conclude ``state`` for matching targets; returns how many matched.

        ``state`` is healthy, unhealthy (reason Target.FailedHealthChecks, Target.Timeout or
        Target.ResponseCodeMismatch), unused (Target.InvalidState, Target.NotInUse,
        Target.IpUnusable) or unavailable. Applies to targets registered later as well.
        """
        body = {
            "target_id": target_id,
            "state": state,
            "reason": reason,
            "port": port,
            "target_group_arn": target_group_arn,
        }
        return int(self._call("POST", "health", _present(body))["applied"])

    def clear_health(self) -> None:
        """Drop every override (targets already judged keep their current verdict)."""
        self._call("DELETE", "health")

    # -- faults -------------------------------------------------------------------------------

    def add_fault(self, kind: str, operation: str = "*", **options: Any) -> dict[str, Any]:
        """Add a fault rule; options: service, account, fraction, skip, count, period, burst,
        status, code, message, latency_ms (see :class:`~lbc_lab.elb_faults.FaultRule`)."""
        result: dict[str, Any] = self._call(
            "POST", "faults", {"kind": kind, "operation": operation, **options}
        )
        return result

    def throttle(self, operation: str = "*", **options: Any) -> dict[str, Any]:
        """Throttle matching calls ("Rate exceeded"); e.g. ``count=2`` for the next two."""
        return self.add_fault("throttle", operation, **options)

    def fail(
        self,
        operation: str = "*",
        *,
        status: int = 500,
        code: str = "InternalFailure",
        **options: Any,
    ) -> dict[str, Any]:
        """Answer matching calls with a server error."""
        return self.add_fault("error", operation, status=status, code=code, **options)

    def delay(self, operation: str = "*", *, latency_ms: float, **options: Any) -> dict[str, Any]:
        """Add ``latency_ms`` to matching calls."""
        return self.add_fault("latency", operation, latency_ms=latency_ms, **options)

    def rate_limit(
        self, operation: str, *, rate: float, burst: int, service: str = "*", account: str = "*"
    ) -> dict[str, Any]:
        """A token bucket for ``operation``: ``rate`` calls/s, ``burst`` capacity (of one
        ``account``'s calls, or of everyone's)."""
        result: dict[str, Any] = self._call(
            "POST",
            "buckets",
            {
                "operation": operation,
                "rate": rate,
                "burst": burst,
                "service": service,
                "account": account,
            },
        )
        return result

    # -- bulk set-up ----------------------------------------------------------------------------

    def create_target_groups(
        self,
        vpc_id: str,
        groups: Iterable[tuple[str, Iterable[tuple[str, int]]]],
        *,
        protocol: str = "TCP",
        port: int = 80,
        target_type: str = "ip",
    ) -> list[str]:
        """Create ``(name, targets)`` groups in ``vpc_id`` and register their ``(id, port)``
        targets, as ``CreateTargetGroup`` and ``RegisterTargets`` would (same checks), in one
        control call and without the call log: set-up for benchmarks of thousands of groups.
        Returns the ARNs in order."""
        body = {
            "vpc_id": vpc_id,
            "protocol": protocol,
            "port": port,
            "target_type": target_type,
            "groups": [
                {"name": name, "targets": [list(t) for t in targets]} for name, targets in groups
            ],
        }
        return [str(arn) for arn in self._call("POST", "target-groups", body)]

    # -- accounts -----------------------------------------------------------------------------

    def account_user(self, account_id: str, user_name: str = "lbc") -> dict[str, str]:
        """Access keys of an IAM user of ``account_id``: requests signed with them are answered
        in that account (``account_id``, ``arn``, ``access_key_id``, ``secret_access_key``)."""
        result: dict[str, str] = self._call(
            "POST", "accounts", {"account_id": account_id, "user_name": user_name}
        )
        return result

    def faults(self) -> dict[str, Any]:
        """Rules (with matched/fired counters) and buckets in force."""
        result: dict[str, Any] = self._call("GET", "faults")
        return result

    def clear_faults(self) -> None:
        """Remove every fault rule and token bucket."""
        self._call("DELETE", "faults")

    # -- call log -----------------------------------------------------------------------------

    def calls(
        self,
        operation: str | Iterable[str] | None = None,
        *,
        since: int = 0,
        target_group_arn: str | None = None,
        account: str | None = None,
    ) -> list[CallRecord]:
        """Logged AWS calls after sequence number ``since``, optionally filtered."""
        records = [CallRecord(**r) for r in self._call("GET", f"calls?since={since}")]
        if account is not None:
            records = [r for r in records if r.account == account]
        if operation is not None:
            wanted = {operation} if isinstance(operation, str) else set(operation)
            records = [r for r in records if r.operation in wanted]
        if target_group_arn is not None:
            records = [r for r in records if r.target_group_arn == target_group_arn]
        return records

    def count(self, operation: str, *, outcome: str | None = None, since: int = 0) -> int:
        """How many ``operation`` calls were answered (with ``outcome``, e.g. ``ok``)."""
        return sum(
            1 for r in self.calls(operation, since=since) if outcome is None or r.outcome == outcome
        )

    def last_seq(self) -> int:
        """The sequence number of the latest logged call (0 if none): a mark for ``since``."""
        records = self.calls()
        return records[-1].seq if records else 0

    def clear_calls(self) -> None:
        self._call("DELETE", "calls")

    # -- transport ----------------------------------------------------------------------------

    def _call(self, method: str, route: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310  # the URL is the lab's own http endpoint
            f"{self.endpoint_url}/_lab/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            raise LabControlError(f"{method} /_lab/{route}: HTTP {err.code}: {detail}") from err


def _present(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}
