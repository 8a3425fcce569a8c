"""Inspector: one shared target group of 5,000 targets bound by three clusters.

Run: ``.venv/bin/python -m lbc bench --only inspect``.

Three lab API servers, each in a process of its own as real clusters are (laid out straight
into its store: ``python -m tests.perf.bench_inspect`` is that process), each hold a converged
MultiCluster binding of a third of the targets: pods, EndpointSlices of 100 endpoints as the
EndpointSlice controller cuts them, the binding and its ledger. The lab ELBv2 (its own process)
holds the 5,000 registered targets plus a few registered by hand (orphans). Measured:

1. ``lbc inspect target-group … -o json`` in a child process that times itself once its imports
   are done: the inspection alone, wall and CPU (loading the kubeconfigs, every request, the
   verdicts, the rendered document). On a loaded machine the wall time waits on the other
   processes; the CPU time is the inspector's own cost;
2. the same as an operator runs it, ``python -m lbc inspect …`` with the table output: wall time
   including the interpreter's start and imports;
3. the requests made: per cluster one list per resource kind and one ledger get, and one
   DescribeTargetGroups and one DescribeTargetHealth in all (asserted: the figures are counts).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import resource
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiobotocore.session import get_session

from lbc_lab.apiserver.server import LabApiServer
from lbc_lab.elb_control import LabElbControl
from lbc_lab.elb_scenario import create_network
from lbc_lab.processes import ProcessGroup
from tests.integration.inspect.support import (
    CRD_PATH,
    NS,
    POD_PORT,
    ROOT,
    binding_object,
    ledger_object,
    ledger_value,
    merged_kubeconfig,
    node_object,
    pod_object,
    service_object,
    slice_object,
)
from tests.perf.benchlab import scaled
from tests.perf.conftest import record

#: Runs the inspection in a child process and reports its own timing (after its imports).
CHILD = """
import io, json, sys, time
from lbc.inspect.command import main
out, err = io.StringIO(), io.StringIO()
wall, cpu = time.perf_counter(), time.process_time()
code = main(json.loads(sys.argv[1]), out, err)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
doc = json.loads(out.getvalue()) if out.getvalue() else None
print(json.dumps({"code": code, "wall": wall, "cpu": cpu, "err": err.getvalue(), "doc": doc}))
"""

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(600),
]

TARGETS = scaled(5000, least=30)
CLUSTERS = ("a", "b", "c")
ORPHANS = 3
SLICE_SIZE = 100
REGION = "us-east-1"


def addresses(count: int) -> list[str]:
    """Pod addresses inside the VPC's four /18 subnets (skipping reserved ones)."""
    out: list[str] = []
    value = int(ipaddress.ip_address("10.0.0.16"))
    while len(out) < count:
        if value % 16384 >= 16 and value % 16384 != 16383:
            out.append(str(ipaddress.ip_address(value)))
        value += 1
    return out


def lay_out(api: LabApiServer, arn: str, pods: dict[str, str]) -> None:
    api.create(yaml.safe_load(CRD_PATH.read_text()))
    names = sorted(pods)
    with api.bulk():
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        api.create(node_object("node-0"))
        for name in names:
            api.create(pod_object(name, pods[name]))
        api.create(service_object())
        for n, start in enumerate(range(0, len(names), SLICE_SIZE)):
            chunk = {name: pods[name] for name in names[start : start + SLICE_SIZE]}
            obj = slice_object(chunk)
            obj["metadata"]["name"] = f"echoserver-{n:05d}"
            api.create(obj)
        api.create(binding_object(arn))
        api.create(ledger_object("web", ledger_value(pods.values())))


async def serve(kubeconfig: Path, cluster: str, arn: str, ips: list[str]) -> None:
    """One cluster's API server in this process: laid out, then serving until stdin closes,
    when it prints the requests it answered (JSON ``[[verb, resource, count], …]``)."""
    async with LabApiServer.running(kubeconfig_path=kubeconfig) as api:
        lay_out(api, arn, {f"echoserver-{cluster}-{n:05d}": ip for n, ip in enumerate(ips)})
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        counts = [[verb, resource, n] for (verb, resource), n in api.faults.requests.items()]
        print(json.dumps(counts), flush=True)


