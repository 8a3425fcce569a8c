"""/healthz, /readyz and /metrics answer from registered checks and the process registry."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import pytest
from lbc.observe.metrics import set_build_info
from lbc.observe.probes import Health, HttpEndpoints, LoopHeartbeat

TIMEOUT = aiohttp.ClientTimeout(total=5)


@asynccontextmanager
async def serving(
    health: Health, probe_addr: str = "127.0.0.1:0", metrics_addr: str = "127.0.0.1:0"
) -> AsyncIterator[HttpEndpoints]:
    endpoints = HttpEndpoints(health, probe_addr=probe_addr, metrics_addr=metrics_addr)
    async with anyio.create_task_group() as tg:
        await tg.start(endpoints.serve)
        yield endpoints
        tg.cancel_scope.cancel()


async def fetch(port: int, path: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text(), response.headers["Content-Type"]


def one_failing_liveness(name: str, reason: str) -> Health:
    """The event loop's liveness check passing, ``name``'s failing with ``reason``."""
    health = Health()
    health.add_liveness("event_loop", lambda: None)
    health.add_liveness(name, lambda: reason)
    return health


async def test_healthz_is_ok_when_every_check_passes() -> None:
    health = Health()
    health.add_liveness("event_loop", lambda: None)
    async with serving(health) as endpoints:
        assert (await fetch(endpoints.probe_port, "/healthz"))[:2] == (200, "ok")


async def test_a_failing_liveness_check_fails_healthz_and_names_its_reason() -> None:
    health = one_failing_liveness("watch_pods", "silent for 400s")
    async with serving(health) as endpoints:
        status, body, _ = await fetch(endpoints.probe_port, "/healthz")
    assert status == 500
    assert "[+]event_loop ok" in body
    assert "[-]watch_pods failed: silent for 400s" in body


async def test_readyz_waits_for_caches_and_fails_once_shutdown_starts() -> None:
    synced = False
    health = Health()
    health.add_readiness("caches_synced", lambda: None if synced else "pods not synced")
    async with serving(health) as endpoints:
        status, body, _ = await fetch(endpoints.probe_port, "/readyz")
        assert status == 500
        assert "[-]caches_synced failed: pods not synced" in body
        synced = True
        assert (await fetch(endpoints.probe_port, "/readyz"))[:2] == (200, "ok")
        health.start_shutdown()
        status, body, _ = await fetch(endpoints.probe_port, "/readyz")
        assert status == 500
        assert "[-]shutdown failed: shutting down" in body
        assert (await fetch(endpoints.probe_port, "/healthz"))[0] == 200, "liveness must hold"


async def test_verbose_lists_passing_checks_and_exclude_skips_one() -> None:
    health = one_failing_liveness("leader_election", "not renewed for 30s")
    async with serving(health) as endpoints:
        status, body, _ = await fetch(endpoints.probe_port, "/healthz?exclude=leader_election")
        assert (status, body) == (200, "ok")
        status, body, _ = await fetch(
            endpoints.probe_port, "/healthz?verbose&exclude=leader_election"
        )
        assert status == 200
        assert body.splitlines() == ["[+]event_loop ok", "healthz check passed"]


async def test_one_check_can_be_probed_by_path() -> None:
    health = Health()
    health.add_liveness("event_loop", lambda: None)
    health.add_readiness("caches_synced", lambda: "nodes not synced")
    async with serving(health) as endpoints:
        assert (await fetch(endpoints.probe_port, "/healthz/event_loop"))[:2] == (200, "ok")
        assert (await fetch(endpoints.probe_port, "/readyz/caches_synced"))[0] == 500
        assert (await fetch(endpoints.probe_port, "/readyz/nope"))[0] == 404


async def test_metrics_serves_the_registry_in_prometheus_text() -> None:
    set_build_info("9.9.9-test")
    async with serving(Health()) as endpoints:
        assert endpoints.metrics_port != endpoints.probe_port
        status, body, content_type = await fetch(endpoints.metrics_port, "/metrics")
        assert (await fetch(endpoints.metrics_port, "/healthz"))[0] == 404
    assert status == 200
    assert content_type.startswith("text/plain")
    assert 'lbc_build_info{version="9.9.9-test"} 1.0' in body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_one_address_for_probes_and_metrics_serves_everything_on_one_port() -> None:
    addr = f"127.0.0.1:{free_port()}"
    async with serving(Health(), addr, addr) as endpoints:
        assert endpoints.probe_port == endpoints.metrics_port
        assert (await fetch(endpoints.probe_port, "/metrics"))[0] == 200
        assert (await fetch(endpoints.probe_port, "/readyz"))[0] == 200


async def test_servers_close_their_sockets_when_cancelled() -> None:
    async with serving(Health()) as endpoints:
        port = endpoints.probe_port
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(port, "/healthz")


def test_check_names_are_unique() -> None:
    health = Health()
    health.add_liveness("event_loop", lambda: None)
    with pytest.raises(ValueError, match="already registered"):
        health.add_liveness("event_loop", lambda: None)
    with pytest.raises(ValueError, match="already registered"):
        health.add_readiness("shutdown", lambda: None)


def test_heartbeat_check_fails_when_the_loop_stopped_ticking() -> None:
    now = [100.0]
    beat = LoopHeartbeat(interval=1.0, max_age=10.0, monotonic=lambda: now[0])
    assert beat.check() is None
    now[0] += 10.0
    assert beat.check() is None
    now[0] += 0.5
    reason = beat.check()
    assert reason is not None
    assert "10.5s old" in reason


async def test_heartbeat_keeps_ticking_while_the_loop_runs() -> None:
    now = [100.0]
    beat = LoopHeartbeat(interval=0.01, max_age=0.5, monotonic=lambda: now[0])
    now[0] += 60.0
    assert beat.check() is not None
    async with anyio.create_task_group() as tg:
        tg.start_soon(beat.run)
        await anyio.wait_all_tasks_blocked()  # the heartbeat ticked and went to sleep
        assert beat.check() is None
        tg.cancel_scope.cancel()
