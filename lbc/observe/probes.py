"""Liveness, readiness and metrics over HTTP: ``/healthz``, ``/readyz`` and ``/metrics``.

The kubelet restarts a pod whose ``/healthz`` fails and takes a pod whose ``/readyz`` fails out
of rotation; Prometheus scrapes ``/metrics``. Nothing here knows what an informer or a Lease is:
components register *named checks* on a :class:`Health` and the endpoints aggregate them, as
controller-runtime's ``healthz`` package does. A check is a plain function returning ``None``
when healthy or a short reason when not; it must be cheap and must not block (the probe answers
from memory, so a probe never waits on the API server or AWS).

What the daemon registers (see ``lbc.app``):

- liveness: ``event_loop`` (a :class:`LoopHeartbeat` no older than its bound), each watch's
  silence bound, and the Lease renewal of a leader;
- readiness: caches synced; and, built in, ``shutdown``, which fails from the moment a graceful
  shutdown starts so traffic and rolling updates move on. Readiness never depends on
  leadership: standbys must be Ready or a rolling update under a PodDisruptionBudget stalls.

Responses follow the Kubernetes API server's format: ``ok`` on success; on failure HTTP 500
with one ``[+]name ok`` / ``[-]name failed: reason`` line per check. ``?verbose`` lists every
check on success too, ``?exclude=name`` skips a check, and ``/healthz/<name>`` runs one.

Addresses come from ``LBC_PROBE_ADDR`` and ``LBC_METRICS_ADDR``; port 0 binds a free port and
:attr:`HttpEndpoints.probe_port` / :attr:`HttpEndpoints.metrics_port` tell which. When both
settings name the same address one server answers all three paths.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import final

import anyio
import anyio.abc
from aiohttp import web

from lbc.observe.metrics import exposition

Check = Callable[[], str | None]
"""A named health check: ``None`` when healthy, else a short human reason."""

SHUTDOWN_CHECK = "shutdown"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.reason is None


@final
class Health:
    """The named liveness and readiness checks of the process."""

    def __init__(self) -> None:
        self._liveness: dict[str, Check] = {}
        self._readiness: dict[str, Check] = {SHUTDOWN_CHECK: self._shutdown_check}
        self._shutting_down = False

    def add_liveness(self, name: str, check: Check) -> None:
        """Register a liveness check; failing it gets the pod restarted."""
        self._add(self._liveness, name, check)

    def add_readiness(self, name: str, check: Check) -> None:
        """Register a readiness check; failing it takes the pod out of rotation."""
        self._add(self._readiness, name, check)

    @staticmethod
    def _add(checks: dict[str, Check], name: str, check: Check) -> None:
        if not name or "/" in name:
            raise ValueError(f"bad check name {name!r}")
        if name in checks:
            raise ValueError(f"check {name!r} is already registered")
        checks[name] = check

    def start_shutdown(self) -> None:
        """From now on readiness fails (and stays failed)."""
        self._shutting_down = True

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def _shutdown_check(self) -> str | None:
        return "shutting down" if self._shutting_down else None

    def liveness(self, exclude: frozenset[str] = frozenset()) -> list[CheckResult]:
        return _run(self._liveness, exclude)

    def readiness(self, exclude: frozenset[str] = frozenset()) -> list[CheckResult]:
        return _run(self._readiness, exclude)

    def is_live(self) -> bool:
        return all(result.ok for result in self.liveness())

    def is_ready(self) -> bool:
        return all(result.ok for result in self.readiness())

    def checks(self, kind: str) -> dict[str, Check]:
        """The registered checks of ``kind`` (``healthz`` or ``readyz``), by name."""
        return dict(self._liveness if kind == "healthz" else self._readiness)


def _run(checks: dict[str, Check], exclude: frozenset[str]) -> list[CheckResult]:
    return [CheckResult(name, check()) for name, check in checks.items() if name not in exclude]


@final
class LoopHeartbeat:
    """Proves the event loop is running tasks: a tick every ``interval``, judged at probe time.

    A loop blocked by a CPU-bound call or a stuck synchronous library answers nothing at all;
    once it recovers, the stale tick reports how long it was stuck, so the liveness probe fails
    on a loop that keeps stalling rather than passing on every lucky scrape.
    """

    def __init__(
        self,
        *,
        interval: float = 1.0,
        max_age: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_age <= interval:
            raise ValueError("max_age must exceed the tick interval")
        self.interval = interval
        self.max_age = max_age
        self._monotonic = monotonic
        self._last = monotonic()

    async def run(self) -> None:
        while True:
            self._last = self._monotonic()
            await anyio.sleep(self.interval)

    def age(self) -> float:
        return max(0.0, self._monotonic() - self._last)

    def check(self) -> str | None:
        age = self.age()
        if age > self.max_age:
            return f"event loop heartbeat is {age:.1f}s old (bound {self.max_age:g}s)"
        return None


def _report(results: list[CheckResult], *, verbose: bool, kind: str) -> web.Response:
    failed = [r for r in results if not r.ok]
    if not failed and not verbose:
        return web.Response(text="ok")
    lines = [f"[+]{r.name} ok" if r.ok else f"[-]{r.name} failed: {r.reason}" for r in results]
    lines.append(f"{kind} check failed" if failed else f"{kind} check passed")
    return web.Response(status=500 if failed else 200, text="\n".join(lines) + "\n")


def _exclusions(request: web.Request) -> frozenset[str]:
    return frozenset(request.query.getall("exclude", []))


@final
class HttpEndpoints:
    """The probe and metrics HTTP servers; run :meth:`serve` in a task group with ``start``."""

    def __init__(self, health: Health, *, probe_addr: str, metrics_addr: str) -> None:
        self.health = health
        self._probe = _split(probe_addr)
        self._metrics = _split(metrics_addr)
        self._runners: list[web.AppRunner] = []
        self.probe_port = 0
        self.metrics_port = 0

    def _probe_routes(self) -> list[web.RouteDef]:
        return [
            web.get("/healthz", self._healthz),
            web.get("/healthz/{check}", self._one_healthz),
            web.get("/readyz", self._readyz),
            web.get("/readyz/{check}", self._one_readyz),
        ]

    async def _healthz(self, request: web.Request) -> web.Response:
        results = self.health.liveness(_exclusions(request))
        return _report(results, verbose="verbose" in request.query, kind="healthz")

    async def _readyz(self, request: web.Request) -> web.Response:
        results = self.health.readiness(_exclusions(request))
        return _report(results, verbose="verbose" in request.query, kind="readyz")

    async def _one_healthz(self, request: web.Request) -> web.Response:
        return self._one("healthz", request.match_info["check"])

    async def _one_readyz(self, request: web.Request) -> web.Response:
        return self._one("readyz", request.match_info["check"])

    def _one(self, kind: str, name: str) -> web.Response:
        check = self.health.checks(kind).get(name)
        if check is None:
            raise web.HTTPNotFound(text=f"no {kind} check named {name!r}\n")
        reason = check()
        if reason is None:
            return web.Response(text="ok")
        return web.Response(status=500, text=f"[-]{name} failed: {reason}\n")

    async def _metrics_handler(self, _request: web.Request) -> web.Response:
        body, content_type = exposition()
        # aiohttp refuses a charset inside content_type; pass the full header instead.
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def start(self) -> None:
        """Bind the listening sockets (ports known afterwards)."""
        metrics_route = web.get("/metrics", self._metrics_handler)
        if self._probe == self._metrics and self._probe[1] != 0:
            self.probe_port = self.metrics_port = await self._serve(
                self._probe, [*self._probe_routes(), metrics_route]
            )
            return
        self.probe_port = await self._serve(self._probe, self._probe_routes())
        self.metrics_port = await self._serve(self._metrics, [metrics_route])

    async def _serve(self, addr: tuple[str, int], routes: list[web.RouteDef]) -> int:
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, addr[0], addr[1], reuse_address=True)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server
        sockets = getattr(server, "sockets", None) or []
        if not sockets:
            raise RuntimeError(f"no listening socket on {addr[0]}:{addr[1]}")
        port: int = sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start, report started, serve until cancelled, then close the sockets."""
        try:
            await self.start()
            task_status.started()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self.stop()


def _split(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected host:port, got {addr!r}")
    return host.strip("[]") or "0.0.0.0", int(port)
