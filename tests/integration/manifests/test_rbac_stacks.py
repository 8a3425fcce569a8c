"""The stack components' RBAC rules, enforced by the lab API server, against the real daemon.

The daemon runs as ``python -m lbc run`` with the rendered ``overlays/ingress`` (base rules plus
``components/ingress``), or ``overlays/service``, stored and enforced in the lab API server. An
Ingress (or an NLB Service) goes through its whole life: claimed, finalizer added, stack built in
the lab ELBv2, generated binding created and reconciled, status written, then deleted and the
stack torn down. No request may be refused, and every rule of the component must have been used.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import create_network, run_instances
from tests.integration.manifests.layout import MANIFESTS, NEEDS_KUBECTL, Obj, find, render
from tests.integration.manifests.test_rbac import (
    APP_NS,
    NAMESPACE,
    NODE_PORT,
    _daemon,
    _eventually,
    daemon_env,
    echo_workload,
    rbac_cluster,
    stopped,
    unused_rules,
)

pytestmark = NEEDS_KUBECTL


def _service() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "echo-nlb",
            "namespace": APP_NS,
            "annotations": {
                "service.beta.kubernetes.io/aws-load-balancer-type": "external",
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance",
            },
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "echo"},
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30081}],
        },
    }


def _ingress() -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "echo", "namespace": APP_NS},
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "echo", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


CASES = {
    # overlay: (role, the object, its API path, node port its targets use, finalizer)
    "ingress": (
        "ClusterRole/lbc-ingress",
        _ingress,
        f"/apis/networking.k8s.io/v1/namespaces/{APP_NS}/ingresses/echo",
        NODE_PORT,
        "ingress.k8s.aws/resources",
    ),
    "service": (
        "ClusterRole/lbc-service",
        _service,
        f"/api/v1/namespaces/{APP_NS}/services/echo-nlb",
        30081,
        "service.k8s.aws/resources",
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("overlay", sorted(CASES))
async def test_stack_lifecycle_under_the_shipped_stack_rbac_without_a_403(
    tmp_path: Path, elb_lab: ElbLab, overlay: str
) -> None:
    role, make, path, node_port, finalizer = CASES[overlay]
    install = render(MANIFESTS / "overlays" / overlay)
    account = find(install, "Deployment", "lbc")["spec"]["template"]["spec"]["serviceAccountName"]
    user = f"system:serviceaccount:{NAMESPACE}:{account}"
    async with rbac_cluster(install, "CustomResourceDefinition", "IngressClass") as (
        server,
        cluster,
        recorder,
    ):
        async with elb_lab.client("ec2") as ec2:
            network = await create_network(ec2)
            await ec2.create_tags(
                Resources=[s.subnet_id for s in network.subnets],
                Tags=[{"Key": "kubernetes.io/role/internal-elb", "Value": "1"}],
            )
            instances = await run_instances(ec2, network, 2)
        await echo_workload(cluster, instances, 1)
        server.create(make())
        env = daemon_env(install, server, user, tmp_path, elb_lab, LBC_VPC_ID=network.vpc_id)
        assert env["LBC_STACKS"] == overlay
        targets = {f"{i.instance_id}:{node_port}" for i in instances}
        log = tmp_path / "daemon.log"
        async with _daemon(env, log) as daemon:

            def ingress() -> Obj:
                made = make()
                name = made["metadata"]["name"]
                return server.get(made["apiVersion"], made["kind"], name, APP_NS) or {}

            async def bindings() -> list[Obj]:
                found = await cluster.request(
                    "GET", f"/apis/elbv2.k8s.aws/v1beta1/namespaces/{APP_NS}/targetgroupbindings"
                )
                items: list[Obj] = found["items"]
                return items

            async def built() -> bool:
                status = (ingress().get("status") or {}).get("loadBalancer") or {}
                made = await bindings()
                if not status.get("ingress") or len(made) != 1:
                    return False
                arn = made[0]["spec"]["targetGroupARN"]
                async with elb_lab.client("elbv2") as elb:
                    health = await elb.describe_target_health(TargetGroupArn=arn)
                found = {
                    f"{d['Target']['Id']}:{d['Target']['Port']}"
                    for d in health["TargetHealthDescriptions"]
                }
                return found == targets

            async def torn_down() -> bool:
                if ingress() or await bindings():
                    return False
                async with elb_lab.client("elbv2") as elb:
                    lbs = await elb.describe_load_balancers()
                return lbs["LoadBalancers"] == []

            try:
                await _eventually(built, "the stack", daemon, recorder)
                assert finalizer in ingress()["metadata"]["finalizers"]
                await cluster.request("DELETE", path, ok=(200, 202))
                await _eventually(torn_down, "the stack's deletion", daemon, recorder)
            finally:
                code = await stopped(daemon)
        tail = log.read_text()[-3000:]
        assert recorder.denied() == [], tail
        assert code == 0, tail
        assert {u for u in unused_rules(install, recorder) if u[0] == role} == set()
