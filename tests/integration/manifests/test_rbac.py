"""The shipped RBAC rules, enforced by the lab API server, against the real daemon.

The rules come from ``kubectl kustomize manifests`` and are stored in the lab API server, which
enforces RBAC over them and answers 403 to anything they do not allow. The daemon runs
as a real ``python -m lbc run`` process authenticated as the manifests' ServiceAccount, with the
Deployment's own ``LBC_*`` environment, against the lab API server and the lab ELBv2/EC2.

The scenario takes bindings through their whole life: a MultiCluster instance binding with
security-group rules (`spec.networking`, NetworkingReady), whose ledger is
created, then settled when a node goes; an ip binding with readiness gates; a binding whose
target group does not exist (the same Warning repeated), and the deletion of all three. It must
pass without a single 403, and every shipped rule must have been needed (attributed with the
model in :mod:`.rbac`, itself checked against the lab's answers): together, the rules are exactly
what the daemon uses. On the way, the Deployment's probe paths and the
ServiceMonitor's scrape path must answer.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import anyio.abc
import pytest

from lbc_lab.apiserver.authz import ADMIN_TOKEN, RequestAttributes
from lbc_lab.apiserver.rbac import RbacAuthorizer as LabRbac
from lbc_lab.apiserver.server import LabApiServer
from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Instance, create_network, create_target_group, run_instances
from lbc_lab.scenario import eventually
from lbc_lab.workloads import LabCluster
from tests.daemon import lbc_run
from tests.integration.manifests.layout import (
    CRD_FILE,
    MANIFESTS,
    NEEDS_KUBECTL,
    Obj,
    find,
    load_documents,
    render,
)
from tests.integration.manifests.rbac import (
    Recorder,
    RenderedRules,
    grants,
    service_account_user,
)
from tests.objects import target_group_binding

pytestmark = NEEDS_KUBECTL

NAMESPACE = "lbc-system"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
# Short Lease timings so the test takes seconds; they satisfy the settings' own relations.
TIMINGS = {"LBC_LEASE_DURATION": "4", "LBC_RENEW_DEADLINE": "3", "LBC_RETRY_PERIOD": "0.5"}


@pytest.fixture(scope="module")
def install() -> list[Obj]:
    return render(MANIFESTS)


@pytest.fixture(scope="module")
def monitor() -> Obj:
    return find(render(MANIFESTS / "overlays" / "prometheus"), "ServiceMonitor", "lbc")


@pytest.fixture(scope="module")
def controller(install: list[Obj]) -> str:
    account = find(install, "Deployment", "lbc")["spec"]["template"]["spec"]["serviceAccountName"]
    return service_account_user(NAMESPACE, account)


def _ask(
    rules: RenderedRules,
    user: str,
    verb: str,
    resource: str,
    *,
    group: str = "",
    namespace: str = "default",
    name: str = "",
) -> bool:
    plural, _, sub = resource.partition("/")
    return rules.allows(RequestAttributes(user, verb, group, plural, sub, namespace, name))


def test_lease_create_is_open_but_other_verbs_only_reach_the_named_lease(
    install: list[Obj], controller: str
) -> None:
    authz = RenderedRules(grants(install))
    lease = {"group": "coordination.k8s.io", "namespace": NAMESPACE}
    assert _ask(authz, controller, "create", "leases", **lease)
    for verb in ("get", "update"):
        assert _ask(authz, controller, verb, "leases", name="lbc-leader", **lease)
        assert not _ask(authz, controller, verb, "leases", name="someone-else", **lease)
    for verb in ("patch", "delete"):
        assert not _ask(authz, controller, verb, "leases", name="lbc-leader", **lease)
    assert not _ask(authz, controller, "list", "leases", **lease)
    # The Role binds in lbc-system only.
    assert not _ask(
        authz, controller, "create", "leases", group=lease["group"], namespace="default"
    )


def test_controller_reads_no_secrets_and_writes_no_workloads(
    install: list[Obj], controller: str
) -> None:
    authz = RenderedRules(grants(install))
    assert not _ask(authz, controller, "get", "secrets", name="x")
    assert not _ask(authz, controller, "list", "secrets")
    assert not _ask(authz, controller, "patch", "pods", name="p")
    assert not _ask(authz, controller, "patch", "services", name="s")
    assert not _ask(authz, controller, "delete", "targetgroupbindings", group="elbv2.k8s.aws")
    assert not _ask(authz, controller, "create", "targetgroupbindings", group="elbv2.k8s.aws")
    assert not _ask(authz, "system:serviceaccount:default:default", "list", "pods")


def test_controller_may_do_what_the_design_needs(install: list[Obj], controller: str) -> None:
    authz = RenderedRules(grants(install))
    tgb = {"group": "elbv2.k8s.aws", "namespace": "echoserver"}
    for verb in ("list", "watch", "patch"):
        assert _ask(authz, controller, verb, "targetgroupbindings", **tgb)
    # Caches serve every read, and finalizers go through merge patches: no get, no update.
    assert not _ask(authz, controller, "get", "targetgroupbindings", name="b", **tgb)
    assert not _ask(authz, controller, "update", "targetgroupbindings", name="b", **tgb)
    assert _ask(authz, controller, "patch", "targetgroupbindings/status", name="b", **tgb)
    assert _ask(authz, controller, "patch", "pods/status", namespace="echoserver", name="p")
    for verb in ("get", "create", "patch", "delete"):
        assert _ask(authz, controller, verb, "configmaps", namespace="echoserver", name="c")
    assert _ask(authz, controller, "create", "events", namespace="echoserver")
    assert _ask(authz, controller, "watch", "endpointslices", group="discovery.k8s.io")
    assert _ask(authz, controller, "list", "nodes", namespace="")


def _deployment_env(install: list[Obj]) -> dict[str, str]:
    (container,) = find(install, "Deployment", "lbc")["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@asynccontextmanager
async def rbac_cluster(
    install: list[Obj], *kinds: str
) -> AsyncIterator[tuple[LabApiServer, LabCluster, Recorder]]:
    """The lab API server enforcing the rendered RBAC objects (stored with the install's other
    ``kinds``), a workload cluster on it, and the recorder of every authorization decision."""
    recorder = Recorder()
    async with (
        LabApiServer.running(authorizer=recorder) as server,
        # Pod IPs inside the first subnet of the lab VPC, as the VPC CNI assigns them.
        LabCluster(server.url, token=ADMIN_TOKEN, pod_cidr="10.0.12.0/22") as cluster,
    ):
        # The lab enforces RBAC over the Roles and bindings stored in it: the rendered ones.
        recorder.inner = LabRbac(server.store)
        server.create(find(install, "Namespace", NAMESPACE))
        for obj in install:
            if obj["kind"] in RBAC_KINDS | set(kinds):
                server.create(obj)
        yield server, cluster, recorder


def daemon_env(
    install: list[Obj],
    server: LabApiServer,
    user: str,
    tmp_path: Path,
    elb_lab: ElbLab,
    **extra: str,
) -> dict[str, str]:
    """The Deployment's environment for a daemon acting as ``user`` against the lab."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LBC_")},
        **_deployment_env(install),
        **TIMINGS,
        "LBC_KUBECONFIG": str(server.kubeconfig_for(user, tmp_path / "kubeconfig")),
        "LBC_PROBE_ADDR": "127.0.0.1:0",
        "LBC_METRICS_ADDR": "127.0.0.1:0",
        "LBC_CLUSTER_NAME": CLUSTER,
        # AWS is the ELB lab on 127.0.0.1, never a real endpoint or the instance metadata.
        **elb_lab.env,
        "AWS_EC2_METADATA_DISABLED": "true",
        "POD_NAME": "lbc-0",
        "POD_NAMESPACE": NAMESPACE,
        **extra,
    }
    env.pop("KUBECONFIG", None)
    return env


