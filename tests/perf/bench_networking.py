"""Restart with 500 networking bindings: no EC2 mutation, and no queue behind one lock.

Run: ``.venv/bin/python -m lbc bench --only networking``.

Every binding is an instance binding on a NodePort Service whose ``spec.networking`` opens all
TCP ports (``ports: []``) from the load balancer's security group; the ten nodes are lab EC2
instances sharing one node security group, so the 500 bindings want one rule on one group (the
shape of a fleet behind one load balancer). A first daemon converges the fleet from nothing
(targets registered, ledgers and checkpoints written, the rule granted and tagged); then, in one
run:

1. a second daemon restarts on it: the time until every binding was processed and both queues
   are empty, its EC2 calls by operation (aim: no mutation) and ELBv2 calls (aim: none), and how
   many security-group passes it ran (one per group, not one per binding: the groups are keys of
   the networking controller, not a walk under a process-wide lock in every binding's pass);
2. the same fleet size without ``spec.networking`` is built, converged and restarted in the
   same run: the ratio of the two sweeps (after caches synced) shows what networking adds to a
   restart (aim close to 1: a checkpoint-skipped binding with known wishes pays nothing).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from lbc.core.binding import FINALIZER

from tests.objects import service
from tests.perf.benchlab import (
    BenchLab,
    by_operation,
    elb_calls,
    last_call_seq,
    log_time,
    scaled,
    total,
)
from tests.perf.conftest import record

pytestmark = [
    pytest.mark.skipif(not os.environ.get("LBC_BENCH"), reason="benchmark"),
    pytest.mark.timeout(420),
]

# 500: two fleets are converged from nothing in one run (1,000 took two minutes); what is
# measured, one security-group pass per group rather than per binding, shows as well.
BINDINGS = scaled(500)
NODES = 10
FAST = {"LBC_AWS_CALLS_PER_SECOND": "500", "LBC_AWS_DESCRIBE_CALLS_PER_SECOND": "1000"}
EC2_MUTATING = frozenset(
    {
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
        "CreateTags",
        "DeleteTags",
        "ModifySecurityGroupRules",
    }
)


class NetFleet:
    """NodePort Services on lab EC2 instances, instance bindings, optionally with networking."""

    def __init__(self, lab: BenchLab, *, networking: bool) -> None:
        self.lab = lab
        self.networking = networking
        self.lb_group = ""
        self.node_group = ""
        self.instances: list[str] = []
        self.namespace = "bench-net" if networking else "bench-plain"
        self.first_port = 30000 if networking else 31000

    async def build(self, count: int) -> None:
        lab, api = self.lab, self.lab.api
        suffix = "net" if self.networking else "plain"
        self.lb_group = await _group(lab, f"lb-{suffix}")
        self.node_group = await _group(lab, f"nodes-{suffix}")
        made = await lab.ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=NODES,
            MaxCount=NODES,
            InstanceType="t3.micro",
            SubnetId=lab.net.subnets[0].subnet_id,
            SecurityGroupIds=[self.node_group],
        )
        self.instances = [i["InstanceId"] for i in made["Instances"]]
        # Set-up: the groups in one control call of the lab, not a CreateTargetGroup each.
        arns = await asyncio.to_thread(
            lab.control.create_target_groups,
            lab.net.vpc_id,
            [(f"{suffix}-{i:04d}", []) for i in range(count)],
            target_type="instance",
        )
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})
        with api.bulk():
            for n, iid in enumerate(self.instances):
                api.create(_node(f"{suffix}-node-{n}", iid))
            for i in range(count):
                # Node ports are cluster-wide: each fleet has a range of its own.
                api.create(_service(self.namespace, f"{suffix}-{i:04d}", self.first_port + i))
                api.create(self._binding(f"{suffix}-{i:04d}", arns[i]))

    def _binding(self, name: str, arn: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "targetGroupARN": arn,
            "targetType": "instance",
            "multiClusterTargetGroup": True,
            "serviceRef": {"name": name, "port": 80},
        }
        if self.networking:
            spec["networking"] = {
                "ingress": [{"from": [{"securityGroup": {"groupID": self.lb_group}}], "ports": []}]
            }
        return {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": name, "namespace": self.namespace, "finalizers": [FINALIZER]},
            "spec": spec,
        }


async def _group(lab: BenchLab, name: str) -> str:
    made = await lab.ec2.create_security_group(
        GroupName=name, Description=name, VpcId=lab.net.vpc_id
    )
    gid: str = made["GroupId"]
    return gid


def _node(name: str, instance_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"providerID": f"aws:///us-east-1a/{instance_id}"},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]},
    }


def _service(namespace: str, name: str, node_port: int) -> dict[str, Any]:
    return service(name, namespace=namespace, node_port=node_port)


async def _run(lab: BenchLab, name: str, *, converge: bool) -> dict[str, Any]:
    """A daemon until every binding was reconciled and both queues are empty; what it cost."""
    mark = await last_call_seq(lab)
    started = time.time()
    # Converging is set-up (the figures are the restart's): it may call AWS faster than the
    # production limits the restarts keep.
    env = {"LBC_WORKERS": "4", **(FAST if converge else {})}
    daemon = await lab.start_daemon(name, env)
    samples = await lab.wait_idle(daemon, BINDINGS, timeout=380 if converge else 240)
    elapsed = time.time() - started
    synced = log_time(daemon, "caches_synced") - started
    calls = await elb_calls(lab, mark)
    await daemon.stop()
    ec2 = by_operation(c for c in calls if c.get("service") == "ec2")
    elbv2 = by_operation(c for c in calls if c.get("service") != "ec2")
    return {
        "seconds": elapsed,
        "sweep": elapsed - synced,
        "ec2": ec2,
        "elbv2": elbv2,
        "group_passes": total(
            samples, "controller_runtime_reconcile_total", controller="securityGroup"
        ),
        "skips": total(samples, "lbc_reconcile_skips_total"),
    }


def _summary(calls: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in calls.items()) or "none"


async def test_restart_of_networking_bindings_mutates_nothing(bench_lab: BenchLab) -> None:
    lab = bench_lab
    plain, net = NetFleet(lab, networking=False), NetFleet(lab, networking=True)
    started = time.monotonic()
    await net.build(BINDINGS)
    await _run(lab, "lbc-net-converge", converge=True)
    rules = await lab.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [net.node_group]}]
    )
    inbound = [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]
    assert len(inbound) == 1, inbound  # the fleet converged: one rule wanted by every binding
    warm = await _run(lab, "lbc-net-restart", converge=False)
    print(f"\nnetworking: fleet built and converged in {time.monotonic() - started:.1f} s")

    # The same number of bindings without spec.networking, in the same lab and run.
    await plain.build(BINDINGS)
    await _run(lab, "lbc-plain-converge", converge=True)
    baseline = await _run(lab, "lbc-plain-restart", converge=False)

    mutating = sum(n for op, n in warm["ec2"].items() if op in EC2_MUTATING)
    size = f"{BINDINGS} bindings with networking, {NODES} nodes, 1 node group"
    record("networking: restart, time to reconcile all", warm["seconds"], "s", size)
    record(
        "networking: restart, EC2 mutating calls",
        mutating,
        "calls",
        f"aim 0; EC2 {_summary(warm['ec2'])}",
    )
    record(
        "networking: restart, ELBv2 calls",
        sum(warm["elbv2"].values()),
        "calls",
        f"aim 0; {_summary(warm['elbv2'])}; {warm['skips']:.0f} checkpoint skips",
    )
    record(
        "networking: restart, security-group passes",
        warm["group_passes"],
        "passes",
        f"for {BINDINGS} bindings on 1 group (a group key, not a pass per binding)",
    )
    record(
        "networking: restart sweep / same fleet without networking",
        warm["sweep"] / baseline["sweep"],
        "ratio",
        f"{warm['sweep']:.2f} s vs {baseline['sweep']:.2f} s after caches synced",
    )
    assert mutating == 0
