"""Admission webhooks end to end: kubectl against a lab cluster, lbc serving the webhooks.

The lab API server calls the daemon's HTTPS webhook port with the configurations shipped in
manifests/components/webhook (clientConfig pointed at the daemon, caBundle = the test CA).
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest

from lbc_lab.processes import LabProcess, free_port
from lbc_lab.scenario import Cluster, World, eventually
from tests.e2e.conftest import APP, NS, POD_CIDR_A, echoserver, pod_targets, wait_targets
from tests.integration.webhook.pki import Authority, serial_of
from tests.kubectl import Kubectl

pytestmark = pytest.mark.timeout(120)

GATE = "target-health.elbv2.k8s.aws/web"
INJECT = "elbv2.k8s.aws/pod-readiness-gate-inject"


def tgb(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"serviceRef": {"name": APP, "port": 80}, **spec},
    }


async def _serial(port: int, authority: Authority) -> int | None:
    """The serial of the certificate a new connection to the daemon is shown (None: closed)."""
    context = ssl.create_default_context(cadata=authority.pem.decode())
    try:
        _r, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context), 2
        )
    except (OSError, TimeoutError):
        return None
    try:
        return serial_of(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
    finally:
        writer.close()


async def _daemon_with_webhooks(
    world: World, cluster: Cluster, authority: Authority
) -> tuple[LabProcess, int, Path]:
    cert_dir = world.workdir / "webhook-certs"
    authority.write_serving(cert_dir)
    port = free_port()
    daemon = await world.start_daemon(
        cluster,
        env={
            "LBC_WEBHOOK_ADDR": f"127.0.0.1:{port}",
            "LBC_WEBHOOK_CERT_DIR": str(cert_dir),
            "LBC_WEBHOOK_CERT_RELOAD_PERIOD": "0.2s",
        },
    )

    async def serving() -> int | None:
        world.check_daemons()
        return await _serial(port, authority)

    await eventually(serving, timeout=20, what="the daemon's webhook port")
    await cluster.register_webhooks(f"https://127.0.0.1:{port}", authority.ca_bundle)
    return daemon, port, cert_dir


async def test_bindings_are_defaulted_and_invalid_ones_refused_through_kubectl(
    world: World,
) -> None:
    tg = await world.target_group("web-ip", target_type="ip")
    other = await world.target_group("web-inst", target_type="instance")
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    await echoserver(a, 2)
    authority = Authority.create()
    await _daemon_with_webhooks(world, a, authority)
    kubectl = Kubectl(a.kubeconfig, world.workdir / "kube-cache")

    code, out = await kubectl.apply(tgb("web", targetGroupName="web-ip"))
    assert code == 0, out
    spec = (await kubectl.get("targetgroupbinding", "web", NS))["spec"]
    assert spec["targetGroupARN"] == tg.arn
    assert spec["targetType"] == "ip"
    assert spec["ipAddressType"] == "ipv4"
    assert spec["vpcID"] == world.net.vpc_id
    assert spec["targetGroupProtocol"] == "TCP"
    await wait_targets(world, tg.arn, pod_targets(a), what="the defaulted binding registers")

    refused = {
        "spec.targetGroupName": tgb("bad", targetGroupName="no-such-group"),
        "spec.targetType": tgb("bad", targetGroupARN=other.arn, targetType="ip"),
        "spec.nodeSelector": tgb(
            "bad", targetGroupARN=other.arn, targetType="ip", nodeSelector={"matchLabels": {}}
        ),
        "spec.iamRoleArnToAssume": tgb(
            "bad", targetGroupARN=other.arn, iamRoleArnToAssume="arn:aws:iam::1:role/x"
        ),
        "spec.ipAddressType": tgb("bad", targetGroupARN=other.arn, ipAddressType="ipv6"),
        "spec.vpcID": tgb("bad", targetGroupARN=other.arn, vpcID="vpc-0123456789abcdef0"),
        "spec.targetGroupProtocol": tgb(
            "bad", targetGroupARN=other.arn, targetGroupProtocol="HTTP"
        ),
    }
    for field, obj in refused.items():
        code, out = await kubectl.apply(obj)
        assert code != 0, f"{field}: {out}"
        assert "denied the request" in out, out
        assert field in out, out

    # Immutable fields and the MultiCluster flip, on the stored binding.
    code, _out, err = await kubectl.merge_patch(
        "targetgroupbinding", "web", NS, {"spec": {"targetType": "instance"}}, ok=False
    )
    assert code != 0
    assert "spec.targetType: is immutable" in err

    # A second binding on the same ARN: refused while either is not MultiCluster.
    code, out = await kubectl.apply(tgb("second", targetGroupARN=tg.arn, targetType="ip"))
    assert code != 0
    assert "already bound by echoserver/web" in out

    # Both MultiCluster: allowed; then turning it off again is refused with what to do.
    code, out = await kubectl.apply(tgb("web", **(spec | {"multiClusterTargetGroup": True})))
    assert code == 0, out

    async def cached_as_multicluster() -> bool:
        code, _out = await kubectl.apply(
            tgb("second", targetGroupARN=tg.arn, targetType="ip", multiClusterTargetGroup=True)
        )
        return code == 0

    # The daemon's cache learns the flag from its watch: wait for it, never sleep.
    await eventually(cached_as_multicluster, timeout=15, what="second MultiCluster binding")
    code, out = await kubectl.apply(tgb("web", **(spec | {"multiClusterTargetGroup": False})))
    assert code != 0
    assert "spec.multiClusterTargetGroup: cannot be turned off" in out
    world.check_daemons()


async def test_pods_of_labelled_namespaces_get_gates_that_follow_target_health(
    world: World,
) -> None:
    assert world.control is not None
    tg = await world.target_group("gated", target_type="ip")
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    await a.kube.ensure_namespace(NS)
    kubectl = Kubectl(a.kubeconfig, world.workdir / "kube-cache")
    code, _out, err = await kubectl.run("label", "namespace", NS, f"{INJECT}=enabled", ok=False)
    assert code == 0, err
    await echoserver(a, 0)
    authority = Authority.create()
    await _daemon_with_webhooks(world, a, authority)
    code, out = await kubectl.apply(tgb("web", targetGroupName="gated"))
    assert code == 0, out

    async def binding_cached() -> bool:
        # The finalizer is the daemon's: its caches (which the pod webhook reads) hold the binding.
        found = await kubectl.get("targetgroupbinding", "web", NS)
        return bool(found["metadata"].get("finalizers"))

    await eventually(binding_cached, timeout=20, what="the binding reconciled")
    await a.kube.scale(NS, APP, 2)
    pods = a.kube.pod_names(NS, APP)
    for pod in pods:
        gates = (await kubectl.get("pod", pod, NS))["spec"].get("readinessGates", [])
        assert gates == [{"conditionType": GATE}], pod
    held, free = pods
    world.control.set_health(
        a.kube.pod_ip(NS, held), "unhealthy", reason="Target.FailedHealthChecks"
    )
    await a.kube.sync_endpoint_slices(NS)
    await wait_targets(world, tg.arn, pod_targets(a), what="gated pods registered")

    async def gate(pod: str) -> dict[str, Any] | None:
        found = await kubectl.get("pod", pod, NS)
        for cond in found.get("status", {}).get("conditions", []):
            if cond.get("type") == GATE:
                return dict(cond)
        return None

    async def free_true() -> bool:
        cond = await gate(free)
        return cond is not None and cond["status"] == "True"

    await eventually(free_true, timeout=30, what="the healthy pod's gate True")
    cond = await gate(held)
    assert cond is not None
    assert cond["status"] == "False"
    assert cond["reason"] == "Target.FailedHealthChecks"
    # The kubelet folds the injected gate into Ready: held back while the target is unhealthy.
    await a.kube.kubelet_pass(NS)
    assert await _ready(kubectl, held) == "False"
    assert await _ready(kubectl, free) == "True"

    world.control.set_health(a.kube.pod_ip(NS, held), "healthy")

    async def held_true() -> bool:
        cond = await gate(held)
        return cond is not None and cond["status"] == "True"

    await eventually(held_true, timeout=30, what="the held pod's gate True once healthy")
    await a.kube.kubelet_pass(NS)
    assert await _ready(kubectl, held) == "True"
    world.check_daemons()


async def _ready(kubectl: Any, pod: str) -> str:
    found = await kubectl.get("pod", pod, NS)
    conditions = {c["type"]: c["status"] for c in found.get("status", {}).get("conditions", [])}
    return str(conditions.get("Ready"))


async def test_rotation_is_served_without_restart_and_a_stopped_lbc_fails_creation(
    world: World,
) -> None:
    await world.target_group("web-ip", target_type="ip")
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    await echoserver(a, 1)
    authority = Authority.create()
    daemon, port, cert_dir = await _daemon_with_webhooks(world, a, authority)
    kubectl = Kubectl(a.kubeconfig, world.workdir / "kube-cache")
    first = await _serial(port, authority)

    rotated = authority.write_serving(cert_dir)
    assert rotated != first

    async def rotated_served() -> bool:
        return await _serial(port, authority) == rotated

    await eventually(rotated_served, timeout=10, what="the rotated certificate served")
    assert daemon.returncode is None  # the same process: no restart
    code, out = await kubectl.apply(tgb("web", targetGroupName="web-ip"))
    assert code == 0, out

    daemon.extra["expected_exit"] = True
    await daemon.stop()
    code, out = await kubectl.apply(tgb("second", targetGroupName="web-ip"))
    assert code != 0
    assert 'failed calling webhook "mtargetgroupbinding.elbv2.k8s.aws"' in out