def unused_rules(install: list[Obj], recorder: Recorder) -> set[tuple[str, str, str]]:
    """The shipped rules no request of the run needed, once the model of them agreed with the
    lab on every request it saw."""
    rules = RenderedRules(grants(install))
    assert [a for a, ok in recorder.decisions if rules.allows(a) != ok] == []
    return rules.unused(recorder.allowed())


async def stopped(daemon: anyio.abc.Process) -> int:
    """SIGTERM to the daemon (unless it exited already); its exit code."""
    if daemon.returncode is None:
        daemon.send_signal(signal.SIGTERM)
    with anyio.fail_after(15):
        return await daemon.wait()


@asynccontextmanager
async def _daemon(env: dict[str, str], log: Path) -> AsyncIterator[anyio.abc.Process]:
    with log.open("wb") as out:
        async with lbc_run(env, out) as process:
            yield process


def _holder(server: LabApiServer) -> str:
    lease = server.get("coordination.k8s.io/v1", "Lease", "lbc-leader", NAMESPACE)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


APP_NS = "echoserver"
NODE_PORT = 30080
CLUSTER = "lab"
GATE = "target-health.elbv2.k8s.aws/echo-ip"


@dataclass(frozen=True, slots=True)
class Scenario:
    """The objects the daemon works on: one MultiCluster instance binding, one ip binding."""

    instance_group: str
    ip_group: str
    instance_targets: frozenset[str]
    instance_order: tuple[str, ...]
    pods: tuple[str, ...]


