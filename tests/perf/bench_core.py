"""The pure core's hot paths: plan() on a large target group, desired() on a large Service.

Run: ``.venv/bin/python -m lbc bench --only core``. Prints figures (best and median of several
runs, one core); asserts only that the work was done, never how fast.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from lbc.core.binding import parse_binding
from lbc.core.desired import DesiredSet, DesiredTarget, Resolution, desired_ip
from lbc.core.ledger import ABSENT, LedgerPresent, decode, encode
from lbc.core.objects import (
    EndpointSliceView,
    EndpointView,
    NodeView,
    PodView,
    ServicePortView,
    ServiceView,
    SlicePort,
)
from lbc.core.plan import plan
from lbc.core.targets import HealthState, Target, TargetHealth

RUNS = 15


def _binding(multi_cluster: bool) -> Any:
    return parse_binding(
        {
            "metadata": {
                "name": "web",
                "namespace": "shop",
                "finalizers": ["elbv2.k8s.aws/resources"],
            },
            "spec": {
                "targetGroupARN": "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web/1",
                "targetType": "ip",
                "multiClusterTargetGroup": multi_cluster,
                "serviceRef": {"name": "web", "port": 80},
            },
        }
    )


def _ip(i: int, net: int = 0) -> str:
    return f"10.{net}.{i // 250}.{i % 250 + 1}"


def _time(fn: Callable[[], object]) -> tuple[float, float]:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples), statistics.median(samples)


def _row(name: str, size: str, timing: tuple[float, float]) -> str:
    best, median = timing
    return f"{name:<46} {size:>16} {best * 1e3:>9.2f} {median * 1e3:>9.2f}"


def _plan_inputs() -> tuple[DesiredSet, dict[Target, TargetHealth], LedgerPresent]:
    # 1,000 desired, 1,000 observed: 700 in both, 300 to register, 200 of ours to deregister,
    # 50 draining, 50 of another cluster.
    desired_targets = [Target(_ip(i), 8080) for i in range(1000)]
    desired = DesiredSet(
        Resolution.RESOLVED,
        {t: DesiredTarget(t, 1_700_000_000_000 + i) for i, t in enumerate(desired_targets)},
    )
    observed: dict[Target, TargetHealth] = {}
    healthy = TargetHealth(HealthState.HEALTHY)
    for t in desired_targets[:700]:
        observed[t] = healthy
    for i in range(1000, 1200):
        observed[Target(_ip(i), 8080)] = healthy
    for i in range(1200, 1250):
        observed[Target(_ip(i), 8080)] = TargetHealth(HealthState.DRAINING)
    for i in range(50):
        observed[Target(_ip(i, net=1), 8080)] = healthy
    ledger = LedgerPresent(
        frozenset(desired_targets[:700]) | {Target(_ip(i), 8080) for i in range(1000, 1200)}
    )
    return desired, observed, ledger


def _service_inputs(
    endpoints: int,
) -> tuple[
    ServiceView, list[EndpointSliceView], dict[tuple[str, str], PodView], dict[str, NodeView]
]:
    service = ServiceView(
        "shop", "web", "ClusterIP", (ServicePortView("http", 80, 8080, None),), {"app": "web"}
    )
    nodes = {
        f"node-{n}": NodeView(f"node-{n}", {}, f"aws:///eu-west-1a/i-0{n:08x}", "True", 0)
        for n in range(100)
    }
    pods: dict[tuple[str, str], PodView] = {}
    slices = []
    for s in range(0, endpoints, 100):
        eps = []
        for i in range(s, min(s + 100, endpoints)):
            name = f"web-{i}"
            node = f"node-{i % 100}"
            pods[("shop", name)] = PodView(
                "shop", name, f"uid-{i}", _ip(i), node, 1_700_000_000_000 + i, (), True
            )
            # One in ten endpoints is not ready yet (readiness-gated): the slower path.
            ready = i % 10 != 0
            eps.append(EndpointView((_ip(i),), ready, ready, False, ("shop", name), node))
        slices.append(
            EndpointSliceView(
                "shop", f"web-{s}", "web", "IPv4", (SlicePort("http", 8080),), tuple(eps)
            )
        )
    return service, slices, pods, nodes


def test_bench_core() -> None:
    rows = []
    desired, observed, ledger = _plan_inputs()
    for mc in (False, True):
        b = _binding(mc)
        result = plan(b, desired, observed, ledger if mc else ABSENT)
        assert result.summary.to_register == 300
        rows.append(
            _row(
                f"plan() {'MultiCluster' if mc else 'normal'}",
                "1000 x 1000",
                _time(lambda b=b, mc=mc: plan(b, desired, observed, ledger if mc else ABSENT)),
            )
        )

    b = _binding(False)
    for size in (5000, 20000):
        service, slices, pods, nodes = _service_inputs(size)
        got = desired_ip(b, service, slices, lambda ns, n, pods=pods: pods.get((ns, n)), nodes)
        assert len(got.targets) == size
        rows.append(
            _row(
                "desired() ip, 1 in 10 endpoints not ready",
                f"{size} endpoints",
                _time(
                    lambda service=service, slices=slices, pods=pods, nodes=nodes: desired_ip(
                        b, service, slices, lambda ns, n: pods.get((ns, n)), nodes
                    )
                ),
            )
        )
        rows.append(
            _row("endpoints hash (checkpoint)", f"{size} endpoints", _time(got.endpoints_hash))
        )

    targets = frozenset(Target(_ip(i), 8080) for i in range(5000))
    text = encode(targets)
    assert decode(text) == targets
    rows.append(_row("ledger encode", "5000 targets", _time(lambda: encode(targets))))
    rows.append(_row("ledger decode", "5000 targets", _time(lambda: decode(text))))

    print()
    title = f"core (one core, {RUNS} runs)"
    print(f"{title:<46} {'size':>16} {'best ms':>9} {'median ms':>9}")
    for row in rows:
        print(row)
