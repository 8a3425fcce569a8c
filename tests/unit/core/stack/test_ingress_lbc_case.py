"""LBC's own Ingress model-builder case "vanilla internal" (pkg/ingress/model_builder_test.go):
the same inputs must give the same names, ids, health checks and binding networking."""

from __future__ import annotations

from dataclasses import replace

from lbc.core.stack.ingress import IngressInputs, build_ingress_stack
from lbc.core.stack.ingress_groups import ClassifiedIngress, IngressGroup, implicit_group
from lbc.core.stack.inputs import (
    IngressRuleView,
    IngressView,
    ServicePortView,
    ServiceView,
    SubnetFacts,
)
from lbc.core.stack.model import (
    BACKEND_SG,
    FRONTEND_SG,
    Built,
    ConditionField,
    ForwardAction,
    HealthCheck,
    IPPermission,
    Matcher,
    Protocol,
    RuleCondition,
    TargetType,
)

from .stack_fixtures import CONFIG, LB_BACKEND, path, tcp_from

A = "alb.ingress.kubernetes.io/"
HC = {
    A + "backend-protocol": "HTTP",
    A + "healthcheck-protocol": "HTTP",
    A + "healthcheck-port": "traffic-port",
    A + "healthcheck-path": "/",
    A + "healthcheck-interval-seconds": "15",
    A + "healthcheck-timeout-seconds": "5",
    A + "healthy-threshold-count": "2",
    A + "unhealthy-threshold-count": "2",
    A + "success-codes": "200",
}
SVC3 = {
    A + "target-type": "ip",
    A + "backend-protocol": "HTTPS",
    A + "healthcheck-protocol": "HTTPS",
    A + "healthcheck-port": "9090",
    A + "healthcheck-path": "/health-check",
    A + "healthcheck-interval-seconds": "20",
    A + "healthcheck-timeout-seconds": "10",
    A + "healthy-threshold-count": "7",
    A + "unhealthy-threshold-count": "5",
    A + "success-codes": "200-300",
}


def service(name: str, port_name: str, port: int, target: int, ann: dict[str, str]) -> ServiceView:
    # LBC's fixtures have no UID: the empty string is hashed.
    return ServiceView(
        "ns-1",
        name,
        uid="",
        type="NodePort",
        annotations=tuple(sorted(ann.items())),
        ports=(ServicePortView(port_name, "TCP", port, target, 32768),),
    )


def build_dummy(ingress: IngressView, services: tuple[ServiceView, ...]) -> Built:
    """``ingress`` alone in its implicit group, built as LBC's test case builds it (cluster
    ``cluster-dummy``, VPC ``vpc-dummy``, two internal subnets)."""
    subnets = tuple(
        SubnetFacts(f"subnet-{z}", f"az-{z}", 100, (("kubernetes.io/role/internal-elb", "1"),))
        for z in "ab"
    )
    outcome = build_ingress_stack(
        IngressInputs(
            group=IngressGroup(implicit_group(ingress), (ClassifiedIngress(ingress),), ()),
            config=replace(CONFIG, cluster_name="cluster-dummy", vpc_id="vpc-dummy"),
            services=services,
            subnets=subnets,
        )
    )
    assert isinstance(outcome, Built), outcome
    return outcome


