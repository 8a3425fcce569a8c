"""LBC's own Service model-builder case "Instance mode, external traffic policy local"
(pkg/service/model_builder_test.go): an existing SG-less NLB, source ranges, Local traffic."""

from __future__ import annotations

from dataclasses import replace

from lbc.core.stack.inputs import ExistingLoadBalancer, ServicePortView, ServiceView, SubnetFacts
from lbc.core.stack.model import (
    BACKEND_SG,
    FRONTEND_SG,
    Attribute,
    BindingPeer,
    Built,
    ForwardAction,
    HealthCheck,
    IPPermission,
    Matcher,
    Protocol,
    Scheme,
    TargetType,
)
from lbc.core.stack.service import ServiceInputs, build_service_stack

from .stack_fixtures import CONFIG, LB_BACKEND, tcp_from

S = "service.beta.kubernetes.io/"
SUBNETS = (
    SubnetFacts("subnet-1", "az-a", 100, cidr="192.168.0.0/19"),
    SubnetFacts("subnet-2", "az-b", 100, cidr="192.168.32.0/19"),
    SubnetFacts("subnet-3", "az-c", 100, cidr="192.168.64.0/19"),
)


def test_lbc_instance_mode_local_traffic_case() -> None:
    service = ServiceView(
        "app",
        "traffic-local",
        uid="2dc098f0-ae33-4378-af7b-83e2a0424495",
        type="LoadBalancer",
        annotations=(
            (S + "aws-load-balancer-nlb-target-type", "instance"),
            (S + "aws-load-balancer-type", "external"),
        ),
        ports=(
            ServicePortView("http", "TCP", 80, 80, 31223),
            ServicePortView("alt2", "TCP", 83, 8883, 32323),
        ),
        external_traffic_policy="Local",
        health_check_node_port=29123,
        source_ranges=("10.20.0.0/16", "1.2.3.4/19"),
    )
    existing = ExistingLoadBalancer(
        "network", Scheme.INTERNET_FACING, ("subnet-1", "subnet-2", "subnet-3"), ()
    )
    outcome = build_service_stack(
        ServiceInputs(
            service=service,
            config=replace(CONFIG, cluster_name="my-cluster", vpc_id="vpc-xxx"),
            subnets=SUBNETS,
            existing=existing,
        )
    )
    assert isinstance(outcome, Built), outcome
    stack = outcome.stack
    lb = stack.load_balancer
    assert lb is not None
    assert (lb.name, lb.scheme, lb.subnets, lb.security_groups) == (
        "k8s-app-trafficl-2af705447d",
        Scheme.INTERNET_FACING,
        ("subnet-1", "subnet-2", "subnet-3"),
        (),
    )
    assert stack.security_group is None
    assert [(ls.resource_id, ls.protocol, ls.default_actions) for ls in stack.listeners] == [
        ("80", Protocol.TCP, (ForwardAction("app/traffic-local:80"),)),
        ("83", Protocol.TCP, (ForwardAction("app/traffic-local:83"),)),
    ]
    hc = HealthCheck("29123", Protocol.HTTP, "/healthz", Matcher(http_code="200-399"), 10, 6, 2, 2)
    assert [
        (tg.resource_id, tg.name, tg.target_type, tg.port, tg.health_check, tg.attributes)
        for tg in stack.target_groups
    ] == [
        (
            "app/traffic-local:80",
            "k8s-app-trafficl-d2b8571b2f",
            TargetType.INSTANCE,
            31223,
            hc,
            (Attribute("proxy_protocol_v2.enabled", "false"),),
        ),
        (
            "app/traffic-local:83",
            "k8s-app-trafficl-4be0ac1fb8",
            TargetType.INSTANCE,
            32323,
            hc,
            (Attribute("proxy_protocol_v2.enabled", "false"),),
        ),
    ]
    ranges = (BindingPeer(cidr="10.20.0.0/16"), BindingPeer(cidr="1.2.3.4/19"))
    subnet_peers = tuple(BindingPeer(cidr=s.cidr) for s in SUBNETS)
    assert [(b.name, b.service_port, b.vpc_id, b.networking) for b in stack.bindings] == [
        (
            "k8s-app-trafficl-d2b8571b2f",
            80,
            "vpc-xxx",
            (
                tcp_from(ranges, 31223),
                tcp_from(subnet_peers, 29123),
            ),
        ),
        (
            "k8s-app-trafficl-4be0ac1fb8",
            83,
            "vpc-xxx",
            (
                tcp_from(ranges, 32323),
                tcp_from(subnet_peers, 29123),
            ),
        ),
    ]


