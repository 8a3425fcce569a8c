"""The Service builder: LBC's claiming, NLB names, health-check defaults, SG-less NLBs."""

from __future__ import annotations

from dataclasses import replace

from lbc.core.stack import names
from lbc.core.stack.inputs import ExistingLoadBalancer, ServicePortView, ServiceView, SubnetFacts
from lbc.core.stack.model import (
    BACKEND_SG,
    FRONTEND_SG,
    Attribute,
    BindingPeer,
    BindingPort,
    BuildError,
    Built,
    ForwardAction,
    HandsOff,
    HealthCheck,
    IPPermission,
    LoadBalancerType,
    Matcher,
    Protocol,
    Scheme,
    Stack,
    TargetType,
    Unclaimed,
)
from lbc.core.stack.service import ServiceInputs, build_service_stack, claims
from lbc.core.stack.views import service_view

from .stack_fixtures import CONFIG, LB_BACKEND, PRIVATE_SUBNETS, PUBLIC_SUBNETS, example, tcp_from

S = "service.beta.kubernetes.io/"
UID = "bdca2bd0-bfc6-449a-88a3-03451f05f18c"


def svc(
    *ports: ServicePortView, name: str = "web", type_: str = "LoadBalancer", **ann: str
) -> ServiceView:
    return ServiceView(
        "default",
        name,
        uid=UID,
        type=type_,
        annotations=tuple(sorted(ann.items())),
        ports=ports or (ServicePortView("http", "TCP", 80, 8080, 30080),),
    )


NLB_IP = {S + "aws-load-balancer-type": "nlb-ip"}


def build(service: ServiceView, **kw: object) -> object:
    inputs = ServiceInputs(service=service, config=CONFIG, subnets=PRIVATE_SUBNETS)
    return build_service_stack(replace(inputs, **kw))  # type: ignore[arg-type]


def stack_of(outcome: object) -> Stack:
    assert isinstance(outcome, Built), outcome
    assert outcome.finalizer == "service.k8s.aws/resources"
    return outcome.stack


def test_nlb_and_target_group_names_match_lbc_vectors() -> None:
    service = svc(ServicePortView("", "TCP", 80, 80, 0), name="nlb-ip-svc-tls", **NLB_IP)
    config = replace(CONFIG, cluster_name="my-cluster")
    stack = stack_of(build(service, config=config))
    assert stack.load_balancer is not None
    assert stack.load_balancer.name == "k8s-default-nlbipsvc-6b0ba8ff70"
    assert stack.target_groups[0].name == "k8s-default-nlbipsvc-d4818dcd51"
    assert stack.bindings[0].name == "k8s-default-nlbipsvc-d4818dcd51"


def test_seed_nlb_service_builds_a_multicluster_ip_stack() -> None:
    raw = example("service-nlb-echoserver.yaml", "Service")
    raw["metadata"] = {**raw["metadata"], "uid": UID}
    service = service_view(raw)
    assert claims(service, CONFIG)
    stack = stack_of(build(service, subnets=PUBLIC_SUBNETS))
    lb = stack.load_balancer
    assert lb is not None
    assert (lb.type, lb.scheme) == (LoadBalancerType.NETWORK, Scheme.INTERNET_FACING)
    assert lb.name == "k8s-echoserv-echoserv-" + names.short_hash("c1", UID, "internet-facing")
    assert lb.security_groups == (FRONTEND_SG, BACKEND_SG)
    assert dict(lb.tags) == {
        "elbv2.k8s.aws/cluster": "c1",
        "service.k8s.aws/stack": "echoserver/echoserver-nlb",
        "service.k8s.aws/resource": "LoadBalancer",
    }
    (listener,) = stack.listeners
    assert (listener.port, listener.protocol) == (80, Protocol.TCP)
    assert listener.default_actions == (ForwardAction("echoserver/echoserver-nlb:80"),)
    (tg,) = stack.target_groups
    assert (tg.target_type, tg.port, tg.protocol, tg.protocol_version) == (
        TargetType.IP,
        8080,
        Protocol.TCP,
        None,
    )
    assert tg.health_check == HealthCheck("traffic-port", Protocol.TCP, "", None, 10, 10, 3, 3)
    assert tg.attributes == (Attribute("proxy_protocol_v2.enabled", "false"),)
    (tgb,) = stack.bindings
    assert tgb.multi_cluster is True
    assert (tgb.namespace, tgb.service_name, tgb.service_port) == (
        "echoserver",
        "echoserver-nlb",
        80,
    )
    assert dict(tgb.labels) == {
        "service.k8s.aws/stack-namespace": "echoserver",
        "service.k8s.aws/stack-name": "echoserver-nlb",
    }
    assert tgb.networking == (tcp_from(LB_BACKEND, 8080),)
    assert stack.security_group is not None
    assert stack.security_group.ingress == (IPPermission("tcp", 80, 80, cidr_ipv4="0.0.0.0/0"),)
    assert stack.security_group.name == "k8s-echoserv-echoserv-" + names.short_hash(
        "c1", "echoserver-nlb", "echoserver", UID
    )


