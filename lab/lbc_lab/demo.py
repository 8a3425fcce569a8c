"""``lbc demo``: the seed document's MultiCluster scenario, end to end on the lab.

One lab ELBv2/EC2; two lab clusters (API server processes), each running the echoserver
Deployment and NodePort Service of the seed document and its own lbc daemon process. Cluster a
runs lbc with Ingress stacks on (``LBC_STACKS=ingress``) and gets the seed's Ingress; cluster b
binds the target group that Ingress produced with the seed's second binding. The steps:

1. ``world``: both clusters with the echoserver, subnets tagged for load balancers, LBC's
   IngressClass ``alb`` in cluster a;
2. ``ingress``: the seed's Ingress in cluster a: lbc builds the ALB, its listener and rule, the
   target group and a MultiCluster binding; the demo reads the target group ARN from a's binding
   (as the seed says) and shows the ALB's DNS name;
3. ``bind``: cluster b applies the seed's second binding on that ARN (its ``networking`` source
   is a's backend security group, read from a's binding): both clusters' node targets register
   and turn healthy, each cluster's node group admits the NodePort from that group, each ledger
   holds its own cluster's targets only, and both bindings are ``Ready``;
4. ``outside``: a target from outside both clusters (an instance of no cluster) is registered by
   hand, as the seed's "arbitrary targets from other sources"; neither cluster removes it;
5. ``scale-down``: cluster a scales down (echoserver to one replica, one node removed): only a's
   departed node leaves the group; b's targets and the outside target stay;
6. ``delete``: a's Ingress is deleted while b still sends traffic through the group: a's
   targets, binding and ledger go, the ALB, listener, rule and target group are retained for b
   (Warning ``SharedStackRetained``), b's binding stays ``Ready``;
7. ``inspect``: ``lbc inspect target-group`` prints who owns each target of the group now.

Each step is a function of the :class:`Demo` (``STEPS`` lists them in order, so a scenario can
insert, replace or append steps); each waits for its expected state with a deadline and shows
what it reached: the group's targets by owner and health, the ledgers, the bindings'
conditions. The exit code is 0 only if every step converged as expected.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbc_lab.elb_scenario import run_instances
from lbc_lab.scenario import EXAMPLES, ROOT, Cluster, World, eventually, load_yaml

NAMESPACE = "echoserver"
NODE_PORT = 32197
OUTSIDE_PORT = 8080
STEP_TIMEOUT = 30.0
SEED_LB_GROUP = "sg-06a2bd7d790ac1d2e"
LEDGER_PREFIX = "aws-lbc-targets-"
SEED_INGRESS = EXAMPLES / "ingress-echoserver.yaml"
INGRESS_CLASS = ROOT / "manifests" / "components" / "ingress" / "ingressclass.yaml"
PARAMS_CRD = ROOT / "manifests" / "crds" / "ingressclassparams.yaml"
STACK_LABEL = "ingress.k8s.aws/stack-name"


class DemoFailedError(Exception):
    """A step did not converge; the message says which and what was seen."""


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


@dataclass
class Demo:
    """The demo's world, what its steps made so far, and how it shows them."""

    world: World
    out: Any
    started: float = field(default_factory=time.monotonic)
    arn: str = ""
    lb_group: str = ""  # the group the bindings admit on the NodePort: a's backend group
    load_balancer: str = ""
    clusters: dict[str, Cluster] = field(default_factory=dict)
    node_groups: dict[str, str] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)  # cluster -> binding name
    owner: dict[str, str] = field(default_factory=dict)  # target -> cluster (or "outside")
    outside: str = ""  # the hand-registered target, once registered

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {text}", file=self.out, flush=True)

    def show(self, text: str = "") -> None:
        print(f"    {text}" if text else "", file=self.out, flush=True)

    def expected(self, *names: str) -> set[str]:
        """The node targets of the named clusters, as they stand."""
        return {
            f"{inst.instance_id}:{NODE_PORT}"
            for name in names
            for inst in self.clusters[name].instances.values()
        }

    def kept(self) -> set[str]:
        """The hand-registered target, once there: every step must leave it in place."""
        return {self.outside} if self.outside else set()

    # -- what a step shows --------------------------------------------------------------------

    async def table(self) -> dict[str, tuple[str, str]]:
        targets = await self.world.targets(self.arn)
        self.show(f"{'TARGET':<28} {'OWNER':<8} {'STATE':<10} REASON")
        for ident, (state, reason) in sorted(targets.items()):
            self.show(f"{ident:<28} {self.owner.get(ident, '?'):<8} {state:<10} {reason}")
        return targets

    async def ledger(self, cluster: str) -> set[str] | None:
        """The targets cluster's ledger holds, or None when there is no ledger ConfigMap."""
        name = self.bindings[cluster]
        found = await self.clusters[cluster].get_configmap(NAMESPACE, LEDGER_PREFIX + name)
        if found is None:
            return None
        raw = (found.get("data") or {}).get("targets", "")
        return {t for t in raw.split(",") if t}

    async def show_ledgers(self) -> None:
        for cluster in sorted(self.bindings):
            held = await self.ledger(cluster)
            name = f"{LEDGER_PREFIX}{self.bindings[cluster]}"
            if held is None:
                self.show(f"ledger of cluster {cluster}: {name} is gone")
            else:
                self.show(f"ledger of cluster {cluster} ({name}): {', '.join(sorted(held))}")

    async def show_conditions(self, *clusters: str) -> None:
        for cluster in clusters or tuple(sorted(self.bindings)):
            name = self.bindings[cluster]
            obj = await self.clusters[cluster].get_binding(NAMESPACE, name)
            if obj is None:
                self.show(f"binding {cluster}/{name}: deleted")
                continue
            status = obj.get("status") or {}
            counts = status.get("targets") or {}
            self.show(
                f"binding {cluster}/{name}: targets desired={counts.get('desired')} "
                f"registered={counts.get('registered')} healthy={counts.get('healthy')}"
            )
            for cond in status.get("conditions") or ():
                message = cond.get("message", "")
                self.show(
                    f"  {cond.get('type')}={cond.get('status')} {cond.get('reason', '')}"
                    + (f": {message}" if message else "")
                )

    # -- how a step waits ---------------------------------------------------------------------

    async def wait(self, probe: Callable[[], Awaitable[Any]], what: str) -> None:
        try:
            await eventually(probe, timeout=STEP_TIMEOUT, what=what, interval=0.2)
        except TimeoutError as exc:
            raise DemoFailedError(str(exc)) from None

    async def converge(self, what: str, healthy: set[str], gone: set[str]) -> None:
        """Until every ``healthy`` target is healthy and no ``gone`` one is active."""

        async def probe() -> bool:
            targets = await self.world.targets(self.arn)
            active = {t for t, (state, _) in targets.items() if state != "draining"}
            ok = all(targets.get(t, ("", ""))[0] == "healthy" for t in healthy)
            return ok and not (active & gone)

        try:
            await self.wait(probe, what)
        except DemoFailedError:
            await self.table()
            raise
        self.say(f"converged: {what}")
        await self.table()

    async def ledgers_hold(self, wanted: dict[str, set[str] | None]) -> None:
        """Until each cluster's ledger holds exactly its wanted targets (None: no ledger)."""

        async def probe() -> bool:
            return all([await self.ledger(c) == held for c, held in wanted.items()])

        try:
            await self.wait(probe, "each ledger holding its own cluster's targets only")
        finally:
            await self.show_ledgers()

    async def ready(self, *clusters: str) -> None:
        """Until each named binding reports ``Ready=True`` with all its targets healthy."""

        async def probe() -> bool:
            for cluster in clusters:
                obj = await self.clusters[cluster].get_binding(NAMESPACE, self.bindings[cluster])
                status = (obj or {}).get("status") or {}
                conds = status.get("conditions") or ()
                counts = status.get("targets") or {}
                if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                    return False
                if counts.get("healthy") != counts.get("desired"):
                    return False
            return True

        try:
            await self.wait(probe, f"binding(s) of {', '.join(clusters)} Ready, targets healthy")
        finally:
            await self.show_conditions(*clusters)

    async def node_rules(self, present: set[str], revoked: set[str]) -> None:
        """Until the named clusters' node groups do / do not admit the NodePort from the LB."""
        wanted = ("tcp", NODE_PORT, NODE_PORT, self.lb_group)

        async def probe() -> bool:
            for cluster in present | revoked:
                has = wanted in await self.world.inbound_rules(self.node_groups[cluster])
                if has != (cluster in present):
                    return False
            return True

        await self.wait(probe, "node security group rules")
        for cluster in sorted(present):
            self.say(
                f"cluster {cluster}'s node group {self.node_groups[cluster]} admits "
                f"tcp/{NODE_PORT} from the load balancer's group {self.lb_group}"
            )
        for cluster in sorted(revoked):
            self.say(f"cluster {cluster}'s node group rule is revoked")


