"""Lab ELBv2 throughput: what target operations cost against the emulator, end to end.

Run: ``.venv/bin/python -m lbc bench --only elb`` (or ``.venv/bin/pytest -s
tests/perf/bench_elb.py``). Prints figures; asserts nothing about speed (only that the lab did
the work it was asked). Client: aiobotocore, standard retry mode, as the daemon uses it; the
lab runs in its own process as in tests and the demo.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_process import LabElbProcess
from lbc_lab.elb_scenario import Network, create_network, create_target_group, run_instances

REPEATS = 3  # medians of 3: the lab answers in milliseconds, and each repeat rebuilds its group


# Set by the test: the lab whose call log tells how much of each sample the server spent.
_LAB: list[ElbLab] = []


async def _timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(seconds end to end, seconds the lab spent answering) for one run of ``fn``."""
    control = _LAB[0].control
    mark = control.last_seq()
    started = time.perf_counter()
    await fn()
    elapsed = time.perf_counter() - started
    server = sum(c.duration_ms for c in control.calls(since=mark)) / 1000.0
    return elapsed, server


def _row(name: str, targets: int, calls: int, samples: list[tuple[float, float]]) -> str:
    total = statistics.median(s[0] for s in samples)
    server = statistics.median(s[1] for s in samples)
    worst = max(s[0] for s in samples)
    per_target = total / targets * 1e6 if targets else 0.0
    return (
        f"{name:<44} {targets:>7} {calls:>5} {total * 1e3:>9.1f} {worst * 1e3:>8.1f}"
        f" {server * 1e3:>8.1f} {per_target:>9.1f}"
    )


async def _batched(op: Any, arn: str, targets: list[dict[str, Any]]) -> None:
    for i in range(0, len(targets), 200):  # lbc's batch size
        await op(TargetGroupArn=arn, Targets=targets[i : i + 200])


async def _fresh_group(lab: ElbLab, ec2: Any, elbv2: Any, name: str) -> tuple[Network, str]:
    lab.control.reset()
    net = await create_network(ec2)
    return net, (await create_target_group(elbv2, net, name)).arn


async def _run(lab: ElbLab) -> list[str]:
    rows: list[str] = []
    async with lab.client("ec2") as ec2, lab.client("elbv2") as elbv2:
        for size in (100, 1000):
            register: list[tuple[float, float]] = []
            register_one: list[tuple[float, float]] = []
            describe: list[tuple[float, float]] = []
            deregister: list[tuple[float, float]] = []
            for _ in range(REPEATS):
                net, arn = await _fresh_group(lab, ec2, elbv2, f"bench-{size}")
                targets = [{"Id": net.ip(n), "Port": 8080} for n in range(size)]
                register.append(
                    await _timed(partial(_batched, elbv2.register_targets, arn, targets))
                )
                answer: dict[str, Any] = {}

                async def health(arn: str = arn, out: dict[str, Any] = answer) -> None:
                    out.update(await elbv2.describe_target_health(TargetGroupArn=arn))

                describe.append(await _timed(health))
                assert len(answer["TargetHealthDescriptions"]) == size
                deregister.append(
                    await _timed(partial(_batched, elbv2.deregister_targets, arn, targets))
                )
                net, arn = await _fresh_group(lab, ec2, elbv2, f"bench-one-{size}")
                register_one.append(
                    await _timed(
                        partial(elbv2.register_targets, TargetGroupArn=arn, Targets=targets)
                    )
                )
            calls = -(-size // 200)
            rows.append(_row("RegisterTargets, batches of 200", size, calls, register))
            rows.append(_row("RegisterTargets, one call", size, 1, register_one))
            rows.append(_row("DescribeTargetHealth, whole group", size, 1, describe))
            rows.append(_row("DeregisterTargets, batches of 200", size, calls, deregister))

        lab.control.reset()
        net = await create_network(ec2)
        nodes = await run_instances(ec2, net, 100)
        tg = await create_target_group(elbv2, net, "bench-nodes", target_type="instance")
        samples: list[tuple[float, float]] = []
        for attempt in range(REPEATS):
            ts = [{"Id": n.instance_id, "Port": 30000 + attempt} for n in nodes]
            samples.append(
                await _timed(partial(elbv2.register_targets, TargetGroupArn=tg.arn, Targets=ts))
            )
        rows.append(_row("RegisterTargets, instances (validated)", 100, 1, samples))

    async with lab.client("ec2") as ec2, lab.client("elbv2", max_attempts=3) as elbv2:
        _, arn = await _fresh_group(lab, ec2, elbv2, "bench-throttle")
        throttled: list[tuple[float, float]] = []
        for _ in range(REPEATS):
            lab.control.throttle("DescribeTargetHealth", count=1)
            throttled.append(
                await _timed(partial(elbv2.describe_target_health, TargetGroupArn=arn))
            )
        assert lab.control.count("DescribeTargetHealth", outcome="Throttling") == REPEATS
        rows.append(_row("DescribeTargetHealth, 1 throttle + retry", 0, 2, throttled))
    return rows


def test_bench_elb_target_operations() -> None:
    with LabElbProcess() as server:
        lab = ElbLab(server.endpoint_url)
        _LAB[:] = [lab]
        rows = asyncio.run(_run(lab))
    header = (
        f"{'operation':<44} {'targets':>7} {'calls':>5} {'median ms':>9} {'max ms':>8}"
        f" {'lab ms':>8} {'us/target':>9}"
    )
    print()
    print(
        f"lab ELBv2, median of {REPEATS}: end to end from an aiobotocore client, and the part the"
        " lab (child process) spent answering"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(row)
