"""Restart with 50 unchanged Ingress stacks: AWS calls of the stack controller after a restart.

Run: ``.venv/bin/python -m lbc bench --only stacks``.

A daemon builds 50 Ingress stacks on the lab (one implicit group each: an ALB, its frontend
security group, a listener, a rule, a target group and a generated binding), then stops. A
second daemon starts on the unchanged cluster and reconciles every group once. The figures are
per stack, so 50 stacks show what 200 did (the account listings, shared by every stack, are
the only per-stack figures that shrink as stacks are added) at a quarter of the build, which
the lab's moto makes slower with every load balancer it holds. Figures:

- mutating AWS calls after the restart (goal 0; the stack controller's and the binding
  controller's: creates, deletes, modifies, tags, registrations);
- describe calls per stack after the restart (goal: bounded by pagination and 20-ARN
  DescribeTags batches, not a call per resource): the account listings are shared by every
  stack, so what remains per stack is DescribeListeners and DescribeRules of its load balancer;
- the time from the daemon's start until every group was reconciled.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lbc_lab.processes import LabProcess
from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import NS, POD_CIDR_A
from tests.e2e.stacks import (
    calls,
    last_seq,
    reconciles,
    seed_ingress,
    stack_cluster,
    tag_subnets_for_load_balancers,
)
from tests.perf.benchlab import log_time, scaled
from tests.perf.conftest import record

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(2400),
]

STACKS = scaled(50)
NODES = 2  # stack_cluster's nodes: each generated (instance) binding registers both
MUTATING = ("Create", "Delete", "Modify", "Set", "Add", "Remove", "Register", "Deregister",
            "Authorize", "Revoke")  # fmt: skip
FAST = {"LBC_AWS_CALLS_PER_SECOND": "500", "LBC_AWS_DESCRIBE_CALLS_PER_SECOND": "1000"}


def last_log_time(daemon: LabProcess, event: str) -> float:
    """Wall-clock time (epoch seconds) of the last ``event`` in the daemon's JSON log."""
    stamps = [
        json.loads(line)["timestamp"]
        for line in daemon.log_text().splitlines()
        if f'"event":"{event}"' in line
    ]
    return datetime.fromisoformat(max(stamps).replace("Z", "+00:00")).timestamp()


def ingress(n: int) -> dict[str, Any]:
    doc = seed_ingress()
    doc["metadata"]["name"] = f"web-{n:03d}"
    return doc


async def test_restart_with_unchanged_ingress_stacks_makes_no_mutating_call(
    tmp_path: Path,
) -> None:
    async with World(time_factor=0.02, workdir=tmp_path) as world:
        await tag_subnets_for_load_balancers(world)
        a, kubectl, daemon = await stack_cluster(world, "a", pod_cidr=POD_CIDR_A)
        await daemon.stop()
        a.daemons.remove(daemon)
        for n in range(STACKS):
            await a.kube.request(
                "POST", f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses", ingress(n)
            )
        env = {"LBC_STACKS": "ingress", "LBC_VPC_ID": world.net.vpc_id, **FAST}
        builder = await world.start_daemon(a, name="lbc-builder", env=env)

        async def built() -> bool:
            world.check_daemons()
            items = await kubectl.items("ingress")
            done = sum(1 for i in items if ((i.get("status") or {}).get("loadBalancer") or {}))
            return done == STACKS

        started = time.monotonic()
        await eventually(built, timeout=1800, what=f"{STACKS} stacks built", interval=1.0)
        record("stacks: build", time.monotonic() - started, "s", f"{STACKS} Ingress stacks")

        async def registered() -> bool:
            # Unchanged means converged: every generated binding's targets registered too.
            items = await kubectl.items("targetgroupbinding")
            done = [
                b for b in items
                if ((b.get("status") or {}).get("targets") or {}).get("registered") == NODES
            ]  # fmt: skip
            return len(items) == STACKS and len(done) == STACKS

        await eventually(registered, timeout=600, what="every binding registered", interval=1.0)
        await builder.stop()
        a.daemons.remove(builder)

        since = last_seq(world)
        started = time.monotonic()
        daemon = await world.start_daemon(a, name="lbc-restarted", env=env)

        async def swept() -> bool:
            world.check_daemons()
            return reconciles(daemon) >= STACKS

        await eventually(swept, timeout=300, what="every group reconciled", interval=0.5)
        elapsed = time.monotonic() - started
        leading = log_time(daemon, "started_leading")
        last = last_log_time(daemon, "stack_reconciled")
        seen = calls(world, since)
        mutating = [c for c in seen if c.startswith(MUTATING)]
        describes = [c for c in seen if c.startswith("Describe")]
        # DescribeTargetHealth is the binding controller's (its restart pass), not the stacks'.
        stack_describes = [c for c in describes if c != "DescribeTargetHealth"]
        record("stacks: restart, mutating AWS calls", len(mutating), "calls",
               f"{STACKS} unchanged Ingress stacks (goal 0)")  # fmt: skip
        record("stacks: restart, describe calls per stack", len(stack_describes) / STACKS,
               "calls", "the stack controller's (DescribeTargetHealth excluded)")  # fmt: skip
        for operation in sorted(set(describes)):
            record(f"stacks: restart, {operation} per stack",
                   describes.count(operation) / STACKS, "calls")  # fmt: skip
        record("stacks: restart, leading to every group reconciled", last - leading, "s",
               "4 workers, from the daemon's log")  # fmt: skip
        record("stacks: restart, process start to every group reconciled", elapsed, "s")
        assert mutating == [], sorted(set(mutating))
