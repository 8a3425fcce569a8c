"""Take-over of an NLB stack LBC built for an instance-target Service, with zero mutations.

The fixture is written by hand from LBC's rules (reference §2-§3): ``service.k8s.aws`` tags and
resource ids, the frontend group's rule per Service port, LBC's TCP health-check defaults, the
binding's labels and spec, the Service's finalizer. Its AWS names are not the ones lbc computes.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.scenario import World
from tests.e2e.conftest import NS, POD_CIDR_A, wait_targets
from tests.e2e.stacks import (
    last_seq,
    lbc_binding,
    lbc_security_groups,
    lbc_tags as stack_tags,
    mutations,
    next_reconcile,
    stack_cluster,
    tag_subnets_for_load_balancers,
)

pytestmark = pytest.mark.timeout(240)

CLUSTER = "a"
NAME = "echoserver-nlb"
STACK = f"{NS}/{NAME}"
NODE_PORT = 30095


def lbc_tags(resource: str) -> list[dict[str, str]]:
    return stack_tags("service", STACK, resource)


async def build_lbc_nlb(world: World) -> dict[str, str]:
    vpc = world.net.vpc_id
    backend, frontend = await lbc_security_groups(
        world, "takeover", lbc_tags("ManagedLBSecurityGroup")
    )
    tg = await world.elbv2.create_target_group(
        Name="takeover-nlb-tg", Protocol="TCP", Port=NODE_PORT, VpcId=vpc,
        TargetType="instance", IpAddressType="ipv4", HealthCheckProtocol="TCP",
        HealthCheckPort="traffic-port", HealthCheckIntervalSeconds=10,
        HealthCheckTimeoutSeconds=10, HealthyThresholdCount=3, UnhealthyThresholdCount=3,
        Tags=lbc_tags(f"{STACK}:80"),
    )  # fmt: skip
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    await world.elbv2.modify_target_group_attributes(
        TargetGroupArn=tg_arn, Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "false"}]
    )
    lb = await world.elbv2.create_load_balancer(
        Name="takeover-nlb", Type="network", Scheme="internal", IpAddressType="ipv4",
        Subnets=[s.subnet_id for s in world.net.subnets],
        SecurityGroups=[frontend, backend], Tags=lbc_tags("LoadBalancer"),
    )  # fmt: skip
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    await world.elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="TCP", Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tg_arn}]}}],
        Tags=lbc_tags("80"),
    )  # fmt: skip
    return {"tg": tg_arn, "lb": lb_arn, "backend": backend, "vpc": vpc, "node_port": str(NODE_PORT)}


def binding_of(made: dict[str, str]) -> dict[str, Any]:
    return lbc_binding(
        made, "service", "k8s-echoserv-echoserv-0123456789", NAME, NAME, targetGroupProtocol="TCP"
    )


async def test_lbc_built_nlb_stack_is_adopted_without_a_mutation(world: World) -> None:
    await tag_subnets_for_load_balancers(world)
    made = await build_lbc_nlb(world)
    since = last_seq(world)
    a, _, _ = await stack_cluster(world, CLUSTER, pod_cidr=POD_CIDR_A, stacks=False)
    await a.apply_binding(binding_of(made))
    await a.kube.request("POST", f"/api/v1/namespaces/{NS}/services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NS, "finalizers": ["service.k8s.aws/resources"],
                     "annotations": {
                         "service.beta.kubernetes.io/aws-load-balancer-type": "external",
                         "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type":
                             "instance"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": "echoserver"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP",
                            "nodePort": NODE_PORT}]},
    })  # fmt: skip
    daemon = await world.start_daemon(
        a, name="lbc-a-nlb", env={"LBC_STACKS": "service", "LBC_VPC_ID": world.net.vpc_id}
    )
    await next_reconcile(world, daemon, 0)
    assert mutations(world, since) == {}, "lbc changed LBC's stack"
    nodes = {f"{i.instance_id}:{NODE_PORT}" for i in a.instances.values()}
    await wait_targets(world, made["tg"], nodes, what="the nodes", timeout=60)
