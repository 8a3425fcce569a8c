from __future__ import annotations

from typing import Any

from lbc.webhook.readinessgates import inject_gates
from lbc.webhook.review import AdmissionRequest

from tests.unit.webhook.fakes import INSTANCE_ARN, IP_ARN, Cluster, service, tgb

GATE = "target-health.elbv2.k8s.aws/"


def _pod(labels: dict[str, str], gates: list[str] | None = None, ns: str = "apps") -> Any:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if gates is not None:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    return {"metadata": {"name": "p", "namespace": ns, "labels": labels}, "spec": spec}


def _request(pod: Any, operation: str = "CREATE") -> AdmissionRequest:
    return AdmissionRequest(
        "u", operation, "", "v1", "pods", "", pod["metadata"]["namespace"], "p", pod, None, False
    )


def _cluster() -> Cluster:
    cluster = Cluster()
    cluster.add_service(service("web", selector={"app": "web"}))
    cluster.add_service(service("api", selector={"app": "web", "tier": "api"}))
    cluster.add_service(service("headless", selector={}))
    cluster.add_binding(tgb("b-web", targetGroupARN=IP_ARN, targetType="ip"))
    api = tgb("a-api", targetGroupARN=IP_ARN, targetType="ip", multiClusterTargetGroup=True)
    api["spec"]["serviceRef"]["name"] = "api"
    cluster.add_binding(api)
    inst = tgb("c-inst", targetGroupARN=INSTANCE_ARN, targetType="instance")
    cluster.add_binding(inst)
    none = tgb("d-none", targetGroupARN=IP_ARN, targetType="ip")
    none["spec"]["serviceRef"]["name"] = "headless"
    cluster.add_binding(none)
    cluster.add_binding(tgb("e-elsewhere", ns="other", targetGroupARN=IP_ARN, targetType="ip"))
    return cluster


def _gates(verdict: Any) -> list[str]:
    assert verdict.allowed
    if not verdict.patch:
        return []
    (op,) = verdict.patch
    assert (op["op"], op["path"]) == ("add", "/spec/readinessGates")
    return [g["conditionType"] for g in op["value"]]


def test_a_pod_gets_one_gate_per_ip_binding_whose_service_selects_it() -> None:
    gates = _gates(inject_gates(_request(_pod({"app": "web", "tier": "api"})), _cluster().caches))
    assert gates == [GATE + "a-api", GATE + "b-web"]


def test_instance_bindings_empty_selectors_and_other_namespaces_add_nothing() -> None:
    cluster = _cluster()
    # app=db: only the selector-less Service's ip binding and the instance binding are near.
    assert _gates(inject_gates(_request(_pod({"app": "db"})), cluster.caches)) == []
    # The other namespace's binding names Service "web" there, which does not exist.
    assert _gates(inject_gates(_request(_pod({"app": "web"}, ns="other")), cluster.caches)) == []
    cluster.add_service(service("web", ns="other", selector={"app": "web"}))
    other = _gates(inject_gates(_request(_pod({"app": "web"}, ns="other")), cluster.caches))
    assert other == [GATE + "e-elsewhere"]


LEGACY = "target-health.alb.ingress.k8s.aws/"


def test_legacy_gates_stay_on_a_pod_no_binding_selects() -> None:
    # LBC's injector removes legacy gates only when it injects a gate (pod_readiness_gate.go).
    pod = _pod({"app": "db"}, [LEGACY + "old_gate", "leave-intact"])
    assert inject_gates(_request(pod), _cluster().caches).patch == ()


def test_legacy_gates_go_when_a_gate_is_wanted_even_if_it_is_already_there() -> None:
    # LBC: any wanted gate (present or not) removes the legacy ones.
    pod = _pod({"app": "web"}, [LEGACY + "old_gate", GATE + "b-web"])
    assert _gates(inject_gates(_request(pod), _cluster().caches)) == [GATE + "b-web"]


def test_injection_turned_off_admits_every_pod_unchanged() -> None:
    # LBC with --enable-pod-readiness-gate-inject=false ("inject disabled" case).
    pod = _pod({"app": "web", "svc": "svc1"}, [LEGACY + "old_gate", "leave-intact"])
    assert inject_gates(_request(pod), _cluster().caches, enabled=False).patch == ()


def test_existing_gates_are_kept_and_legacy_gates_dropped() -> None:
    pod = _pod({"app": "web"}, ["custom/ready", "target-health.alb.ingress.k8s.aws/b-web"])
    gates = _gates(inject_gates(_request(pod), _cluster().caches))
    assert gates == ["custom/ready", GATE + "b-web"]


def test_nothing_is_patched_when_the_gates_are_already_there() -> None:
    pod = _pod({"app": "web"}, [GATE + "b-web"])
    assert inject_gates(_request(pod), _cluster().caches).patch == ()


def test_only_pod_creation_is_mutated() -> None:
    assert inject_gates(_request(_pod({"app": "web"}), "UPDATE"), _cluster().caches).patch == ()
