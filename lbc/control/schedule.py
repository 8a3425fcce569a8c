"""When a binding is looked at again, and what defeats its checkpoint skip besides its inputs.

Three pieces of per-binding memory the reconciler keeps between passes, apart from the pass
itself so that each states its invariant in one place:

- :class:`VerifySchedule`: the drift verification deadline of each binding and the delay a
  completed pass asks for. Invariant: :meth:`VerifySchedule.next_look` is never below
  :data:`MIN_REQUEUE`, so no outcome can make a binding come back by itself in a hot loop.
- :class:`LedgerSightings`: the ledger ConfigMap version each binding's last pass saw, so a
  ledger changed by someone else (corrupted, repaired, deleted as consent) is reconciled at
  once even though the checkpoint, which covers endpoints and spec only, still matches.
- :class:`Rollouts`: when each binding's inputs last changed, so a binding whose endpoints
  change in quick succession (a rollout in flight) is served once the rollout pauses rather
  than once per step. Invariant: a lone change in a quiet fleet is never held, a lone change
  in a busy one at most :data:`SETTLE_WINDOW`, and no binding longer than
  :data:`SETTLE_LIMIT` in a row.

All three are in-memory and per process; a restart starts them afresh without costing AWS calls.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from lbc.clock import Clock
from lbc.core.binding import Binding
from lbc.core.errors import TerminalError
from lbc.core.ledger import configmap_name
from lbc.kube.informer import Store

MIN_REQUEUE: Final = 1.0
"""Seconds: the earliest a completed pass asks to look at its binding again by itself."""

SETTLE_WINDOW: Final = 1.0
"""Seconds: two input changes of one binding closer than this are one rollout in flight."""

SETTLE_LIMIT: Final = 10.0
"""Seconds: the longest a rollout in flight holds its binding back in a row."""

FLEET_BUSY: Final = 20
"""Bindings changed within one window from which a lone change waits out the window too (the
mutating calls the default limit of 20 a second grants in the default window of 1 s)."""


class VerifySchedule:
    """Per-binding drift verification deadlines, jittered so a fleet spreads its describes.

    A binding's first deadline is drawn from the second half of the period (so a restart costs
    no AWS call); each verification sets the next one 0.9-1.1 periods ahead.
    """

    def __init__(self, period: float, clock: Clock, rng: random.Random) -> None:
        self._period = period
        self._clock = clock
        self._rng = rng
        self._due: dict[str, float] = {}

    def until_due(self, key: str) -> float:
        now = self._clock.now()
        due = self._due.get(key)
        if due is None:
            due = now + self._period * self._rng.uniform(0.5, 1.0)
            self._due[key] = due
        return max(0.0, due - now)

    def is_due(self, key: str) -> bool:
        return self.until_due(key) <= 0.0

    def verified(self, key: str) -> None:
        self._due[key] = self._clock.now() + self._period * self._rng.uniform(0.9, 1.1)

    def next_look(self, key: str) -> float:
        """Seconds until the binding's next pass of its own accord (at least MIN_REQUEUE)."""
        return max(MIN_REQUEUE, self.until_due(key))

    def forget(self, key: str) -> None:
        self._due.pop(key, None)


class LedgerSightings:
    """The ledger version each binding's last pass saw, against the ConfigMap informer's view.

    ``versions`` is the informer's store (``namespace/name`` → resourceVersion of a ledger);
    ``own_write(namespace, name)`` the version of this process's last write of it, which the
    informer's view may lag behind for a moment.
    """

    def __init__(
        self,
        versions: Store[str | None] | None,
        own_write: Callable[[str, str], str | None],
    ) -> None:
        self._versions = versions
        self._own_write = own_write
        self._seen: dict[str, str | None] = {}

    def saw(self, key: str, version: str | None) -> None:
        """A pass read (or wrote, or deleted: ``None``) the binding's ledger at ``version``."""
        self._seen[key] = version

    def moved(self, binding: Binding) -> bool:
        """Whether someone else changed or deleted the ledger since the binding's last pass.

        The first look after a restart takes the cached version as the baseline.
        """
        if self._versions is None:
            return False
        try:
            name = configmap_name(binding.name)
        except TerminalError:
            return False  # no ledger can exist
        current = self._versions.get(f"{binding.namespace}/{name}")
        if binding.key not in self._seen:
            self._seen[binding.key] = current
            return False
        if current == self._seen[binding.key]:
            return False
        return current is None or current != self._own_write(binding.namespace, name)

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)