def test_lbc_simple_service_with_nlb_sg_case() -> None:
    """LBC's "Simple service with NLB SG" (operator backend SG, unrestricted SG rules)."""
    service = ServiceView(
        "default",
        "nlb-ip-svc-tls",
        uid="bdca2bd0-bfc6-449a-88a3-03451f05f18c",
        type="LoadBalancer",
        annotations=((S + "aws-load-balancer-type", "nlb-ip"),),
        ports=(ServicePortView("", "TCP", 80, 80),),
    )
    config = replace(
        CONFIG,
        cluster_name="my-cluster",
        vpc_id="vpc-xxx",
        backend_security_group="sg-backend",
        disable_restricted_sg_rules=True,
    )
    subnets = (SubnetFacts("subnet-1", "az-a", 100, (("kubernetes.io/role/internal-elb", ""),)),)
    outcome = build_service_stack(ServiceInputs(service=service, config=config, subnets=subnets))
    assert isinstance(outcome, Built), outcome
    stack = outcome.stack
    assert stack.security_group is not None
    assert stack.security_group.name == "k8s-default-nlbipsvc-1da4b78715"
    assert stack.security_group.ingress == (IPPermission("tcp", 80, 80, cidr_ipv4="0.0.0.0/0"),)
    lb = stack.load_balancer
    assert lb is not None
    assert (lb.name, lb.scheme, lb.subnets) == (
        "k8s-default-nlbipsvc-6b0ba8ff70",
        Scheme.INTERNAL,
        ("subnet-1",),
    )
    assert lb.security_groups == (FRONTEND_SG, BACKEND_SG)
    assert stack.backend_security_group is not None
    assert stack.backend_security_group.group_id == "sg-backend"
    (tg,) = stack.target_groups
    assert (tg.name, tg.target_type, tg.port) == (
        "k8s-default-nlbipsvc-d4818dcd51",
        TargetType.IP,
        80,
    )
    assert tg.health_check == HealthCheck("traffic-port", Protocol.TCP, "", None, 10, 10, 3, 3)
    (tgb,) = stack.bindings
    assert tgb.networking == (tcp_from(LB_BACKEND, None),)


def test_lbc_multiple_listeners_with_sg_case() -> None:
    """LBC's "Multiple listeners, multiple target groups with SG": HC annotations, 2 ports."""
    hc = {
        "aws-load-balancer-type": "nlb-ip",
        "aws-load-balancer-scheme": "internal",
        "aws-load-balancer-healthcheck-protocol": "HTTP",
        "aws-load-balancer-healthcheck-port": "8888",
        "aws-load-balancer-healthcheck-path": "/healthz",
        "aws-load-balancer-healthcheck-interval": "10",
        "aws-load-balancer-healthcheck-timeout": "30",
        "aws-load-balancer-healthcheck-healthy-threshold": "2",
        "aws-load-balancer-healthcheck-unhealthy-threshold": "2",
    }
    service = ServiceView(
        "default",
        "nlb-ip-svc",
        uid="7ab4be33-11c2-4a7b-b655-7add8affab36",
        type="LoadBalancer",
        annotations=tuple(sorted((S + k, v) for k, v in hc.items())),
        ports=(ServicePortView("http", "TCP", 80, 80), ServicePortView("alt2", "TCP", 83, 80)),
    )
    config = replace(
        CONFIG, cluster_name="my-cluster", vpc_id="vpc-xxx", backend_security_group="sg-backend"
    )
    subnets = tuple(
        SubnetFacts(sid, az, 100, (("kubernetes.io/role/internal-elb", "1"),))
        for sid, az in (("subnet-1", "az-a"), ("subnet-2", "az-b"))
    )
    outcome = build_service_stack(ServiceInputs(service=service, config=config, subnets=subnets))
    assert isinstance(outcome, Built), outcome
    stack = outcome.stack
    assert stack.security_group is not None
    assert stack.security_group.name == "k8s-default-nlbipsvc-51de41384e"
    assert stack.security_group.ingress == (
        IPPermission("tcp", 80, 80, cidr_ipv4="0.0.0.0/0"),
        IPPermission("tcp", 83, 83, cidr_ipv4="0.0.0.0/0"),
    )
    assert stack.load_balancer is not None
    assert stack.load_balancer.name == "k8s-default-nlbipsvc-518cdfc227"
    check = HealthCheck(
        "8888", Protocol.HTTP, "/healthz", Matcher(http_code="200-399"), 10, 30, 2, 2
    )
    assert [(tg.name, tg.port, tg.health_check) for tg in stack.target_groups] == [
        ("k8s-default-nlbipsvc-62f81639fc", 80, check),
        ("k8s-default-nlbipsvc-3ede6b28b6", 80, check),
    ]
    rule = tcp_from(LB_BACKEND, 80, 8888)
    assert [b.networking for b in stack.bindings] == [(rule,), (rule,)]
