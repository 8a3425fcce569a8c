"""A lab world for the demo and the end-to-end tests: one AWS, several clusters, lbc daemons.

:class:`World` starts the lab ELBv2/EC2 as a process, builds a VPC on it, and adds clusters: each
cluster is its own lab API server process with the TargetGroupBinding CRD applied, nodes backed
by EC2 instances of the lab, and (on request) an lbc daemon process pointed at both. Everything
is reached through real protocols: the daemons cannot tell the lab from the real thing.

Accounts: the world's own resources live in moto's default account (the dummy ``lab`` keys).
:meth:`World.account` adds another AWS account (an IAM user's keys, clients, a VPC of its own),
:meth:`World.role` a role there trusting some principal, and ``account=`` on
:meth:`World.target_group` and :meth:`World.start_daemon` puts a group or a cluster's daemon in
it, so cross-account scenarios run on the same lab.

Waiting is always for a condition with a deadline (:func:`eventually`), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

import yaml
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from lbc_lab.elb_control import LabElbControl
from lbc_lab.elb_scenario import (
    BoundTargetGroup,
    Instance,
    Network,
    create_network,
    create_target_group,
    run_instances,
)
from lbc_lab.processes import LabProcess, ProcessGroup
from lbc_lab.workloads import LabCluster

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "manifests" / "crds" / "targetgroupbindings.yaml"
EXAMPLES = ROOT / "manifests" / "examples"
TGB_PATH = "/apis/elbv2.k8s.aws/v1beta1/namespaces/{ns}/targetgroupbindings"
WEBHOOK_COMPONENT = ROOT / "manifests" / "components" / "webhook"

T = TypeVar("T")


@overload
async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, interval: float = 0.1
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1
) -> T: ...


async def eventually(
    probe: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll ``probe`` until it returns something other than ``None``/``False``; else fail.

    The one polling helper of the tests, benchmarks and the lab: ``probe`` may be a plain
    function or a coroutine function; it runs at least once, even past the deadline, and the
    :class:`TimeoutError` names ``what`` was awaited and for how long.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = probe()
        if inspect.isawaitable(found):
            found = await found
        if found is not None and found is not False:
            return found
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)


def load_yaml(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict):
        raise TypeError(f"{path} holds no single object")
    return doc


def webhook_configurations(base_url: str, ca_bundle: str) -> list[dict[str, Any]]:
    """The webhook component's configurations, calling ``base_url`` instead of the Service.

    The lab has no Service network, so each ``clientConfig.service`` becomes a ``url`` on the
    daemon's webhook port, with the CA that signed its certificate as ``caBundle``; everything
    else (rules, selectors, failurePolicy, timeouts) is the shipped manifest's.
    """
    configs = []
    for name in ("mutating.yaml", "validating.yaml"):
        doc = load_yaml(WEBHOOK_COMPONENT / name)
        for hook in doc["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": base_url + path, "caBundle": ca_bundle}
        configs.append(doc)
    return configs


@dataclass
class Cluster:
    """One lab cluster: its API server process, workload controllers and maybe a daemon."""

    name: str
    apiserver: LabProcess
    url: str
    kubeconfig: Path
    kube: LabCluster
    instances: dict[str, Instance] = field(default_factory=dict)
    daemons: list[LabProcess] = field(default_factory=list)

    async def apply_binding(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        ns = obj["metadata"]["namespace"]
        created: dict[str, Any] = await self.kube.request("POST", TGB_PATH.format(ns=ns), dict(obj))
        return created

    async def get_binding(self, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.kube.request(
            "GET", f"{TGB_PATH.format(ns=namespace)}/{name}", ok=(200, 404)
        )
        if found is None or found.get("kind") == "Status":
            return None
        return found

    async def delete_binding(self, namespace: str, name: str) -> None:
        await self.kube.request(
            "DELETE", f"{TGB_PATH.format(ns=namespace)}/{name}", ok=(200, 202, 404)
        )

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.kube.request(
            "GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}", ok=(200, 404)
        )
        if found is None or found.get("kind") == "Status":
            return None
        return found

    async def register_webhooks(self, base_url: str, ca_bundle: str) -> None:
        """Register lbc's admission webhooks (see :func:`webhook_configurations`)."""
        for doc in webhook_configurations(base_url, ca_bundle):
            plural = doc["kind"].lower() + "s"
            await self.kube.request("POST", f"/apis/admissionregistration.k8s.io/v1/{plural}", doc)

    async def events(self, namespace: str) -> list[dict[str, Any]]:
        listed = await self.kube.request("GET", f"/api/v1/namespaces/{namespace}/events")
        items: list[dict[str, Any]] = listed.get("items", [])
        return items


