"""Churn: 200 bindings x 50 pods, every pod replaced by a rolling restart.

Run: ``.venv/bin/python -m lbc bench --only churn``.

From a converged fleet, every app is restarted the way a Deployment does it with maxSurge 25%
and maxUnavailable 0: 13 new ready pods join the EndpointSlice, then 13 old pods leave it, until
all 50 are new (8 slice changes per binding). All 200 apps restart together, one step every
``STEP`` seconds (the pacing stands for pods starting; it is the workload, not a wait for lbc).

Figures: time from the first write until the last mutating AWS call of the convergence (after
which every group holds exactly the new pods, checked with DescribeTargetHealth); AWS calls
issued by the daemon divided by the minimum (per group and direction ``ceil(changes / 200)``,
200 being the batch limit), and how many of them went out while the workload was still writing
(each a step served before the rollout paused: the excess over the minimum); reconciles held
back while a binding's rollout was in flight; Kubernetes writes by the daemon per binding and
per slice change.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import pytest

from tests.perf.benchlab import (
    MUTATING,
    BenchLab,
    by_operation,
    cpu_seconds,
    elb_calls,
    eventually,
    last_call_seq,
    pid_of,
    scaled,
    total,
    writes,
)
from tests.perf.conftest import record
from tests.perf.fleet import Fleet

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(200),
]

BINDINGS = scaled(200)
PODS = 50
SURGE = 13  # 25% of 50, rounded up, as a Deployment computes maxSurge
STEP = 0.5
BATCH = 200


async def test_rolling_restart_of_every_pod_converges_in_few_calls(bench_lab: BenchLab) -> None:
    lab = bench_lab
    fleet = Fleet(lab)
    await fleet.build(BINDINGS, PODS)
    daemon = await lab.start_daemon("lbc-churn")
    before = await lab.wait_idle(daemon, BINDINGS, timeout=120)
    old = {app.name: sorted(app.pods) for app in fleet.apps}
    mark = await last_call_seq(lab)
    requests = lab.kube_requests()
    cpu = lab.cpu_mark(daemon)

    started = time.time()
    own_started = time.process_time()
    slice_changes = 0
    for step in range(0, PODS, SURGE):
        for app in fleet.apps:
            for _ in old[app.name][step : step + SURGE]:
                fleet.add_pod(app)
            fleet.write_slice(app)
        slice_changes += 1
        await asyncio.sleep(STEP)
        for app in fleet.apps:
            for name in old[app.name][step : step + SURGE]:
                fleet.remove_pod(app, name)
            fleet.write_slice(app)
        slice_changes += 1
        await asyncio.sleep(STEP)
    written = time.time() - started
    daemon_during = cpu_seconds(pid_of(daemon)) - cpu[0]
    own_during = time.process_time() - own_started

    gate = asyncio.Semaphore(8)

    async def converged_one(app_index: int) -> bool:
        app = fleet.apps[app_index]
        async with gate:
            return await fleet.active_targets(app) == app.targets()

    async def converged() -> bool:
        await lab.wait_idle(daemon, 0, timeout=120)
        checks = await asyncio.gather(*(converged_one(i) for i in range(len(fleet.apps))))
        return all(checks)

    await eventually(converged, timeout=150, what="every group holds the new pods", interval=0.5)
    after = await lab.metrics(daemon)
    spent = await lab.own_cpu(daemon, cpu)
    mutating = [c for c in await elb_calls(lab, mark) if c["operation"] in MUTATING]
    assert mutating, "the daemon made no mutating call"
    converged_after = max(float(c["time"]) for c in mutating) - started
    scrape = await lab.scrape_cost(daemon)
    await daemon.stop()

    during = sum(1 for c in mutating if float(c["time"]) < started + written)
    per_direction = Counter((c["operation"], c["target_group_arn"]) for c in mutating)
    repeated = sum(1 for n in per_direction.values() if n > 1)
    held = total(after, "lbc_reconcile_holds_total") - total(before, "lbc_reconcile_holds_total")
    minimum = 0
    for app in fleet.apps:
        replaced = len(old[app.name])
        minimum += 2 * -(-replaced // BATCH)  # register and deregister, per group
    per_op = by_operation(mutating)
    others = {
        op: n
        for op in sorted({dict(labels).get("operation", "") for name, labels in after})
        if op
        and op not in MUTATING
        and (
            n := round(
                total(after, "lbc_aws_api_calls_total", operation=op)
                - total(before, "lbc_aws_api_calls_total", operation=op)
            )
        )
    }
    kube = writes(lab.kube_requests() - requests)
    kube_total = sum(kube.values())
    size = f"{BINDINGS} bindings x {PODS} pods, all replaced"
    record(
        "churn: time to converge", converged_after, "s", f"{size}; workload took {written:.1f} s"
    )
    record(
        "churn: mutating AWS calls / minimum",
        len(mutating) / minimum,
        "x",
        f"{len(mutating)} calls ({', '.join(f'{k} {v}' for k, v in per_op.items())}) / {minimum}",
        aim="<= 1.05",
    )
    record(
        "churn: mutating AWS calls during the workload",
        during,
        "calls",
        f"before the last slice write; {repeated} group directions called more than once",
    )
    record(
        "churn: reconciles held while a rollout was in flight",
        held,
        "passes",
        "lbc_reconcile_holds_total (no AWS call, no write)",
    )
    record(
        "churn: other AWS calls",
        sum(others.values()),
        "calls",
        ", ".join(f"{k} {v}" for k, v in others.items()) or "none",
    )
    record(
        "churn: Kubernetes writes per binding",
        kube_total / BINDINGS,
        "writes",
        ", ".join(f"{k} {v}" for k, v in kube.items()),
    )
    record(
        "churn: Kubernetes writes per binding per change",
        kube_total / BINDINGS / slice_changes,
        "writes",
        f"{slice_changes} slice changes per binding",
    )
    record(
        "churn: daemon CPU per /metrics scrape",
        scrape * 1e3,
        "ms",
        f"{BINDINGS} bindings' series; Prometheus scrapes every 15-60 s",
    )
    record("churn: daemon CPU", spent, "s", "first write to convergence, /metrics polls excluded")
    record(
        "churn: daemon CPU during the workload",
        daemon_during,
        "s",
        f"benchmark process (API server, writes) {own_during:.2f} s",
    )
