"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics.

Why: two replicas run for availability, but only one may change AWS targets. The Lease records
who leads; everybody else keeps its caches warm and stays Ready, so a failover costs one lease
expiry (graceful: about one retry period), not a cold start.

Rules (client-go ``tools/leaderelection``):

- **Expiry is judged on the local monotonic clock**: a record is expired when
  ``leaseDurationSeconds`` have passed since *this process saw it change*. Remote ``renewTime``
  is written for humans and never compared with the local clock, so clock skew cannot make two
  leaders.
- Acquire is retried every ``retry_period`` with a jitter factor 1.2 (each wait is
  ``retry..2.2·retry``). The leader renews every ``retry_period``; if no renewal succeeds within
  ``renew_deadline`` (or another holder shows up) leadership is lost: ``run()`` raises
  ``LeaderElectionLostError`` and the process must exit non-zero, because in-flight work may
  still be mutating AWS on a stale view of who leads.
- Updates carry the Lease's resourceVersion, so a concurrent writer gets a 409 and loses.
- On cancellation (graceful shutdown) the leader releases: empty holder, ``leaseDurationSeconds
  = 1``, so a standby takes over at its next poll instead of after a full lease duration.
- ``lease_duration > renew_deadline > 1.2 · retry_period`` (checked), which guarantees the old
  leader stops acting before any standby can consider the lease expired.

``leader_election_master_status{name}`` is 1 while leading.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NoReturn

import anyio

from lbc.clock import Clock, MonotonicClock
from lbc.core.errors import ConflictError, LbcError, NotFoundError
from lbc.kube.client import LEASES, KubeClient, micro_time
from lbc.observe.log import get_logger
from lbc.observe.metrics import gauge

JITTER_FACTOR: Final = 1.2

MASTER_STATUS = gauge(
    "leader_election_master_status",
    "1 while this process holds the named leader-election Lease, else 0.",
    ["name"],
)

log = get_logger("lbc.kube.lease")


class LeaderElectionLostError(Exception):
    """Leadership was lost while leading; the process must stop acting and exit non-zero."""


def default_identity() -> str:
    """``POD_NAME`` when set (unique per replica), else hostname plus a random suffix."""
    pod = os.environ.get("POD_NAME")
    if pod:
        return pod
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The part of a Lease's spec that leader election reads and writes."""

    holder: str
    duration_seconds: int
    acquire_time: str | None
    renew_time: str | None
    transitions: int

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LeaseRecord:
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder or None,
            "leaseDurationSeconds": self.duration_seconds,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


@dataclass(frozen=True, slots=True)
class ElectionConfig:
    """Which Lease, who we are, and the three timings (controller-runtime's defaults)."""

    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if min(self.lease_duration, self.renew_deadline, self.retry_period) <= 0:
            raise ValueError("lease timings must be positive")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError("renew_deadline must be greater than 1.2 x retry_period")
        if not self.identity:
            raise ValueError("identity must not be empty")


