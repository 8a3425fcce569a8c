"""Helpers of the stack end-to-end tests: a lab cluster ready for Ingresses, kubectl, AWS reads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from lbc_lab.processes import LabProcess
from lbc_lab.scenario import ROOT, Cluster, World, eventually, load_yaml
from tests.e2e.conftest import NS, echoserver

NODE_PORT = 32197
INGRESS_CLASS = ROOT / "manifests" / "components" / "ingress" / "ingressclass.yaml"
PARAMS_CRD = ROOT / "manifests" / "crds" / "ingressclassparams.yaml"
SEED_INGRESS = ROOT / "manifests" / "examples" / "ingress-echoserver.yaml"
MUTATING_PREFIXES = ("Create", "Delete", "Modify", "Set", "Add", "Remove", "Register",
                     "Deregister", "Authorize", "Revoke")  # fmt: skip
ELB_MUTATIONS = ("CreateLoadBalancer", "CreateTargetGroup", "CreateListener", "CreateRule",
                 "DeleteLoadBalancer", "DeleteTargetGroup", "DeleteListener", "DeleteRule",
                 "ModifyTargetGroup", "ModifyListener", "ModifyRule", "SetRulePriorities",
                 "SetSecurityGroups", "SetSubnets", "AddTags", "RemoveTags", "CreateSecurityGroup",
                 "DeleteSecurityGroup", "ModifyLoadBalancerAttributes",
                 "ModifyTargetGroupAttributes")  # fmt: skip


class Kubectl:
    """kubectl against one lab cluster (the user's client in these tests)."""

    def __init__(self, cluster: Cluster, cache: Path) -> None:
        self.base = ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "--cache-dir", str(cache)]

    async def run(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            *self.base,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout(60):
            out, _ = await process.communicate(stdin.encode() if stdin else None)
        return process.returncode or 0, out.decode()

    async def ok(self, *args: str, stdin: str | None = None) -> str:
        code, out = await self.run(*args, stdin=stdin)
        assert code == 0, f"kubectl {' '.join(args)}: {out}"
        return out

    async def apply(self, obj: dict[str, Any] | Path) -> str:
        if isinstance(obj, Path):
            return await self.ok("apply", "-f", str(obj))
        return await self.ok("apply", "-f", "-", stdin=json.dumps(obj))

    async def get(self, kind: str, name: str, namespace: str = NS) -> dict[str, Any] | None:
        code, out = await self.run("get", kind, name, "-n", namespace, "-o", "json")
        if code != 0:
            assert "NotFound" in out, out
            return None
        found: dict[str, Any] = json.loads(out)
        return found

    async def items(self, kind: str, namespace: str = NS) -> list[dict[str, Any]]:
        out = await self.ok("get", kind, "-n", namespace, "-o", "json")
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items


async def stack_cluster(
    world: World, name: str, *, pod_cidr: str, nodes: int = 2, stacks: bool = True
) -> tuple[Cluster, Kubectl, LabProcess]:
    """A cluster with the echoserver (NodePort 32197), LBC's IngressClass and a daemon."""
    cluster = await world.add_cluster(name, nodes=nodes, pod_cidr=pod_cidr)
    await cluster.kube.request(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", load_yaml(PARAMS_CRD)
    )
    kubectl = Kubectl(cluster, world.workdir / f"kube-cache-{name}")
    await kubectl.apply(INGRESS_CLASS)
    await echoserver(cluster, 2, service_type="NodePort", node_port=NODE_PORT)
    env = {"LBC_STACKS": "ingress", "LBC_VPC_ID": world.net.vpc_id} if stacks else {}
    daemon = await world.start_daemon(cluster, env=env)
    return cluster, kubectl, daemon


async def tag_subnets_for_load_balancers(world: World) -> None:
    """Role tags on every subnet, as on an EKS VPC: discovery finds them for both schemes."""
    await world.ec2.create_tags(
        Resources=[s.subnet_id for s in world.net.subnets],
        Tags=[
            {"Key": "kubernetes.io/role/elb", "Value": "1"},
            {"Key": "kubernetes.io/role/internal-elb", "Value": "1"},
        ],
    )


def seed_ingress(**annotations: str) -> dict[str, Any]:
    doc = load_yaml(SEED_INGRESS)
    doc["metadata"]["annotations"].update(annotations)
    return doc


async def generated_binding(
    world: World, kubectl: Kubectl, *, timeout: float = 60.0
) -> dict[str, Any]:
    """The binding the stack generated (labels of the implicit echoserver group)."""

    async def probe() -> dict[str, Any] | None:
        world.check_daemons()
        for item in await kubectl.items("targetgroupbinding"):
            labels = item["metadata"].get("labels") or {}
            if labels.get("ingress.k8s.aws/stack-name") == "echoserver":
                return item
        return None

    return await eventually(probe, timeout=timeout, what="the generated binding")


async def load_balancers(world: World, stack: str) -> list[dict[str, Any]]:
    """Load balancers tagged for ``stack`` (any cluster)."""
    found = []
    for lb in (await world.elbv2.describe_load_balancers())["LoadBalancers"]:
        tags = await world.elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])
        values = {t["Key"]: t["Value"] for t in tags["TagDescriptions"][0]["Tags"]}
        if values.get("ingress.k8s.aws/stack") == stack:
            found.append(lb)
    return found