@dataclass
class LabAccount:
    """An AWS account of the lab world: its user's keys, clients signed with them, its VPC."""

    account_id: str
    keys: dict[str, str]
    elbv2: Any
    ec2: Any
    iam: Any
    network: Network

    @property
    def user_arn(self) -> str:
        return self.keys["arn"]

    @property
    def env(self) -> dict[str, str]:
        """What a daemon needs to run as this account's user."""
        return {
            "AWS_ACCESS_KEY_ID": self.keys["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.keys["secret_access_key"],
        }


class World:
    """The lab ELBv2/EC2 plus any number of lab clusters, all stopped when the block ends."""

    def __init__(
        self,
        *,
        time_factor: float = 0.02,
        workdir: Path | None = None,
        network: Callable[[Any], Awaitable[Network]] | None = None,
    ) -> None:
        """``network`` builds the world's VPC from its EC2 client (default: ``create_network``)."""
        self.time_factor = time_factor
        self._build_network = network or create_network
        self.group = ProcessGroup(workdir)
        self.clusters: dict[str, Cluster] = {}
        self._stack = contextlib.AsyncExitStack()
        self.elb_url = ""
        self.elbv2: Any = None
        self.ec2: Any = None
        self.control: LabElbControl | None = None
        self.network: Network | None = None
        self.accounts: dict[str, LabAccount] = {}
        self._subnet = 0

    async def __aenter__(self) -> World:
        await self._stack.enter_async_context(self.group)
        try:
            _proc, self.elb_url = await self.group.elb(
                args=["--time-factor", str(self.time_factor)]
            )
            self.control = LabElbControl(self.elb_url)
            session = get_session()
            # Generous retries: tests throttle the lab on purpose and still read it here.
            config = AioConfig(retries={"mode": "standard", "total_max_attempts": 12})
            for service in ("elbv2", "ec2"):
                client = await self._stack.enter_async_context(
                    session.create_client(
                        service,
                        region_name=REGION,
                        endpoint_url=self.elb_url,
                        aws_access_key_id="lab",
                        aws_secret_access_key="lab",  # noqa: S106 - the lab's dummy credentials
                        config=config,
                    )
                )
                setattr(self, service, client)
            self.network = await self._build_network(self.ec2)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    @property
    def workdir(self) -> Path:
        return self.group.workdir

    @property
    def net(self) -> Network:
        if self.network is None:
            raise RuntimeError("the world is not started")
        return self.network

    async def account(self, account_id: str) -> LabAccount:
        """Account ``account_id`` (made on first use: a user ``lbc`` with keys, a VPC)."""
        found = self.accounts.get(account_id)
        if found is not None:
            return found
        if self.control is None:
            raise RuntimeError("the world is not started")
        keys = self.control.account_user(account_id)
        session = get_session()
        config = AioConfig(retries={"mode": "standard", "total_max_attempts": 12})
        clients: dict[str, Any] = {}
        for service in ("elbv2", "ec2", "iam"):
            clients[service] = await self._stack.enter_async_context(
                session.create_client(
                    service,
                    region_name=REGION,
                    endpoint_url=self.elb_url,
                    aws_access_key_id=keys["access_key_id"],
                    aws_secret_access_key=keys["secret_access_key"],
                    config=config,
                )
            )
        network = await create_network(clients["ec2"])
        found = LabAccount(
            account_id, keys, clients["elbv2"], clients["ec2"], clients["iam"], network
        )
        self.accounts[account_id] = found
        return found

    async def role(
        self, account_id: str, name: str, *, trusted: str, external_id: str | None = None
    ) -> str:
        """A role of ``account_id`` that ``trusted`` (a user or role ARN) may assume, with
        ``external_id`` when given; returns its ARN."""
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"AWS": trusted},
            "Action": "sts:AssumeRole",
        }
        if external_id is not None:
            statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        owner = await self.account(account_id)
        made = await owner.iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [statement]}
            ),
        )
        arn: str = made["Role"]["Arn"]
        return arn

    def elbv2_for(self, arn: str) -> Any:
        """The ELBv2 client of the account ``arn`` names (the world's own for its own groups)."""
        parts = arn.split(":")
        owner = self.accounts.get(parts[4]) if len(parts) > 4 else None
        return owner.elbv2 if owner is not None else self.elbv2

    async def target_group(
        self,
        name: str,
        *,
        target_type: str = "instance",
        port: int = 80,
        account: str | None = None,
        protocol: str = "TCP",
    ) -> BoundTargetGroup:
        """A target group behind an NLB listener, in the world's account or ``account``."""
        elbv2, network = self.elbv2, self.net
        if account is not None:
            owner = await self.account(account)
            elbv2, network = owner.elbv2, owner.network
        return await create_target_group(
            elbv2,
            network,
            name,
            target_type=target_type,
            port=port,
            protocol=protocol,
            deregistration_delay=30,
            health_check_interval=10,
            healthy_threshold=2,
        )

    async def add_cluster(self, name: str, *, nodes: int = 3, pod_cidr: str) -> Cluster:
        """A lab API server with the CRD, a namespace ``echoserver`` and ``nodes`` EC2 nodes."""
        proc, url, kubeconfig = await self.group.apiserver(f"apiserver-{name}")
        kube = await self._stack.enter_async_context(
            LabCluster(url, name=name, pod_cidr=pod_cidr, zone=self.net.subnets[0].zone)
        )
        await kube.request(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", load_yaml(CRD_PATH)
        )
        cluster = Cluster(name, proc, url, kubeconfig, kube)
        self.clusters[name] = cluster
        await kube.ensure_namespace("kube-system")
        await self.add_nodes(cluster, nodes)
        return cluster

    async def add_nodes(self, cluster: Cluster, count: int) -> list[str]:
        subnet = self._subnet % len(self.net.subnets)
        self._subnet += 1
        made = await run_instances(self.ec2, self.net, count, subnet=subnet)
        names = []
        for instance in made:
            node = f"{cluster.name}-{instance.private_ip.replace('.', '-')}"
            await cluster.kube.add_node(
                node, instance_id=instance.instance_id, ip=instance.private_ip
            )
            cluster.instances[node] = instance
            names.append(node)
        return names

    async def start_daemon(
        self,
        cluster: Cluster,
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        account: str | None = None,
    ) -> LabProcess:
        """An lbc daemon for ``cluster``, running as the world's account or ``account``'s user."""
        identity = (await self.account(account)).env if account is not None else {}
        settings = {
            **identity,
            "LBC_CLUSTER_NAME": cluster.name,
            "LBC_LEADER_ELECT": "false",
            "LBC_DRIFT_VERIFY_PERIOD": "10s",
            "LBC_REQUEUE_PERIOD": "1s",
            "LBC_BACKOFF_MAX": "5s",
            **dict(env or {}),
        }
        daemon = await self.group.daemon(
            name or f"lbc-{cluster.name}-{len(cluster.daemons)}",
            kubeconfig=cluster.kubeconfig,
            aws_endpoint=self.elb_url,
            env=settings,
        )
        cluster.daemons.append(daemon)
        return daemon

    async def security_group(self, name: str) -> str:
        """A security group in the world's VPC (a load balancer's, or a node group's)."""
        made = await self.ec2.create_security_group(
            GroupName=name, Description=name, VpcId=self.net.vpc_id
        )
        gid: str = made["GroupId"]
        return gid

    async def place_nodes(self, cluster: Cluster, gid: str, names: list[str] | None = None) -> None:
        """Put the nodes' primary ENIs in ``gid``, tagged for the cluster as EKS node groups are.

        (The lab adds the group beside the VPC's default group; the cluster tag picks it.)
        """
        await self.ec2.create_tags(
            Resources=[gid],
            Tags=[{"Key": f"kubernetes.io/cluster/{cluster.name}", "Value": "owned"}],
        )
        for name in names or list(cluster.instances):
            await self.ec2.modify_instance_attribute(
                InstanceId=cluster.instances[name].instance_id, Groups=[gid]
            )

    async def inbound_rules(self, gid: str) -> list[tuple[str, int, int, str]]:
        """``(protocol, from, to, source)`` of the group's inbound rules, sorted."""
        found = await self.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [gid]}]
        )
        out = []
        for rule in found["SecurityGroupRules"]:
            if rule.get("IsEgress"):
                continue
            source = rule.get("ReferencedGroupInfo", {}).get("GroupId") or rule.get("CidrIpv4", "")
            out.append(
                (rule["IpProtocol"], int(rule["FromPort"]), int(rule["ToPort"]), str(source))
            )
        return sorted(out)

    def check_daemons(self) -> None:
        """Raise with its log if a daemon died that nobody meant to stop."""
        for cluster in self.clusters.values():
            for daemon in cluster.daemons:
                if daemon.returncode is not None and not daemon.extra.get("expected_exit"):
                    raise RuntimeError(
                        f"{daemon.name} exited with {daemon.returncode}:\n{daemon.tail(30)}"
                    )

    async def targets(self, arn: str) -> dict[str, tuple[str, str]]:
        """``identity -> (state, reason)`` of every target in the group, as AWS reports it.

        The identity is lbc's and LBC's: ``<id>:<port>``, with ``:<QuicServerId>`` appended for
        targets of QUIC groups."""
        found = await self.elbv2_for(arn).describe_target_health(TargetGroupArn=arn)
        out: dict[str, tuple[str, str]] = {}
        for desc in found["TargetHealthDescriptions"]:
            target = desc["Target"]
            health = desc.get("TargetHealth", {})
            identity = f"{target['Id']}:{target['Port']}"
            if target.get("QuicServerId"):
                identity += f":{target['QuicServerId']}"
            out[identity] = (
                health.get("State", ""),
                health.get("Reason", ""),
            )
        return out


@contextlib.asynccontextmanager
async def world(*, time_factor: float = 0.02, workdir: Path | None = None) -> AsyncIterator[World]:
    async with World(time_factor=time_factor, workdir=workdir) as w:
        yield w