class LeaderElector:
    """Campaigns for, holds and releases one Lease; ``run()`` owns the whole lifecycle.

    ``run()`` returns never: it raises ``LeaderElectionLostError`` when leadership is lost, and
    re-raises cancellation after releasing the Lease (unless ``release_on_cancel`` is false,
    which tests use to play a crashed leader).
    """

    def __init__(
        self,
        client: KubeClient,
        config: ElectionConfig,
        *,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        release_on_cancel: bool = True,
        clock: Clock | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._client = client
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._release_on_cancel = release_on_cancel
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._wall = wall
        self._rng = rng or random.Random()
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._leading = asyncio.Event()
        self._last_renew: float | None = None
        self._duration_seconds = max(1, math.ceil(config.lease_duration))
        MASTER_STATUS.labels(config.name).set(0)

    # ---- public surface -----------------------------------------------------------------------

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    @property
    def observed_holder(self) -> str:
        """The holder in the last Lease record this process read ("" if none)."""
        return self._observed.holder if self._observed else ""

    async def wait_leading(self) -> None:
        await self._leading.wait()

    def renew_age(self) -> float | None:
        """Seconds since the last successful renewal while leading; None when not leading."""
        if not self.is_leader or self._last_renew is None:
            return None
        return self._clock.now() - self._last_renew

    def healthy(self, tolerance: float = 5.0) -> bool:
        """False when leading but not renewed within the lease duration plus ``tolerance``.

        controller-runtime's ``healthzadaptor``: a leader stuck between renewals should be
        restarted by its liveness probe; a standby is always healthy.
        """
        age = self.renew_age()
        return age is None or age <= self.config.lease_duration + tolerance

    async def run(self) -> NoReturn:
        """Acquire, then renew until cancelled (release) or lost (``LeaderElectionLostError``)."""
        try:
            await self._acquire()
            await self._renew()
        except anyio.get_cancelled_exc_class():
            if self._release_on_cancel and self.is_leader:
                # The shield lets the release finish inside a cancelled anyio scope; the
                # client's own deadline bounds it.
                with anyio.CancelScope(shield=True):
                    await self.release()
            raise
        finally:
            self._stop_leading()

    async def release(self) -> bool:
        """Give the Lease up if we hold it; True when the released record was written."""
        try:
            lease = await self._client.get(
                LEASES, self.config.name, self.config.namespace, timeout=self._call_timeout()
            )
            record = LeaseRecord.from_spec(lease.get("spec") or {})
            if record.holder != self.identity:
                return False
            now = micro_time(self._wall())
            released = LeaseRecord("", 1, now, now, record.transitions)
            await self._write(lease, released)
        except LbcError as exc:
            log.warning("lease_release_failed", lease=self.config.name, error=str(exc))
            return False
        log.info("lease_released", lease=self.config.name, identity=self.identity)
        self._stop_leading()
        return True

    # ---- campaign -----------------------------------------------------------------------------

    async def _acquire(self) -> None:
        log.info("lease_campaign_started", lease=self.config.name, identity=self.identity)
        retry = self.config.retry_period
        while not await self._try_acquire_or_renew(self._call_timeout()):
            await self._sleep(retry + self._rng.random() * JITTER_FACTOR * retry)
        self._last_renew = self._clock.now()
        self._leading.set()
        MASTER_STATUS.labels(self.config.name).set(1)
        log.info("lease_acquired", lease=self.config.name, identity=self.identity)
        if self._on_started is not None:
            self._on_started()

    async def _renew(self) -> NoReturn:
        cfg = self.config
        while True:
            await self._sleep(cfg.retry_period)
            deadline = self._clock.now() + cfg.renew_deadline
            while True:
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    self._lose(f"no renewal within {cfg.renew_deadline:g}s")
                if await self._try_acquire_or_renew(min(remaining, self._call_timeout())):
                    self._last_renew = self._clock.now()
                    break
                if self._observed is not None and self._observed.holder not in ("", self.identity):
                    self._lose(f"the Lease is now held by {self._observed.holder}")
                await self._sleep(min(cfg.retry_period, max(0.0, deadline - self._clock.now())))

    async def _sleep(self, seconds: float) -> None:
        await self._clock.sleep_until(self._clock.now() + seconds)

    def _lose(self, why: str) -> NoReturn:
        log.error("lease_lost", lease=self.config.name, identity=self.identity, reason=why)
        self._stop_leading()
        raise LeaderElectionLostError(f"leader election lost ({self.config.name}): {why}")

    def _stop_leading(self) -> None:
        if not self._leading.is_set():
            return
        self._leading.clear()
        MASTER_STATUS.labels(self.config.name).set(0)
        if self._on_stopped is not None:
            self._on_stopped()

    def _call_timeout(self) -> float:
        # One attempt must never outlive the renew deadline, nor hang a standby's campaign.
        return max(self.config.retry_period, self.config.renew_deadline / 2)

    async def _try_acquire_or_renew(self, timeout: float) -> bool:
        """One round of client-go's ``tryAcquireOrRenew``; False on any failure."""
        cfg = self.config
        now_wall = micro_time(self._wall())
        mine = LeaseRecord(cfg.identity, self._duration_seconds, now_wall, now_wall, 0)
        try:
            lease = await self._client.get(LEASES, cfg.name, cfg.namespace, timeout=timeout)
        except NotFoundError:
            try:
                await self._client.create(
                    LEASES,
                    {
                        "apiVersion": LEASES.api_version,
                        "kind": LEASES.kind,
                        "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                        "spec": mine.to_spec(),
                    },
                    cfg.namespace,
                    timeout=timeout,
                )
            except LbcError as exc:
                log.info("lease_create_failed", lease=cfg.name, error=str(exc))
                return False
            self._observe(mine)
            return True
        except LbcError as exc:
            log.info("lease_get_failed", lease=cfg.name, error=str(exc))
            return False

        old = LeaseRecord.from_spec(lease.get("spec") or {})
        self._observe(old)
        held_by_other = old.holder not in ("", cfg.identity)
        if held_by_other and not self._expired(old):
            return False
        if old.holder == cfg.identity and self.is_leader:
            record = LeaseRecord(
                cfg.identity, self._duration_seconds, old.acquire_time, now_wall, old.transitions
            )
        else:
            record = LeaseRecord(
                cfg.identity, self._duration_seconds, now_wall, now_wall, old.transitions + 1
            )
        try:
            await self._write(lease, record, timeout=timeout)
        except ConflictError:
            return False
        except LbcError as exc:
            log.info("lease_update_failed", lease=cfg.name, error=str(exc))
            return False
        self._observe(record)
        return True

    def _observe(self, record: LeaseRecord) -> None:
        if record != self._observed:
            self._observed = record
            self._observed_at = self._clock.now()

    def _expired(self, record: LeaseRecord) -> bool:
        return self._observed_at + record.duration_seconds <= self._clock.now()

    async def _write(
        self, lease: dict[str, Any], record: LeaseRecord, *, timeout: float | None = None
    ) -> None:
        meta = lease.get("metadata") or {}
        body = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {
                "name": self.config.name,
                "namespace": self.config.namespace,
                "resourceVersion": meta.get("resourceVersion"),
            },
            "spec": {**(lease.get("spec") or {}), **record.to_spec()},
        }
        await self._client.replace(
            LEASES, body, self.config.namespace, timeout=timeout or self._call_timeout()
        )
