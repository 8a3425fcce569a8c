"""CPU per event: the daemon's CPU per pod-update event, against parsing that event's bytes.

Run: ``.venv/bin/python -m lbc bench --only cpu``.

10,000 pods cached; 20,000 status updates are written (a container's restart count changes, the
most common kind of kubelet update, which changes nothing a binding reads). The daemon's CPU
time (user + system, /proc) from the first update until the informer has seen a final marker
event (a marker pod deleted after the updates; one watch stream delivers in order) is divided by
the number of updates. That is done in three rounds (each its own 20,000 updates and marker) and
the best round counts, as the floor is the best of three: what ``orjson.loads`` alone takes on
the same watch-event bytes in this process. Both sides thus drop what a noisy neighbour on the
host costs one round. The ratio says how far the daemon's per-event work (HTTP read, line split,
parse, projection to a view, comparison, handlers) is from the parse alone; every round's figure
is printed.

Waiting for the marker polls the daemon's /metrics, which costs the daemon CPU too; the cost of
one scrape is measured afterwards and subtracted for every scrape made in the window.
"""

from __future__ import annotations

import asyncio
import os
import time

import orjson
import pytest

from tests.perf.benchlab import BenchLab, scaled
from tests.perf.conftest import record
from tests.perf.fleet import NAMESPACE, NODES, Fleet, node_object, pod_object

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(200),
]

PODS = scaled(10_000)
UPDATES = scaled(20_000)
ROUNDS = 3


async def test_pod_update_costs_a_small_multiple_of_parsing_it(bench_lab: BenchLab) -> None:
    lab = bench_lab
    fleet = Fleet(lab)
    api = lab.api
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    names: list[str] = []
    with api.bulk():
        for n in range(NODES):
            api.create(node_object(f"node-{n}"))
        for i in range(PODS + ROUNDS):
            app = f"svc-{i % 200:03d}"
            names.append(fleet.new_pod_name(app))
            api.create(pod_object(names[-1], app, fleet.new_ip()))
    names, markers = names[:PODS], names[PODS:]  # a round ends by deleting a marker pod
    daemon = await lab.start_daemon("lbc-cpu")
    await lab.wait_pods_cached(daemon, PODS + ROUNDS, timeout=60)
    pods = api.type_of("v1", "Pod")

    rounds: list[tuple[float, float]] = []  # (daemon CPU per update, wall) of each round
    events: list[bytes] = []
    for round_ in range(ROUNDS):
        events = []
        cpu = lab.cpu_mark(daemon)
        started = time.monotonic()
        for n in range(UPDATES):
            restarts = round_ * (UPDATES // PODS + 1) + n // PODS + 1
            body = {
                "status": {
                    "containerStatuses": [
                        {"name": "app", "ready": True, "restartCount": restarts, "started": True}
                    ]
                }
            }
            obj = api.objects.patch(
                pods,
                NAMESPACE,
                names[n % PODS],
                patch_type="merge",
                body=body,
                subresource="status",
            )
            # The watch line exactly as the lab API server encodes it for the daemon.
            events.append(orjson.dumps({"type": "MODIFIED", "object": pods.present(obj)}))
            if n % 100 == 99:
                await asyncio.sleep(0)  # let the watch stream carry the updates out
        # The marker: a pod deleted after the updates (one stream delivers in order).
        api.objects.delete(pods, NAMESPACE, markers.pop())
        await lab.wait_pods_cached(daemon, PODS + len(markers), timeout=120)
        spent = await lab.own_cpu(daemon, cpu)
        rounds.append((spent / UPDATES, time.monotonic() - started))
    await daemon.stop()

    parse = min(_parse_all(events) for _ in range(3))
    per_event, wall = min(rounds)
    mean_bytes = sum(map(len, events)) / len(events)
    each = ", ".join(f"{r * 1e6:.1f}" for r, _wall in rounds)
    record(
        "cpu: daemon CPU per pod update",
        per_event * 1e6,
        "us",
        f"best of {ROUNDS} rounds ({each} us) of {UPDATES:,} updates, {PODS:,} pods cached, "
        f"{wall:.1f} s wall",
    )
    record(
        "cpu: orjson.loads per event",
        parse / UPDATES * 1e6,
        "us",
        f"same bytes, {mean_bytes:,.0f} B/event",
    )
    record("cpu: per event / orjson parse", per_event / (parse / UPDATES), "x", "", aim="< 2.5")


def _parse_all(events: list[bytes]) -> float:
    started = time.process_time()
    for raw in events:
        orjson.loads(raw)
    return time.process_time() - started
