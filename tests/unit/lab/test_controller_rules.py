"""The lab's workload rules write what a real cluster's controllers would (pure functions)."""

from __future__ import annotations

from typing import Any

from lbc_lab import controller_rules as rules


def service(target_port: Any, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": target_port}],
            **spec,
        },
    }


def pod(
    name: str,
    ip: str,
    *,
    port_name: str = "http",
    port: int = 8080,
    ready: bool = True,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "labels": labels or {"app": "web"},
        },
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "c", "ports": [{"name": port_name, "containerPort": port}]}],
        },
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_a_named_target_port_resolves_per_pod_into_one_slice_per_port_set() -> None:
    pods = [pod("a", "10.0.0.1", port=8080), pod("b", "10.0.0.2", port=9090)]
    slices = rules.endpoint_slices(service("http"), pods)
    ports = sorted(s["ports"][0]["port"] for s in slices)
    assert ports == [8080, 9090]
    assert all(len(s["endpoints"]) == 1 for s in slices)
    assert len({s["metadata"]["name"] for s in slices}) == 2


def test_a_pod_without_the_named_port_is_an_endpoint_without_that_port() -> None:
    [piece] = rules.endpoint_slices(service("http"), [pod("a", "10.0.0.1", port_name="other")])
    assert piece["ports"] == []
    assert [e["addresses"] for e in piece["endpoints"]] == [["10.0.0.1"]]


def test_slices_hold_at_most_100_endpoints() -> None:
    pods = [pod(f"p{i:03d}", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(250)]
    slices = rules.endpoint_slices(service(8080), pods)
    assert [len(s["endpoints"]) for s in slices] == [100, 100, 50]
    assert all(s["metadata"]["labels"][rules.SERVICE_NAME_LABEL] == "web" for s in slices)


def test_unselected_unaddressed_and_other_namespace_pods_are_not_endpoints() -> None:
    stranger = pod("x", "10.0.0.9", labels={"app": "other"})
    pending = pod("y", "")
    elsewhere = pod("z", "10.0.0.8")
    elsewhere["metadata"]["namespace"] = "other"
    [piece] = rules.endpoint_slices(service(8080), [stranger, pending, elsewhere])
    assert piece["endpoints"] == []


def test_not_ready_pods_are_not_ready_endpoints_unless_the_service_publishes_them() -> None:
    [held] = rules.endpoint_slices(service(8080), [pod("a", "10.0.0.1", ready=False)])
    assert held["endpoints"][0]["conditions"] == {
        "ready": False,
        "serving": False,
        "terminating": False,
    }
    published = service(8080, publishNotReadyAddresses=True)
    [shown] = rules.endpoint_slices(published, [pod("a", "10.0.0.1", ready=False)])
    assert shown["endpoints"][0]["conditions"]["ready"] is True


def test_a_service_without_selector_gets_no_slices() -> None:
    svc = service(8080)
    svc["spec"]["selector"] = {}
    assert rules.endpoint_slices(svc, [pod("a", "10.0.0.1")]) == []


def test_ready_waits_for_every_readiness_gate_and_keeps_transition_times() -> None:
    gated = pod("a", "", ready=False)
    gated["spec"]["readinessGates"] = [{"conditionType": "g1"}, {"conditionType": "g2"}]
    gated["status"] = {"conditions": [{"type": "g1", "status": "True"}]}
    first = rules.kubelet_status(gated, "10.0.0.1", "10.0.0.11", "T1")
    assert first is not None
    assert {c["type"]: c["status"] for c in first["conditions"]}["Ready"] == "False"
    assert all(c["type"] in rules.KUBELET_CONDITIONS for c in first["conditions"])

    gated["status"].update(first)
    gated["status"]["conditions"] = [*first["conditions"], {"type": "g1", "status": "True"}]
    assert rules.kubelet_status(gated, "10.0.0.1", "10.0.0.11", "T2") is None

    gated["status"]["conditions"].append({"type": "g2", "status": "True"})
    second = rules.kubelet_status(gated, "10.0.0.1", "10.0.0.11", "T3")
    assert second is not None
    by_type = {c["type"]: c for c in second["conditions"]}
    assert by_type["Ready"] == {"type": "Ready", "status": "True", "lastTransitionTime": "T3"}
    assert by_type["PodScheduled"]["lastTransitionTime"] == "T1"


def deployment(replicas: int, image: str = "echo:1") -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "dep-uid", "generation": 2},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


def test_a_pod_of_the_template_is_owned_labelled_and_bound_to_its_node() -> None:
    dep = deployment(1)
    made = rules.pod_from_template(dep, "web-x", "n2")
    assert made["spec"]["nodeName"] == "n2"
    assert rules.owned_by(made, dep)
    labels = made["metadata"]["labels"]
    assert labels["app"] == "web"
    assert labels[rules.TEMPLATE_HASH_LABEL] == rules.template_hash(dep["spec"]["template"])
    assert (
        rules.template_hash(deployment(1, "echo:2")["spec"]["template"])
        != labels[rules.TEMPLATE_HASH_LABEL]
    )


def test_deployment_status_is_complete_only_when_every_wanted_pod_is_updated_and_ready() -> None:
    dep = deployment(2)
    fresh = rules.pod_from_template(dep, "web-1", "n1")
    fresh["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    old = rules.pod_from_template(deployment(2, "echo:0"), "web-0", "n1")
    old["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    rolling = rules.deployment_status(dep, [fresh, old])
    assert (rolling["replicas"], rolling["updatedReplicas"], rolling["availableReplicas"]) == (
        2,
        1,
        1,
    )
    assert {c["type"]: c["reason"] for c in rolling["conditions"]}["Progressing"] == (
        "ReplicaSetUpdated"
    )
    second = rules.pod_from_template(dep, "web-2", "n1")
    second["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    done = rules.deployment_status(dep, [fresh, second])
    assert done["observedGeneration"] == 2
    assert {c["type"]: c["reason"] for c in done["conditions"]}["Progressing"] == (
        "NewReplicaSetAvailable"
    )
    assert not rules.status_differs(done, rules.deployment_status(dep, [second, fresh]))
    assert rules.status_differs(rolling, done)