def mutations(world: World, since: int) -> dict[str, int]:
    assert world.control is not None
    counts = {op: world.control.count(op, since=since) for op in ELB_MUTATIONS}
    return {op: n for op, n in counts.items() if n}


def reconciles(daemon: LabProcess) -> int:
    """Completed stack reconciles in the daemon's log (each logs ``stack_reconciled`` once)."""
    return daemon.log_text().count('"event":"stack_reconciled"')


async def next_reconcile(world: World, daemon: LabProcess, after: int) -> None:
    """Wait until the daemon completed a stack reconcile beyond the first ``after``."""

    async def probe() -> bool:
        world.check_daemons()
        return reconciles(daemon) > after

    await eventually(probe, timeout=60, what="a stack reconcile")


def calls(world: World, since: int) -> list[str]:
    assert world.control is not None
    return [c.operation for c in world.control.calls(since=since)]


def last_seq(world: World) -> int:
    assert world.control is not None
    return world.control.last_seq()


# -- stacks as LBC leaves them in AWS, for the take-over tests ------------------------------------


def lbc_tags(kind: str, stack: str, resource: str, **user: str) -> list[dict[str, str]]:
    """LBC's tags on a resource of cluster ``a``'s ``stack``; ``kind``: ingress or service."""
    tags = {
        "elbv2.k8s.aws/cluster": "a",
        f"{kind}.k8s.aws/stack": stack,
        f"{kind}.k8s.aws/resource": resource,
        **user,
    }
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


async def lbc_security_groups(
    world: World, prefix: str, frontend_tags: list[dict[str, str]]
) -> tuple[str, str]:
    """Ids of the cluster's shared backend group and of a stack's managed frontend group (port
    80 open to all), as LBC leaves them; the names are free (LBC pairs by tags)."""
    backend = await world.ec2.create_security_group(
        GroupName=f"{prefix}-backend", Description="[k8s] Shared Backend SecurityGroup for "
        "LoadBalancer", VpcId=world.net.vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [
            {"Key": "elbv2.k8s.aws/cluster", "Value": "a"},
            {"Key": "elbv2.k8s.aws/resource", "Value": "backend-sg"}]}],
    )  # fmt: skip
    frontend = await world.ec2.create_security_group(
        GroupName=f"{prefix}-frontend", Description="[k8s] Managed SecurityGroup for "
        "LoadBalancer", VpcId=world.net.vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": frontend_tags}],
    )  # fmt: skip
    await world.ec2.authorize_security_group_ingress(
        GroupId=frontend["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )  # fmt: skip
    return backend["GroupId"], frontend["GroupId"]


def lbc_binding(
    made: dict[str, str], kind: str, name: str, stack_name: str, service: str, **spec: Any
) -> dict[str, Any]:
    """A stack's TargetGroupBinding as LBC's deployer writes it, for ``made``'s group."""
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {
                f"{kind}.k8s.aws/stack-namespace": NS,
                f"{kind}.k8s.aws/stack-name": stack_name,
            },
        },
        "spec": {
            "targetGroupARN": made["tg"],
            "targetType": "instance",
            "serviceRef": {"name": service, "port": 80},
            "networking": {"ingress": [{
                "from": [{"securityGroup": {"groupID": made["backend"]}}],
                "ports": [{"protocol": "TCP", "port": int(made["node_port"])}]}]},
            "ipAddressType": "ipv4",
            "vpcID": made["vpc"],
            **spec,
        },
    }  # fmt: skip
