"""Lab API server benchmarks: holding 100,000 pods, listing them, and watch fan-out.

Run with ``python -m lbc bench --only apiserver`` (or ``LBC_BENCH=1 pytest -s
tests/perf/bench_apiserver.py``). Prints one table; asserts nothing about speed.

1. **Load**: 100,000 realistic pods created through the store's full create path (names,
   uid, timestamps, resourceVersions) inside ``LabApiServer.bulk()``; resident memory growth.
2. **List**: the 100,000 pods over HTTP, once in one response and once in pages of 500
   (limit/continue), decoded by the client with orjson.
3. **Watch**: 5 watchers stream from the same resourceVersion while 20,000 pod status updates
   are written; the figure is events delivered per second per watcher (all in one process and
   one event loop, so writer, server and clients share a core).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import aiohttp
import orjson
import pytest

from lbc_lab.apiserver import LabApiServer
from tests.perf.benchlab import scaled
from tests.perf.conftest import record

pytestmark = pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark")

PODS = scaled(100_000)
UPDATES = scaled(20_000)
WATCHERS = 5
HEADERS = {"Authorization": "Bearer lbc-lab-admin"}


def pod(i: int) -> dict[str, Any]:
    app = f"svc-{i % 500}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{app}-7d9f8c6b5-{i:06x}",
            "namespace": "default",
            "labels": {"app": app, "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-7d9f8c6b5",
                    "uid": f"00000000-0000-4000-8000-{i % 500:012x}",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeName": f"ip-10-0-{i % 64}-{i % 200}.eu-west-1.compute.internal",
            "containers": [
                {
                    "name": "app",
                    "image": "registry/app:1.2.3",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": "2026-11-24T10:00:00Z"}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
        },
    }


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


async def list_all(api: LabApiServer, limit: int) -> tuple[int, int, float]:
    """(objects, pages, decode seconds) of a full list of pods, paged when ``limit`` > 0.

    The client decodes with the cyclic GC paused: a collection pass per few hundred new dicts
    would otherwise make the client, not the server, the figure being measured.
    """
    seen = pages = 0
    decoding = 0.0
    token = ""
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(headers=HEADERS, timeout=timeout) as session:
        while True:
            params = {"limit": str(limit)} if limit else {}
            if token:
                params["continue"] = token
            async with session.get(f"{api.url}/api/v1/pods", params=params) as response:
                raw = await response.read()
            started = time.perf_counter()
            with api.bulk():
                body = orjson.loads(raw)
            decoding += time.perf_counter() - started
            pages += 1
            seen += len(body["items"])
            token = body["metadata"].get("continue", "")
            if not token:
                return seen, pages, decoding


async def watcher(api: LabApiServer, since: int, wanted: int, opened: asyncio.Event) -> float:
    """Count watch lines until ``wanted`` arrived; returns the monotonic time of the last."""
    timeout = aiohttp.ClientTimeout(total=300)
    count = 0
    params = {"watch": "1", "resourceVersion": str(since)}
    async with (
        aiohttp.ClientSession(headers=HEADERS, timeout=timeout) as session,
        session.get(f"{api.url}/api/v1/namespaces/default/pods", params=params) as response,
    ):
        opened.set()
        async for chunk in response.content.iter_any():
            count += chunk.count(b"\n")
            if count >= wanted:
                return time.monotonic()
    raise AssertionError(f"watch ended after {count} of {wanted} events")


async def test_apiserver_throughput() -> None:
    rows: list[tuple[str, str, str]] = []
    async with LabApiServer.running(history_size=UPDATES * 2) as api:
        pods = api.type_of("v1", "Pod")
        before = rss_mb()
        started = time.perf_counter()
        with api.bulk():
            for i in range(PODS):
                api.objects.create(pods, "default", pod(i), keep_status=True)
        took = time.perf_counter() - started
        rows.append((f"load {PODS:,} pods", f"{took:.1f} s", f"{PODS / took:,.0f} pods/s"))
        rows.append(
            (
                "memory held",
                f"{rss_mb() - before:,.0f} MB",
                f"{(rss_mb() - before) * 1e6 / PODS:,.0f} B/pod",
            )
        )

        for limit, label in ((0, "list, one response"), (500, "list, pages of 500")):
            started = time.perf_counter()
            seen, pages, decoding = await list_all(api, limit)
            took = time.perf_counter() - started - decoding
            assert seen == PODS
            rows.append(
                (label, f"{took:.2f} s ({pages} req)", f"{seen / took:,.0f} objects/s served")
            )

        names = [key[1] for key in api.store.keys("pods", "default")][:UPDATES]
        since = api.store.rv
        opened = [asyncio.Event() for _ in range(WATCHERS)]
        tasks = [asyncio.create_task(watcher(api, since, UPDATES, o)) for o in opened]
        async with asyncio.timeout(30):
            for o in opened:
                await o.wait()
        started = time.monotonic()
        for n, name in enumerate(names):
            api.objects.patch(
                pods,
                "default",
                name,
                patch_type="merge",
                body={"status": {"podIP": f"10.99.{n >> 8 & 255}.{n & 255}"}},
                subresource="status",
            )
            if n % 200 == 199:
                await asyncio.sleep(0)  # let the streams drain: writer and server share a loop
        written = time.monotonic() - started
        async with asyncio.timeout(300):
            finished = await asyncio.gather(*tasks)
        took = max(finished) - started
        rows.append(
            (
                f"write {UPDATES:,} status updates",
                f"{written:.2f} s",
                f"{UPDATES / written:,.0f} writes/s",
            )
        )
        rows.append(
            (
                f"watch fan-out to {WATCHERS}",
                f"{took:.2f} s",
                f"{UPDATES / took:,.0f} events/s per watcher "
                f"({UPDATES * WATCHERS / took:,.0f} total)",
            )
        )
        record(
            f"apiserver: watch fan-out to {WATCHERS} watchers",
            UPDATES / took,
            "events/s",
            f"per watcher, {PODS:,} pods held",
            aim=">= 5000",
        )
    width = max(len(r[0]) for r in rows)
    mid = max(len(r[1]) for r in rows)
    print()
    print(f"{'lab apiserver':<{width}}  {'time/size':<{mid}}  rate")
    for name, value, rate in rows:
        print(f"{name:<{width}}  {value:<{mid}}  {rate}")