def test_claiming_follows_lbc() -> None:
    assert claims(replace(svc(), load_balancer_class="service.k8s.aws/nlb"), CONFIG)
    assert not claims(replace(svc(**NLB_IP), load_balancer_class="other.io/lb"), CONFIG)
    assert claims(svc(**NLB_IP), CONFIG)
    external = {S + "aws-load-balancer-type": "external"}
    assert claims(svc(**external, **{S + "aws-load-balancer-nlb-target-type": "instance"}), CONFIG)
    assert not claims(svc(**external), CONFIG)
    assert not claims(svc(), CONFIG)
    assert not claims(replace(svc(**NLB_IP), deleting=True), CONFIG)
    lb_only = replace(CONFIG, service_type_load_balancer_only=True)
    assert not claims(svc(type_="NodePort", **NLB_IP), lb_only)


def test_external_without_target_type_is_unclaimed_but_reported() -> None:
    outcome = build(svc(**{S + "aws-load-balancer-type": "external"}))
    assert isinstance(outcome, Unclaimed)
    assert len(outcome.warnings) == 1
    assert "no load balancer is provisioned" in outcome.warnings[0]
    assert build(svc()) == Unclaimed()


def test_a_service_that_leaves_with_the_finalizer_builds_the_empty_stack() -> None:
    leaving = replace(svc(**NLB_IP), deleting=True, finalizers=("service.k8s.aws/resources",))
    assert stack_of(build(leaving)).empty
    protected = replace(
        leaving,
        annotations=((S + "aws-load-balancer-attributes", "deletion_protection.enabled=true"),),
    )
    assert build(protected) == BuildError(
        "deletion_protection is enabled, cannot delete the service: web"
    )


def test_instance_targets_with_local_traffic_policy_check_the_health_check_node_port() -> None:
    service = replace(
        svc(
            **{
                S + "aws-load-balancer-type": "external",
                S + "aws-load-balancer-nlb-target-type": "instance",
            }
        ),
        external_traffic_policy="Local",
        health_check_node_port=32001,
    )
    stack = stack_of(build(service))
    (tg,) = stack.target_groups
    assert (tg.target_type, tg.port) == (TargetType.INSTANCE, 30080)
    assert tg.health_check == HealthCheck(
        "32001", Protocol.HTTP, "/healthz", Matcher(http_code="200-399"), 10, 6, 2, 2
    )
    assert tg.name == names.service_target_group_name(
        "c1",
        "default",
        "web",
        UID,
        target_group_port=30080,
        service_port=80,
        target_type="instance",
        protocol="TCP",
        health_check_protocol="HTTP",
        health_check_interval=10,
    )
    (tgb,) = stack.bindings
    assert tgb.networking is not None
    assert tgb.networking[0].ports == (BindingPort("TCP", 30080), BindingPort("TCP", 32001))


def test_udp_ports_open_udp_and_tcp_for_the_health_check() -> None:
    service = svc(ServicePortView("dns", "UDP", 53, 5353, 0), **NLB_IP)
    stack = stack_of(build(service))
    assert stack.listeners[0].protocol is Protocol.UDP
    assert stack.target_groups[0].protocol is Protocol.UDP
    assert stack.bindings[0].networking is not None
    assert stack.bindings[0].networking[0].ports == (
        BindingPort("UDP", 5353),
        BindingPort("TCP", 5353),
    )
    assert stack.security_group is not None
    assert stack.security_group.ingress == (IPPermission("udp", 53, 53, cidr_ipv4="0.0.0.0/0"),)


def test_an_existing_nlb_without_security_groups_stays_without() -> None:
    existing = ExistingLoadBalancer("network", Scheme.INTERNAL, ("subnet-ccc",), ())
    subnets = (
        SubnetFacts(
            "subnet-ccc",
            "us-east-1a",
            251,
            (("kubernetes.io/role/internal-elb", "1"),),
            cidr="10.0.1.0/24",
        ),
    )
    stack = stack_of(build(svc(**NLB_IP), existing=existing, subnets=subnets))
    assert stack.security_group is None
    assert stack.backend_security_group is None
    assert stack.load_balancer is not None
    assert stack.load_balancer.security_groups == ()
    assert stack.load_balancer.subnets == ("subnet-ccc",)
    # ip targets keep no client IP: traffic comes from the NLB's subnets.
    assert stack.bindings[0].networking == (tcp_from((BindingPeer(cidr="10.0.1.0/24"),), 8080),)


