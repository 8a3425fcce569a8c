"""Informer benchmarks: memory per cached pod view, and watch events per second on one core.

Run with ``python -m lbc bench --only informer``. Prints two small tables; asserts nothing
about speed (the figures depend on the machine).

1. **Memory**: 50,000 realistic pod objects (labels, owner reference, managedFields, one
   container, five conditions, status) are fed through an informer's event path and cached as
   ``lbc.kube.views.pod_view`` projections. tracemalloc measures what stays allocated after the
   raw dicts are gone: store dict, keys, views, index entries. Aim: under 600 bytes per pod.
2. **Throughput**: the same kind of pods as a watch stream (adds, status updates, deletes and
   bookmarks, one JSON line each) served over HTTP by a separate process; the informer reads it
   through ``KubeClient.watch``. CPU seconds of this process are compared with the floor:
   ``orjson.loads`` of the same lines alone. Aim: within 3x of that floor.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from kubernetes_asyncio.client import ApiClient, Configuration
from lbc.kube.client import PODS, KubeClient, WatchEvent, _watch_event
from lbc.kube.informer import EventHandlers, Informer, Store, meta_key, namespace_index
from lbc.kube.views import pod_view

from tests.perf.benchlab import scaled
from tests.perf.conftest import record

pytestmark = pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark")

PODS_CACHED = scaled(50_000)
EVENTS_STREAMED = scaled(60_000)


def realistic_pod(i: int, rv: int, *, ready: bool = True) -> dict[str, Any]:
    ns = f"team-{i % 40}"
    app = f"svc-{i % 500}"
    name = f"{app}-7d9f8c6b5-{i:06x}"
    node = f"ip-10-0-{i % 64}-{i % 200}.eu-west-1.compute.internal"
    ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    stamp = "2026-11-24T10:00:00Z"
    cond_status = "True" if ready else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{app}-7d9f8c6b5-",
            "namespace": ns,
            "uid": f"6f1c2a3b-0000-4000-8000-{i:012x}",
            "resourceVersion": str(rv),
            "creationTimestamp": stamp,
            "labels": {"app": app, "pod-template-hash": "7d9f8c6b5", "team": ns},
            "annotations": {"kubectl.kubernetes.io/restartedAt": stamp},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-7d9f8c6b5",
                    "uid": f"0b1c2d3e-0000-4000-8000-{i % 500:012x}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": stamp,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}},
                    },
                },
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": stamp,
                    "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": {"f:status": {"f:conditions": {}, "f:podIP": {}, "f:podIPs": {}}},
                },
            ],
        },
        "spec": {
            "nodeName": node,
            "serviceAccountName": "default",
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "readinessGates": [{"conditionType": f"target-health.elbv2.k8s.aws/{app}"}],
            "containers": [
                {
                    "name": "app",
                    "image": f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{app}:1.4.2",
                    "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                    "env": [{"name": "LOG_LEVEL", "value": "info"}],
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                    "volumeMounts": [
                        {
                            "name": "kube-api-access",
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                            "readOnly": True,
                        }
                    ],
                }
            ],
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": f"10.0.{i % 64}.{i % 200}",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": stamp,
            "qosClass": "Burstable",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
                {"type": "Ready", "status": cond_status, "lastTransitionTime": stamp},
                {"type": "ContainersReady", "status": cond_status, "lastTransitionTime": stamp},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
                {
                    "type": f"target-health.elbv2.k8s.aws/{app}",
                    "status": cond_status,
                    "reason": "Elb.Healthy" if ready else "Elb.RegistrationInProgress",
                    "lastTransitionTime": stamp,
                },
            ],
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": ready,
                    "restartCount": 0,
                    "image": f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{app}:1.4.2",
                    "imageID": "sha256:" + "ab" * 32,
                    "containerID": "containerd://" + f"{i:064x}",
                    "started": True,
                    "state": {"running": {"startedAt": stamp}},
                }
            ],
        },
    }


class _NoClient:
    """The memory benchmark feeds events by hand; the informer never calls its client."""


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value:>14}")


def lines_of(fn: Callable[..., object]) -> tuple[str, range]:
    """The file and line numbers of a function's source (to attribute tracemalloc's lines)."""
    source, first = inspect.getsourcelines(fn)
    return inspect.getsourcefile(fn) or "", range(first, first + len(source))


def retained_by_part(
    build: Callable[[], object], parts: dict[str, list[Callable[..., object]]]
) -> tuple[dict[str, float], object]:
    """Bytes per pod still allocated after ``build()`` returns (its result kept alive), by the
    part of ``parts`` whose functions allocated them; ``"views"`` gets the rest."""
    places = {name: [lines_of(fn) for fn in fns] for name, fns in parts.items()}
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = build()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    found = dict.fromkeys([*parts, "views"], 0.0)
    for stat in after.compare_to(before, "lineno"):
        frame = stat.traceback[0]
        part = next(
            (
                name
                for name, spots in places.items()
                if any(frame.filename == f and frame.lineno in r for f, r in spots)
            ),
            "views",
        )
        found[part] += stat.size_diff / PODS_CACHED
    return found, kept


def test_bench_informer_memory_per_cached_pod() -> None:
    lines = [orjson.dumps(realistic_pod(i, 1000 + i)) for i in range(PODS_CACHED)]
    raw_bytes = sum(len(b) for b in lines)

    def build() -> object:
        indexers = {"namespace": namespace_index, "node": lambda v: (v.node_name,)}
        informer = Informer(cast(KubeClient, _NoClient()), PODS, pod_view, indexers=indexers)
        for line in lines:  # the watch path, minus HTTP
            informer._apply(WatchEvent("ADDED", orjson.loads(line)))
        assert len(informer.store) == PODS_CACHED
        return informer

    # One build, its allocations told apart by the code that made them (one build instead of
    # three keeps this benchmark's share of `make bench` small).
    parts, kept = retained_by_part(
        build, {"store": [Store.put, meta_key], "indexes": [Store._index]}
    )
    del kept
    indexed = sum(parts.values())
    print_table(
        f"informer memory, {PODS_CACHED:,} pods cached as lbc.kube.views.pod_view (bytes/pod)",
        [
            ("raw JSON of one pod", f"{raw_bytes / PODS_CACHED:,.0f}"),
            ("PodView and the strings it keeps", f"{parts['views']:,.0f}"),
            ("  + store key and dict entry", f"{parts['store']:,.0f}"),
            ("  + namespace and node indexes", f"{parts['indexes']:,.0f}"),
            ("informer store and indexes", f"{indexed:,.0f}"),
            ("aim for the cached view", "< 600"),
        ],
    )
    record(
        "informer: store + indexes per cached pod",
        indexed,
        "B/pod",
        f"{PODS_CACHED:,} pods, tracemalloc, views + key + dict + indexes",
        aim="< 600",
    )


SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from aiohttp import web

    path, port = sys.argv[1], int(sys.argv[2])
    body = open(path, "rb").read()

    async def pods(request):
        if request.query.get("watch") != "true":
            return web.json_response(
                {"kind": "PodList", "items": [], "metadata": {"resourceVersion": "1"}}
            )
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        if request.query.get("resourceVersion") == "1":
            await resp.write(body)
        else:
            await asyncio.sleep(30)
        return resp

    async def main():
        app = web.Application()
        app.router.add_get("/api/v1/pods", pods)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await asyncio.sleep(120)  # stops by itself

    asyncio.run(main())
    """
)