# -- the steps ----------------------------------------------------------------------------------

Step = Callable[[Demo], Awaitable[None]]


async def step_world(demo: Demo) -> None:
    """Both clusters with the echoserver; cluster a gets LBC's IngressClass ``alb``."""
    w = demo.world
    demo.say("lab ELBv2/EC2 up; tagging the subnets for load balancers (kubernetes.io/role/elb)")
    await w.ec2.create_tags(
        Resources=[s.subnet_id for s in w.net.subnets],
        Tags=[{"Key": "kubernetes.io/role/elb", "Value": "1"}],
    )
    for name, nodes, cidr in (("a", 3, "10.0.8.0/22"), ("b", 2, "10.0.12.0/22")):
        cluster = await w.add_cluster(name, nodes=nodes, pod_cidr=cidr)
        demo.clusters[name] = cluster
        for inst in cluster.instances.values():
            demo.owner[f"{inst.instance_id}:{NODE_PORT}"] = name
        demo.node_groups[name] = await w.security_group(f"nodes-{name}")
        await w.place_nodes(cluster, demo.node_groups[name])
        await _echoserver(cluster, replicas=3)
    a = demo.clusters["a"]
    await a.kube.request(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", load_yaml(PARAMS_CRD)
    )
    await a.kube.request(
        "POST", "/apis/networking.k8s.io/v1/ingressclasses", load_yaml(INGRESS_CLASS),
        ok=(201, 409),
    )  # fmt: skip
    demo.say("clusters a (3 nodes) and b (2 nodes) up with the echoserver; IngressClass alb in a")