@dataclass
class Server:
    """A cluster's lab API server in a process of its own (as every real cluster has)."""

    kubeconfig: Path
    proc: asyncio.subprocess.Process

    @classmethod
    @asynccontextmanager
    async def running(
        cls, workdir: Path, cluster: str, arn: str, ips: list[str]
    ) -> AsyncIterator[Server]:
        kubeconfig = workdir / f"{cluster}.kubeconfig"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.perf.bench_inspect", str(kubeconfig), cluster, arn,
            ",".join(ips), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line == b"ready\n", line
            yield cls(kubeconfig, proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def requests(self) -> dict[tuple[str, str], int]:
        """Stop the server; what it answered, by ``(verb, resource)``."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # communicate() without input leaves stdin open
        out, _ = await asyncio.wait_for(self.proc.communicate(), 60)
        counts = json.loads(out.decode().splitlines()[-1])
        return {(verb, resource): n for verb, resource, n in counts}


async def test_inspecting_a_group_of_5000_targets_over_three_clusters(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        group = await stack.enter_async_context(ProcessGroup(tmp_path))
        _proc, elb_url = await group.elb(args=["--time-factor", "0.01"])
        control = LabElbControl(elb_url)
        # AWS's default is 1,000 targets per group; 5,000 is a quota increase away.
        control.configure(target_quota=TARGETS + ORPHANS)
        session = get_session()
        clients: dict[str, Any] = {}
        for service in ("ec2", "elbv2"):
            clients[service] = await stack.enter_async_context(
                session.create_client(
                    service,
                    region_name=REGION,
                    endpoint_url=elb_url,
                    aws_access_key_id="lab",
                    aws_secret_access_key="lab",
                )
            )
        elbv2 = clients["elbv2"]
        net = await create_network(clients["ec2"], zones=("a", "b", "c", "d"), subnet_prefix=18)
        made = await elbv2.create_target_group(
            Name="shared", Protocol="TCP", Port=80, VpcId=net.vpc_id, TargetType="ip"
        )
        arn = made["TargetGroups"][0]["TargetGroupArn"]
        ips = addresses(TARGETS + ORPHANS)
        per = TARGETS // len(CLUSTERS)
        servers: dict[str, Server] = {}
        for i, name in enumerate(CLUSTERS):
            mine = ips[i * per : (i + 1) * per if i < len(CLUSTERS) - 1 else TARGETS]
            servers[name] = await stack.enter_async_context(
                Server.running(tmp_path, name, arn, mine)
            )
        for start in range(0, len(ips), 200):
            await elbv2.register_targets(
                TargetGroupArn=arn,
                Targets=[{"Id": ip, "Port": POD_PORT} for ip in ips[start : start + 200]],
            )
        config = merged_kubeconfig(
            tmp_path / "config", {n: s.kubeconfig for n, s in servers.items()}
        )
        argv = ["target-group", arn, "--kubeconfig", str(config)]
        for name in CLUSTERS:
            argv += ["--context", name]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(
            LBC_AWS_ENDPOINT_URL=elb_url,
            LBC_AWS_REGION=REGION,
            AWS_ACCESS_KEY_ID="lab",
            AWS_SECRET_ACCESS_KEY="lab",
        )

        # 1. the inspection in its own process, timed there once its imports are done
        mark = control.last_seq()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, json.dumps([*argv, "-o", "json"]),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        raw, errors = await child.communicate()
        assert child.returncode == 0, errors.decode()
        measured = json.loads(raw)
        assert measured["code"] == 1, measured["err"]
        doc = measured["doc"]
        assert doc["summary"]["owned"] == TARGETS
        assert doc["summary"]["orphan"] == ORPHANS
        calls = [c.operation for c in control.calls(since=mark)]
        assert sorted(calls) == ["DescribeTargetGroups", "DescribeTargetHealth"]

        # 2. as an operator runs it (CPU: the only child reaped meanwhile is this one)
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lbc", "inspect", *argv,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        table, errors = await proc.communicate()
        process = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        process_cpu = (after.ru_utime + after.ru_stime) - (reaped.ru_utime + reaped.ru_stime)
        assert proc.returncode == 1, errors.decode()
        last = table.decode().splitlines()[-1]
        assert last.startswith(f"{TARGETS + ORPHANS} targets: {TARGETS} owned, {ORPHANS} orphan")
        requests = {name: await server.requests() for name, server in servers.items()}
    for counted in requests.values():
        assert not {verb for verb, _ in counted} - {"get", "list"}, counted
    # Both inspections made the same requests: one each is half of what was counted.
    per_run = {key: n // 2 for key, n in requests["a"].items()}

    pages = per_run[("list", "pods")]
    shape = f"{TARGETS:,} targets over {len(CLUSTERS)} clusters"
    record("inspect: target group, inspection wall", measured["wall"], "s", f"{shape}, JSON")
    record(
        "inspect: target group, inspection CPU",
        measured["cpu"],
        "s",
        "the inspecting process's own CPU (the machine's load does not inflate it)",
    )
    record(
        "inspect: target group, CLI process",
        process,
        "s",
        "python -m lbc inspect, table; interpreter start and imports included",
    )
    record(
        "inspect: target group, CLI process CPU",
        process_cpu,
        "s",
        "the same process's CPU, user + system",
    )
    record("inspect: ELBv2 calls", len(calls), "calls", "1 DescribeTargetGroups + 1 Health")
    record(
        "inspect: Kubernetes requests per cluster",
        sum(per_run.values()),
        "requests",
        f"1 list per kind ({pages} pages of pods), 1 ledger get; no writes",
    )


if __name__ == "__main__":
    path, name, group_arn, listed = sys.argv[1:5]
    asyncio.run(serve(Path(path), name, group_arn, listed.split(",")))
