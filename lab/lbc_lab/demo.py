"""``lbc demo``: the seed document's MultiCluster scenario, end to end on the lab.

One lab ELBv2 with one instance target group; two lab clusters (API server processes), each
running the echoserver Deployment and NodePort Service of the seed document and its own lbc
daemon process. Cluster A binds the group with the seed's ``tgb-cluster-a.yaml``
(MultiCluster), cluster B binds the same ARN with ``tgb-cluster-b.yaml``. Then:

1. both clusters' node targets register and turn healthy, and each cluster's node security group
   admits the NodePort from the load balancer's group (the seed bindings' ``spec.networking``,
   with the lab's groups in place of the seed's placeholder);
2. cluster A scales down (echoserver to one replica, one node drained away by the autoscaler):
   only A's departed node leaves the group, B's targets are untouched;
3. A's binding is deleted: A's targets leave, B's stay, A's ledger ConfigMap is gone, and A's
   node group rule is revoked while B's stays.

Each step waits for its expected state with a deadline; the exit code is 0 only if every step
converged as expected. The group's targets are printed after each step, by cluster and health.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lbc_lab.scenario import EXAMPLES, Cluster, World, eventually, load_yaml

NAMESPACE = "echoserver"
NODE_PORT = 32197
STEP_TIMEOUT = 30.0


class DemoFailedError(Exception):
    """A step did not converge; the message says which and what was seen."""


SEED_LB_GROUP = "sg-06a2bd7d790ac1d2e"


def _binding(path: Path, arn: str, vpc_id: str, lb_group: str) -> dict[str, Any]:
    """A seed binding with the lab's ARN, VPC and load balancer group in place of the seed's."""
    obj = load_yaml(path)
    obj["spec"]["targetGroupARN"] = arn
    obj["spec"]["vpcID"] = vpc_id
    for rule in obj["spec"].get("networking", {}).get("ingress", []):
        for peer in rule.get("from", []):
            if peer.get("securityGroup", {}).get("groupID") == SEED_LB_GROUP:
                peer["securityGroup"]["groupID"] = lb_group
    return obj


async def _echoserver(cluster: Cluster, replicas: int) -> None:
    await cluster.kube.ensure_namespace(NAMESPACE)
    await cluster.kube.apply_service(
        NAMESPACE,
        "echoserver",
        type_="NodePort",
        ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": NODE_PORT}],
        selector={"app": "echoserver"},
    )
    await cluster.kube.deploy(NAMESPACE, "echoserver", replicas, container_port=8080)


class Demo:
    def __init__(self, world: World, out: Any) -> None:
        self.world = world
        self.out = out
        self.started = time.monotonic()
        self.owner: dict[str, str] = {}

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {text}", file=self.out, flush=True)

    def expected(self, *clusters: Cluster) -> set[str]:
        return {
            f"{inst.instance_id}:{NODE_PORT}" for c in clusters for inst in c.instances.values()
        }

    async def table(self, arn: str) -> dict[str, tuple[str, str]]:
        targets = await self.world.targets(arn)
        print(f"    {'TARGET':<28} {'CLUSTER':<8} {'STATE':<10} REASON", file=self.out)
        for ident, (state, reason) in sorted(targets.items()):
            owner = self.owner.get(ident, "?")
            print(f"    {ident:<28} {owner:<8} {state:<10} {reason}", file=self.out)
        return targets

    async def converge(self, arn: str, what: str, healthy: set[str], gone: set[str]) -> None:
        async def probe() -> bool:
            targets = await self.world.targets(arn)
            active = {t for t, (state, _) in targets.items() if state != "draining"}
            ok = all(targets.get(t, ("", ""))[0] == "healthy" for t in healthy)
            return ok and not (active & gone)

        try:
            await eventually(probe, timeout=STEP_TIMEOUT, what=what, interval=0.2)
        except TimeoutError as exc:
            await self.table(arn)
            raise DemoFailedError(str(exc)) from None
        self.say(f"converged: {what}")
        await self.table(arn)

    async def node_rules(self, node_groups: dict[str, str], lb_group: str) -> None:
        """spec.networking: each cluster's node group lets the load balancer reach the NodePort."""
        wanted = ("tcp", NODE_PORT, NODE_PORT, lb_group)

        async def granted() -> bool:
            for gid in node_groups.values():
                if wanted not in await self.world.inbound_rules(gid):
                    return False
            return True

        try:
            await eventually(granted, timeout=STEP_TIMEOUT, what="node security group rules")
        except TimeoutError as exc:
            raise DemoFailedError(str(exc)) from None
        for cluster, gid in sorted(node_groups.items()):
            self.say(
                f"cluster {cluster}'s node group {gid} admits tcp/{NODE_PORT} from the load "
                f"balancer's group {lb_group}"
            )

    async def rule_revoked(
        self, node_groups: dict[str, str], lb_group: str, gone_from: str
    ) -> None:
        """The deleted binding's rule leaves its cluster's node group, the other keeps its own."""
        wanted = ("tcp", NODE_PORT, NODE_PORT, lb_group)

        async def revoked() -> bool:
            return wanted not in await self.world.inbound_rules(node_groups[gone_from])

        try:
            await eventually(revoked, timeout=STEP_TIMEOUT, what=f"cluster {gone_from}'s rule")
        except TimeoutError as exc:
            raise DemoFailedError(str(exc)) from None
        for cluster, gid in sorted(node_groups.items()):
            if cluster != gone_from and wanted not in await self.world.inbound_rules(gid):
                raise DemoFailedError(f"cluster {cluster}'s rule on {gid} was revoked")
        self.say(f"cluster {gone_from}'s node group rule revoked; the other cluster keeps its own")

    async def run(self) -> None:
        w = self.world
        self.say("lab ELBv2/EC2 up; creating the shared target group (instance, port 80)")
        tg = await w.target_group("k8s-echoserv-echoserv-cc0122e1", target_type="instance")
        lb_group = await w.security_group("echoserver-lb")
        a = await w.add_cluster("a", nodes=3, pod_cidr="10.0.8.0/22")
        b = await w.add_cluster("b", nodes=2, pod_cidr="10.0.12.0/22")
        node_groups = {}
        for cluster in (a, b):
            for inst in cluster.instances.values():
                self.owner[f"{inst.instance_id}:{NODE_PORT}"] = cluster.name
            node_groups[cluster.name] = await w.security_group(f"nodes-{cluster.name}")
            await w.place_nodes(cluster, node_groups[cluster.name])
            await _echoserver(cluster, replicas=3)
        self.say("clusters a (3 nodes) and b (2 nodes) up with the echoserver; binding the group")
        bind_a = _binding(EXAMPLES / "tgb-cluster-a.yaml", tg.arn, w.net.vpc_id, lb_group)
        bind_b = _binding(EXAMPLES / "tgb-cluster-b.yaml", tg.arn, w.net.vpc_id, lb_group)
        await a.apply_binding(bind_a)
        await b.apply_binding(bind_b)
        await w.start_daemon(a)
        await w.start_daemon(b)
        await self.converge(
            tg.arn, "both clusters' targets registered and healthy", self.expected(a, b), set()
        )
        await self.node_rules(node_groups, lb_group)

        b_targets = self.expected(b)
        self.say("cluster a scales down: echoserver to 1 replica, one node removed")
        await a.kube.scale(NAMESPACE, "echoserver", 1)
        gone_node = sorted(a.instances)[0]
        gone = {f"{a.instances[gone_node].instance_id}:{NODE_PORT}"}
        await a.kube.delete_node(gone_node)
        del a.instances[gone_node]
        await self.converge(
            tg.arn, "a's removed node deregistered, b untouched", self.expected(a, b), gone
        )

        name_a = bind_a["metadata"]["name"]
        self.say(f"deleting cluster a's binding {name_a}")
        await a.delete_binding(NAMESPACE, name_a)
        await self.converge(
            tg.arn, "only a's targets gone, b's still healthy", b_targets, self.expected(a)
        )

        async def binding_and_ledger_gone() -> bool:
            ledger = await a.get_configmap(NAMESPACE, f"aws-lbc-targets-{name_a}")
            return ledger is None and await a.get_binding(NAMESPACE, name_a) is None

        try:
            await eventually(
                binding_and_ledger_gone,
                timeout=STEP_TIMEOUT,
                what="a's binding and ledger ConfigMap deleted",
            )
        except TimeoutError as exc:
            raise DemoFailedError(str(exc)) from None
        self.say(
            "a's binding and its ledger ConfigMap are gone; b's ledger still holds b's targets"
        )
        ledger_b = await b.get_configmap(NAMESPACE, f"aws-lbc-targets-{bind_b['metadata']['name']}")
        held = set((ledger_b or {}).get("data", {}).get("targets", "").split(","))
        if held != b_targets:
            raise DemoFailedError(f"b's ledger holds {sorted(held)}, expected {sorted(b_targets)}")
        await self.rule_revoked(node_groups, lb_group, gone_from="a")


async def _main(keep: Path | None) -> int:
    started = time.monotonic()
    world = World(time_factor=0.02, workdir=keep)
    try:
        async with world:
            await Demo(world, sys.stdout).run()
    except DemoFailedError as exc:
        print(f"\ndemo FAILED: {exc}", file=sys.stderr)
        for proc in world.group.processes:
            if proc.name.startswith("lbc-"):
                print(f"--- last lines of {proc.name}:\n{proc.tail(15)}", file=sys.stderr)
        return 1
    print(f"\ndemo passed in {time.monotonic() - started:.1f}s: every step converged")
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lbc demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep-logs",
        metavar="DIR",
        type=Path,
        help="write the processes' logs to DIR and keep them (default: a temporary folder)",
    )
    args = parser.parse_args(list(argv))
    if args.keep_logs is not None:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_main(args.keep_logs))
