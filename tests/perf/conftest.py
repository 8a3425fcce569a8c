"""Shared pieces of the benchmarks: one table of figures, and a lab to run the daemon in.

**Figures.** A benchmark publishes each figure with :func:`record` (``area: what``, value, unit,
note). At the end of the run one combined table of every figure recorded goes to the terminal,
so ``make bench`` prints a single table however many benchmark files ran; with
``LBC_BENCH_JSON=<path>`` the same figures are also written as JSON (for the docs). Figures
are kept in memory only: nothing is compared with a previous run, nothing asserts speed.

**The lab.** :class:`BenchLab` runs the daemon as it runs in production, a separate process
(``python -m lbc run``), against a lab ELBv2/EC2 process and a lab API server that lives in the
benchmark's own process. The API server is in-process on purpose: setup writes tens of
thousands of objects straight into its store (``LabApiServer.create`` inside ``bulk()``),
which is two orders of magnitude faster than the same writes over HTTP, while the daemon still
reaches it only over HTTP. The benchmark process then plays the cluster (kubelet, EndpointSlice
controller) and measures; the daemon gets the other core.

Daemon cost is read from ``/proc/<pid>`` (CPU ticks, VmRSS) and its ``/metrics``; AWS calls
from the lab's call log, Kubernetes writes from the API server's request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import yaml
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from lbc.control.bindings import CHECKPOINT
from lbc.core.binding import FINALIZER
from lbc.core.desired import desired
from lbc.core.ledger import DATA_KEY, configmap_name, encode
from lbc.core.plan import checkpoint_for
from lbc.core.targets import Target
from lbc.kube.ledger import BINDING_LABEL, MANAGED_BY
from lbc.kube.views import (
    binding_view,
    endpoint_slice_view,
    node_view,
    pod_view,
    service_view,
)
from lbc.lab.apiserver import LabApiServer
from lbc.lab.elb_control import LabElbControl
from lbc.lab.elb_scenario import Network, create_network
from lbc.lab.processes import LabProcess, ProcessGroup, free_port
from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "manifests" / "crds" / "targetgroupbindings.yaml"
REGION = "us-east-1"
#: ``LBC_BENCH_SCALE=0.1`` runs every benchmark of this harness at a tenth of its size: for
#: trying a change quickly; published figures are from scale 1.
SCALE = float(os.environ.get("LBC_BENCH_SCALE", "1"))


def scaled(count: int, least: int = 1) -> int:
    return max(least, round(count * SCALE))


# -- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure: ``name`` is ``"<area>: <what>"`` so the table groups by area."""

    name: str
    value: float
    unit: str
    note: str = ""


FIGURES: list[Figure] = []


def record(name: str, value: float, unit: str, note: str = "") -> Figure:
    """Publish a figure for the combined table (also printed at once, for live runs)."""
    figure = Figure(name, float(value), unit, note)
    FIGURES.append(figure)
    print(f"  {name} = {_format(figure.value)} {unit}  {note}".rstrip(), flush=True)
    return figure