def stream_lines() -> list[bytes]:
    """Adds, readiness flips, deletes and bookmarks, as a busy cluster's pod watch sends them."""
    lines: list[bytes] = []
    rv = 1
    adds = EVENTS_STREAMED // 2
    for i in range(adds):
        rv += 1
        lines.append(orjson.dumps({"type": "ADDED", "object": realistic_pod(i, rv, ready=False)}))
    for i in range(EVENTS_STREAMED - adds - adds // 10 - 30):
        rv += 1
        pod = realistic_pod(i % adds, rv, ready=True)
        lines.append(orjson.dumps({"type": "MODIFIED", "object": pod}))
    for i in range(adds // 10):
        rv += 1
        lines.append(orjson.dumps({"type": "DELETED", "object": realistic_pod(i, rv)}))
    for _ in range(30):
        bookmark = {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}}
        lines.append(orjson.dumps({"type": "BOOKMARK", "object": bookmark}))
    return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def consume(port: int, expected: int) -> tuple[float, float, int]:
    api = ApiClient(configuration=Configuration(host=f"http://127.0.0.1:{port}"))
    informer = Informer(KubeClient(api, timeout=10), PODS, pod_view, inactivity_timeout=60)
    seen = 0
    done = asyncio.Event()

    def count(*_args: Any) -> None:
        nonlocal seen
        seen += 1
        if seen >= expected:
            done.set()

    informer.add_handlers(EventHandlers(on_add=count, on_update=count, on_delete=count))
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), 10)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.wait_for(done.wait(), 120)
        return time.process_time() - cpu0, time.perf_counter() - wall0, len(informer.store)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.close()


def in_process(lines: list[bytes]) -> float:
    """CPU seconds of the client's line decoding plus the informer, without the socket."""
    informer = Informer(cast(KubeClient, _NoClient()), PODS, pod_view)
    informer.add_handlers(EventHandlers())
    gc.collect()
    started = time.process_time()
    for line in lines:
        informer._apply(_watch_event(line, "bench"))
    return time.process_time() - started


def test_bench_informer_watch_events_per_second() -> None:
    lines = stream_lines()
    delivered = sum(1 for line in lines if b'"BOOKMARK"' not in line[:20])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(path), str(port)],
            stdout=subprocess.PIPE,
        )
        try:
            assert server.stdout is not None
            assert server.stdout.readline().strip() == b"ready"
            cpu, wall, cached = asyncio.run(consume(port, delivered))
        finally:
            server.kill()
            server.wait(timeout=10)
    gc.collect()
    floor0 = time.process_time()
    for line in lines:
        orjson.loads(line)
    floor = time.process_time() - floor0
    inproc = in_process(lines)
    total_bytes = sum(len(b) for b in lines)
    print_table(
        f"informer watch throughput, {len(lines):,} events "
        f"({total_bytes / len(lines):,.0f} B each)",
        [
            ("events/s (CPU of the informer process)", f"{len(lines) / cpu:,.0f}"),
            ("events/s (wall clock)", f"{len(lines) / wall:,.0f}"),
            ("orjson.loads alone, events/s (floor)", f"{len(lines) / floor:,.0f}"),
            ("informer CPU / orjson floor", f"{cpu / floor:,.2f}x"),
            ("same without HTTP (decode+project+store)", f"{inproc / floor:,.2f}x"),
            ("aim", "< 3x"),
            ("pods cached at the end", f"{cached:,}"),
        ],
    )
    record(
        "informer: watch CPU / orjson floor",
        cpu / floor,
        "x",
        f"{len(lines):,} events over HTTP, KubeClient.watch",
        aim="< 3",
    )
    record(
        "informer: same without HTTP / orjson floor", inproc / floor, "x", "decode+project+store"
    )