def _binding(name: str, target_type: str, arn: str, *, multi_cluster: bool) -> Obj:
    return target_group_binding(
        name,
        arn,
        namespace=APP_NS,
        service="echo",
        target_type=target_type,
        multi_cluster=multi_cluster,
    )


async def echo_workload(
    cluster: LabCluster, instances: list[Instance], replicas: int, **deploy: Any
) -> list[str]:
    """A node per instance, ``replicas`` echo pods and their NodePort Service in ``APP_NS``;
    the pods' names."""
    await cluster.ensure_namespace(APP_NS)
    for n, instance in enumerate(instances):
        await cluster.add_node(f"node-{n}", instance_id=instance.instance_id)
    pods: list[str] = await cluster.deploy(APP_NS, "echo", replicas, **deploy)
    await cluster.apply_service(
        APP_NS,
        "echo",
        ports=[{"name": "http", "port": 80, "targetPort": 8080, "nodePort": NODE_PORT}],
        selector={"app": "echo"},
        type_="NodePort",
    )
    return pods


async def _seed(server: LabApiServer, elb_lab: ElbLab, cluster: LabCluster) -> Scenario:
    """AWS and Kubernetes as an administrator leaves them before lbc starts."""
    async with elb_lab.client("ec2") as ec2, elb_lab.client("elbv2") as elbv2:
        network = await create_network(ec2)
        instances = await run_instances(ec2, network, 2)
        by_instance = await create_target_group(
            elbv2, network, "echo-nodes", target_type="instance"
        )
        # spec.networking: the nodes' group (tagged for the cluster, as EKS node groups are)
        # must let the load balancer's group in on the node port.
        nodes_group = (
            await ec2.create_security_group(
                GroupName="nodes", Description="nodes", VpcId=network.vpc_id
            )
        )["GroupId"]
        lb_group = (
            await ec2.create_security_group(GroupName="lb", Description="lb", VpcId=network.vpc_id)
        )["GroupId"]
        await ec2.create_tags(
            Resources=[nodes_group],
            Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}],
        )
        for instance in instances:
            await ec2.modify_instance_attribute(
                InstanceId=instance.instance_id, Groups=[nodes_group]
            )
        by_ip = await create_target_group(elbv2, network, "echo-pods", target_type="ip", port=8080)
    (crd,) = load_documents(CRD_FILE)
    server.create(crd)
    await cluster.ensure_namespace(NAMESPACE)
    pods = await echo_workload(cluster, instances, 2, readiness_gates=[GATE])
    with_rules = _binding("echo-nodes", "instance", by_instance.arn, multi_cluster=True)
    with_rules["spec"]["networking"] = {
        "ingress": [
            {
                "from": [{"securityGroup": {"groupID": lb_group}}],
                "ports": [{"protocol": "TCP", "port": NODE_PORT}],
            }
        ]
    }
    server.create(with_rules)
    server.create(_binding("echo-ip", "ip", by_ip.arn, multi_cluster=False))
    # A group that does not exist: the same Warning again and again, then a deletion that the
    # missing group must not block.
    missing = by_ip.arn.replace("echo-pods", "echo-gone").rsplit("/", 1)[0] + "/0123456789abcdef"
    server.create(_binding("echo-gone", "instance", missing, multi_cluster=True))
    return Scenario(
        by_instance.arn,
        by_ip.arn,
        frozenset(f"{i.instance_id}:{NODE_PORT}" for i in instances),
        tuple(f"{i.instance_id}:{NODE_PORT}" for i in instances),
        tuple(pods),
    )