def _format(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000 or value == int(value):
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(figures: Iterable[Figure]) -> list[str]:
    """The aligned lines of the combined table."""
    rows = [(f.name, _format(f.value), f.unit, f.note) for f in figures]
    if not rows:
        return []
    head = ("figure", "value", "unit", "note")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = [f"{head[0]:<{widths[0]}}  {head[1]:>{widths[1]}}  {head[2]:<{widths[2]}}  {head[3]}"]
    lines.append("-" * (sum(widths) + 6 + max(len(r[3]) for r in [head, *rows])))
    lines += [
        f"{n:<{widths[0]}}  {v:>{widths[1]}}  {u:<{widths[2]}}  {note}".rstrip()
        for n, v, u, note in rows
    ]
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("benchmark figures")
    for line in table(FIGURES):
        terminalreporter.write_line(line)
    out = os.environ.get("LBC_BENCH_JSON")
    if out:
        Path(out).write_text(json.dumps([asdict(f) for f in FIGURES], indent=1) + "\n")
        terminalreporter.write_line(f"(figures written to {out})")


# -- the daemon process from outside ----------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time a process has run, all its threads, in nanosecond resolution (the scheduler's
    own accounting in /proc/<pid>/task/*/schedstat; /proc/<pid>/stat counts 10 ms ticks)."""
    spent = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            spent += int((task / "schedstat").read_text().split()[0])
    return spent / 1e9


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def pid_of(daemon: LabProcess) -> int:
    if daemon.pid is None:
        raise RuntimeError(f"{daemon.name} is not running")
    return daemon.pid


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(session: aiohttp.ClientSession, daemon: LabProcess) -> Samples:
    """Every sample of the daemon's /metrics: ``(name, sorted labels) -> value``."""
    url = f"{daemon.extra['metrics_url']}/metrics"
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
        text = await resp.text()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for (n, lbls), value in samples.items()
        if n == name and all(dict(lbls).get(k) == v for k, v in labels.items())
    )


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something other than None/False, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)


# -- the lab ----------------------------------------------------------------------------------


class BenchLab:
    """In-process lab API server + lab ELBv2 process + daemons; all stopped on exit.

    ``api`` is the API server (``api.create`` for setup, ``api.faults.requests`` for the
    request log), ``elbv2``/``ec2`` aiobotocore clients and ``control`` the ELB lab's control
    plane, ``net`` a VPC of 10.0.0.0/16 whose addresses pods may use, ``session`` an HTTP
    session for /metrics.
    """

    def __init__(self, workdir: Path, *, time_factor: float = 0.01) -> None:
        self.workdir = workdir
        self.time_factor = time_factor
        self._stack = contextlib.AsyncExitStack()
        self.group = ProcessGroup(workdir)
        self.api: LabApiServer
        self.elb_url = ""
        self.control: LabElbControl
        self.elbv2: Any = None
        self.ec2: Any = None
        self.net: Network
        self.session: aiohttp.ClientSession
        self.scrapes: dict[str, int] = {}

    async def __aenter__(self) -> BenchLab:
        try:
            await self._stack.enter_async_context(self.group)
            self.api = await self._stack.enter_async_context(
                LabApiServer.running(kubeconfig_path=self.workdir / "kubeconfig")
            )
            self.api.create(yaml.safe_load(CRD_PATH.read_text()))
            _proc, self.elb_url = await self.group.elb(
                args=["--time-factor", str(self.time_factor)]
            )
            self.control = LabElbControl(self.elb_url)
            config = AioConfig(
                retries={"mode": "standard", "total_max_attempts": 8}, max_pool_connections=32
            )
            for service in ("elbv2", "ec2"):
                client = await self._stack.enter_async_context(
                    get_session().create_client(
                        service,
                        region_name=REGION,
                        endpoint_url=self.elb_url,
                        aws_access_key_id="lab",
                        aws_secret_access_key="lab",
                        config=config,
                    )
                )
                setattr(self, service, client)
            self.net = await create_network(self.ec2, zones=("a", "b", "c", "d"), subnet_prefix=18)
            self.session = await self._stack.enter_async_context(aiohttp.ClientSession())
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def start_daemon(self, name: str, env: Mapping[str, str] | None = None) -> LabProcess:
        """A daemon at production settings (info logs, no leader election unless asked).

        With ``LBC_BENCH_PROFILE=<dir>`` it runs under pyinstrument (``pip install
        pyinstrument``) and leaves ``<dir>/<name>.txt`` when it stops: for finding where the
        time goes, never for the published figures (the profiler slows the daemon down).
        """
        probe, metrics = free_port(), free_port()
        settings = {
            "LBC_KUBECONFIG": str(self.api.kubeconfig_path),
            "LBC_AWS_ENDPOINT_URL": self.elb_url,
            "LBC_AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "lab",
            "AWS_SECRET_ACCESS_KEY": "lab",
            "LBC_PROBE_ADDR": f"127.0.0.1:{probe}",
            "LBC_METRICS_ADDR": f"127.0.0.1:{metrics}",
            "LBC_CLUSTER_NAME": "bench",
            "LBC_LEADER_ELECT": "false",
            "LBC_LOG_LEVEL": "info",
            "POD_NAME": name,
            "POD_NAMESPACE": "kube-system",
            "PYTHONUNBUFFERED": "1",
            **dict(env or {}),
        }
        base = {k: v for k, v in os.environ.items() if not k.startswith("LBC_")}
        base.pop("KUBECONFIG", None)
        argv = [sys.executable, "-m", "lbc", "run"]
        profile = os.environ.get("LBC_BENCH_PROFILE")
        if profile:
            os.makedirs(profile, exist_ok=True)
            out = Path(profile) / f"{name}.txt"
            argv = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out), *argv[1:]]
        daemon = LabProcess(
            name=name, argv=argv, env={**base, **settings}, log_path=self.workdir / f"{name}.log"
        )
        self.group.processes.append(daemon)  # the group stops it, whatever happens
        await daemon.start()
        daemon.extra.update(
            probe_url=f"http://127.0.0.1:{probe}", metrics_url=f"http://127.0.0.1:{metrics}"
        )
        return daemon

    async def metrics(self, daemon: LabProcess) -> Samples:
        self.check(daemon)
        found = await scrape(self.session, daemon)
        self.scrapes[daemon.name] = self.scrapes.get(daemon.name, 0) + 1
        return found

    async def scrape_cost(self, daemon: LabProcess, samples: int = 20) -> float:
        """CPU seconds one /metrics scrape costs the daemon (measured now, on its current
        metrics): waiting on /metrics charges the daemon for the benchmark's polling, and CPU
        figures subtract ``scrapes x cost``."""
        before = cpu_seconds(pid_of(daemon))
        for _ in range(samples):
            await scrape(self.session, daemon)
        return (cpu_seconds(pid_of(daemon)) - before) / samples

    async def own_cpu(self, daemon: LabProcess, since: tuple[float, int]) -> float:
        """The daemon's CPU seconds since ``since`` (from :meth:`cpu_mark`), less the cost of
        the /metrics scrapes the benchmark made meanwhile."""
        spent = cpu_seconds(pid_of(daemon)) - since[0]
        scrapes = self.scrapes.get(daemon.name, 0) - since[1]
        return spent - scrapes * await self.scrape_cost(daemon)

    def cpu_mark(self, daemon: LabProcess) -> tuple[float, int]:
        return cpu_seconds(pid_of(daemon)), self.scrapes.get(daemon.name, 0)

    @staticmethod
    def check(daemon: LabProcess) -> None:
        if daemon.returncode is not None:
            raise RuntimeError(f"{daemon.name} exited with {daemon.returncode}:\n{daemon.tail()}")

    async def wait_pods_cached(self, daemon: LabProcess, count: int, timeout: float) -> None:
        """Until the daemon's pod informer holds ``count`` pods."""

        async def probe() -> bool:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                found = await self.metrics(daemon)
                return total(found, "lbc_informer_objects", resource="pods") == count
            return False

        await eventually(probe, timeout=timeout, what=f"{count} pods cached", interval=0.1)

    async def wait_idle(self, daemon: LabProcess, reconciles: float, timeout: float) -> Samples:
        """Until the daemon finished ``reconciles`` reconciles and its queue holds no work."""

        async def probe() -> Samples | None:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                found = await self.metrics(daemon)
                done = total(found, "controller_runtime_reconcile_total")
                busy = total(found, "workqueue_depth") + total(
                    found, "controller_runtime_active_workers"
                )
                if done >= reconciles and busy == 0:
                    return found
            return None

        return await eventually(
            probe, timeout=timeout, what=f"{reconciles:g} reconciles", interval=0.1
        )

    def kube_requests(self) -> Counter[tuple[str, str]]:
        """A copy of the API server's request counts by ``(verb, resource)``; subtract two
        copies for what was asked in between (setup writes go to the store, never counted)."""
        return Counter(self.api.faults.requests)


def writes(requests: Counter[tuple[str, str]]) -> dict[str, int]:
    """The write requests among ``requests``, by ``"<verb> <resource>"``."""
    return {
        f"{verb} {resource}": n
        for (verb, resource), n in sorted(requests.items())
        if verb in WRITE_VERBS and n > 0
    }


WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@pytest.fixture
async def bench_lab(tmp_path: Path) -> AsyncIterator[BenchLab]:
    async with BenchLab(tmp_path) as lab:
        yield lab


# -- a fleet of bindings ------------------------------------------------------------------------

NAMESPACE = "bench"
NODES = 10
POD_PORT = 8080
# Pod addresses: counted up from here through four /18 subnets (the whole VPC, 65,000 addresses;
# IP targets must lie in a subnet of the group's VPC). Subnet boundaries are skipped.
_FIRST_POD_IP = int(ipaddress.ip_address("10.0.0.16"))


def pod_object(name: str, app: str, ip: str, *, ready: bool = True) -> dict[str, Any]:
    """A running pod as a kubelet reports it (owner, conditions, container status)."""
    status = "True" if ready else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app": app, "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-7d9f8c6b5",
                    "uid": f"00000000-0000-4000-8000-{abs(hash(app)) % 10**12:012d}",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeName": f"node-{hash(name) % NODES}",
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/app:1.2.3",
                    "ports": [{"containerPort": POD_PORT, "protocol": "TCP"}],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "hostIP": "10.0.0.10",
            "conditions": [
                {"type": t, "status": s, "lastTransitionTime": "2026-11-24T10:00:00Z"}
                for t, s in (
                    ("Initialized", "True"),
                    ("Ready", status),
                    ("ContainersReady", status),
                    ("PodScheduled", "True"),
                )
            ],
            "containerStatuses": [
                {"name": "app", "ready": ready, "restartCount": 0, "started": ready}
            ],
        },
    }


@dataclass(slots=True)
class App:
    """One Service, its pods (name -> ip), its single EndpointSlice and its binding."""

    index: int
    name: str
    arn: str
    pods: dict[str, str]

    @property
    def binding(self) -> str:
        return self.name

    def targets(self) -> set[str]:
        return {f"{ip}:{POD_PORT}" for ip in self.pods.values()}


class Fleet:
    """``bindings`` Services of ``pods`` pods each, bound to target groups, written into the
    lab store directly; optionally already converged (targets registered, ledgers and valid
    checkpoints written, finalizers present) so a starting daemon finds nothing to do.

    Checkpoints are computed with the daemon's own functions (``lbc.kube.views`` projections,
    ``lbc.core.desired``, ``lbc.core.plan.checkpoint_for``), so they match exactly when the
    daemon's inputs are what was written.
    """

    def __init__(self, lab: BenchLab) -> None:
        self.lab = lab
        self.apps: list[App] = []
        self._next_ip = _FIRST_POD_IP
        self._serial = 0

    def new_ip(self) -> str:
        """A fresh pod address (in a subnet of the VPC for the first 65,000; beyond that
        any address, for benchmarks that register nothing)."""
        while self._next_ip % 16384 < 16 or self._next_ip % 16384 == 16383:
            self._next_ip += 1  # AWS reserves a subnet's first four addresses and its last
        ip = str(ipaddress.ip_address(self._next_ip))
        self._next_ip += 1
        return ip

    @property
    def serial(self) -> int:
        return self._serial

    def new_pod_name(self, app: str) -> str:
        self._serial += 1
        return f"{app}-7d9f8c6b5-{self._serial:06x}"

    async def build(self, bindings: int, pods: int, *, converged: bool = True) -> None:
        api = self.lab.api
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        arns = await self._target_groups(bindings)
        with api.bulk():
            for n in range(NODES):
                api.create(node_object(f"node-{n}"))
            for i in range(bindings):
                name = f"svc-{i:04d}"
                app = App(i, name, arns[i], {})
                for _ in range(pods):
                    pod = self.new_pod_name(name)
                    app.pods[pod] = self.new_ip()
                    api.create(pod_object(pod, name, app.pods[pod]))
                api.create(service_object(name))
                api.create(self.slice_object(app))
                self.apps.append(app)
            for app in self.apps:
                api.create(self.binding_object(app, converged=converged))
                if converged:
                    api.create(ledger_object(app))
        if converged:
            await self._register_all()

    async def _target_groups(self, count: int) -> list[str]:
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> str:
            async with gate:
                made = await self.lab.elbv2.create_target_group(
                    Name=f"bench-{i:04d}",
                    Protocol="TCP",
                    Port=80,
                    VpcId=self.lab.net.vpc_id,
                    TargetType="ip",
                )
            arn: str = made["TargetGroups"][0]["TargetGroupArn"]
            return arn

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def _register_all(self) -> None:
        gate = asyncio.Semaphore(8)

        async def one(app: App) -> None:
            targets = [{"Id": ip, "Port": POD_PORT} for ip in app.pods.values()]
            async with gate:
                for start in range(0, len(targets), 200):
                    await self.lab.elbv2.register_targets(
                        TargetGroupArn=app.arn, Targets=targets[start : start + 200]
                    )

        await asyncio.gather(*(one(app) for app in self.apps))

    def slice_object(self, app: App) -> dict[str, Any]:
        """The app's one EndpointSlice as the EndpointSlice controller writes it."""
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{app.name}-abcde",
                "namespace": NAMESPACE,
                "labels": {
                    "kubernetes.io/service-name": app.name,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": [ip],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "nodeName": f"node-{hash(pod) % NODES}",
                    "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": pod},
                }
                for pod, ip in sorted(app.pods.items())
            ],
        }

    def write_slice(self, app: App) -> None:
        """Replace the app's slice in the store with one made from ``app.pods`` (a watch event)."""
        api = self.lab.api
        rtype = api.type_of("discovery.k8s.io/v1", "EndpointSlice")
        name = f"{app.name}-abcde"
        current = api.store.get(rtype.storage, NAMESPACE, name)
        obj = self.slice_object(app)
        if current is not None:
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        api.objects.update(rtype, NAMESPACE, name, obj)

    def binding_object(self, app: App, *, converged: bool) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": app.binding, "namespace": NAMESPACE},
            "spec": {
                "targetGroupARN": app.arn,
                "targetType": "ip",
                "multiClusterTargetGroup": True,
                "serviceRef": {"name": app.name, "port": 80},
            },
        }
        if converged:
            obj["metadata"]["finalizers"] = [FINALIZER]
            obj["metadata"]["annotations"] = {CHECKPOINT: self.checkpoint(app, obj)}
        return obj

    def checkpoint(self, app: App, binding: Mapping[str, Any]) -> str:
        """The checkpoint a successful reconcile of ``binding`` writes for the stored inputs."""
        api = self.lab.api
        pods = {
            (NAMESPACE, name): pod_view(api.get("v1", "Pod", name, NAMESPACE) or {})
            for name in app.pods
        }
        nodes = {
            f"node-{n}": node_view(api.get("v1", "Node", f"node-{n}") or {}) for n in range(NODES)
        }
        wanted = desired(
            binding_view(binding),
            service_view(api.get("v1", "Service", app.name, NAMESPACE) or {}),
            [endpoint_slice_view(self.slice_object(app))],
            lambda ns, name: pods.get((ns, name)),
            nodes,
        )
        if len(wanted.targets) != len(app.pods):
            raise AssertionError(f"{app.name}: desired {len(wanted.targets)} of {len(app.pods)}")
        return checkpoint_for(binding_view(binding), wanted)

    def add_pod(self, app: App, *, ready: bool = True) -> str:
        """A new pod of ``app`` in the store (its slice is not touched)."""
        name = self.new_pod_name(app.name)
        app.pods[name] = self.new_ip()
        self.lab.api.create(pod_object(name, app.name, app.pods[name], ready=ready))
        return name

    def remove_pod(self, app: App, name: str) -> None:
        """Delete a pod from the store and from ``app`` (its slice is not touched)."""
        del app.pods[name]
        rtype = self.lab.api.type_of("v1", "Pod")
        self.lab.api.objects.delete(rtype, NAMESPACE, name)

    async def active_targets(self, app: App) -> set[str]:
        """The group's targets AWS does not report as draining."""
        found = await self.lab.elbv2.describe_target_health(TargetGroupArn=app.arn)
        return {
            f"{d['Target']['Id']}:{d['Target']['Port']}"
            for d in found["TargetHealthDescriptions"]
            if d.get("TargetHealth", {}).get("State") != "draining"
        }


def node_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": "us-east-1a"},
        },
        "spec": {"providerID": f"aws:///us-east-1a/i-{abs(hash(name)) % 10**17:017x}"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}],
        },
    }


def service_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": POD_PORT, "protocol": "TCP"}],
        },
    }


def ledger_object(app: App) -> dict[str, Any]:
    """The ledger ConfigMap the daemon keeps for a converged multi-cluster binding."""
    targets = [Target(ip, POD_PORT) for ip in app.pods.values()]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(app.binding),
            "namespace": NAMESPACE,
            "labels": {MANAGED_BY: "lbc"},
            "annotations": {BINDING_LABEL: app.binding},
        },
        "data": {DATA_KEY: encode(targets)},
    }


async def elb_calls(lab: BenchLab, since: int) -> list[dict[str, Any]]:
    """The lab ELB's call log after ``since``, read without blocking the event loop (which also
    serves the API server to the daemon)."""
    url = f"{lab.elb_url}/_lab/calls?since={since}"
    async with lab.session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
        found: list[dict[str, Any]] = await resp.json()
    return found


async def last_call_seq(lab: BenchLab) -> int:
    calls = await elb_calls(lab, 0)
    return int(calls[-1]["seq"]) if calls else 0


def by_operation(calls: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for call in calls:
        out[call["operation"]] = out.get(call["operation"], 0) + 1
    return dict(sorted(out.items()))


MUTATING = frozenset({"RegisterTargets", "DeregisterTargets"})


async def change_to_register(lab: BenchLab, fleet: Fleet, app: App) -> float:
    """Seconds from writing ``app``'s slice (with the pods it now has) until the lab received the
    RegisterTargets call for its group (receipt = the lab's log time minus its own handling)."""
    mark = await last_call_seq(lab)
    written = time.time()
    fleet.write_slice(app)

    async def arrived() -> float | None:
        for call in await elb_calls(lab, mark):
            if call["operation"] == "RegisterTargets" and call["target_group_arn"] == app.arn:
                return float(call["time"]) - float(call["duration_ms"]) / 1e3 - written
        return None

    return await eventually(
        arrived, timeout=30, what="RegisterTargets after a change", interval=0.005
    )


def log_time(daemon: LabProcess, event: str) -> float:
    """Wall-clock time (epoch seconds) of the first ``event`` in the daemon's JSON log."""
    for line in daemon.log_text().splitlines():
        if f'"{event}"' not in line:
            continue
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("event") == event:
                stamp = str(entry["timestamp"]).replace("Z", "+00:00")
                return datetime.fromisoformat(stamp).timestamp()
    raise AssertionError(f"{daemon.name} never logged {event}")
