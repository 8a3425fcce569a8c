"""The lab for benchmarks of the daemon process, and the daemon seen from outside.

:class:`BenchLab` runs the daemon as it runs in production, a separate process (``python -m lbc
run``), against a lab ELBv2/EC2 process and a lab API server that lives in the benchmark's own
process. The API server is in-process on purpose: setup writes tens of thousands of objects
straight into its store (``LabApiServer.create`` inside ``bulk()``), two orders of magnitude
faster than the same writes over HTTP, while the daemon still reaches it only over HTTP. The
benchmark process then plays the cluster (kubelet, EndpointSlice controller) and measures; the
daemon gets the other core.

Daemon cost is read from ``/proc/<pid>`` (scheduler CPU time, VmRSS) and its ``/metrics``; AWS
calls from the lab ELB's call log, Kubernetes writes from the API server's request counts.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from prometheus_client.parser import text_string_to_metric_families

from lbc_lab.apiserver import LabApiServer
from lbc_lab.elb_control import LabElbControl
from lbc_lab.elb_scenario import Network, create_network
from lbc_lab.processes import LabProcess, ProcessGroup, free_port
from lbc_lab.scenario import eventually

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "manifests" / "crds" / "targetgroupbindings.yaml"
REGION = "us-east-1"
#: ``LBC_BENCH_SCALE=0.1`` runs every benchmark of this harness at a tenth of its size: for
#: trying a change quickly; published figures are from scale 1.
SCALE = float(os.environ.get("LBC_BENCH_SCALE", "1"))


def scaled(count: int, least: int = 1) -> int:
    return max(least, round(count * SCALE))


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

    async def wait_idle(
        self, daemon: LabProcess, reconciles: float, timeout: float, interval: float = 0.1
    ) -> Samples:
        """Until the daemon finished ``reconciles`` reconciles and its queue holds no work.

        Every poll is a /metrics scrape the daemon serves (milliseconds of its CPU): waits of
        minutes poll less often (``interval``) so the benchmark does not slow what it times."""

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
            probe, timeout=timeout, what=f"{reconciles:g} reconciles", interval=interval
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