def test_lbc_vanilla_internal_case() -> None:
    ingress = IngressView(
        "ns-1",
        "ing-1",
        class_name="alb",
        rules=(
            IngressRuleView(
                "app-1.example.com",
                (
                    path("/svc-1", "", "svc-1", "http"),
                    path("/svc-2", "", "svc-2", "http"),
                ),
            ),
            IngressRuleView("app-2.example.com", (path("/svc-3", "", "svc-3", "https"),)),
        ),
    )
    outcome = build_dummy(
        ingress,
        (
            service("svc-1", "http", 80, 8080, {}),
            service("svc-2", "http", 80, 8080, {A + "target-type": "instance", **HC}),
            service("svc-3", "https", 443, 8443, SVC3),
        ),
    )
    stack = outcome.stack

    assert stack.security_group is not None
    assert stack.security_group.name == "k8s-ns1-ing1-bd83176788"
    assert stack.security_group.ingress == (IPPermission("tcp", 80, 80, cidr_ipv4="0.0.0.0/0"),)
    lb = stack.load_balancer
    assert lb is not None
    assert (lb.name, lb.scheme.value, lb.subnets) == (
        "k8s-ns1-ing1-b7e914000d",
        "internal",
        ("subnet-a", "subnet-b"),
    )
    assert lb.security_groups == (FRONTEND_SG, BACKEND_SG)

    assert [(r.resource_id, r.conditions, r.actions) for r in stack.rules] == [
        (
            f"80:{i}",
            (
                RuleCondition(ConditionField.HOST_HEADER, (host,)),
                RuleCondition(ConditionField.PATH_PATTERN, (path,)),
            ),
            (ForwardAction(tg),),
        )
        for i, host, path, tg in [
            (1, "app-1.example.com", "/svc-1", "ns-1/ing-1-svc-1:http"),
            (2, "app-1.example.com", "/svc-2", "ns-1/ing-1-svc-2:http"),
            (3, "app-2.example.com", "/svc-3", "ns-1/ing-1-svc-3:https"),
        ]
    ]

    default_hc = HealthCheck(
        "traffic-port", Protocol.HTTP, "/", Matcher(http_code="200"), 15, 5, 2, 2
    )
    tgs = {tg.resource_id: tg for tg in stack.target_groups}
    assert [
        (tg.name, tg.target_type, tg.port, tg.protocol, tg.health_check) for tg in tgs.values()
    ] == [
        ("k8s-ns1-svc1-9889425938", TargetType.INSTANCE, 32768, Protocol.HTTP, default_hc),
        ("k8s-ns1-svc2-9889425938", TargetType.INSTANCE, 32768, Protocol.HTTP, default_hc),
        (
            "k8s-ns1-svc3-bf42870fba",
            TargetType.IP,
            8443,
            Protocol.HTTPS,
            HealthCheck(
                "9090", Protocol.HTTPS, "/health-check", Matcher(http_code="200-300"), 20, 10, 7, 5
            ),
        ),
    ]

    assert [(b.name, b.service_port, b.vpc_id, b.networking) for b in stack.bindings] == [
        (
            "k8s-ns1-svc1-9889425938",
            "http",
            "vpc-dummy",
            (tcp_from(LB_BACKEND, 32768),),
        ),
        (
            "k8s-ns1-svc2-9889425938",
            "http",
            "vpc-dummy",
            (tcp_from(LB_BACKEND, 32768),),
        ),
        (
            "k8s-ns1-svc3-bf42870fba",
            "https",
            "vpc-dummy",
            (tcp_from(LB_BACKEND, 8443), tcp_from(LB_BACKEND, 9090)),
        ),
    ]
    assert [b.target_group_protocol for b in stack.bindings] == [
        Protocol.HTTP,
        Protocol.HTTP,
        Protocol.HTTPS,
    ]


def test_lbc_ip_target_with_named_target_port_case() -> None:
    """LBC's "target type IP with named target port": TG port 1, networking on the name."""
    named = ServiceView(
        "ns-1",
        "svc-named-targetport",
        uid="",
        type="NodePort",
        ports=(ServicePortView("https", "TCP", 443, "target-port", 32768),),
    )
    ingress = IngressView(
        "ns-1",
        "ing-1",
        annotations=((A + "target-type", "ip"),),
        class_name="alb",
        rules=(IngressRuleView("", (path("/", "", named.name, "https"),)),),
    )
    outcome = build_dummy(ingress, (named,))
    (rule,) = outcome.stack.rules
    assert rule.conditions == (RuleCondition(ConditionField.PATH_PATTERN, ("/",)),)
    (tg,) = outcome.stack.target_groups
    assert (tg.resource_id, tg.name, tg.port, tg.target_type) == (
        "ns-1/ing-1-svc-named-targetport:https",
        "k8s-ns1-svcnamed-3430e53ee8",
        1,
        TargetType.IP,
    )
    (tgb,) = outcome.stack.bindings
    assert tgb.networking == (tcp_from(LB_BACKEND, "target-port"),)
