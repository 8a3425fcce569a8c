"""Inspector: one shared target group of 5,000 targets bound by three clusters.

Run: ``.venv/bin/python -m lbc bench --only inspect``.

Three lab API servers (in this process, laid out straight into their stores) each hold a
converged MultiCluster binding of a third of the targets: pods, EndpointSlices of 100 endpoints
as the EndpointSlice controller cuts them, the binding and its ledger. The lab ELBv2 (its own
process) holds the 5,000 registered targets plus a few registered by hand (orphans). Measured:

1. ``lbc inspect target-group`` run in this process (``lbc.inspect.command.run``), output JSON:
   the inspection alone, from loading the three kubeconfigs to the rendered document. The API
   servers share this process's event loop, so their work is counted in too;
2. the same as an operator runs it, ``python -m lbc inspect …`` in a child process with the
   table output: wall time including the interpreter's start and imports;
3. the requests made: per cluster one list per resource kind and one ledger get, and one
   DescribeTargetGroups and one DescribeTargetHealth in all (asserted: the figures are the
   counts).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import sys
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from lbc_lab.apiserver.server import LabApiServer
from lbc_lab.elb_control import LabElbControl
from lbc_lab.elb_scenario import create_network
from lbc_lab.processes import ProcessGroup
from tests.integration.inspect.support import (
    CRD_PATH,
    NS,
    POD_PORT,
    binding_object,
    ledger_object,
    ledger_value,
    merged_kubeconfig,
    node_object,
    pod_object,
    service_object,
    slice_object,
    writes,
)
from tests.perf.benchlab import scaled
from tests.perf.conftest import record

#: Runs the inspection in a child process and reports its own timing (after its imports).
CHILD = """
import asyncio, io, json, sys, time
from lbc.inspect.command import run
out, err = io.StringIO(), io.StringIO()
wall, cpu = time.perf_counter(), time.process_time()
code = asyncio.run(run(json.loads(sys.argv[1]), out, err))
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
    import yaml

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
        servers: dict[str, LabApiServer] = {}
        per = TARGETS // len(CLUSTERS)
        for i, name in enumerate(CLUSTERS):
            api = await stack.enter_async_context(
                LabApiServer.running(kubeconfig_path=tmp_path / f"{name}.kubeconfig")
            )
            mine = ips[i * per : (i + 1) * per if i < len(CLUSTERS) - 1 else TARGETS]
            lay_out(api, arn, {f"echoserver-{name}-{n:05d}": ip for n, ip in enumerate(mine)})
            servers[name] = api
        for start in range(0, len(ips), 200):
            await elbv2.register_targets(
                TargetGroupArn=arn,
                Targets=[{"Id": ip, "Port": POD_PORT} for ip in ips[start : start + 200]],
            )
        config = merged_kubeconfig(
            tmp_path / "config", {n: s.kubeconfig_path for n, s in servers.items()}
        )
        argv = ["target-group", arn, "--kubeconfig", str(config)]
        for name in CLUSTERS:
            argv += ["--context", name]
        os.environ.update(
            LBC_AWS_ENDPOINT_URL=elb_url,
            LBC_AWS_REGION=REGION,
            AWS_ACCESS_KEY_ID="lab",
            AWS_SECRET_ACCESS_KEY="lab",
        )

        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(
            LBC_AWS_ENDPOINT_URL=elb_url,
            LBC_AWS_REGION=REGION,
            AWS_ACCESS_KEY_ID="lab",
            AWS_SECRET_ACCESS_KEY="lab",
        )

        # 1. the inspection in its own process, timed there once its imports are done
        mark = control.last_seq()
        before = {name: Counter(api.faults.requests) for name, api in servers.items()}
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
        requests = {
            name: dict(Counter(api.faults.requests) - before[name]) for name, api in servers.items()
        }
        for api in servers.values():
            assert writes(api) == {}
        for counted in requests.values():
            assert all(verb in ("get", "list") for verb, _ in counted), counted

        # 2. as an operator runs it
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lbc", "inspect", *argv,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        table, errors = await proc.communicate()
        process = time.perf_counter() - started
        assert proc.returncode == 1, errors.decode()
        last = table.decode().splitlines()[-1]
        assert last.startswith(f"{TARGETS + ORPHANS} targets: {TARGETS} owned, {ORPHANS} orphan")

    pages = requests["a"][("list", "pods")]
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
    record("inspect: ELBv2 calls", len(calls), "calls", "1 DescribeTargetGroups + 1 Health")
    record(
        "inspect: Kubernetes requests per cluster",
        sum(requests["a"].values()),
        "requests",
        f"1 list per kind ({pages} pages of pods), 1 ledger get; no writes",
    )
