"""Restart: 1,000 unchanged bindings x 50 registered targets, with and without checkpoints.

Run: ``.venv/bin/python -m lbc bench --only restart``.

The fleet is written straight into the lab store already converged: targets registered in the
lab ELB, ledgers written, finalizers present and checkpoints that match (computed with the
daemon's own functions). Then, in one run:

1. a daemon starts and the time until every binding was reconciled and the queue is empty is
   measured, with every AWS call it made (the aim: none) and every Kubernetes write;
2. one EndpointSlice change is made to show the restarted daemon serves changes (time until
   the RegisterTargets call reaches the lab);
3. that daemon stops, every checkpoint is blanked (``""`` means "reconcile fully"), and a
   second daemon starts: the same figures for a full reconcile of everything, and the ratio.
   As soon as its caches are synced one slice changes: the time until its RegisterTargets shows
   whether a live change waits behind the sweep (it should not: the sweep is queued at low
   priority).

The daemon runs at its production defaults (4 workers, 50 describes/s, drift verification every
300 s with the first one after a restart drawn from the second half of the period).
"""

from __future__ import annotations

import os
import time

import pytest

from lbc_lab.processes import LabProcess
from tests.perf.benchlab import (
    MUTATING,
    BenchLab,
    eventually,
    scaled,
)
from tests.perf.conftest import record
from tests.perf.fleet import (
    Fleet,
    blank_checkpoints,
    change_to_register,
    checkpointed,
    restart,
)

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(280),
]

BINDINGS = scaled(1000)
PODS = 50


async def _serve_one_change(lab: BenchLab, fleet: Fleet, daemon: LabProcess) -> float:
    """One new ready pod behind the first binding, once the daemon has the pod cached."""
    app = fleet.apps[0]
    fleet.add_pod(app)
    await lab.wait_pods_cached(daemon, sum(len(a.pods) for a in fleet.apps), timeout=30)
    return await change_to_register(lab, fleet, app)


def _summary(calls: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in calls.items()) or "none"


async def test_restart_with_valid_checkpoints_makes_no_aws_call(bench_lab: BenchLab) -> None:
    lab = bench_lab
    fleet = Fleet(lab)
    started = time.monotonic()
    await fleet.build(BINDINGS, PODS)
    print(f"\nrestart: fleet of {BINDINGS} x {PODS} built in {time.monotonic() - started:.1f} s")

    daemon, warm = await restart(lab, fleet, "lbc-restart")
    served = await _serve_one_change(lab, fleet, daemon)
    await daemon.stop()
    blank_checkpoints(lab, fleet)
    last = fleet.apps[-1]
    fleet.add_pod(last)  # in the initial list; its endpoint appears once the sweep has begun
    daemon, cold = await restart(
        lab, fleet, "lbc-full", during=lambda: change_to_register(lab, fleet, last)
    )
    await eventually(
        lambda: _async(checkpointed(lab, fleet) == BINDINGS),
        timeout=30,
        what="every checkpoint written again",
    )
    await daemon.stop()

    size = f"{BINDINGS} bindings x {PODS} targets"
    warm_mutating = sum(n for op, n in warm["calls"].items() if op in MUTATING)
    record(
        "restart: time to reconcile all, checkpoints",
        warm["seconds"],
        "s",
        f"{size}; start to empty queue",
    )
    record(
        "restart: of which caches synced",
        warm["synced"],
        "s",
        f"process start, lists of {BINDINGS * PODS:,} pods and the rest",
    )
    record(
        "restart: of which sweep after sync, checkpoints",
        warm["sweep"],
        "s",
        f"{BINDINGS} reconciles, all skipped",
    )
    record(
        "restart: change served after restart",
        served * 1e3,
        "ms",
        "one slice write -> RegisterTargets at the lab",
    )
    record(
        "restart: AWS calls, checkpoints",
        sum(warm["calls"].values()),
        "calls",
        f"{_summary(warm['calls'])}; mutating {warm_mutating}",
        aim="== 0",
    )
    record(
        "restart: checkpoint skips",
        warm["skips"],
        "bindings",
        f"of {BINDINGS} ({warm['reconciles']:.0f} reconciles)",
        aim=f">= {BINDINGS}",
    )
    record(
        "restart: Kubernetes writes, checkpoints",
        sum(warm["writes"].values()),
        "writes",
        ", ".join(f"{k} {v}" for k, v in warm["writes"].items()) or "none",
    )
    record(
        "restart: daemon CPU, checkpoints",
        warm["cpu"],
        "s",
        "start-up included, /metrics polls excluded",
    )
    record(
        "restart: daemon RSS, checkpoints",
        warm["rss"] / 1e6,
        "MB",
        f"{BINDINGS * PODS:,} pods, {BINDINGS} bindings cached",
    )
    record(
        "restart: time to reconcile all, full",
        cold["seconds"],
        "s",
        f"{size}; checkpoints blanked",
    )
    record(
        "restart: AWS calls, full",
        sum(cold["calls"].values()),
        "calls",
        f"{_summary(cold['calls'])} (the change below: 1 RegisterTargets)",
    )
    record(
        "restart: change served during the full sweep",
        cold["during"] * 1e3,
        "ms",
        "slice write just after caches synced -> RegisterTargets",
    )
    record(
        "restart: Kubernetes writes, full",
        sum(cold["writes"].values()),
        "writes",
        ", ".join(f"{k} {v}" for k, v in cold["writes"].items()) or "none",
    )
    record(
        "restart: of which sweep after sync, full",
        cold["sweep"],
        "s",
        f"caches synced after {cold['synced']:.1f} s",
    )
    record(
        "restart: daemon CPU, full", cold["cpu"], "s", "start-up included, /metrics polls excluded"
    )
    record(
        "restart: full / checkpoints",
        cold["seconds"] / warm["seconds"],
        "x",
        "time ratio, same run",
    )
    record(
        "restart: full / checkpoints, sweep only",
        cold["sweep"] / warm["sweep"],
        "x",
        "after caches synced",
    )


async def _async(value: bool) -> bool:
    return value