async def _targets(elb_lab: ElbLab, arn: str) -> frozenset[str]:
    """The group's targets that are not draining, as ``id:port``."""
    async with elb_lab.client("elbv2") as elbv2:
        health = await elbv2.describe_target_health(TargetGroupArn=arn)
    return frozenset(
        f"{d['Target']['Id']}:{d['Target']['Port']}"
        for d in health["TargetHealthDescriptions"]
        if d["TargetHealth"]["State"] != "draining"
    )


async def _eventually(
    check: Callable[[], Awaitable[bool]], what: str, daemon: Any, recorder: Recorder
) -> None:
    """Poll ``check`` until it holds; the lab offers no change notification to await.

    A 403 ends the wait at once: it is the failure this module exists to report.
    """

    async def probe() -> bool:
        assert recorder.denied() == [], f"forbidden while waiting for {what}"
        assert daemon.returncode is None, f"the daemon exited while waiting for {what}"
        return await check()

    await eventually(probe, timeout=30, what=what)


def _gate_status(server: LabApiServer, pod: str) -> str | None:
    obj = server.get("v1", "Pod", pod, APP_NS) or {}
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == GATE), None)


BINDINGS = ("echo-nodes", "echo-ip", "echo-gone")


async def _probes_answer(install: list[Obj], monitor: Obj, log: Path) -> None:
    """The Deployment's probe paths and the ServiceMonitor's path answer 200 on a synced leader."""
    started = next(
        json.loads(line)
        for line in (await anyio.Path(log).read_text()).splitlines()
        if line.startswith("{") and json.loads(line).get("event") == "daemon_started"
    )
    (container,) = find(install, "Deployment", "lbc")["spec"]["template"]["spec"]["containers"]
    paths = {
        container[probe]["httpGet"]["path"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    urls = [f"http://127.0.0.1:{started['probe_port']}{path}" for path in sorted(paths)]
    urls += [
        f"http://127.0.0.1:{started['metrics_port']}{e['path']}"
        for e in monitor["spec"]["endpoints"]
    ]
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for url in urls:
            async with session.get(url) as response:
                assert response.status == 200, f"{url}: {response.status}"


def _node_of(scenario: Scenario, n: int) -> str:
    """The node whose instance carries the ``n``-th instance target (in sorted order)."""
    return f"node-{scenario.instance_order.index(sorted(scenario.instance_targets)[n])}"


@pytest.mark.timeout(90)
async def test_daemon_runs_the_binding_lifecycle_under_the_shipped_rbac_without_a_403(
    install: list[Obj], monitor: Obj, controller: str, tmp_path: Path, elb_lab: ElbLab
) -> None:
    async with rbac_cluster(install) as (server, cluster, recorder):
        scenario = await _seed(server, elb_lab, cluster)
        env = daemon_env(install, server, controller, tmp_path, elb_lab, LBC_REQUEUE_PERIOD="0.2")
        log = tmp_path / "daemon.log"
        async with _daemon(env, log) as daemon:

            async def leading() -> bool:
                return _holder(server) == "lbc-0"

            async def registered() -> bool:
                pod_targets = {f"{cluster.pod_ip(APP_NS, p)}:8080" for p in scenario.pods}
                return (
                    await _targets(elb_lab, scenario.instance_group) == scenario.instance_targets
                    and await _targets(elb_lab, scenario.ip_group) == pod_targets
                )

            async def ledger_written() -> bool:
                ledger = server.get("v1", "ConfigMap", "aws-lbc-targets-echo-nodes", APP_NS)
                return ledger is not None and ledger["data"]["targets"] == ",".join(
                    sorted(scenario.instance_targets)
                )

            async def status_reported() -> bool:
                # The CRD's status schema keeps what lbc writes (a field it lacks is pruned).
                obj = server.get(
                    "elbv2.k8s.aws/v1beta1", "TargetGroupBinding", "echo-nodes", APP_NS
                )
                status = (obj or {}).get("status") or {}
                conditions = {c["type"]: c["status"] for c in status.get("conditions", ())}
                return (
                    status.get("targets", {}).get("registered") == 2
                    and status.get("observedGeneration") == obj["metadata"].get("generation")
                    and conditions == {"Ready": "True", "NetworkingReady": "True"}
                )

            async def gates_open() -> bool:
                return all(_gate_status(server, p) == "True" for p in scenario.pods)

            async def node_gone() -> bool:
                ledger = server.get("v1", "ConfigMap", "aws-lbc-targets-echo-nodes", APP_NS)
                left = sorted(scenario.instance_targets)[:1]
                return await _targets(elb_lab, scenario.instance_group) == set(left) and (
                    ledger is not None and ledger["data"]["targets"] == ",".join(left)
                )

            async def warning_repeated() -> bool:
                return any(a.resource == "events" and a.verb == "patch" for a in recorder.allowed())

            async def bindings_gone() -> bool:
                return all(
                    server.get("elbv2.k8s.aws/v1beta1", "TargetGroupBinding", name, APP_NS) is None
                    for name in BINDINGS
                )

            async def cleaned_up() -> bool:
                ledger = server.get("v1", "ConfigMap", "aws-lbc-targets-echo-nodes", APP_NS)
                return (
                    ledger is None
                    and not await _targets(elb_lab, scenario.instance_group)
                    and not await _targets(elb_lab, scenario.ip_group)
                )

            try:
                await _eventually(leading, "the Lease", daemon, recorder)
                await _probes_answer(install, monitor, log)
                await _eventually(registered, "registrations", daemon, recorder)
                await _eventually(ledger_written, "the ledger", daemon, recorder)
                await _eventually(status_reported, "the binding's status", daemon, recorder)
                await anyio.to_thread.run_sync(elb_lab.control.advance, 300)
                await _eventually(gates_open, "readiness gates", daemon, recorder)
                # The node of the second instance target goes: deregistered, the ledger settles.
                await cluster.delete_node(_node_of(scenario, 1))
                await _eventually(node_gone, "the node's target to leave", daemon, recorder)
                await _eventually(warning_repeated, "a repeated Warning", daemon, recorder)
                for name in BINDINGS:
                    await cluster.request(
                        "DELETE",
                        f"/apis/elbv2.k8s.aws/v1beta1/namespaces/{APP_NS}/targetgroupbindings/{name}",
                        ok=(200, 202),
                    )
                await _eventually(bindings_gone, "finalizers released", daemon, recorder)
                await _eventually(
                    cleaned_up, "deregistration and ledger deletion", daemon, recorder
                )
            finally:
                code = await stopped(daemon)
        tail = log.read_text()[-3000:]
        assert recorder.denied() == [], tail
        assert code == 0, tail
        assert _holder(server) == "", "the Lease was not released"
        # The other half of "exactly": every rule shipped was needed by this run.
        assert unused_rules(install, recorder) == set()
