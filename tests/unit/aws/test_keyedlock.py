"""Per-key locks: one key serialises, different keys overlap, idle keys are forgotten."""

from __future__ import annotations

import anyio
from lbc.aws.keyedlock import KeyedLock


async def test_same_key_is_exclusive_and_other_keys_run_alongside() -> None:
    locks: KeyedLock[str] = KeyedLock()
    inside: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}
    both_held = anyio.Event()
    holders: set[str] = set()

    async def work(key: str) -> None:
        async with locks.hold(key):
            inside[key] += 1
            holders.add(key)
            peak[key] = max(peak[key], inside[key])
            if holders == {"a", "b"}:
                both_held.set()
            with anyio.fail_after(5):
                await both_held.wait()
            holders.discard(key)
            inside[key] -= 1

    async with anyio.create_task_group() as group:
        for key in ("a", "a", "b", "b"):
            group.start_soon(work, key)
    assert peak == {"a": 1, "b": 1}
    assert both_held.is_set()
    assert len(locks) == 0


async def test_cancelled_waiter_does_not_leak_its_entry() -> None:
    locks: KeyedLock[str] = KeyedLock()
    entered = anyio.Event()

    async def waiter() -> None:
        entered.set()
        async with locks.hold("arn"):
            raise AssertionError("the lock was held by the test")

    async with locks.hold("arn"), anyio.create_task_group() as group:
        group.start_soon(waiter)
        with anyio.fail_after(5):
            await entered.wait()
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert len(locks) == 0
