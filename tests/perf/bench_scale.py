"""Scale: a restart with 10,000 bindings x 20 targets (200,000 targets, 100,000 pods, 2,000 nodes).

Run: ``.venv/bin/python -m lbc bench --only scale``.

The fleet is written straight into the lab (``tests.perf.fleet``): 5,000 Services of 20 pods,
each bound by two TargetGroupBindings to a target group of its own (one Service behind two load
balancers), converged: targets registered, ledgers, finalizers and valid checkpoints. Then, in
one run:

1. **restart with checkpoints**: a daemon at production defaults starts; from just before its
   process starts until every binding was processed (reconciled or skipped) and its queue is
   empty. Aims: under 20 s, no AWS call at all, RSS under 400 MB. Then one EndpointSlice
   change shows the restarted daemon serves changes (time until its RegisterTargets reaches the
   lab).
2. **full reconcile**: that daemon stops, every checkpoint is blanked, a second daemon starts and
   reconciles all 10,000 at the production describe budget (50 describe calls per second):
   one DescribeTargetHealth per binding, so the budget alone allows no less than calls / rate
   seconds. Aim: the sweep (after caches synced) within 1.2x of that minimum, i.e. the daemon
   keeps the budget busy and nothing else paces it. As soon as its caches are synced one slice
   changes: the time until its RegisterTargets shows whether a live change waits behind the
   sweep (it should not: the sweep is queued at low priority).

This one fleet serves both restarts (it was ``bench_restart``'s 1,000 x 50 before; the scale
aim is the same question at ten times the bindings).
"""

from __future__ import annotations

import os
import time

import pytest
from lbc.settings import Settings

from lbc_lab.processes import LabProcess
from tests.perf.benchlab import BenchLab, eventually, scaled
from tests.perf.conftest import record
from tests.perf.fleet import Fleet, blank_checkpoints, change_to_register, checkpointed, restart

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(900),
]

BINDINGS = scaled(10_000)
PER_SERVICE = 2
PODS = 20
NODES = scaled(2000)
#: The production default describe budget, read from the settings so the two cannot drift.
DESCRIBE_RATE = float(Settings.model_fields["aws_describe_calls_per_second"].default)


async def _serve_one_change(lab: BenchLab, fleet: Fleet, daemon: LabProcess) -> float:
    """One new ready pod behind the first binding, once the daemon has the pod cached."""
    app = fleet.apps[0]
    fleet.add_pod(app)
    pods = len({pod for each in fleet.apps for pod in each.pods})
    await lab.wait_pods_cached(daemon, pods, timeout=60)
    return await change_to_register(lab, fleet, app)


async def test_restart_of_10000_bindings_within_budgets(bench_lab: BenchLab) -> None:
    lab = bench_lab
    fleet = Fleet(lab, nodes=NODES)
    started = time.monotonic()
    await fleet.build(BINDINGS, PODS, per_service=PER_SERVICE)
    pods = len({pod for app in fleet.apps for pod in app.pods})
    print(
        f"\nscale: fleet of {BINDINGS:,} bindings x {PODS} targets ({pods:,} pods, {NODES:,}"
        f" nodes) built in {time.monotonic() - started:.1f} s"
    )
    size = f"{BINDINGS:,} bindings x {PODS} targets, {pods:,} pods, {NODES:,} nodes"

    daemon, warm = await restart(lab, fleet, "lbc-scale", timeout=300)
    served = await _serve_one_change(lab, fleet, daemon)
    await daemon.stop()
    record(
        "scale: restart, every binding processed",
        warm["seconds"],
        "s",
        f"{size}; process start to all reconciled or skipped",
        aim="< 20",
    )
    record(
        "scale: restart, of which after caches synced",
        warm["sweep"],
        "s",
        f"caches synced after {warm['synced']:.1f} s; {warm['reconciles']:,.0f} reconciles",
    )
    record(
        "scale: restart, AWS calls",
        sum(warm["calls"].values()),
        "calls",
        ", ".join(f"{op} {n}" for op, n in warm["calls"].items()) or "none",
        aim="== 0",
    )
    record("scale: restart, daemon RSS", warm["rss"] / 1e6, "MB", "once all processed", aim="< 400")
    record(
        "scale: restart, checkpoint skips",
        warm["skips"],
        "bindings",
        f"of {BINDINGS:,}",
        aim=f">= {BINDINGS}",
    )
    record("scale: restart, daemon CPU", warm["cpu"], "s", "start-up included")
    record(
        "scale: restart, change served after it",
        served * 1e3,
        "ms",
        "one slice write -> RegisterTargets at the lab",
    )

    blank_checkpoints(lab, fleet)
    last = fleet.apps[-1]
    fleet.add_pod(last)  # in the initial list; its endpoint appears once the sweep has begun
    # Polled every second: a /metrics scrape costs the daemon milliseconds, and the sweep's
    # minutes make a second's resolution enough.
    daemon, cold = await restart(
        lab,
        fleet,
        "lbc-scale-full",
        during=lambda: change_to_register(lab, fleet, last),
        timeout=BINDINGS / 10 + 120,
        interval=1.0,
    )
    await eventually(
        lambda: checkpointed(lab, fleet) == BINDINGS,
        timeout=60,
        what="every checkpoint written again",
    )
    await daemon.stop()
    describes = sum(n for op, n in cold["calls"].items() if op.startswith("Describe"))
    minimum = describes / DESCRIBE_RATE
    record(
        "scale: full reconcile, sweep after caches synced",
        cold["sweep"],
        "s",
        f"checkpoints blanked; process start to all reconciled {cold['seconds']:.0f} s",
    )
    record(
        "scale: full reconcile, minimum at the describe budget",
        minimum,
        "s",
        f"{describes:,} describes / {DESCRIBE_RATE:g} per s; all calls:"
        f" {', '.join(f'{op} {n}' for op, n in cold['calls'].items())}",
    )
    record(
        "scale: full reconcile / minimum",
        cold["sweep"] / minimum,
        "x",
        "sweep after caches synced over calls / rate",
        aim="<= 1.2",
    )
    record(
        "scale: full reconcile, change served during it",
        cold["during"] * 1e3,
        "ms",
        "slice write just after caches synced -> RegisterTargets (the sweep is low priority)",
    )
    record("scale: full reconcile, daemon CPU", cold["cpu"], "s", "start-up included")
    record("scale: full reconcile, daemon RSS", cold["rss"] / 1e6, "MB", "once all reconciled")
    assert sum(warm["calls"].values()) == 0, warm["calls"]
    assert warm["skips"] >= BINDINGS
