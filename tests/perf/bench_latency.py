"""Latency: one EndpointSlice change to the RegisterTargets call arriving at the lab.

Run: ``.venv/bin/python -m lbc bench --only latency``.

10,000 pods cached (200 converged bindings x 50 pods), the lab ELB adds no latency. Each of 200
trials adds one ready pod behind a binding (a different binding each time), waits until the
daemon has that pod cached (as in a cluster, where a pod exists well before its endpoint turns
ready), then writes the binding's EndpointSlice with the new endpoint and times until the lab
received the RegisterTargets call (the lab's own handling time is subtracted). Each change is a
lone one (its binding's previous change is 200 trials back), so no pass may be held as part of
a rollout in flight (``lbc_reconcile_holds_total`` stays 0).

Both clocks are the same host's wall clock; the benchmark process also serves the API server,
so the figure includes the API server's watch fan-out, as in a cluster.
"""

from __future__ import annotations

import os
import statistics

import pytest

from tests.perf.benchlab import BenchLab, scaled, total
from tests.perf.conftest import record
from tests.perf.fleet import Fleet, change_to_register

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(200),
]

BINDINGS = 200
PODS = 50
TRIALS = scaled(200, least=10)


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the second largest)."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


async def test_slice_change_reaches_aws_quickly_with_10k_pods_cached(bench_lab: BenchLab) -> None:
    lab = bench_lab
    fleet = Fleet(lab)
    await fleet.build(BINDINGS, PODS)
    daemon = await lab.start_daemon("lbc-latency")
    await lab.wait_idle(daemon, BINDINGS, timeout=120)
    before = await lab.metrics(daemon)

    samples: list[float] = []
    for trial in range(TRIALS):
        app = fleet.apps[trial % len(fleet.apps)]
        fleet.add_pod(app)
        await lab.wait_pods_cached(daemon, sum(len(a.pods) for a in fleet.apps), timeout=30)
        samples.append(await change_to_register(lab, fleet, app))
    after = await lab.metrics(daemon)
    await daemon.stop()
    held = total(after, "lbc_reconcile_holds_total") - total(before, "lbc_reconcile_holds_total")

    note = f"{TRIALS} trials, {BINDINGS * PODS:,} pods cached, AWS latency 0"
    record(
        "latency: slice change -> RegisterTargets p50", percentile(samples, 0.5) * 1e3, "ms", note
    )
    record(
        "latency: slice change -> RegisterTargets p99",
        percentile(samples, 0.99) * 1e3,
        "ms",
        note,
        aim="<= 50",
    )
    record("latency: slice change -> RegisterTargets max", max(samples) * 1e3, "ms", note)
    record(
        "latency: slice change -> RegisterTargets mean",
        statistics.fmean(samples) * 1e3,
        "ms",
        note,
    )
    record(
        "latency: reconciles held",
        held,
        "passes",
        "a lone change is never held back as a rollout in flight",
        aim="== 0",
    )
