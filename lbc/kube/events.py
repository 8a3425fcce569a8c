"""Kubernetes Events for humans, de-duplicated and rate-limited per object (client-go's recorder).

Why the two filters: a binding that fails every few seconds would otherwise write an Event per
attempt, flooding etcd and burying the one line an operator needs.

- **De-duplication**: an Event identical to one already written (same object, type, reason and
  message) is not created again; the existing one gets ``count + 1`` and a new
  ``lastTimestamp`` (a merge patch). If the server has since expired it (Events live about an
  hour), a fresh one is created.
- **Spam filter**: each involved object has a token bucket, ``burst`` 25 refilled at one token
  per 300 s (client-go's defaults); a *new* Event without a token is dropped and logged at
  debug. A repeat of an Event already written costs no token: it only updates that Event, so
  a Warning that repeats every pass can never use up the budget and silence the Events that
  say what happened next (``LedgerCreated`` after a ``LedgerCorrupt`` was fixed, say).

Both caches are LRUs of ``cache_size`` entries, so memory stays bounded however many objects
come and go. Recording never raises into the caller: a failed write is logged and forgotten,
because no reconcile may fail for want of an Event. Every write has the client's deadline.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from lbc.clock import Clock, MonotonicClock
from lbc.core.errors import LbcError, NotFoundError
from lbc.kube.client import EVENTS, KubeClient, PatchType, micro_time
from lbc.observe.log import get_logger
from lbc.rate import TokenBucket

EventType = Literal["Normal", "Warning"]

MAX_MESSAGE: Final = 1024
"""Characters of message kept; longer messages are cut (events.k8s.io refuses over 1 KiB)."""

log = get_logger("lbc.kube.events")


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The ``involvedObject`` of an Event."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectRef:
        """The reference to a raw API object."""
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid") or ""),
        )

    def to_api(self) -> dict[str, str]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.uid:
            ref["uid"] = self.uid
        return ref


@dataclass(slots=True)
class _Written:
    """An Event this process wrote and may bump instead of duplicating."""

    name: str
    namespace: str
    count: int


class EventRecorder:
    """Writes Events on behalf of ``component``; one per process, shared by all reconciles."""

    def __init__(
        self,
        client: KubeClient,
        *,
        component: str = "lbc",
        host: str = "",
        burst: int = 25,
        refill_seconds: float = 300.0,
        cache_size: int = 4096,
        clock: Clock | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._component = component
        self._host = host
        self._burst = burst
        self._refill = refill_seconds
        self._cache_size = cache_size
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._wall = wall
        self._written: OrderedDict[tuple[str, ...], _Written] = OrderedDict()
        self._buckets: OrderedDict[tuple[str, ...], TokenBucket] = OrderedDict()
        self._seq = 0

    async def normal(self, ref: ObjectRef, reason: str, message: str) -> None:
        await self.emit(ref, "Normal", reason, message)

    async def warning(self, ref: ObjectRef, reason: str, message: str) -> None:
        await self.emit(ref, "Warning", reason, message)

    async def emit(self, ref: ObjectRef, type_: EventType, reason: str, message: str) -> None:
        """Record one Event; never raises (failures and drops are logged)."""
        message = message[:MAX_MESSAGE]
        obj_key = (ref.namespace, ref.kind, ref.name, ref.uid)
        key = (*obj_key, type_, reason, message)
        seen = self._written.get(key)
        if seen is None and not self._take_token(obj_key):
            log.debug("event_dropped", kind=ref.kind, name=ref.name, reason=reason)
            return
        now = micro_time(self._wall())
        try:
            if seen is not None:
                self._written.move_to_end(key)
                try:
                    await self._client.patch(
                        EVENTS,
                        seen.name,
                        {"count": seen.count + 1, "lastTimestamp": now},
                        seen.namespace,
                        patch_type=PatchType.MERGE,
                    )
                except NotFoundError:
                    del self._written[key]
                else:
                    seen.count += 1
                    return
            written = await self._create(ref, type_, reason, message, now)
        except LbcError as exc:
            log.warning(
                "event_write_failed", kind=ref.kind, name=ref.name, reason=reason, error=str(exc)
            )
            return
        self._written[key] = written
        while len(self._written) > self._cache_size:
            self._written.popitem(last=False)

    async def _create(
        self, ref: ObjectRef, type_: EventType, reason: str, message: str, now: str
    ) -> _Written:
        namespace = ref.namespace or "default"
        # client-go names Events <object>.<unix nanos in hex>; a sequence keeps two Events
        # created in the same nanosecond (coarse clocks, tests) apart.
        self._seq += 1
        name = f"{ref.name}.{time.time_ns() + self._seq:x}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref.to_api(),
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {
                "component": self._component,
                **({"host": self._host} if self._host else {}),
            },
            "reportingComponent": self._component,
            "reportingInstance": self._host,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self._client.create(EVENTS, body, namespace)
        return _Written(name, namespace, 1)

    def _take_token(self, obj_key: tuple[str, ...]) -> bool:
        now = self._clock.now()
        bucket = self._buckets.get(obj_key)
        if bucket is None:
            bucket = TokenBucket(1.0 / self._refill, self._burst, now)
            self._buckets[obj_key] = bucket
            while len(self._buckets) > self._cache_size:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(obj_key)
        return bucket.take(now)
