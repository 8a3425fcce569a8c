"""Every built-in resource round-trips through its kubernetes_asyncio API."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from lbc_lab.apiserver import LabApiServer

MERGE = "application/merge-patch+json"


async def test_namespaces_nodes_pods_and_services(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    ns = await core.create_namespace({"metadata": {"name": "team"}})
    assert ns.status.phase == "Active"
    node = await core.create_node(
        {
            "metadata": {"name": "ip-10-0-0-1.ec2.internal"},
            "spec": {"providerID": "aws:///us-east-1a/i-1"},
        }
    )
    assert node.spec.provider_id == "aws:///us-east-1a/i-1"
    await core.patch_node_status(
        node.metadata.name,
        {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}},
    )
    pod = await core.create_namespaced_pod(
        "team",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
    )
    assert pod.status.phase == "Pending"
    pod = await core.patch_namespaced_pod_status(
        "p", "team", {"status": {"phase": "Running", "podIP": "10.0.0.9"}}
    )
    assert (pod.status.phase, pod.status.pod_ip) == ("Running", "10.0.0.9")
    svc = await core.create_namespaced_service(
        "team",
        {
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]},
        },
    )
    assert svc.spec.ports[0].node_port == 30080
    assert [n.metadata.name for n in (await core.list_node()).items] == [node.metadata.name]


async def test_endpointslices_leases_and_configmaps(kube_api_client: client.ApiClient) -> None:
    discovery = client.DiscoveryV1Api(kube_api_client)
    slice_ = await discovery.create_namespaced_endpoint_slice(
        "default",
        {
            "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.9"], "conditions": {"ready": True}}],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        },
    )
    assert slice_.endpoints[0].addresses == ["10.0.0.9"]
    listed = await discovery.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=web"
    )
    assert [s.metadata.name for s in listed.items] == ["web-abc"]
    leases = client.CoordinationV1Api(kube_api_client)
    lease = await leases.create_namespaced_lease(
        "default",
        {"metadata": {"name": "lbc"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}},
    )
    lease.spec.holder_identity = "b"
    renewed = await leases.replace_namespaced_lease("lbc", "default", lease)
    assert renewed.spec.holder_identity == "b"


async def test_events_are_one_resource_in_two_groups(kube_api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api_client)
    events = client.EventsV1Api(kube_api_client)
    created = await events.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "ev1"},
            "eventTime": "2026-11-24T00:00:00.000000Z",
            "reason": "Registered",
            "note": "registered 3 targets",
            "type": "Normal",
            "action": "Register",
            "reportingController": "lbc",
            "reportingInstance": "lbc-1",
            "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
        },
    )
    assert created.note == "registered 3 targets"
    legacy = await core.read_namespaced_event("ev1", "default")
    assert legacy.message == "registered 3 targets"
    assert legacy.involved_object.name == "web"
    await core.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "ev2"},
            "eventTime": "2026-11-24T00:00:01.000000Z",
            "involvedObject": {"kind": "Service", "name": "web", "namespace": "default"},
            "reason": "Deregistered",
            "message": "deregistered 1 target",
            "type": "Normal",
        },
    )
    both = await events.list_namespaced_event("default")
    assert [(e.metadata.name, e.note) for e in both.items] == [
        ("ev1", "registered 3 targets"),
        ("ev2", "deregistered 1 target"),
    ]
    selected = await core.list_namespaced_event("default", field_selector="reason=Deregistered")
    assert [e.metadata.name for e in selected.items] == ["ev2"]


async def test_webhook_configurations_are_stored(kube_api_client: client.ApiClient) -> None:
    admission = client.AdmissionregistrationV1Api(kube_api_client)
    hook: dict[str, Any] = {
        "name": "vtargetgroupbinding.example.com",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {"service": {"name": "lbc-webhook", "namespace": "kube-system"}},
    }
    await admission.create_mutating_webhook_configuration(
        {"metadata": {"name": "lbc"}, "webhooks": [hook]}
    )
    await admission.create_validating_webhook_configuration(
        {"metadata": {"name": "lbc"}, "webhooks": [hook]}
    )
    mutating = await admission.read_mutating_webhook_configuration("lbc")
    validating = await admission.list_validating_webhook_configuration()
    assert mutating.webhooks[0].name == hook["name"]
    assert [v.metadata.name for v in validating.items] == ["lbc"]


async def test_default_namespaces_exist(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    names = [n.metadata.name for n in (await core.list_namespace()).items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


async def test_events_v1_selectors_use_the_v1_field_names(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    for name, target in (("e1", "web"), ("e2", "db")):
        await core.create_namespaced_event(
            "default",
            {
                "metadata": {"name": name},
                "eventTime": "2026-11-24T00:00:00.000000Z",
                "involvedObject": {"kind": "Service", "name": target, "namespace": "default"},
                "reason": "Synced",
                "message": "ok",
                "type": "Normal",
            },
        )
    events = client.EventsV1Api(kube_api_client)
    selected = await events.list_namespaced_event("default", field_selector="regarding.name=db")
    assert [e.metadata.name for e in selected.items] == ["e2"]


async def test_rbac_objects_and_disruption_budgets_are_stored(
    kube_api_client: client.ApiClient,
) -> None:
    rbac = client.RbacAuthorizationV1Api(kube_api_client)
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "update"]}
    await rbac.create_cluster_role({"metadata": {"name": "system:lbc:reader"}, "rules": [rule]})
    await rbac.create_namespaced_role("default", {"metadata": {"name": "ledger"}, "rules": [rule]})
    await rbac.create_namespaced_role_binding(
        "default",
        {
            "metadata": {"name": "ledger"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ledger"},
            "subjects": [{"kind": "ServiceAccount", "name": "lbc", "namespace": "default"}],
        },
    )
    roles = await rbac.list_cluster_role()
    assert [r.metadata.name for r in roles.items] == ["system:lbc:reader"]
    policy = client.PolicyV1Api(kube_api_client)
    pdb = await policy.create_namespaced_pod_disruption_budget(
        "default",
        {
            "metadata": {"name": "lbc"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "lbc"}}},
        },
    )
    assert pdb.spec.max_unavailable == 1
