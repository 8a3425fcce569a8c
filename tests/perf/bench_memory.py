"""Memory: the daemon's resident set with 10k, 50k and 100k pods cached; bytes per pod.

Run: ``.venv/bin/python -m lbc bench --only memory``.

Pods only (no bindings): what the pod cache costs. Two ways, both measured at each size:

- **After a start** (what an operator sees after a restart): a fresh daemon lists every pod at
  once and its RSS (VmRSS from /proc) is read when the pod informer holds them all. This
  includes what decoding the one big list response left behind: CPython keeps freed small
  objects' memory in its arenas, and the surviving views pin many of them.
- **Grown by watch**: a daemon started with no pods sees them arrive one watch event at a
  time; its RSS slope is the steady cost of one cached pod (view, key, store entry).

The pods look like a kubelet's report (owner reference, four conditions, a container status);
real pods also carry managedFields and long specs, which the views drop: the per-pod cost holds
for bigger pods, while the list's left-over grows with them.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.perf.benchlab import BenchLab, eventually, log_time, pid_of, rss_bytes, scaled
from tests.perf.conftest import record
from tests.perf.fleet import NAMESPACE, NODES, Fleet, node_object, pod_object

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(200),
]

STAGES = (scaled(10_000), scaled(50_000), scaled(100_000))
CHUNK = 2_000


def add_pods(lab: BenchLab, fleet: Fleet, count: int) -> None:
    with lab.api.bulk():
        for _ in range(count):
            app = f"svc-{fleet.serial % 500:03d}"
            lab.api.create(pod_object(fleet.new_pod_name(app), app, fleet.new_ip()))


async def test_pod_cache_memory_grows_linearly(bench_lab: BenchLab) -> None:
    lab = bench_lab
    fleet = Fleet(lab)
    lab.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    for n in range(NODES):
        lab.api.create(node_object(f"node-{n}"))
    grown = await lab.start_daemon("lbc-memory-watch")

    async def synced() -> bool:
        lab.check(grown)
        try:
            log_time(grown, "caches_synced")
        except AssertionError:
            return False
        return True

    await eventually(synced, timeout=60, what="caches synced with no pods")
    empty = rss_bytes(pid_of(grown))
    by_watch: dict[int, int] = {}
    after_start: dict[int, int] = {}
    held = 0
    for stage in STAGES:
        while held < stage:
            step = min(CHUNK, stage - held)
            add_pods(lab, fleet, step)
            held += step
            await asyncio.sleep(0)  # let the watch stream carry the chunk out
        await lab.wait_pods_cached(grown, stage, timeout=120)
        by_watch[stage] = rss_bytes(pid_of(grown))
        fresh = await lab.start_daemon(f"lbc-memory-{stage}")
        await lab.wait_pods_cached(fresh, stage, timeout=120)
        after_start[stage] = rss_bytes(pid_of(fresh))
        await fresh.stop()
    await grown.stop()

    for stage in STAGES:
        record(f"memory: RSS after a start, {stage:,} pods", after_start[stage] / 1e6, "MB", "")
    for stage in STAGES:
        record(
            f"memory: RSS grown by watch, {stage:,} pods",
            by_watch[stage] / 1e6,
            "MB",
            f"started empty at {empty / 1e6:.0f} MB",
        )
    low, high = STAGES[0], STAGES[-1]
    record(
        "memory: bytes per cached pod",
        (by_watch[high] - by_watch[low]) / (high - low),
        "B/pod",
        f"RSS slope {low:,} -> {high:,}, grown by watch",
    )
    record(
        "memory: bytes per pod after a start",
        (after_start[high] - after_start[low]) / (high - low),
        "B/pod",
        f"RSS slope {low:,} -> {high:,}, initial list",
        aim="< 500",
    )
