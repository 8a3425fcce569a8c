"""The seed document's NLB variant on the lab: a Service in cluster A, its target group in B.

A's daemon (``LBC_STACKS=service``) builds an NLB, a listener and a target group per Service
port and a MultiCluster binding each; B binds the group by hand and the group holds both
clusters' pods. Then: a restart writes nothing, a port added adds a listener and a group, an
unsupported annotation is hands-off, and deleting A's Service retains the stack for B.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lbc_lab.scenario import ROOT, World, eventually, load_yaml
from tests.e2e.conftest import NS, POD_CIDR_A, POD_CIDR_B, binding, pod_targets, wait_targets
from tests.e2e.stacks import (
    last_seq,
    mutations,
    next_reconcile,
    reconciles,
    stack_cluster,
    tag_subnets_for_load_balancers,
)

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(300)]

SERVICE = ROOT / "manifests" / "examples" / "service-nlb-echoserver.yaml"
NAME = "echoserver-nlb"
STACK_ENV = {"LBC_STACKS": "service"}


async def service_bindings(kubectl: Any) -> list[dict[str, Any]]:
    return [
        b
        for b in await kubectl.items("targetgroupbinding")
        if (b["metadata"].get("labels") or {}).get("service.k8s.aws/stack-name") == NAME
    ]


async def load_balancers(world: World) -> list[dict[str, Any]]:
    found = []
    for lb in (await world.elbv2.describe_load_balancers())["LoadBalancers"]:
        tags = await world.elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])
        values = {t["Key"]: t["Value"] for t in tags["TagDescriptions"][0]["Tags"]}
        if values.get("service.k8s.aws/stack") == f"{NS}/{NAME}":
            found.append(lb)
    return found


async def test_nlb_service_shares_its_target_group_and_is_retained_for_cluster_b(
    world: World,
) -> None:
    await tag_subnets_for_load_balancers(world)
    a, kubectl_a, _ = await stack_cluster(world, "a", pod_cidr=POD_CIDR_A, stacks=False)
    env = {**STACK_ENV, "LBC_VPC_ID": world.net.vpc_id}
    daemon = await world.start_daemon(a, name="lbc-a-nlb", env=env)
    doc = load_yaml(SERVICE)
    annotations = doc["metadata"]["annotations"]
    http = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    # Through the lab's workload helper: it keeps the Service's EndpointSlices, as the
    # endpoint-slice controller would.
    await a.kube.apply_service(
        NS, NAME, type_="LoadBalancer", ports=[http], selector={"app": "echoserver"},
        annotations=annotations,
    )  # fmt: skip

    async def one_binding() -> list[dict[str, Any]] | None:
        world.check_daemons()
        found = await service_bindings(kubectl_a)
        return found if len(found) == 1 else None

    (generated,) = await eventually(one_binding, timeout=60, what="the generated binding")
    spec = generated["spec"]
    assert spec["multiClusterTargetGroup"] is True
    assert spec["targetType"] == "ip"
    assert spec["serviceRef"] == {"name": NAME, "port": 80}
    arn = spec["targetGroupARN"]
    await wait_targets(world, arn, pod_targets(a), what="A's pods", timeout=60)
    (lb,) = await load_balancers(world)
    assert lb["Type"] == "network"
    assert lb["Scheme"] == "internet-facing"

    async def hostname() -> str | None:
        found = await kubectl_a.get("service", NAME) or {}
        status = ((found.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        return status[0]["hostname"] if status else None

    assert await eventually(hostname, timeout=30, what="the status") == lb["DNSName"].lower()
    found = await kubectl_a.get("service", NAME)
    assert found is not None
    assert "service.k8s.aws/resources" in found["metadata"]["finalizers"]

    # Cluster B binds the same group by hand: both clusters' pods serve.
    b, _, _ = await stack_cluster(world, "b", pod_cidr=POD_CIDR_B, stacks=False)
    await b.apply_binding(binding("my-target-group-binding", arn, target_type="ip"))
    both = pod_targets(a) | pod_targets(b)
    await wait_targets(world, arn, both, what="both clusters' pods", timeout=60)

    # A restart with nothing changed writes nothing.
    await daemon.stop()
    a.daemons.remove(daemon)
    since = last_seq(world)
    daemon = await world.start_daemon(a, name="lbc-a-nlb-restarted", env=env)
    await next_reconcile(world, daemon, 0)
    assert mutations(world, since) == {}

    # A second port: a second listener, target group and binding.
    doc = load_yaml(SERVICE)
    doc["spec"]["ports"].append(
        {"name": "alt", "port": 8081, "targetPort": 8080, "protocol": "TCP"}
    )
    doc["spec"]["ports"][0]["name"] = "http"
    await kubectl_a.apply(doc)

    async def two_bindings() -> bool:
        return len(await service_bindings(kubectl_a)) == 2

    await eventually(two_bindings, timeout=60, what="a binding for the new port")
    listeners = await world.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])
    assert sorted(li["Port"] for li in listeners["Listeners"]) == [80, 8081]

    # An unsupported annotation: hands-off, nothing written.
    done = reconciles(daemon)
    since = last_seq(world)
    await kubectl_a.ok(
        "annotate", "service", NAME, "-n", NS,
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert=arn:aws:acm:us-east-1:1:certificate/x",
    )  # fmt: skip

    async def warned() -> bool:
        return any(e.get("reason") == "UnsupportedSettings" for e in await a.events(NS))

    await eventually(warned, timeout=30, what="the hands-off Warning")
    assert mutations(world, since) == {}
    assert reconciles(daemon) == done
    await kubectl_a.ok(
        "annotate", "service", NAME, "-n", NS,
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert-",
    )  # fmt: skip

    # A's Service deleted while B's pods are registered: the stack is retained for B.
    await kubectl_a.ok("delete", "service", NAME, "-n", NS, "--wait=false")

    async def gone() -> bool:
        world.check_daemons()
        return await kubectl_a.get("service", NAME) is None

    await eventually(gone, timeout=90, what="A's Service finalized")
    await wait_targets(world, arn, pod_targets(b), what="B's pods only", timeout=60)
    assert [x["LoadBalancerArn"] for x in await load_balancers(world)] == [lb["LoadBalancerArn"]]
    assert any(e.get("reason") == "SharedStackRetained" for e in await a.events(NS))


async def test_service_leaving_the_class_is_cleaned_up_like_a_deletion(world: World) -> None:
    await tag_subnets_for_load_balancers(world)
    a, kubectl, _ = await stack_cluster(world, "a", pod_cidr=POD_CIDR_A, stacks=False)
    await world.start_daemon(a, name="lbc-a-nlb", env={**STACK_ENV, "LBC_VPC_ID": world.net.vpc_id})
    http = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30090}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "selector": {"app": "echoserver"},
            "ports": [http],
        },
    }
    await kubectl.apply(service)

    async def built() -> bool:
        world.check_daemons()
        found = await kubectl.get("service", NAME) or {}
        return bool(((found.get("status") or {}).get("loadBalancer") or {}).get("ingress"))

    await eventually(built, timeout=60, what="the NLB stack")
    (lb,) = await load_balancers(world)
    (generated,) = await service_bindings(kubectl)
    assert generated["spec"]["targetType"] == "instance"  # LBC_DEFAULT_TARGET_TYPE
    nodes = {f"{i.instance_id}:30090" for i in a.instances.values()}
    await wait_targets(world, generated["spec"]["targetGroupARN"], nodes, what="the nodes")

    # Type NodePort (the class must go with LoadBalancer): lbc no longer claims it and cleans up.
    service["spec"]["type"] = "NodePort"
    del service["spec"]["loadBalancerClass"]
    await kubectl.ok("replace", "-f", "-", stdin=json.dumps({
        **service, "metadata": {**service["metadata"], "finalizers": ["service.k8s.aws/resources"]},
    }))  # fmt: skip

    async def cleaned() -> bool:
        world.check_daemons()
        found = await kubectl.get("service", NAME) or {}
        status = ((found.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        finalizers = (found.get("metadata") or {}).get("finalizers") or []
        return not status and "service.k8s.aws/resources" not in finalizers

    await eventually(cleaned, timeout=90, what="status cleared and the finalizer removed")
    assert await load_balancers(world) == []
    assert await service_bindings(kubectl) == []
    assert lb["LoadBalancerArn"] not in {
        x["LoadBalancerArn"] for x in (await world.elbv2.describe_load_balancers())["LoadBalancers"]
    }