class Rollouts:
    """Holds a binding back while its inputs change in quick succession: a rollout in flight.

    A rolling update rewrites a Service's EndpointSlices step after step (pods added, then old
    ones removed). Serving every step at once spends a RegisterTargets and a DeregisterTargets
    per step on a group that needs one of each for the whole rollout, and the client-side rate
    limit that all bindings share pays for it (README, Benchmarks, note 2). So once a binding's
    inputs changed twice within ``window`` seconds, its passes are held until ``window`` has
    passed without a change. A rollout's steps are not evenly paced (a loaded API server or a
    slow pod stretches one), so a change within twice the ``window`` of a change that was itself
    part of a rollout still continues that rollout: one slow step costs one early pass, not two.

    A lone change (none in the ``window`` before it) is served at once while the fleet is
    quiet: that is a single change's latency, which nothing else delays. While the fleet is
    busy, ``busy`` or more bindings' inputs having changed within the last ``window`` (many
    Deployments restarted together, a node drained), the shared mutating rate limit serves
    them in turn anyway, and whatever is served first is the first step of each rollout, which
    the next step then undoes with a second call. So in a busy fleet a lone change waits out
    one ``window`` too (never more): it is served then with whatever its own next steps
    brought. The caller derives ``busy`` from the mutating rate limit (the calls it grants in
    one ``window``), so a fleet whose changes the limit serves within the window is quiet.

    A ``window`` of 0 switches the hold off (``LBC_ROLLOUT_SETTLE_WINDOW=0``).

    Invariants: a change with no other in the ``window`` before it (twice the ``window`` after a
    rollout's change) never holds its binding while fewer than ``busy`` bindings changed within
    the ``window``, and holds it at most one ``window`` otherwise; a binding is held at most
    ``limit`` seconds in a row (a binding whose inputs never pause is still served once per
    ``limit``); holding drops nothing, it only puts off the pass, which comes back by the held
    pass's ``requeue_after`` or the next change's wake-up. The informer handlers report changes
    (:meth:`changed`) and the reconciler asks before a pass (:meth:`hold`); neither touches the
    work queue.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        window: float = SETTLE_WINDOW,
        limit: float = SETTLE_LIMIT,
        busy: int = FLEET_BUSY,
    ) -> None:
        if not 0 <= window <= limit:
            raise ValueError(f"need 0 <= window <= limit, got {window!r}, {limit!r}")
        if busy < 1:
            raise ValueError(f"need busy >= 1, got {busy!r}")
        self._clock = clock
        self._window = window
        self._limit = limit
        self._busy = busy
        self._last: dict[str, float] = {}  # key -> when its inputs last changed
        self._since: dict[str, float] = {}  # key -> when its current hold began
        self._rolling: set[str] = set()  # keys whose last change was part of a rollout
        # The keys whose inputs changed within the last window, oldest change first.
        self._recent: OrderedDict[str, float] = OrderedDict()

    def changed(self, key: str) -> None:
        """The inputs of binding ``key`` changed now (an informer event, not a start-up list)."""
        if not self._window:
            return  # settling switched off: every change is served at once
        now = self._clock.now()
        last = self._last.get(key)
        self._last[key] = now
        self._recent[key] = now
        self._recent.move_to_end(key)
        reach = 2 * self._window if key in self._rolling else self._window
        if last is not None and now - last < reach:
            self._rolling.add(key)
            self._since.setdefault(key, last)
        else:
            self._rolling.discard(key)
            self._since.pop(key, None)

    def _fleet_busy(self, now: float) -> bool:
        recent = self._recent
        while recent:
            key, at = next(iter(recent.items()))
            if now - at < self._window:
                break
            del recent[key]
        return len(recent) >= self._busy

    def hold(self, key: str) -> float:
        """Seconds to put the pass of ``key`` off by (0: serve it now)."""
        since = self._since.get(key)
        last = self._last.get(key)
        if last is None:
            return 0.0  # never changed (or settling is off)
        now = self._clock.now()
        quiet_at = last + self._window
        if since is None:
            if now >= quiet_at or not self._fleet_busy(now):
                return 0.0
            # A lone change in a busy fleet: its hold begins, its own next step may join it.
            self._since[key] = since = last
        if now >= quiet_at:
            del self._since[key]  # the rollout paused: serve what it has done so far
            return 0.0
        if now >= since + self._limit:
            self._since[key] = now  # held long enough: serve this pass, hold afresh after it
            return 0.0
        return min(quiet_at, since + self._limit) - now

    def forget(self, key: str) -> None:
        self._last.pop(key, None)
        self._since.pop(key, None)
        self._rolling.discard(key)
        self._recent.pop(key, None)