async def step_ingress(demo: Demo) -> None:
    """The seed's Ingress in cluster a: lbc builds the ALB, the target group and its binding."""
    a = demo.clusters["a"]
    w = demo.world
    ingress = load_yaml(SEED_INGRESS)
    demo.say("applying the seed's Ingress in cluster a (multi-cluster-target-group: true)")
    await a.kube.request(
        "POST", f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses", ingress
    )
    await w.start_daemon(a, env={"LBC_STACKS": "ingress", "LBC_VPC_ID": w.net.vpc_id})

    async def generated() -> dict[str, Any] | None:
        found = await a.kube.request(
            "GET", f"/apis/elbv2.k8s.aws/v1beta1/namespaces/{NAMESPACE}/targetgroupbindings"
        )
        for item in found.get("items") or ():
            if (item["metadata"].get("labels") or {}).get(STACK_LABEL) == "echoserver":
                return dict(item)
        return None

    try:
        binding = await eventually(generated, timeout=STEP_TIMEOUT, what="a's binding")
    except TimeoutError as exc:
        raise DemoFailedError(str(exc)) from None
    spec = binding["spec"]
    demo.bindings["a"] = binding["metadata"]["name"]
    demo.arn = spec["targetGroupARN"]
    demo.lb_group = spec["networking"]["ingress"][0]["from"][0]["securityGroup"]["groupID"]
    demo.say(
        f"cluster a's binding {demo.bindings['a']}: multiClusterTargetGroup="
        f"{spec.get('multiClusterTargetGroup')}, targetType={spec['targetType']}"
    )
    demo.show(f"target group (read from a's binding): {demo.arn}")

    async def hostname() -> str | None:
        found = await a.kube.request(
            "GET", f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/echoserver"
        )
        status = ((found.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        return str(status[0]["hostname"]) if status else None

    await demo.wait(hostname, "the Ingress status")
    dns = await hostname()
    for lb in (await w.elbv2.describe_load_balancers())["LoadBalancers"]:
        if lb["DNSName"].lower() == dns:
            demo.load_balancer = lb["LoadBalancerArn"]
    demo.show(f"ALB DNS name (Ingress status): {dns}")
    demo.show(f"backend security group (the bindings' networking source): {demo.lb_group}")


async def step_bind(demo: Demo) -> None:
    """Cluster b binds a's target group with the seed's second binding and runs its daemon."""
    b = demo.clusters["b"]
    vpc = demo.world.net.vpc_id
    bind_b = _binding(EXAMPLES / "tgb-cluster-b.yaml", demo.arn, vpc, demo.lb_group)
    demo.bindings["b"] = bind_b["metadata"]["name"]
    demo.say("binding the same target group from cluster b (MultiCluster) and starting its daemon")
    await b.apply_binding(bind_b)
    await demo.world.start_daemon(b)
    await demo.converge(
        "both clusters' targets registered and healthy", demo.expected("a", "b"), set()
    )
    await demo.node_rules(present={"a", "b"}, revoked=set())
    await demo.ledgers_hold({"a": demo.expected("a"), "b": demo.expected("b")})
    await demo.ready("a", "b")


async def step_outside(demo: Demo) -> None:
    """A target of no cluster, registered by hand: MultiCluster leaves it alone."""
    [instance] = await run_instances(demo.world.ec2, demo.world.net, 1, subnet=2)
    target = f"{instance.instance_id}:{OUTSIDE_PORT}"
    demo.say(f"registering {target} by hand: an instance outside both clusters")
    await demo.world.elbv2.register_targets(
        TargetGroupArn=demo.arn, Targets=[{"Id": instance.instance_id, "Port": OUTSIDE_PORT}]
    )
    demo.owner[target] = "outside"
    demo.outside = target
    await demo.converge(
        "the outside target healthy beside both clusters'",
        demo.expected("a", "b") | demo.kept(),
        set(),
    )
    await demo.ledgers_hold({"a": demo.expected("a"), "b": demo.expected("b")})


async def step_scale_down(demo: Demo) -> None:
    """Cluster a scales down and loses a node: only that node's target leaves."""
    a = demo.clusters["a"]
    demo.say("cluster a scales down: echoserver to 1 replica, one node removed")
    await a.kube.scale(NAMESPACE, "echoserver", 1)
    gone_node = sorted(a.instances)[0]
    gone = {f"{a.instances[gone_node].instance_id}:{NODE_PORT}"}
    await a.kube.delete_node(gone_node)
    del a.instances[gone_node]
    await demo.converge(
        "a's removed node deregistered; b's and the outside target untouched",
        demo.expected("a", "b") | demo.kept(),
        gone,
    )
    await demo.ledgers_hold({"a": demo.expected("a"), "b": demo.expected("b")})


async def step_delete(demo: Demo) -> None:
    """Cluster a's Ingress is deleted: a's targets, binding and ledger go; the stack stays for b."""
    a = demo.clusters["a"]
    name = demo.bindings["a"]
    demo.say(f"a's binding {name} will go with it")
    demo.say("deleting cluster a's Ingress while cluster b's targets are in the group")
    await a.kube.request(
        "DELETE", f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/echoserver",
        ok=(200, 202),
    )  # fmt: skip
    await demo.converge(
        "only a's targets gone; b's and the outside target still healthy",
        demo.expected("b") | demo.kept(),
        demo.expected("a"),
    )

    async def ingress_gone() -> bool:
        found = await a.kube.request(
            "GET",
            f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/echoserver",
            ok=(200, 404),
        )
        return found is None or found.get("kind") == "Status"

    await demo.wait(ingress_gone, "a's Ingress deleted (its finalizer released)")
    await demo.ledgers_hold({"a": None, "b": demo.expected("b")})
    lbs = await demo.world.elbv2.describe_load_balancers(LoadBalancerArns=[demo.load_balancer])
    for lb in lbs["LoadBalancers"]:
        demo.show(f"retained for cluster b: ALB {lb['DNSName']} ({lb['State']['Code']})")
    retained = [
        e.get("message", "") for e in await a.events(NAMESPACE)
        if e.get("reason") == "SharedStackRetained"
    ]  # fmt: skip
    if not retained:
        raise DemoFailedError("no SharedStackRetained event on a's Ingress")
    demo.show(f"Warning SharedStackRetained: {retained[0]}")
    await demo.ready("b")


async def step_inspect(demo: Demo) -> None:
    """``lbc inspect`` reads both clusters and the group: who owns each target now."""
    argv = ["target-group", demo.arn, "--allow-orphans"]
    for name, cluster in sorted(demo.clusters.items()):
        # Each lab kubeconfig names its context "lbc-lab": the files' names tell them apart.
        copy = demo.world.workdir / f"{name}.kubeconfig"
        copy.write_bytes(cluster.kubeconfig.read_bytes())
        argv += ["--kubeconfig", str(copy)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LBC_", "AWS_"))}
    env.update(
        LBC_AWS_ENDPOINT_URL=demo.world.elb_url,
        LBC_AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="lab",
        AWS_SECRET_ACCESS_KEY="lab",  # noqa: S106 - the lab's dummy credentials
    )
    demo.say("lbc inspect target-group " + " ".join(argv[1:]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lbc", "inspect", *argv, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), STEP_TIMEOUT)
    for line in out.decode().splitlines():
        demo.show(line)
    if proc.returncode != 0:
        raise DemoFailedError("lbc inspect found more than owned targets and the outside one")


SEED_NLB_SERVICE = EXAMPLES / "service-nlb-echoserver.yaml"
NLB_STACK_LABEL = "service.k8s.aws/stack-name"


async def _generated_binding(cluster: Cluster, label: str, value: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = await cluster.kube.request(
            "GET", f"/apis/elbv2.k8s.aws/v1beta1/namespaces/{NAMESPACE}/targetgroupbindings"
        )
        for item in found.get("items") or ():
            if (item["metadata"].get("labels") or {}).get(label) == value:
                return dict(item)
        return None

    try:
        return await eventually(probe, timeout=STEP_TIMEOUT, what="the generated binding")
    except TimeoutError as exc:
        raise DemoFailedError(str(exc)) from None


async def step_service(demo: Demo) -> None:
    """The seed's NLB Service in cluster a: lbc builds the NLB, the target group and its binding."""
    a, w = demo.clusters["a"], demo.world
    doc = load_yaml(SEED_NLB_SERVICE)
    annotations = dict(doc["metadata"]["annotations"])
    # Node targets, like the rest of the demo (the example asks for ip; both are supported).
    annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] = "instance"
    name = doc["metadata"]["name"]
    demo.say(f"applying the NLB Service {name} in cluster a (multi-cluster-target-group: true)")
    # It takes over the echoserver's NodePort in a, so the node targets read as in the Ingress run.
    await a.kube.delete_service(NAMESPACE, "echoserver")
    await a.kube.apply_service(
        NAMESPACE, name, type_="LoadBalancer", selector={"app": "echoserver"},
        ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP",
                "nodePort": NODE_PORT}],
        annotations=annotations,
    )  # fmt: skip
    await w.start_daemon(a, env={"LBC_STACKS": "service", "LBC_VPC_ID": w.net.vpc_id})
    binding = await _generated_binding(a, NLB_STACK_LABEL, name)
    spec = binding["spec"]
    demo.bindings["a"] = binding["metadata"]["name"]
    demo.arn = spec["targetGroupARN"]
    demo.lb_group = spec["networking"]["ingress"][0]["from"][0]["securityGroup"]["groupID"]
    demo.show(f"target group (read from a's binding): {demo.arn}")

    async def hostname() -> str | None:
        found = await a.kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/services/{name}")
        status = ((found.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        return str(status[0]["hostname"]) if status else None

    await demo.wait(hostname, "the Service status")
    dns = await hostname()
    for lb in (await w.elbv2.describe_load_balancers())["LoadBalancers"]:
        if lb["DNSName"].lower() == dns:
            demo.load_balancer = lb["LoadBalancerArn"]
    demo.show(f"NLB DNS name (Service status): {dns}")


async def step_delete_service(demo: Demo) -> None:
    """Cluster a's NLB Service is deleted: a's targets and binding go; the stack stays for b."""
    a = demo.clusters["a"]
    name = load_yaml(SEED_NLB_SERVICE)["metadata"]["name"]
    demo.say(f"deleting cluster a's Service {name} while cluster b's targets are in the group")
    await a.kube.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/services/{name}", ok=(200, 202))
    await demo.converge(
        "only a's targets gone; b's and the outside target still healthy",
        demo.expected("b") | demo.kept(),
        demo.expected("a"),
    )
    await demo.ledgers_hold({"a": None, "b": demo.expected("b")})
    lbs = await demo.world.elbv2.describe_load_balancers(LoadBalancerArns=[demo.load_balancer])
    for lb in lbs["LoadBalancers"]:
        demo.show(f"retained for cluster b: NLB {lb['DNSName']} ({lb['State']['Code']})")
    await demo.ready("b")


STEPS: list[tuple[str, Step]] = [
    ("world", step_world),
    ("ingress", step_ingress),
    ("bind", step_bind),
    ("outside", step_outside),
    ("scale-down", step_scale_down),
    ("delete", step_delete),
    ("inspect", step_inspect),
]


async def run_steps(demo: Demo, steps: Sequence[tuple[str, Step]]) -> None:
    for number, (name, step) in enumerate(steps, start=1):
        doc = (step.__doc__ or "").strip().splitlines()
        demo.say(f"step {number}/{len(steps)} {name}: {doc[0] if doc else ''}")
        await step(demo)


NLB_STEPS: list[tuple[str, Step]] = [
    ("service", step_service) if name == "ingress" else (name, step) for name, step in STEPS
]
NLB_STEPS = [(n, step_delete_service if n == "delete" else s) for n, s in NLB_STEPS]
"""The NLB variant (``lbc demo --nlb``): the seed's NLB Service in place of its Ingress."""


async def _main(keep: Path | None, steps: Sequence[tuple[str, Step]]) -> int:
    started = time.monotonic()
    world = World(time_factor=0.02, workdir=keep)
    print("starting the lab: ELBv2/EC2 and two API servers (a few seconds)", flush=True)
    try:
        async with world:
            await run_steps(Demo(world, sys.stdout), steps)
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
        "--nlb",
        action="store_true",
        help="the NLB variant: the seed's NLB Service in cluster a instead of its Ingress",
    )
    parser.add_argument(
        "--keep-logs",
        metavar="DIR",
        type=Path,
        help="write the processes' logs to DIR and keep them (default: a temporary folder)",
    )
    args = parser.parse_args(list(argv))
    if args.keep_logs is not None:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_main(args.keep_logs, NLB_STEPS if args.nlb else STEPS))
