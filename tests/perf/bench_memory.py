"""Memory: the daemon's resident set with 10k, 50k and 100k pods cached; bytes per pod.

Run: ``.venv/bin/python -m lbc bench --only memory``.

Pods only (no bindings): what the pod cache costs. The daemon starts with 10,000 pods (the
initial list), then pods are added while it watches; RSS (VmRSS from /proc) is read once the
pod informer holds each count. Bytes per pod is the slope between 10k and 100k, so the
interpreter, the libraries and the other caches cancel out. A second daemon then starts with
100,000 pods already there: its RSS includes what the initial list left behind (the decoded
pages are garbage, but CPython keeps much of such memory in its arenas).

The pods look like a kubelet's report (owner reference, four conditions, a container status);
real pods also carry managedFields and often long env/volume specs, which the daemon's views
drop, so the per-pod figure holds for bigger pods too while the list peak grows with them.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.perf.conftest import (
    NAMESPACE,
    NODES,
    BenchLab,
    Fleet,
    node_object,
    pid_of,
    pod_object,
    record,
    rss_bytes,
    scaled,
)

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
    add_pods(lab, fleet, STAGES[0])
    daemon = await lab.start_daemon("lbc-memory")
    await lab.wait_pods_cached(daemon, STAGES[0], timeout=60)
    rss = {STAGES[0]: rss_bytes(pid_of(daemon))}
    held = STAGES[0]
    for stage in STAGES[1:]:
        while held < stage:
            step = min(CHUNK, stage - held)
            add_pods(lab, fleet, step)
            held += step
            await asyncio.sleep(0)  # let the watch stream carry the chunk out
        await lab.wait_pods_cached(daemon, stage, timeout=120)
        rss[stage] = rss_bytes(pid_of(daemon))
    await daemon.stop()

    fresh = await lab.start_daemon("lbc-memory-fresh")
    await lab.wait_pods_cached(fresh, held, timeout=120)
    fresh_rss = rss_bytes(pid_of(fresh))
    await fresh.stop()

    for stage, value in rss.items():
        record(f"memory: daemon RSS, {stage:,} pods", value / 1e6, "MB", "added by watch")
    low, high = STAGES[0], STAGES[-1]
    record(
        "memory: bytes per cached pod",
        (rss[high] - rss[low]) / (high - low),
        "B/pod",
        f"RSS slope {low:,} -> {high:,} pods",
    )
    record(
        f"memory: daemon RSS, {high:,} pods, fresh start",
        fresh_rss / 1e6,
        "MB",
        "all pods from the initial list",
    )
