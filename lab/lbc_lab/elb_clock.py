"""The lab's clock: ELB delays measured in lab seconds that can run faster than real ones.

Real ELBv2 delays are long (150 s of initial health checks, 300 s of draining). The demo wants
them realistic, tests want them short or entirely under their control. So every delay the lab
emulates is expressed in *lab seconds* and compared against :meth:`LabClock.now`, which advances
at ``1 / time_factor`` lab seconds per real second (``time_factor`` 0.01 makes 300 s of draining
last 3 real seconds). A test can also freeze the clock and jump it forward, which makes health
transitions deterministic without waiting at all.

Invariant: ``now()`` never decreases, whatever the sequence of factor changes, pauses and jumps
(each change re-bases the clock at the current lab instant).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClockState:
    """What the control plane reports about the clock."""

    now: float
    time_factor: float
    paused: bool


class LabClock:
    """Monotonic lab time, scaled by ``time_factor``, pausable, and advanceable by jumps."""

    def __init__(
        self, time_factor: float = 1.0, *, source: Callable[[], float] = time.monotonic
    ) -> None:
        _check_factor(time_factor)
        self._source = source
        self._lock = threading.Lock()
        self._factor = time_factor
        self._paused = False
        self._base_real = source()
        self._base_lab = 0.0

    def now(self) -> float:
        with self._lock:
            return self._now_locked()

    def state(self) -> ClockState:
        with self._lock:
            return ClockState(self._now_locked(), self._factor, self._paused)

    def configure(
        self,
        *,
        time_factor: float | None = None,
        paused: bool | None = None,
        advance: float = 0.0,
    ) -> ClockState:
        """Change the factor and/or pause state, then jump ``advance`` lab seconds forward."""
        if time_factor is not None:
            _check_factor(time_factor)
        if advance < 0:
            raise ValueError("the lab clock only moves forward")
        with self._lock:
            self._base_lab = self._now_locked() + advance
            self._base_real = self._source()
            if time_factor is not None:
                self._factor = time_factor
            if paused is not None:
                self._paused = paused
            return ClockState(self._base_lab, self._factor, self._paused)

    def _now_locked(self) -> float:
        if self._paused:
            return self._base_lab
        return self._base_lab + (self._source() - self._base_real) / self._factor


def _check_factor(factor: float) -> None:
    if not factor > 0:
        raise ValueError(f"time_factor must be > 0, got {factor!r}")
