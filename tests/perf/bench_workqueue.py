"""Work-queue throughput: what one key costs on the hot path (add → get → done), on one core.

Run: ``.venv/bin/python -m lbc bench --only workqueue``. Prints figures; asserts nothing about
speed (only that the queue did the work it was asked).
"""

from __future__ import annotations

import time

import anyio
from lbc.clock import VirtualClock
from lbc.control.worker import Result, Workers
from lbc.control.workqueue import WorkQueue
from lbc.observe.log import configure

from tests.perf.benchlab import scaled

KEYS = scaled(50_000)
EVENTS_PER_KEY = 4


def _row(name: str, ops: int, seconds: float) -> str:
    rate = ops / seconds
    return f"{name:<44} {ops:>9} {seconds * 1e3:>9.1f} {rate:>12,.0f} {1e6 / rate:>8.2f}"


async def _cycle() -> list[str]:
    rows = []
    keys = [f"ns/binding-{i}" for i in range(KEYS)]

    queue: WorkQueue[str] = WorkQueue("bench-dedup", clock=VirtualClock())
    start = time.perf_counter()
    for _ in range(EVENTS_PER_KEY):
        for key in keys:
            queue.add(key)
    rows.append(
        _row(
            "add (4 events per key, de-duplicated)",
            KEYS * EVENTS_PER_KEY,
            time.perf_counter() - start,
        )
    )
    assert len(queue) == KEYS

    start = time.perf_counter()
    for _ in range(KEYS):
        queue.done(await queue.get())
    rows.append(_row("get + done", KEYS, time.perf_counter() - start))
    assert len(queue) == 0

    clock = VirtualClock()
    delayed: WorkQueue[str] = WorkQueue("bench-delay", clock=clock)
    start = time.perf_counter()
    for i, key in enumerate(keys):
        delayed.add_after(key, 1.0 + (i % 100) / 10)
    rows.append(_row("add_after (heap insert)", KEYS, time.perf_counter() - start))

    calls = 0
    all_done = anyio.Event()

    async def reconcile(_key: str) -> Result | None:
        nonlocal calls
        calls += 1
        if calls == KEYS:
            all_done.set()
        return None

    pool_queue: WorkQueue[str] = WorkQueue("bench-pool", clock=clock)
    workers = Workers("bench", pool_queue, reconcile, concurrency=4, clock=clock)
    for key in keys:
        pool_queue.add(key)
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(workers.run)
        await all_done.wait()
        workers.stop()
    rows.append(_row("worker pool, 4 workers, no-op reconcile", KEYS, time.perf_counter() - start))
    assert calls == KEYS
    return rows


def test_bench_workqueue_throughput() -> None:
    configure("warning", "json")  # the daemon's default level would print a line per reconcile
    rows = anyio.run(_cycle)
    print()
    print(f"{'work queue (one core)':<44} {'ops':>9} {'ms':>9} {'ops/s':>12} {'µs/op':>8}")
    for row in rows:
        print(row)