def test_sg_less_instance_targets_allow_the_vpc_for_internal_nlbs() -> None:
    existing = ExistingLoadBalancer("network", Scheme.INTERNAL, ("subnet-ccc",), ())
    subnets = (SubnetFacts("subnet-ccc", "us-east-1a", 251, cidr="10.0.1.0/24"),)
    config = replace(CONFIG, vpc_cidrs=("10.0.0.0/16",))
    service = svc(
        **{
            S + "aws-load-balancer-type": "external",
            S + "aws-load-balancer-nlb-target-type": "instance",
        }
    )
    stack = stack_of(build(service, existing=existing, subnets=subnets, config=config))
    assert stack.bindings[0].networking == (tcp_from((BindingPeer(cidr="10.0.0.0/16"),), 30080),)


def test_disabling_sgs_on_an_nlb_that_has_them_is_a_conflict() -> None:
    existing = ExistingLoadBalancer("network", Scheme.INTERNAL, ("subnet-ccc",), ("sg-1",))
    service = svc(**NLB_IP, **{S + "aws-load-balancer-disable-nlb-sg": "true"})
    outcome = build(service, existing=existing)
    assert outcome == BuildError("conflicting security groups configuration")


def test_scheme_comes_from_annotation_then_legacy_bool_then_the_existing_nlb() -> None:
    existing = ExistingLoadBalancer("network", Scheme.INTERNET_FACING, ("subnet-aaa",), ("sg-1",))
    lb = stack_of(build(svc(**NLB_IP), existing=existing, subnets=PUBLIC_SUBNETS)).load_balancer
    assert lb is not None
    assert lb.scheme is Scheme.INTERNET_FACING
    internal = svc(**NLB_IP, **{S + "aws-load-balancer-internal": "true"})
    lb = stack_of(build(internal, existing=existing)).load_balancer
    assert lb is not None
    assert lb.scheme is Scheme.INTERNAL
    assert lb.subnets == ("subnet-ccc", "subnet-ddd")


def test_per_port_target_group_attributes_override_the_base_ones() -> None:
    tga = S + "aws-load-balancer-target-group-attributes"
    delay = "deregistration_delay.timeout_seconds"
    service = svc(**NLB_IP, **{tga: f"{delay}=30", tga + ".80": f"{delay}=5"})
    (tg,) = stack_of(build(service)).target_groups
    assert {a.key: a.value for a in tg.attributes} == {
        delay: "5",
        "proxy_protocol_v2.enabled": "false",
    }


def test_additional_tags_reach_every_resource() -> None:
    service = svc(**NLB_IP, **{S + "aws-load-balancer-additional-resource-tags": "team=web"})
    stack = stack_of(build(service))
    assert stack.load_balancer is not None
    assert stack.security_group is not None
    for tags in (
        stack.load_balancer.tags,
        stack.security_group.tags,
        stack.listeners[0].tags,
        stack.target_groups[0].tags,
    ):
        assert dict(tags)["team"] == "web"


def test_unsupported_nlb_annotations_mean_hands_off() -> None:
    service = svc(**NLB_IP, **{S + "aws-load-balancer-ssl-cert": "arn:aws:acm:x"})
    assert build(service) == HandsOff((S + "aws-load-balancer-ssl-cert",), ("Service default/web",))


def test_tcp_and_udp_on_one_port_means_hands_off() -> None:
    service = svc(
        ServicePortView("tcp", "TCP", 53, 53, 0), ServicePortView("udp", "UDP", 53, 53, 0), **NLB_IP
    )
    outcome = build(service)
    assert isinstance(outcome, HandsOff)


def test_instance_targets_on_a_cluster_ip_service_are_refused() -> None:
    service = svc(
        type_="ClusterIP",
        **{
            S + "aws-load-balancer-type": "external",
            S + "aws-load-balancer-nlb-target-type": "instance",
        },
    )
    assert build(service) == BuildError(
        'unsupported service type "ClusterIP" for load balancer target type "instance"'
    )


def test_instance_targets_need_allocated_node_ports() -> None:
    external = {
        S + "aws-load-balancer-type": "external",
        S + "aws-load-balancer-nlb-target-type": "instance",
    }
    service = replace(
        svc(ServicePortView("http", "TCP", 80, 8080, 0), **external), allocate_node_ports=False
    )
    assert build(service) == BuildError(
        "unable to support instance target type with an unallocated NodePort"
    )
