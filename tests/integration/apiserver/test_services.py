"""Services through kubernetes_asyncio: what kube-apiserver allocates and refuses.

The NLB path registers instance targets on a Service's node ports and health-checks its
``healthCheckNodePort``; both are allocated by the API server, and a load-balancer class may
not change under a controller's feet.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

NLB_CLASS = "service.k8s.aws/nlb"


def service(name: str, kind: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": kind,
            "selector": {"app": name},
            "ports": spec.pop("ports", [{"name": "http", "port": 80, "targetPort": 8080}]),
            **spec,
        },
    }


async def refused(call: Any) -> dict[str, str]:
    with pytest.raises(ApiException) as err:
        await call
    assert err.value.status == 422, err.value.body
    body = json.loads(err.value.body)
    return {c["field"]: c["message"] for c in body["details"]["causes"]}


async def test_cluster_ip_and_defaults_are_allocated(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    made = await core.create_namespaced_service(
        "default", service("web", ports=[{"port": 80}, {"port": 53, "protocol": "UDP"}])
    )
    assert made.spec.cluster_ip.startswith("10.100.")
    assert made.spec.cluster_ips == [made.spec.cluster_ip]
    assert [(p.protocol, p.target_port, p.node_port) for p in made.spec.ports] == [
        ("TCP", 80, None),
        ("UDP", 53, None),
    ]
    assert made.status.load_balancer is not None
    other = await core.create_namespaced_service("default", service("other"))
    assert other.spec.cluster_ip != made.spec.cluster_ip
    headless = await core.create_namespaced_service("default", service("db", clusterIP="None"))
    assert headless.spec.cluster_ip == "None"
    causes = await refused(
        core.patch_namespaced_service("web", "default", {"spec": {"clusterIP": "10.100.9.9"}})
    )
    assert causes == {"spec.clusterIPs[0]": 'Invalid value: "10.100.9.9": may not change once set'}


async def test_load_balancer_gets_node_ports_and_a_health_check_port(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    body = service(
        "echoserver",
        "LoadBalancer",
        ports=[{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}],
    )
    body["spec"]["loadBalancerClass"] = NLB_CLASS
    body["spec"]["externalTrafficPolicy"] = "Local"
    made = await core.create_namespaced_service("default", body)
    node_ports = [p.node_port for p in made.spec.ports]
    assert all(30000 <= n <= 32767 for n in node_ports)
    assert len(set(node_ports)) == 2
    assert 30000 <= made.spec.health_check_node_port <= 32767
    assert made.spec.health_check_node_port not in node_ports
    assert made.spec.allocate_load_balancer_node_ports is True
    # A client that leaves the allocated values out keeps them (patchAllocatedValues).
    replaced = made.to_dict()
    body["metadata"]["resourceVersion"] = made.metadata.resource_version
    again = await core.replace_namespaced_service("echoserver", "default", body)
    assert [p.node_port for p in again.spec.ports] == node_ports
    assert again.spec.health_check_node_port == made.spec.health_check_node_port
    assert again.spec.cluster_ip == replaced["spec"]["cluster_ip"]
    cluster = await core.patch_namespaced_service(
        "echoserver", "default", {"spec": {"externalTrafficPolicy": "Cluster"}}
    )
    assert cluster.spec.health_check_node_port is None, "released with the Local policy"


async def test_node_port_conflicts_and_ranges_are_refused(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    await core.create_namespaced_service(
        "default", service("a", "NodePort", ports=[{"port": 80, "nodePort": 30080}])
    )
    causes = await refused(
        core.create_namespaced_service(
            "default", service("b", "NodePort", ports=[{"port": 80, "nodePort": 30080}])
        )
    )
    assert causes == {
        "spec.ports[0].nodePort": "Invalid value: 30080: provided port is already allocated"
    }
    causes = await refused(
        core.create_namespaced_service(
            "default", service("c", "NodePort", ports=[{"port": 80, "nodePort": 8080}])
        )
    )
    assert "provided port is not in the valid range" in causes["spec.ports[0].nodePort"]
    causes = await refused(
        core.create_namespaced_service(
            "default", service("d", ports=[{"port": 80, "nodePort": 30081}])
        )
    )
    assert causes == {
        "spec.ports[0].nodePort": "Forbidden: may not be used when `type` is 'ClusterIP'"
    }
    fresh = await core.create_namespaced_service("default", service("e", "NodePort"))
    assert fresh.spec.ports[0].node_port not in (30080, None)


async def test_load_balancer_class_may_not_change_once_set(
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    body = service("echoserver", "LoadBalancer")
    body["spec"]["loadBalancerClass"] = NLB_CLASS
    await core.create_namespaced_service("default", body)
    causes = await refused(
        core.patch_namespaced_service(
            "echoserver", "default", {"spec": {"loadBalancerClass": "example.com/other"}}
        )
    )
    assert causes == {
        "spec.loadBalancerClass": 'Invalid value: "example.com/other": may not change once set'
    }
    causes = await refused(
        core.patch_namespaced_service(
            "echoserver", "default", {"spec": {"loadBalancerClass": None}}
        )
    )
    assert causes == {"spec.loadBalancerClass": "Invalid value: null: may not change once set"}
    plain_body = service("plain")
    plain_body["spec"]["loadBalancerClass"] = NLB_CLASS
    causes = await refused(core.create_namespaced_service("default", plain_body))
    assert causes == {
        "spec.loadBalancerClass": "Forbidden: may only be used when `type` is 'LoadBalancer'"
    }
    # Leaving the LoadBalancer type releases the class and the node ports.
    plain = await core.patch_namespaced_service(
        "echoserver", "default", {"spec": {"type": "ClusterIP"}}
    )
    assert plain.spec.load_balancer_class is None
    assert plain.spec.ports[0].node_port is None
    assert plain.spec.external_traffic_policy is None


async def test_status_patch_keeps_the_allocation(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    made = await core.create_namespaced_service("default", service("web", "LoadBalancer"))
    hostname = "k8s-default-web-0123456789-0123456789abcdef.elb.us-east-1.amazonaws.com"
    patched = await core.patch_namespaced_service_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}
    )
    assert patched.status.load_balancer.ingress[0].hostname == hostname
    assert patched.spec.ports[0].node_port == made.spec.ports[0].node_port
    assert patched.spec.cluster_ip == made.spec.cluster_ip
