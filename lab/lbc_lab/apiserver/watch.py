"""Watch streams: resume from a resourceVersion, bookmarks, timeouts, selectors on events.

Fan-out is cheap by construction: a watcher does not get its own queue. Every stream keeps a
cursor into the store's event log, wakes when the log grows, takes the events after its cursor
in one slice and writes the already-encoded bytes those events share (see ``store.Event``) in a
single write. A watcher that falls behind the bounded history is told 410 Expired, like a real
watch whose revision was compacted, and relists.

Semantics reproduced from the real watch cache:

- resourceVersion unset or "0": synthetic ADDED events for every current object, then changes;
  any other version: changes after it, or one ERROR event with a 410 ``Expired`` Status when it
  is older than the history;
- with a selector, an object that stops matching is reported DELETED (in its new state) and one
  that starts matching is reported ADDED;
- ``allowWatchBookmarks``: BOOKMARK events carry the current resourceVersion every
  ``bookmark_interval`` seconds and once more just before ``timeoutSeconds`` ends the stream;
- ``sendInitialEvents=true`` ends the initial ADDED events with the
  ``k8s.io/initial-events-end`` bookmark.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from lbc_lab.apiserver import tables
from lbc_lab.apiserver.resources import ResourceType
from lbc_lab.apiserver.selectors import FieldSelector, LabelSelector
from lbc_lab.apiserver.status import status_body
from lbc_lab.apiserver.store import Event, Obj, Store

Writer = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WatchSpec:
    rtype: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    #: None: start with synthetic ADDED events for the current state ("0" or unset).
    since: int | None
    bookmarks: bool
    timeout: float
    send_initial_events: bool = False
    #: Not None: each event's object is a one-row Table (``kubectl get -w``).
    table_include: str | None = None
    #: Each event's object is a ``PartialObjectMetadata`` (metadata informers).
    metadata_only: bool = False


def _line(kind: str, obj: Obj) -> bytes:
    return orjson.dumps({"type": kind, "object": obj}) + b"\n"


def expired_line(rv: int, oldest: int) -> bytes:
    message = f"too old resource version: {rv} ({oldest})"
    return _line("ERROR", status_body(410, message, "Expired"))


class WatchStream:
    """One client's watch: filters and writes events until timeout, a fault or disconnect."""

    def __init__(self, store: Store, spec: WatchSpec, bookmark_interval: float) -> None:
        self._store = store
        self._spec = spec
        self._interval = bookmark_interval
        self._filtered = not (spec.labels.empty and spec.fields.empty)
        self._convert = spec.rtype.converter()
        self._first_table = True

    def _matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        shaped = self._spec.rtype.to_version
        view = shaped(obj) if shaped is not None else obj
        return self._spec.labels.matches(view) and self._spec.fields.matches(view)

    def _encode(self, kind: str, obj: Obj) -> bytes:
        shown = self._spec.rtype.present(obj)
        if self._spec.metadata_only:
            return _line(kind, tables.partial_metadata(shown))
        if self._spec.table_include is not None:
            meta = {"resourceVersion": shown["metadata"].get("resourceVersion", "")}
            shown = tables.table(
                self._spec.rtype,
                [shown],
                include=self._spec.table_include,
                now=datetime.now(UTC),
                metadata=meta,
                with_columns=self._first_table,
            )
            self._first_table = False
        return _line(kind, shown)

    def _bookmark(self, rv: int, *, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        rtype = self._spec.rtype
        return _line(
            "BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": meta}
        )

    def _select(self, event: Event) -> bytes | None:
        spec = self._spec
        if event.storage != spec.rtype.storage:
            return None
        if spec.namespace is not None and event.namespace != spec.namespace:
            return None
        plain = spec.table_include is None and not spec.metadata_only
        if not self._filtered and plain:
            return event.encode(spec.rtype.api_version, self._convert)
        now_in = self._matches(event.obj)
        was_in = self._matches(event.old)
        kind = event.type
        if kind == "MODIFIED":
            if now_in and not was_in:
                kind = "ADDED"
            elif was_in and not now_in:
                kind = "DELETED"
            elif not now_in:
                return None
        elif not (now_in or was_in):
            return None
        if kind == event.type and plain:
            return event.encode(spec.rtype.api_version, self._convert)
        return self._encode(kind, event.obj)

    def _initial(self) -> tuple[list[bytes], int]:
        spec = self._spec
        ns = spec.namespace if spec.rtype.namespaced else None
        out = [
            self._encode("ADDED", obj)
            for obj in self._store.iter_objects(spec.rtype.storage, ns)
            if not self._filtered or self._matches(obj)
        ]
        return out, self._store.rv

    async def run(self, write: Writer) -> None:
        """Stream until the timeout; returns normally on every way a watch can end."""
        spec, store = self._spec, self._store
        epoch = store.watch_epoch
        deadline = time.monotonic() + spec.timeout
        if spec.since is None:
            chunks, cursor = self._initial()
            if spec.send_initial_events and spec.bookmarks:
                chunks.append(self._bookmark(cursor, initial_end=True))
            if chunks:
                await write(b"".join(chunks))
        else:
            cursor = spec.since
        next_bookmark = time.monotonic() + self._interval
        while True:
            if store.watch_epoch != epoch:
                return
            changed = store.changed()
            events = store.events_after(cursor)
            if events is None:
                await write(expired_line(cursor, store.floor + 1))
                return
            if events:
                cursor = events[-1].rv
                chunks = [line for line in map(self._select, events) if line is not None]
                if chunks:
                    await write(b"".join(chunks))
            now = time.monotonic()
            if now >= deadline:
                if spec.bookmarks:
                    await write(self._bookmark(cursor))
                return
            if spec.bookmarks and now >= next_bookmark:
                await write(self._bookmark(cursor))
                next_bookmark = now + self._interval
            wake_at = min(deadline, next_bookmark) if spec.bookmarks else deadline
            try:
                async with asyncio.timeout(max(0.0, wake_at - time.monotonic())):
                    await changed.wait()
            except TimeoutError:
                pass  # time for a bookmark or the end of the stream: the loop decides which
