"""``python -m lbc lab world``: a whole lab world to try lbc by hand with kubectl and the AWS CLI.

It starts, as child processes, the lab ELBv2/EC2 and one lab API server per cluster, and runs
in its own process the workload controllers of each cluster (:mod:`lbc_lab.controllers`), so a
Deployment applied with kubectl gets ready pods with IPs and a Service gets EndpointSlices.
Then it builds the seed document's AWS side and the clusters' machines:

- a VPC laid out as for EKS (:mod:`lbc_lab.stack_network`: a public and a private subnet per
  zone, role-tagged for load balancers, shared by the clusters, an internet gateway); per
  cluster, EC2 instances in a private subnet registered as Ready Nodes (with
  ``spec.providerID`` ``aws:///<zone>/<instance id>``) whose ENIs sit in a node security group
  tagged ``kubernetes.io/cluster/<name>``, as an EKS node group's are;
- for bindings written by hand (without the Ingress), the load balancer and target group the
  seed's first binding points at, made as LBC makes them: an internet-facing ALB with a
  frontend group and the shared backend group (the one the seed's bindings name in
  ``spec.networking``), an HTTP:80 listener forwarding to the target group
  ``k8s-echoserv-echoserv-cc0122e143`` (HTTP, instance, port 32197, health checks 15 s / 5 s /
  2 / 2), exported as ``TG_ARN``, ``LB_ARN``, ``LB_SG``;
- one more instance in the VPC that belongs to no cluster (a target "from another source");
- in each cluster, what installing lbc adds: the IngressClassParams CRD beside the
  TargetGroupBinding one, and the IngressClass ``alb`` (controller ``ingress.k8s.aws/alb``) the
  seed's Ingress names; the daemons' settings turn Ingress stacks on (``LBC_STACKS=ingress``,
  ``LBC_VPC_ID``), so the seed's Ingress gets its load balancer from lbc.

Everything the world made is written to its folder (default ``.lab-world``): a kubeconfig
with a context per cluster (``lab-a``, ``lab-b``), ``env.sh`` with the ``export`` lines (the
kubeconfig, the AWS endpoint, dummy credentials and region, the ARNs and ids), one
``lbc-<cluster>.env`` per cluster with a daemon's settings, ``world.json`` (the same, for
scripts, with the child processes' pids) and the processes' logs. It prints them, then serves
until SIGINT (Ctrl-C), SIGTERM or SIGHUP (its terminal closed), when it stops every child
process and removes the files that would point at dead ports. If a child process dies, the
world stops and exits 1; if the world itself is killed, the kernel stops its children
(:mod:`lbc_lab.processes`). A second world refuses a folder one still serves from (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbc_lab.apiserver.server import kubeconfig_document
from lbc_lab.controllers import WorkloadControllers
from lbc_lab.elb_scenario import Network, run_instances
from lbc_lab.processes import free_port
from lbc_lab.scenario import CRD_PATH, REGION, World, load_yaml
from lbc_lab.stack_network import create_stack_network

SEED_TARGET_GROUP = "k8s-echoserv-echoserv-cc0122e143"
SEED_NODE_PORT = 32197
# (name, nodes, pod CIDR): pods take addresses of their nodes' private subnet, as with the VPC
# CNI (the nodes' instances take the lowest addresses of the same subnet).
CLUSTERS = (("a", 3, "10.0.24.0/22"), ("b", 2, "10.0.40.0/22"))
DUMMY_KEY = "lab"  # the lab accepts any credentials; these are not secrets
STATE_FILES = ("env.sh", "world.json")
PARAMS_CRD = CRD_PATH.with_name("ingressclassparams.yaml")
# What an install of the load balancer controller gives a cluster: the class the seed's Ingress
# names (``ingressClassName: alb``).
INGRESS_CLASS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "IngressClass",
    "metadata": {"name": "alb"},
    "spec": {"controller": "ingress.k8s.aws/alb"},
}


@dataclass
class ClusterFacts:
    name: str
    url: str
    context: str
    kubeconfig: str
    node_group: str
    nodes: dict[str, str]
    daemon_env: dict[str, str]


@dataclass
class WorldFacts:
    """What the world made; serialised to ``world.json``."""

    folder: str
    kubeconfig: str
    aws_endpoint: str
    region: str
    vpc_id: str
    target_group_arn: str
    load_balancer_arn: str
    load_balancer_dns: str
    backend_group: str
    frontend_group: str
    outside_instance: str
    node_port: int
    clusters: dict[str, ClusterFacts] = field(default_factory=dict)
    pid: int = 0  # the world's own process
    pids: dict[str, int] = field(default_factory=dict)  # its child processes, by name

    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "LBC_AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ACCESS_KEY_ID": DUMMY_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "LBC_AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        }

    def shell_env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": self.kubeconfig,
            **self.aws_env(),
            "VPC_ID": self.vpc_id,
            "TG_ARN": self.target_group_arn,
            "LB_ARN": self.load_balancer_arn,
            "LB_SG": self.backend_group,
            "OUTSIDE_INSTANCE": self.outside_instance,
            **{f"NODE_SG_{c.name.upper()}": c.node_group for c in self.clusters.values()},
        }


def export_lines(env: dict[str, str]) -> list[str]:
    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]


async def _seed_load_balancer(world: World, public: set[str]) -> tuple[str, str, str, str, str]:
    """The seed's ALB, groups, listener and target group: ``(tg, lb, dns, backend, frontend)``."""
    ec2, elbv2, net = world.ec2, world.elbv2, world.net
    frontend = await world.security_group("k8s-echoserv-echoserv-frontend")
    await ec2.authorize_security_group_ingress(
        GroupId=frontend,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    backend = await world.security_group("k8s-traffic-lab-shared-backend")
    made = await elbv2.create_target_group(
        Name=SEED_TARGET_GROUP,
        Protocol="HTTP",
        ProtocolVersion="HTTP1",
        Port=SEED_NODE_PORT,
        VpcId=net.vpc_id,
        TargetType="instance",
        HealthCheckProtocol="HTTP",
        HealthCheckPort="traffic-port",
        HealthCheckPath="/",
        HealthCheckIntervalSeconds=15,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
        Matcher={"HttpCode": "200"},
    )
    tg = made["TargetGroups"][0]["TargetGroupArn"]
    lb = (
        await elbv2.create_load_balancer(
            Name="k8s-echoserv-echoserv-lab",
            Type="application",
            Scheme="internet-facing",
            Subnets=[s.subnet_id for s in net.subnets if s.subnet_id in public],
            SecurityGroups=[frontend, backend],
            Tags=[{"Key": "Environment", "Value": "dev"}, {"Key": "Team", "Value": "test"}],
        )
    )["LoadBalancers"][0]
    await elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    return tg, lb["LoadBalancerArn"], lb.get("DNSName", ""), backend, frontend


def _merged_kubeconfig(urls: dict[str, str]) -> dict[str, Any]:
    """One kubeconfig with a ``lab-<name>`` cluster, user and context per lab cluster."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
        "preferences": {},
    }
    for name, url in urls.items():
        single = kubeconfig_document(url)
        ctx = f"lab-{name}"
        doc["clusters"].append({"name": ctx, "cluster": single["clusters"][0]["cluster"]})
        doc["users"].append({"name": ctx, "user": single["users"][0]["user"]})
        doc["contexts"].append(
            {"name": ctx, "context": {"cluster": ctx, "user": ctx, "namespace": "default"}}
        )
    doc["current-context"] = f"lab-{next(iter(urls))}"
    return doc


def _write_files(facts: WorldFacts, folder: Path) -> None:
    for cluster in facts.clusters.values():
        lines = [f"# lbc daemon settings for lab cluster {cluster.name}"]
        lines += export_lines(cluster.daemon_env)
        (folder / f"lbc-{cluster.name}.env").write_text("\n".join(lines) + "\n")
    env = ["# the lab world: source this in every shell that talks to it"]
    env += export_lines(facts.shell_env())
    env.append("unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN")
    (folder / "env.sh").write_text("\n".join(env) + "\n")
    # world.json last: its presence means everything else is in place.
    doc = json.dumps(facts, default=lambda o: o.__dict__, indent=2)
    (folder / "world.json.tmp").write_text(doc)
    (folder / "world.json.tmp").replace(folder / "world.json")


def running_world(folder: Path) -> int | None:
    """The pid of a lab world that still serves from ``folder``, if one does."""
    try:
        pid = int(json.loads((folder / "world.json").read_text()).get("pid", 0))
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, AttributeError):
        return None
    return pid if pid and pid != os.getpid() and b"world" in cmdline else None


def _clear_state(folder: Path) -> None:
    for name in STATE_FILES:
        (folder / name).unlink(missing_ok=True)
    for stale in folder.glob("lbc-*.env"):
        stale.unlink()


def describe(facts: WorldFacts) -> str:
    """What the world prints once it is up."""
    folder = Path(facts.folder)
    out = [
        f"lab world up: {len(facts.clusters)} cluster(s) with Ingress stacks on, the ELBv2 lab. "
        "Ctrl-C stops it.",
        "",
        f"kubeconfig     {facts.kubeconfig}",
    ]
    out.extend(
        f"  context {c.context:<6} {c.url}  {len(c.nodes)} Ready nodes "
        f"(node group {c.node_group}); its own kubeconfig: {c.kubeconfig}"
        for c in facts.clusters.values()
    )
    out += [
        f"AWS endpoint   {facts.aws_endpoint} (ELBv2 + EC2, region {facts.region})",
        "for bindings by hand (the seed's first binding points at these):",
        f"target group   {facts.target_group_arn}",
        f"load balancer  {facts.load_balancer_arn}",
        f"LB backend SG  {facts.backend_group} (the seed's spec.networking group)",
        f"VPC            {facts.vpc_id}",
        f"outside target {facts.outside_instance} (an instance in no cluster)",
        "",
        f"# in every shell that talks to the world (or: source {folder / 'env.sh'})",
        *export_lines(facts.shell_env()),
        "",
        "# one lbc daemon per cluster, each in its own terminal:",
    ]
    for cluster in facts.clusters.values():
        env = folder / f"lbc-{cluster.name}.env"
        out.append(f"source {folder / 'env.sh'} && source {env} && python -m lbc run")
    return "\n".join(out)


async def build(world: World, clusters: int, folder: Path, controllers: list[Any]) -> WorldFacts:
    """Make the seed's AWS side and ``clusters`` lab clusters in a started ``world``."""
    public = {sub.subnet_id for sub in world.net.subnets[len(world.net.subnets) // 2 :]}
    tg, lb, dns, backend, frontend = await _seed_load_balancer(world, public)
    facts = WorldFacts(
        folder=str(folder),
        kubeconfig=str(folder / "kubeconfig"),
        aws_endpoint=world.elb_url,
        region=REGION,
        vpc_id=world.net.vpc_id,
        target_group_arn=tg,
        load_balancer_arn=lb,
        load_balancer_dns=dns,
        backend_group=backend,
        frontend_group=frontend,
        outside_instance="",
        node_port=SEED_NODE_PORT,
    )
    for name, nodes, pod_cidr in CLUSTERS[:clusters]:
        cluster = await world.add_cluster(name, nodes=nodes, pod_cidr=pod_cidr)
        # What installing lbc adds beside the TargetGroupBinding CRD: IngressClassParams, and
        # the IngressClass the seed's Ingress names.
        await cluster.kube.request(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            load_yaml(PARAMS_CRD), ok=(201, 409),
        )  # fmt: skip
        await cluster.kube.request(
            "POST", "/apis/networking.k8s.io/v1/ingressclasses", INGRESS_CLASS, ok=(201, 409)
        )
        group = await world.security_group(f"eks-nodegroup-{name}")
        await world.place_nodes(cluster, group)
        controllers.append(WorkloadControllers(cluster.url, name=name, pod_cidr=pod_cidr))
        facts.clusters[name] = ClusterFacts(
            name=name,
            url=cluster.url,
            context=f"lab-{name}",
            kubeconfig=str(cluster.kubeconfig),
            node_group=group,
            nodes={node: inst.instance_id for node, inst in sorted(cluster.instances.items())},
            daemon_env={
                "LBC_KUBE_CONTEXT": f"lab-{name}",
                "LBC_CLUSTER_NAME": name,
                "LBC_PROBE_ADDR": f"127.0.0.1:{free_port()}",
                "LBC_METRICS_ADDR": f"127.0.0.1:{free_port()}",
                "POD_NAME": f"lbc-{name}",
                "POD_NAMESPACE": "kube-system",
                # The seed starts from an Ingress: lbc builds its stack in the world's VPC.
                "LBC_STACKS": "ingress",
                "LBC_VPC_ID": world.net.vpc_id,
                # Lab time runs faster than the clock: so do lbc's own waits here.
                "LBC_REQUEUE_PERIOD": "2s",
                "LBC_DRIFT_VERIFY_PERIOD": "1m",
            },
        )
    outside = await run_instances(world.ec2, world.net, 1, subnet=2)
    facts.outside_instance = outside[0].instance_id
    urls = {name: c.url for name, c in facts.clusters.items()}
    (folder / "kubeconfig").write_text(yaml.safe_dump(_merged_kubeconfig(urls), sort_keys=False))
    facts.pid = os.getpid()
    facts.pids = {p.name: p.pid for p in world.group.processes if p.pid is not None}
    return facts


def network_for(clusters: int) -> Callable[[Any], Awaitable[Network]]:
    """The world's VPC as EKS lays one out (:func:`create_stack_network`), private subnets first.

    The order matters to :class:`World`: nodes go to its first subnets (the private ones, one
    zone per cluster), the load balancer to the public half.
    """
    names = tuple(name for name, _, _ in CLUSTERS[:clusters])

    async def build(ec2: Any) -> Network:
        layout = await create_stack_network(ec2, clusters=names, prefix="lab-world")
        return Network(layout.vpc_id, layout.network.cidr, (*layout.private, *layout.public))

    return build


async def _children_exit(world: World) -> str:
    """Wait until any child process exits; returns its name."""
    waits = {
        asyncio.create_task(p.proc.wait()): p.name
        for p in world.group.processes
        if p.proc is not None
    }
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return waits[next(iter(done))]
    finally:
        for task in waits:
            task.cancel()


async def serve(clusters: int, folder: Path, time_factor: float, out: Any) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    starting = asyncio.current_task()
    ready = False

    def on_signal() -> None:
        if ready:
            stop.set()
        elif starting is not None:
            starting.cancel()  # still starting: unwind, which stops what was started

    # SIGHUP too: closing the terminal the world runs in must not leave its children behind.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal)
    other = running_world(folder)
    if other is not None:
        print(
            f"lbc lab world: a lab world (pid {other}) already serves from {folder}; stop it "
            "(Ctrl-C in its terminal) or give this one another --dir",
            file=sys.stderr,
        )
        return 2
    _clear_state(folder)
    began = time.monotonic()
    print(f"starting a lab world of {clusters} cluster(s) in {folder} ...", file=out, flush=True)
    code = 0
    try:
        async with World(
            time_factor=time_factor, workdir=folder, network=network_for(clusters)
        ) as world:
            controllers: list[WorkloadControllers] = []
            async with contextlib.AsyncExitStack() as stack:
                facts = await build(world, clusters, folder, controllers)
                for ctl in controllers:
                    await stack.enter_async_context(ctl)
                _write_files(facts, folder)
                print(describe(facts), file=out, flush=True)
                print(
                    f"\nready in {time.monotonic() - began:.1f}s; logs in {folder}",
                    file=out,
                    flush=True,
                )
                ready = True
                stopped = asyncio.create_task(stop.wait())
                died = asyncio.create_task(_children_exit(world))
                done, _ = await asyncio.wait({stopped, died}, return_when=asyncio.FIRST_COMPLETED)
                for task in (stopped, died):
                    task.cancel()
                if died in done:
                    name = died.result()
                    print(f"lab world: {name} exited; stopping the world", file=out, flush=True)
                    code = 1
                print("stopping the lab world ...", file=out, flush=True)
    except asyncio.CancelledError:
        print("lab world: interrupted while starting; stopped", file=out, flush=True)
        return 130
    finally:
        _clear_state(folder)
    print("lab world stopped: every child process is gone", file=out, flush=True)
    return code


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="lbc lab world",
        description="a whole lab world to try lbc by hand: lab clusters with workload "
        "controllers and EC2-backed nodes, the ELBv2/EC2 lab, the seed's load balancer "
        "(README: Try it by hand)",
    )
    parser.add_argument(
        "--clusters",
        type=int,
        choices=(1, 2),
        default=2,
        help="lab clusters: a (3 nodes), and b (2 nodes) (default 2)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(".lab-world"),
        help="folder for the kubeconfig, env files, world.json and logs (default .lab-world)",
    )
    parser.add_argument(
        "--time-factor",
        type=float,
        default=0.1,
        help="real seconds per lab second (0.1: health checks and draining 10 times faster)",
    )
    args = parser.parse_args(list(argv))
    args.dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(serve(args.clusters, args.dir.resolve(), args.time_factor, sys.stdout))
